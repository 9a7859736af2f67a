package server

import (
	"crypto/ed25519"
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/ingest"
)

// enrollRequest is the body of POST /api/v1/probes.
type enrollRequest struct {
	Village string `json:"village"`
	// PublicKey, optional, binds the probe's Ed25519 key at enrollment
	// (printed by `jagadesa-probe keygen`); without it the probe's first
	// POST /api/v1/probes/key binds it.
	PublicKey string `json:"public_key,omitempty"`
}

// enrollResponse carries the probe's token, shown this once only.
type enrollResponse struct {
	Probe   string `json:"probe"`
	Village string `json:"village"`
	Token   string `json:"token"`
	KeyID   string `json:"key_id,omitempty"`
}

// decode reads a small JSON body strictly: bounded, no unknown fields, one
// value only.
func decode[T any](c *gin.Context, limit int64) (T, error) {
	var v T
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		if isMaxBytes(err) {
			return v, tooLarge("body exceeds %d bytes", limit)
		}
		return v, invalid(nil, "body is not valid JSON: %s", ingest.JSONError(err))
	}
	if dec.More() {
		return v, invalid(nil, "body must hold one JSON object")
	}
	return v, nil
}

func (s *Server) handleEnrollProbe(c *gin.Context) {
	req, err := decode[enrollRequest](c, 4<<10)
	if err != nil {
		_ = c.Error(err)
		return
	}
	if !jagadesa.ValidVillageCode(req.Village) {
		_ = c.Error(invalid(jagadesa.Problems{"village": "must be a Kemendagri village code like 33.06.08.2005"}, "bad village"))
		return
	}
	v, ok := s.Registry.Village(req.Village)
	if !ok {
		_ = c.Error(invalid(jagadesa.Problems{"village": "not in the village registry"}, "unknown village %s", req.Village))
		return
	}
	if who := principal(c); !who.CanManageProbes(v) {
		_ = c.Error(who.Forbidden("enroll a probe for village " + v.Code))
		return
	}
	var pub ed25519.PublicKey
	if req.PublicKey != "" {
		if s.Keys == nil {
			_ = c.Error(jagadesa.Errorf(jagadesa.EUnavailable, "this server keeps no probe keys"))
			return
		}
		if pub, err = jagadesa.ParsePublicKey(req.PublicKey); err != nil {
			_ = c.Error(invalid(jagadesa.Problems{"public_key": err.Error()}, "bad public key"))
			return
		}
	}
	p, tok, err := s.Probes.CreateProbe(c.Request.Context(), req.Village)
	if err != nil {
		_ = c.Error(err)
		return
	}
	res := enrollResponse{Probe: p.ID, Village: p.Village, Token: tok}
	if pub != nil {
		if _, err := s.Keys.SetProbeKey(c.Request.Context(), p.ID, pub, "admin"); err != nil {
			_ = c.Error(err)
			return
		}
		res.KeyID = jagadesa.KeyID(pub)
	}
	s.Logger.Info("probe enrolled", "probe", p.ID, "village", p.Village, "key", res.KeyID)
	c.JSON(http.StatusCreated, res)
}

func (s *Server) handleListProbes(c *gin.Context) {
	if who := principal(c); !who.CanManageUsers() && who.Role() != jagadesa.RoleTechnician {
		_ = c.Error(who.Forbidden("list probes"))
		return
	}
	ps, err := s.Probes.Probes(c.Request.Context())
	if err != nil {
		_ = c.Error(err)
		return
	}
	within := principal(c).VillageFilter()
	out := ps[:0]
	for _, p := range ps {
		if within(p.Village) {
			out = append(out, p)
		}
	}
	c.JSON(http.StatusOK, gin.H{"count": len(out), "probes": out})
}

// keyRequest is the body of POST /api/v1/probes/key.
type keyRequest struct {
	PublicKey string `json:"public_key"`
}

// keyView shows a probe's key, with the PEM form OpenSSL reads.
type keyView struct {
	jagadesa.ProbeKey
	Village   string `json:"village,omitempty"`
	PublicKey string `json:"public_key"`
	KeyID     string `json:"key_id"`
	PEM       string `json:"pem"`
}

func newKeyView(k jagadesa.ProbeKey) keyView {
	return keyView{ProbeKey: k, PublicKey: jagadesa.FormatPublicKey(k.PublicKey), KeyID: jagadesa.KeyID(k.PublicKey), PEM: jagadesa.PublicKeyPEM(k.PublicKey)}
}

// handleRegisterKey binds a probe's public key on first use: the probe,
// authenticated by its token, registers the key it made when it was set
// up. The same key again is fine; another key is refused until an admin
// resets the probe's key.
func (s *Server) handleRegisterKey(c *gin.Context) {
	p := c.MustGet(ctxProbe).(jagadesa.Probe)
	if s.Keys == nil {
		_ = c.Error(jagadesa.Errorf(jagadesa.EUnavailable, "this server keeps no probe keys"))
		return
	}
	req, err := decode[keyRequest](c, 4<<10)
	if err != nil {
		_ = c.Error(err)
		return
	}
	pub, err := jagadesa.ParsePublicKey(req.PublicKey)
	if err != nil {
		_ = c.Error(invalid(jagadesa.Problems{"public_key": err.Error()}, "bad public key"))
		return
	}
	_, had := s.Keys.ProbeKey(p.ID)
	k, err := s.Keys.SetProbeKey(c.Request.Context(), p.ID, pub, "probe")
	if err != nil {
		_ = c.Error(err)
		return
	}
	st := http.StatusOK
	if !had {
		st = http.StatusCreated
		s.Logger.Info("probe key registered", "probe", p.ID, "village", p.Village, "key", jagadesa.KeyID(pub))
	}
	v := newKeyView(k)
	v.Village = p.Village
	c.JSON(st, v)
}

// handleProbeKey shows a probe's registered key.
func (s *Server) handleProbeKey(c *gin.Context) {
	if s.Keys == nil {
		_ = c.Error(jagadesa.Errorf(jagadesa.EUnavailable, "this server keeps no probe keys"))
		return
	}
	k, ok := s.Keys.ProbeKey(c.Param("id"))
	if !ok {
		_ = c.Error(notFound("probe %q has no registered key", c.Param("id")))
		return
	}
	c.JSON(http.StatusOK, newKeyView(k))
}

// handleResetKey forgets a probe's key (a router replaced or re-flashed),
// so that the probe may register a new one.
func (s *Server) handleResetKey(c *gin.Context) {
	if s.Keys == nil {
		_ = c.Error(jagadesa.Errorf(jagadesa.EUnavailable, "this server keeps no probe keys"))
		return
	}
	if !s.mayManageProbe(c, c.Param("id")) {
		return
	}
	if err := s.Keys.ResetProbeKey(c.Request.Context(), c.Param("id")); err != nil {
		_ = c.Error(err)
		return
	}
	s.Logger.Warn("probe key reset", "probe", c.Param("id"), "by", s.actor(c))
	c.Status(http.StatusNoContent)
}

// handleRevokeProbe ends a probe's token at once: a stolen router, or one
// replaced (the village is enrolled again; what the old probe sent stays
// attributed to it). Its batches are refused from the next request on.
func (s *Server) handleRevokeProbe(c *gin.Context) {
	id := c.Param("id")
	if !s.mayManageProbe(c, id) {
		return
	}
	if err := s.Probes.RevokeProbe(c.Request.Context(), id); err != nil {
		_ = c.Error(err)
		return
	}
	s.Logger.Warn("probe revoked", "probe", id, "by", s.actor(c))
	c.Status(http.StatusNoContent)
}

// mayManageProbe reports whether the asker may manage the probe with this
// id (a probe of a village in their jurisdiction); false means the error
// is recorded. An unknown probe is 404 for everyone.
func (s *Server) mayManageProbe(c *gin.Context, id string) bool {
	ps, err := s.Probes.Probes(c.Request.Context())
	if err != nil {
		_ = c.Error(err)
		return false
	}
	for _, p := range ps {
		if p.ID != id {
			continue
		}
		v, _ := s.Registry.Village(p.Village)
		if who := principal(c); !who.CanManageProbes(v) {
			_ = c.Error(who.Forbidden("manage probe " + id))
			return false
		}
		return true
	}
	_ = c.Error(notFound("no live probe %q", id))
	return false
}
