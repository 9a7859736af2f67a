package server

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/accounts"
)

// UserAdmin administers staff accounts from the dashboard (server/sqlite
// implements it; `jagadesa user` does the same on the server host).
type UserAdmin interface {
	CreateUser(ctx context.Context, u jagadesa.User, passwordHash string) (jagadesa.User, error)
	Users(ctx context.Context) ([]jagadesa.User, error)
	UserByName(ctx context.Context, name string) (jagadesa.User, string, error)
	SetPassword(ctx context.Context, name, hash string) error
	DisableUser(ctx context.Context, name string) error
	LockUser(ctx context.Context, name string, until time.Time) error
	EndUserSessions(ctx context.Context, userID int64) error
}

func (s *Server) userAdmin(c *gin.Context) bool {
	if s.Users == nil {
		_ = c.Error(jagadesa.Errorf(jagadesa.EUnavailable, "this server administers accounts only with `jagadesa user` on its host"))
		return false
	}
	return true
}

// userArea is the Kemendagri code an account belongs to, for the audit.
func userArea(u jagadesa.User) string {
	if u.Regency != "" {
		return u.Regency
	}
	return u.Province
}

// handleUsers lists the accounts the asker may administer.
func (s *Server) handleUsers(c *gin.Context) {
	if !s.userAdmin(c) {
		return
	}
	us, err := s.Users.Users(c.Request.Context())
	if err != nil {
		_ = c.Error(err)
		return
	}
	who := principal(c)
	out := us[:0]
	for _, u := range us {
		if who.CanManageUser(u) {
			out = append(out, u)
		}
	}
	c.JSON(http.StatusOK, gin.H{"count": len(out), "users": out})
}

// newUser is the body of POST /api/v1/users.
type newUser struct {
	Username string        `json:"username"`
	Role     jagadesa.Role `json:"role"`
	Province string        `json:"province"`
	Regency  string        `json:"regency,omitempty"`
	Password string        `json:"password"`
}

// handleAddUser creates an account in the asker's province.
func (s *Server) handleAddUser(c *gin.Context) {
	if !s.userAdmin(c) {
		return
	}
	req, err := decode[newUser](c, 4<<10)
	if err != nil {
		_ = c.Error(err)
		return
	}
	u := jagadesa.User{Username: strings.ToLower(strings.TrimSpace(req.Username)), Role: req.Role, Province: req.Province, Regency: req.Regency}
	if u.Province == "" && len(u.Regency) >= 2 {
		u.Province = u.Regency[:2]
	}
	if p := u.Validate(); p != nil {
		_ = c.Error(invalid(p, "bad account"))
		return
	}
	who := principal(c)
	if !who.CanManageUser(u) {
		_ = c.Error(who.Forbidden("create an account in province " + u.Province))
		return
	}
	hash, err := accounts.NewPasswordHash(req.Password, u.Username)
	if err != nil {
		_ = c.Error(err)
		return
	}
	if u, err = s.Users.CreateUser(c.Request.Context(), u, hash); err != nil {
		_ = c.Error(err)
		return
	}
	s.audit(c, "user_add", u.Username, userArea(u), string(u.Role))
	c.JSON(http.StatusCreated, u)
}

// managedUser finds the account named in the path and checks the asker may
// change it; false means the error is recorded.
func (s *Server) managedUser(c *gin.Context) (jagadesa.User, bool) {
	u, _, err := s.Users.UserByName(c.Request.Context(), strings.ToLower(c.Param("name")))
	if err != nil {
		_ = c.Error(err)
		return u, false
	}
	if who := principal(c); !who.CanManageUser(u) {
		// Another province's account: as if it did not exist.
		_ = c.Error(notFound("no account %q", clip(c.Param("name"), 64)))
		return u, false
	}
	return u, true
}

// handleDisableUser disables an account: its sessions end and its tokens
// are revoked. Nobody disables themselves (a province would lose its last
// admin by a slip).
func (s *Server) handleDisableUser(c *gin.Context) {
	if !s.userAdmin(c) {
		return
	}
	u, ok := s.managedUser(c)
	if !ok {
		return
	}
	if u.Username == principal(c).Username() {
		_ = c.Error(jagadesa.Errorf(jagadesa.EConflict, "you cannot disable your own account; ask another province admin"))
		return
	}
	if err := s.Users.DisableUser(c.Request.Context(), u.Username); err != nil {
		_ = c.Error(err)
		return
	}
	s.audit(c, "user_disable", u.Username, userArea(u), "")
	c.Status(http.StatusNoContent)
}

// handleSetPassword sets an account's password (a reset by an admin, or
// one's own): every session of the account ends and a lock is lifted.
func (s *Server) handleSetPassword(c *gin.Context) {
	if !s.userAdmin(c) {
		return
	}
	u, ok := s.managedUser(c)
	if !ok {
		return
	}
	req, err := decode[struct {
		Password string `json:"password"`
	}](c, 2<<10)
	if err != nil {
		_ = c.Error(err)
		return
	}
	hash, err := accounts.NewPasswordHash(req.Password, u.Username)
	if err != nil {
		_ = c.Error(err)
		return
	}
	ctx := c.Request.Context()
	if err := s.Users.SetPassword(ctx, u.Username, hash); err != nil {
		_ = c.Error(err)
		return
	}
	if err := s.Users.LockUser(ctx, u.Username, time.Time{}); err != nil {
		_ = c.Error(err)
		return
	}
	s.audit(c, "user_passwd", u.Username, userArea(u), "every session ended")
	c.Status(http.StatusNoContent)
}

// handleSignOutEverywhere ends every session of the asker's account, on
// every device.
func (s *Server) handleSignOutEverywhere(c *gin.Context) {
	who := principal(c)
	if s.Users == nil || who.Everywhere() {
		_ = c.Error(jagadesa.Errorf(jagadesa.EConflict, "only a person's account has sessions to end everywhere"))
		return
	}
	u, _, err := s.Users.UserByName(c.Request.Context(), who.Username())
	if err != nil {
		_ = c.Error(err)
		return
	}
	if err := s.Users.EndUserSessions(c.Request.Context(), u.ID); err != nil {
		_ = c.Error(err)
		return
	}
	s.audit(c, "signout_everywhere", u.Username, userArea(u), "")
	s.clearCookie(c)
	c.Status(http.StatusNoContent)
}
