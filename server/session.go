package server

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jagadesa/jagadesa"
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
	Token string `json:"token"`
}

func (r *loginRequest) Validate() jagadesa.Problems {
	p := jagadesa.Problems{}
	if r.Token == "" {
		p["token"] = "required"
	} else if len(r.Token) > 512 {
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
	if !s.isAdmin(req.Token) {
		s.metrics.loginFailures.Inc()
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
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.Request.TLS != nil,
	})
	c.Status(http.StatusNoContent)
}

// handleSession tells the page whether it is signed in.
func (s *Server) handleSession(c *gin.Context) {
	role := s.sessionRole(c)
	if role == "" && s.isAdmin(bearer(c)) {
		role = "admin"
	}
	if role == "" {
		_ = c.Error(jagadesa.Errorf(jagadesa.EUnauthorized, "not signed in"))
		return
	}
	c.JSON(http.StatusOK, gin.H{"role": role})
}

func (s *Server) handleLogout(c *gin.Context) {
	if id, err := c.Cookie(sessionCookie); err == nil {
		s.sessions.remove(id)
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.Request.TLS != nil})
	c.Status(http.StatusNoContent)
}
