package server

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/ingest"
)

// MaxReportBody is the most a report may be on the wire.
const MaxReportBody = ingest.MaxBody

// MaxSeqHeader is jagadesa.MaxSeqHeader, for the server's tests and callers.
const MaxSeqHeader = jagadesa.MaxSeqHeader

// handleReports reads a probe's batch and hands it to ingest.Accept: 200
// once the accepted records are durable (listing any refused ones), 503
// with Retry-After while InfluxDB is down, 429 while the server is busy.
func (s *Server) handleReports(c *gin.Context) {
	p := c.MustGet(ctxProbe).(jagadesa.Probe)
	err := s.ingest.Admit(p.ID)
	var body *ingest.Body
	if err == nil {
		body, err = s.ingest.ReadBody(c.Request.Body, c.Request.ContentLength, c.GetHeader("Content-Encoding"), s.Evidence != nil)
	}
	if err == nil {
		defer body.Release()
		var res *jagadesa.BatchResult
		if res, err = s.ingest.Accept(c.Request.Context(), p, body, c.GetHeader(jagadesa.SignatureHeader)); err == nil {
			s.metrics.reports.WithLabelValues("ok").Inc()
			s.metrics.points.Add(float64(res.Points))
			s.metrics.rejected.Add(float64(len(res.Rejected)))
			res.RotateToken = p.RotateRequested
			c.JSON(http.StatusOK, res)
			return
		}
	}
	s.metrics.reports.WithLabelValues(jagadesa.ErrorCode(err)).Inc()
	var replay *ingest.Replay
	if errors.As(err, &replay) {
		c.Header(MaxSeqHeader, strconv.FormatUint(replay.MaxSeq, 10))
	}
	var rej *ingest.RejectedError
	if errors.As(err, &rej) {
		s.metrics.rejected.Add(float64(len(rej.Rejected)))
		c.JSON(http.StatusBadRequest, gin.H{"error": rej.Message, "rejected": rej.Rejected})
		return
	}
	_ = c.Error(err)
}
