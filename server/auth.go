package server

import (
	"crypto/subtle"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/jagadesa/jagadesa"
)

const ctxProbe = "jagadesa.probe"

func bearer(c *gin.Context) string {
	h := c.GetHeader("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

func (s *Server) isAdmin(tok string) bool {
	return s.AdminToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.AdminToken)) == 1
}

// requireProbe admits a request carrying an enrolled probe's token.
func (s *Server) requireProbe(c *gin.Context) {
	tok := bearer(c)
	if tok == "" {
		_ = c.Error(jagadesa.Errorf(jagadesa.EUnauthorized, "missing bearer token (enroll the probe to get one)"))
		c.Abort()
		return
	}
	p, ok := s.Probes.ProbeByToken(tok)
	if !ok {
		_ = c.Error(jagadesa.Errorf(jagadesa.EUnauthorized, "unknown or revoked probe token"))
		c.Abort()
		return
	}
	c.Set(ctxProbe, p)
	c.Next()
}

// requireStaff admits people who may read status: the admin bearer token
// or a dashboard session. Staff accounts will be accepted here too.
func (s *Server) requireStaff(c *gin.Context) { s.requireAdmin(c) }

// requireAdmin admits the admin bearer token, or a browser session opened
// with it.
func (s *Server) requireAdmin(c *gin.Context) {
	tok := bearer(c)
	if tok == "" && s.sessionRole(c) == "admin" {
		c.Next()
		return
	}
	if tok == "" {
		_ = c.Error(jagadesa.Errorf(jagadesa.EUnauthorized, "missing bearer token"))
		c.Abort()
		return
	}
	if !s.isAdmin(tok) {
		if _, isProbe := s.Probes.ProbeByToken(tok); isProbe {
			_ = c.Error(jagadesa.Errorf(jagadesa.EForbidden, "a probe token may not use this endpoint"))
		} else {
			_ = c.Error(jagadesa.Errorf(jagadesa.EUnauthorized, "invalid token"))
		}
		c.Abort()
		return
	}
	c.Next()
}

// requireMetrics admits Prometheus: the metrics bearer token (Deps
// MetricsToken) or the admin token. The figures say how many villages are
// compromised and where: not for anyone who can reach the port. Operators
// who want an open endpoint serve it on its own address
// (jagadesa serve --metrics-listen), inside their network.
func (s *Server) requireMetrics(c *gin.Context) {
	tok := bearer(c)
	if tok != "" && (s.isAdmin(tok) || s.MetricsToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.MetricsToken)) == 1) {
		c.Next()
		return
	}
	_ = c.Error(jagadesa.Errorf(jagadesa.EUnauthorized, "/metrics needs the metrics bearer token (JAGADESA_METRICS_TOKEN) or the admin token; or serve it on --metrics-listen"))
	c.Abort()
}
