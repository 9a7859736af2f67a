package server

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jagadesa/jagadesa"
)

// RollupControl rolls the server's downsampled series again over a span:
// after a backfill or a restore of raw data (server/rollup's Runner).
type RollupControl interface {
	Reroll(ctx context.Context, from, to time.Time) error
}

// maxReroll bounds one reroll request.
const maxReroll = 62 * 24 * time.Hour

// handleReroll rolls [from, to) again (province admins; RFC 3339 times,
// at most 62 days), then drops the cached SLA and readiness figures.
func (s *Server) handleReroll(c *gin.Context) {
	if s.Rollups == nil {
		_ = c.Error(jagadesa.Errorf(jagadesa.EUnavailable, "this server keeps no rollups"))
		return
	}
	b, err := decode[struct {
		From time.Time `json:"from"`
		To   time.Time `json:"to"`
	}](c, 1<<10)
	if err != nil {
		_ = c.Error(err)
		return
	}
	if !b.To.After(b.From) || b.To.Sub(b.From) > maxReroll {
		_ = c.Error(invalid(jagadesa.Problems{"to": "after from, at most 62 days later"}, "bad span"))
		return
	}
	// A reroll of weeks takes tens of seconds, minutes on a busy machine:
	// not bound to the client, and the answer may wait past the server's
	// usual write timeout.
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(31 * time.Minute))
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), 30*time.Minute)
	defer cancel()
	began := time.Now()
	if err := s.Rollups.Reroll(ctx, b.From, b.To); err != nil {
		_ = c.Error(err)
		return
	}
	s.slaResults.invalidate()
	s.readiness.invalidate()
	s.audit(c, "rollup_reroll", "", "", b.From.Format(time.RFC3339)+" – "+b.To.Format(time.RFC3339))
	c.JSON(http.StatusOK, gin.H{"from": b.From, "to": b.To, "took_s": time.Since(began).Seconds()})
}
