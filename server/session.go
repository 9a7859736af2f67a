package server

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/accounts"
)

// Browser sessions. A person signs in once with a token; the browser then
// holds only a random session id in an HttpOnly, SameSite=Strict cookie, so
// the token itself never sits in page script or in every request, and a
// cross-site page cannot make the browser act with it. Sessions live in
// memory: a server restart signs everyone out, which is acceptable for a
// staff dashboard and keeps no secret on disk.
const (
	sessionCookie = "jagadesa_session"
	sessionTTL    = 12 * time.Hour
	maxSessions   = 10000
)

type session struct {
	role    string
	expires time.Time
}

type sessions struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[[32]byte]session // keyed by SHA-256 of the id: a heap dump leaks no usable cookie
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, m: map[[32]byte]session{}}
}

func (ss *sessions) create(role string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	id := base64.RawURLEncoding.EncodeToString(b[:])
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	if len(ss.m) >= maxSessions {
		for k, s := range ss.m {
			if now.After(s.expires) {
				delete(ss.m, k)
			}
		}
		if len(ss.m) >= maxSessions {
			return "", jagadesa.Errorf(jagadesa.EUnavailable, "too many open sessions; try again later")
		}
	}
	ss.m[sha256.Sum256([]byte(id))] = session{role: role, expires: now.Add(sessionTTL)}
	return id, nil
}

func (ss *sessions) lookup(id string) (session, bool) {
	if id == "" || len(id) > 128 {
		return session{}, false
	}
	k := sha256.Sum256([]byte(id))
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[k]
	if !ok {
		return session{}, false
	}
	if ss.now().After(s.expires) {
		delete(ss.m, k)
		return session{}, false
	}
	return s, true
}

func (ss *sessions) remove(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, sha256.Sum256([]byte(id)))
}

// sessionRole is the role of the request's session cookie, "" without one.
func (s *Server) sessionRole(c *gin.Context) string {
	id, err := c.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	sess, ok := s.sessions.lookup(id)
	if !ok {
		return ""
	}
	return sess.role
}

type loginRequest struct {
	Token    string `json:"token"`
	Username string `json:"username"`
	Password string `json:"password"`
}

func (r *loginRequest) Validate() jagadesa.Problems {
	p := jagadesa.Problems{}
	switch {
	case r.Username != "" || r.Password != "":
		if r.Username == "" || len(r.Username) > 64 {
			p["username"] = "required, at most 64 characters"
		}
		if r.Password == "" || len(r.Password) > accounts.MaxPasswordBytes {
			p["password"] = "required"
		}
	case r.Token == "":
		p["token"] = "required (or username and password)"
	case len(r.Token) > 512:
		p["token"] = "too long"
	}
	return p
}

// handleLogin exchanges a staff token for a session cookie.
func (s *Server) handleLogin(c *gin.Context) {
	req, err := decode[loginRequest](c, 4<<10)
	if err != nil {
		_ = c.Error(err)
		return
	}
	if p := req.Validate(); len(p) > 0 {
		_ = c.Error(invalid(p, "bad login"))
		return
	}
	if wait := s.logins.address(c.ClientIP()); wait > 0 {
		s.auditBurst(c.Request.Context(), jagadesa.AuditEvent{Actor: loginActor(req), Address: c.ClientIP(), Action: "signin_refused", Detail: "per-address limit"})
		c.Header("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		_ = c.Error(jagadesa.Errorf(jagadesa.ETooMany, "too many sign-in attempts from this address; wait %s", wait.Round(time.Second)))
		return
	}
	if req.Username != "" {
		s.passwordLogin(c, req)
		return
	}
	if !s.isAdmin(req.Token) {
		s.metrics.loginFailures.Inc()
		s.record(c.Request.Context(), jagadesa.AuditEvent{Actor: "-", Address: c.ClientIP(), Action: "signin_failed", Detail: "wrong token"})
		_ = c.Error(jagadesa.Errorf(jagadesa.EUnauthorized, "invalid token"))
		return
	}
	id, err := s.sessions.create("admin")
	if err != nil {
		_ = c.Error(err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: sessionCookie, Value: id, Path: "/", MaxAge: int(sessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.overTLS(c),
	})
	s.record(c.Request.Context(), jagadesa.AuditEvent{Actor: "admin", Role: jagadesa.RoleProvinceAdmin, Address: c.ClientIP(), Action: "signin", Detail: "admin token"})
	c.Status(http.StatusNoContent)
}

// loginActor names who tried to sign in, for the audit trail: the
// username typed (as typed, bounded), or "-" for a token.
func loginActor(req loginRequest) string {
	if req.Username == "" {
		return "-"
	}
	return clip(strings.ToLower(strings.TrimSpace(req.Username)), 64)
}

// clearCookie ends the browser's session cookie.
func (s *Server) clearCookie(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.overTLS(c)})
}

// handleSession tells the page who is signed in.
func (s *Server) handleSession(c *gin.Context) {
	p, err := s.authenticate(c)
	if err != nil {
		_ = c.Error(jagadesa.Errorf(jagadesa.EUnauthorized, "not signed in"))
		return
	}
	role := string(p.Role())
	if p.Everywhere() {
		role = "admin"
	}
	// What the page may offer; the server checks every request anyway.
	can := gin.H{
		"manage_users":      p.CanManageUsers() && s.Users != nil,
		"manage_probes":     p.ManagesProbes(),
		"read_audit":        p.CanReadAudit() && s.Audit != nil,
		"security_evidence": p.CanSeeSecurityEvidence(),
		"reports":           p.CanReadReports(),
		"act_on_incidents":  p.ActsOnIncidents(),
	}
	// The CSIRTs whose areas lie in the jurisdiction (the audit page's
	// choice of team).
	teams := []gin.H{}
	if s.Directory != nil {
		for _, t := range s.Directory.Teams {
			in := p.Everywhere() || len(t.Regencies) == 0 && p.Covers(t.Province) && p.Area() == t.Province
			for _, r := range t.Regencies {
				in = in || p.Covers(r)
			}
			if in {
				teams = append(teams, gin.H{"id": t.ID, "name": t.Name})
			}
		}
	}
	c.JSON(http.StatusOK, gin.H{"role": role, "username": p.Username(), "jurisdiction": p.String(), "area": p.Area(), "can": can, "teams": teams})
}

func (s *Server) handleLogout(c *gin.Context) {
	if p, err := s.authenticate(c); err == nil && bearer(c) == "" {
		s.record(c.Request.Context(), jagadesa.AuditEvent{Actor: p.Username(), Role: p.Role(), Address: c.ClientIP(), Action: "signout", Area: p.Area()})
	}
	if id, err := c.Cookie(sessionCookie); err == nil {
		s.sessions.remove(id)
		if s.Accounts != nil && accounts.WellFormedToken(id, accounts.PrefixSession) {
			if err := s.Accounts.EndSession(c.Request.Context(), accounts.HashToken(id)); err != nil {
				_ = c.Error(err)
				return
			}
		}
	}
	s.clearCookie(c)
	c.Status(http.StatusNoContent)
}

// Persisted sessions of people: idle and absolute expiry.
const (
	userSessionIdle     = 30 * time.Minute
	userSessionAbsolute = 12 * time.Hour
	lockAfter           = 5                // failed sign-ins in a row
	lockFor             = 15 * time.Minute // then the account waits
)

// passwordLogin signs a person in: the account must exist, be enabled and
// not locked; five failures in a row lock it for 15 minutes (the lock is
// stored, so a restart does not lift it). An unknown name costs as much
// time as a known one.
func (s *Server) passwordLogin(c *gin.Context, req loginRequest) {
	ctx, now := c.Request.Context(), s.Now()
	if s.Accounts == nil {
		_ = c.Error(jagadesa.Errorf(jagadesa.EUnavailable, "this server has no staff accounts"))
		return
	}
	name := strings.ToLower(strings.TrimSpace(req.Username))
	fail := func(u jagadesa.User) {
		s.metrics.loginFailures.Inc()
		s.record(ctx, jagadesa.AuditEvent{Actor: loginActor(req), Role: u.Role, Address: c.ClientIP(), Action: "signin_failed", Object: loginActor(req), Area: userArea(u)})
		_ = c.Error(jagadesa.Errorf(jagadesa.EUnauthorized, "wrong username or password"))
	}
	u, hash, err := s.Accounts.UserByName(ctx, name)
	if jagadesa.ErrorCode(err) == jagadesa.ENotFound {
		accounts.DummyVerify(req.Password)
		fail(jagadesa.User{})
		return
	}
	if err != nil {
		_ = c.Error(err)
		return
	}
	failed, until, err := s.Accounts.LoginState(ctx, name)
	if err != nil {
		_ = c.Error(err)
		return
	}
	if now.Before(until) {
		s.auditBurst(ctx, jagadesa.AuditEvent{Actor: name, Role: u.Role, Address: c.ClientIP(), Action: "signin_refused", Object: name, Area: userArea(u), Detail: "account locked"})
		c.Header("Retry-After", strconv.Itoa(int(until.Sub(now).Seconds())+1))
		_ = c.Error(jagadesa.Errorf(jagadesa.ETooMany, "the account is locked after %d failed sign-ins until %s; ask a province admin to reset the password sooner", lockAfter, until.In(wibZone).Format("15:04 WIB")))
		return
	}
	ok, _, err := accounts.VerifyPassword(hash, req.Password)
	if err != nil || !ok || u.Disabled {
		if err != nil {
			s.Logger.Error("stored password hash unusable", "user", name, "err", err)
		}
		_ = s.Accounts.RecordLogin(ctx, name, false, now)
		if failed+1 >= lockAfter {
			_ = s.Accounts.LockUser(ctx, name, now.Add(lockFor))
			s.Logger.Warn("account locked after failed sign-ins", "user", name, "address", c.ClientIP())
			s.record(ctx, jagadesa.AuditEvent{Actor: "system", Address: c.ClientIP(), Action: "account_locked", Object: name, Area: userArea(u),
				Detail: strconv.Itoa(failed+1) + " failed sign-ins in a row; locked " + lockFor.String()})
		}
		fail(u)
		return
	}
	id, idHash := accounts.NewToken(accounts.PrefixSession)
	if err := s.Accounts.CreateSession(ctx, idHash, u.ID, now, userSessionAbsolute, c.ClientIP(), c.Request.UserAgent()); err != nil {
		_ = c.Error(err)
		return
	}
	_ = s.Accounts.RecordLogin(ctx, name, true, now)
	_ = s.Accounts.LockUser(ctx, name, time.Time{})
	s.record(ctx, jagadesa.AuditEvent{Actor: name, Role: u.Role, Address: c.ClientIP(), Action: "signin", Object: name, Area: userArea(u)})
	http.SetCookie(c.Writer, &http.Cookie{
		Name: sessionCookie, Value: id, Path: "/", MaxAge: int(userSessionAbsolute / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.overTLS(c),
	})
	c.Status(http.StatusNoContent)
}

var wibZone = time.FixedZone("WIB", 7*3600)

// loginLimiter bounds sign-in attempts per address: 10 a minute.
type loginLimiter struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]*rate.Limiter
}

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{now: now, m: map[string]*rate.Limiter{}}
}

// address takes one attempt for addr; a positive wait means refused.
func (l *loginLimiter) address(addr string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.m[addr]
	if lim == nil {
		if len(l.m) > 100000 { // a flood of addresses: start afresh
			clear(l.m)
		}
		lim = rate.NewLimiter(rate.Every(6*time.Second), 10)
		l.m[addr] = lim
	}
	now := l.now()
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}
