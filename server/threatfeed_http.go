package server

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/jagadesa/jagadesa/server/threatfeed"
)

// handleThreatFeed gives a probe the operator's threat feed: compact JSON
// with a strong ETag, so a probe asking hourly with If-None-Match gets a
// 304 of a few bytes while nothing changed.
func (s *Server) handleThreatFeed(c *gin.Context) {
	if s.ThreatFeed == nil {
		_ = c.Error(notFound("this server distributes no threat feed (start it with --threat-feed FILE)"))
		return
	}
	body, etag, _ := s.ThreatFeed.Current()
	c.Header("ETag", etag)
	c.Header("Cache-Control", "private, no-cache")
	if threatfeed.NotModified(c.GetHeader("If-None-Match"), etag) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, "application/json", body)
}
