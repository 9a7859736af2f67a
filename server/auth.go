package server

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/accounts"
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
// ctxPrincipal holds who is asking, and where they may look.
const ctxPrincipal = "jagadesa.principal"

// requireStaff admits a person or the automation admin token and records
// who it is (a Principal) for the handlers: the admin bearer token or a
// browser session opened with it, or a person's own API token (jdu_…).
// Every staff handler then asks that Principal, through principal(c).
func (s *Server) requireStaff(c *gin.Context) {
	p, err := s.authenticate(c)
	if err == nil {
		err = s.checkCSRF(c)
	}
	if err != nil {
		_ = c.Error(err)
		c.Abort()
		return
	}
	c.Set(ctxPrincipal, p)
	c.Next()
}

// requireAdmin admits only who may administer the province: the admin
// token, or a province admin.
func (s *Server) requireAdmin(c *gin.Context) {
	p, err := s.authenticate(c)
	if err == nil {
		err = s.checkCSRF(c)
	}
	if err == nil && !p.CanManageUsers() {
		err = p.Forbidden("administer probes and accounts")
	}
	if err != nil {
		_ = c.Error(err)
		c.Abort()
		return
	}
	c.Set(ctxPrincipal, p)
	c.Next()
}

func (s *Server) authenticate(c *gin.Context) (accounts.Principal, error) {
	tok := bearer(c)
	if tok == "" {
		if s.sessionRole(c) == "admin" {
			return accounts.AdminPrincipal(), nil
		}
		if id, err := c.Cookie(sessionCookie); err == nil && s.Accounts != nil && accounts.WellFormedToken(id, accounts.PrefixSession) {
			u, ok, err := s.Accounts.Session(c.Request.Context(), accounts.HashToken(id), s.Now(), userSessionIdle)
			if err != nil {
				return accounts.Principal{}, err
			}
			if ok {
				return accounts.NewPrincipal(u)
			}
		}
		return accounts.Principal{}, jagadesa.Errorf(jagadesa.EUnauthorized, "missing bearer token")
	}
	if s.isAdmin(tok) {
		return accounts.AdminPrincipal(), nil
	}
	if s.Accounts != nil && accounts.WellFormedToken(tok, accounts.PrefixUserToken) {
		if u, ok := s.Accounts.UserByTokenHash(accounts.HashToken(tok)); ok {
			return accounts.NewPrincipal(u)
		}
	}
	if _, isProbe := s.Probes.ProbeByToken(tok); isProbe {
		return accounts.Principal{}, jagadesa.Errorf(jagadesa.EForbidden, "a probe token may not use this endpoint")
	}
	return accounts.Principal{}, jagadesa.Errorf(jagadesa.EUnauthorized, "invalid token")
}

// principal is who is asking; set by requireStaff or requireAdmin.
func principal(c *gin.Context) accounts.Principal {
	if p, ok := c.Get(ctxPrincipal); ok {
		return p.(accounts.Principal)
	}
	return accounts.Principal{} // allowed nothing
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

// checkCSRF refuses a state-changing request that rides on the session
// cookie unless the browser says it comes from this very origin and sends
// JSON: a page elsewhere (a sibling service on the same host included,
// which SameSite alone does not stop) cannot act with a person's session.
// Requests with a bearer token carry their own proof and pass.
func (s *Server) checkCSRF(c *gin.Context) error {
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if bearer(c) != "" {
		return nil
	}
	origin := c.GetHeader("Origin")
	scheme := "http"
	if s.overTLS(c) {
		scheme = "https"
	}
	if origin == "" || origin != scheme+"://"+c.Request.Host {
		return jagadesa.Errorf(jagadesa.EForbidden, "a change made with the session cookie must come from this site (Origin %q)", clip(origin, 80))
	}
	if c.Request.ContentLength != 0 && !strings.HasPrefix(c.ContentType(), "application/json") {
		return jagadesa.Errorf(jagadesa.EForbidden, "a change made with the session cookie must send application/json")
	}
	return nil
}
