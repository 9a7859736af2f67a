package server

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jagadesa/jagadesa"
)

// ProbeAdmin enrolls probes with codes, replaces and rotates them
// (server/sqlite implements it).
type ProbeAdmin interface {
	EnrollProbe(ctx context.Context, spec jagadesa.EnrollSpec) (jagadesa.Probe, string, error)
	AllProbes(ctx context.Context) ([]jagadesa.Probe, error)
	ReplacedProbes(ctx context.Context, id string) ([]string, error)
	RequestRotation(ctx context.Context, id string) error
	IssueToken(ctx context.Context, id string) (string, error)
	CreateEnrollCode(ctx context.Context, hash, village string, replace bool, by string, ttl time.Duration) (jagadesa.EnrollCode, error)
	EnrollCodes(ctx context.Context, live bool, limit int) ([]jagadesa.EnrollCode, error)
}

// enrollRequest is the body of POST /api/v1/probes.
type enrollRequest struct {
	Village string `json:"village"`
	// PublicKey binds the probe's Ed25519 key at enrollment (printed by
	// `jagadesa-probe keygen`). Required unless the server trusts a
	// probe's first key (--probe-key-tofu).
	PublicKey string `json:"public_key,omitempty"`
	// Replace retires the village's live probes (a dead router replaced);
	// what they sent stays attributed to them.
	Replace bool `json:"replace,omitempty"`
}

// enrollResponse carries the probe's token, shown this once only.
type enrollResponse = jagadesa.Enrolled

// keyRequired is the problem of an enrollment without a key on a server
// that binds keys at enrollment.
const keyRequired = "required: the probe's public key (jagadesa-probe keygen prints it) is bound at enrollment; a server started with --probe-key-tofu trusts the first key a probe registers instead"

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
	who := principal(c)
	if !who.CanManageProbes(v) {
		_ = c.Error(who.Forbidden("enroll a probe for village " + v.Code))
		return
	}
	var pub ed25519.PublicKey
	switch {
	case req.PublicKey != "":
		if s.Keys == nil {
			_ = c.Error(jagadesa.Errorf(jagadesa.EUnavailable, "this server keeps no probe keys"))
			return
		}
		if pub, err = jagadesa.ParsePublicKey(req.PublicKey); err != nil {
			_ = c.Error(invalid(jagadesa.Problems{"public_key": err.Error()}, "bad public key"))
			return
		}
	case !s.ProbeKeyTOFU && s.Keys != nil:
		_ = c.Error(invalid(jagadesa.Problems{"public_key": keyRequired}, "no public key"))
		return
	}
	ctx := c.Request.Context()
	var p jagadesa.Probe
	var tok string
	if s.ProbeAdmin != nil {
		p, tok, err = s.ProbeAdmin.EnrollProbe(ctx, jagadesa.EnrollSpec{Village: v.Code, By: who.Username(), Replace: req.Replace, Key: pub})
	} else if req.Replace {
		err = jagadesa.Errorf(jagadesa.EUnavailable, "this server cannot replace probes")
	} else if p, tok, err = s.Probes.CreateProbe(ctx, v.Code); err == nil && pub != nil {
		_, err = s.Keys.SetProbeKey(ctx, p.ID, pub, "enrollment")
	}
	if err != nil {
		_ = c.Error(err)
		return
	}
	res := enrollResponse{Probe: p.ID, Village: p.Village, Token: tok}
	if pub != nil {
		res.KeyID = jagadesa.KeyID(pub)
	}
	res = s.auditEnrolled(c, who.Username(), p, res)
	c.JSON(http.StatusCreated, res)
}

// auditEnrolled logs and records an enrollment (and what it replaced),
// filling res.Replaced.
func (s *Server) auditEnrolled(c *gin.Context, actor string, p jagadesa.Probe, res enrollResponse) enrollResponse {
	ctx := c.Request.Context()
	if s.ProbeAdmin != nil {
		res.Replaced, _ = s.ProbeAdmin.ReplacedProbes(ctx, p.ID)
	}
	action, detail := "probe_enroll", "key "+res.KeyID
	if res.KeyID == "" {
		detail = "no key yet (TOFU)"
	}
	if len(res.Replaced) > 0 {
		action, detail = "probe_replace", detail+"; replaces "+strings.Join(res.Replaced, ", ")
	}
	s.Logger.Info("probe enrolled", "probe", p.ID, "village", p.Village, "key", res.KeyID, "by", actor, "replaces", res.Replaced)
	e := jagadesa.AuditEvent{Actor: actor, Address: c.ClientIP(), Action: action, Object: p.ID, Area: p.Village, Detail: detail}
	if who := principal(c); who.Role() != "" {
		e.Role = who.Role()
	}
	s.record(ctx, e)
	return res
}

func (s *Server) handleListProbes(c *gin.Context) {
	if who := principal(c); !who.ManagesProbes() {
		_ = c.Error(who.Forbidden("list probes"))
		return
	}
	var ps []jagadesa.Probe
	var err error
	if c.Query("all") == "true" && s.ProbeAdmin != nil { // revoked and replaced probes too
		ps, err = s.ProbeAdmin.AllProbes(c.Request.Context())
	} else {
		ps, err = s.Probes.Probes(c.Request.Context())
	}
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

// readKey reads a keyRequest body and parses its key; false means the
// error is recorded.
func readKey(c *gin.Context) (ed25519.PublicKey, bool) {
	req, err := decode[keyRequest](c, 4<<10)
	if err != nil {
		_ = c.Error(err)
		return nil, false
	}
	pub, err := jagadesa.ParsePublicKey(req.PublicKey)
	if err != nil {
		_ = c.Error(invalid(jagadesa.Problems{"public_key": err.Error()}, "bad public key"))
		return nil, false
	}
	return pub, true
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
	pub, ok := readKey(c)
	if !ok {
		return
	}
	_, had := s.Keys.ProbeKey(p.ID)
	if !had && !s.ProbeKeyTOFU {
		_ = c.Error(jagadesa.Errorf(jagadesa.EForbidden, "this server binds probe keys at enrollment, and probe %s has none: enroll it again with its public key or an enrollment code (jagadesa-probe enroll)", p.ID))
		return
	}
	k, err := s.Keys.SetProbeKey(c.Request.Context(), p.ID, pub, "probe")
	if err != nil {
		_ = c.Error(err)
		return
	}
	st := http.StatusOK
	if !had {
		st = http.StatusCreated
		s.Logger.Info("probe key registered", "probe", p.ID, "village", p.Village, "key", jagadesa.KeyID(pub))
		s.record(c.Request.Context(), jagadesa.AuditEvent{Actor: "probe:" + p.ID, Address: c.ClientIP(), Action: "probe_key_bound",
			Object: p.ID, Area: p.Village, Detail: "trusted on first use: key " + jagadesa.KeyID(pub)})
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
	p, ok := s.mayManageProbe(c, c.Param("id"))
	if !ok {
		return
	}
	if err := s.Keys.ResetProbeKey(c.Request.Context(), p.ID); err != nil {
		_ = c.Error(err)
		return
	}
	s.Logger.Warn("probe key reset", "probe", p.ID, "by", s.actor(c))
	s.audit(c, "probe_key_reset", p.ID, p.Village, "")
	c.Status(http.StatusNoContent)
}

// handleRevokeProbe ends a probe's token at once: a stolen router, or one
// replaced (the village is enrolled again; what the old probe sent stays
// attributed to it). Its batches are refused from the next request on.
func (s *Server) handleRevokeProbe(c *gin.Context) {
	p, ok := s.mayManageProbe(c, c.Param("id"))
	if !ok {
		return
	}
	if err := s.Probes.RevokeProbe(c.Request.Context(), p.ID); err != nil {
		_ = c.Error(err)
		return
	}
	s.Logger.Warn("probe revoked", "probe", p.ID, "by", s.actor(c))
	s.audit(c, "probe_revoke", p.ID, p.Village, "")
	c.Status(http.StatusNoContent)
}

// mayManageProbe finds the live probe with this id and reports whether
// the asker may manage it (a probe of a village in their jurisdiction);
// false means the error is recorded. An unknown probe is 404 for everyone.
func (s *Server) mayManageProbe(c *gin.Context, id string) (jagadesa.Probe, bool) {
	ps, err := s.Probes.Probes(c.Request.Context())
	if err != nil {
		_ = c.Error(err)
		return jagadesa.Probe{}, false
	}
	for _, p := range ps {
		if p.ID != id {
			continue
		}
		v, _ := s.Registry.Village(p.Village)
		if who := principal(c); !who.CanManageProbes(v) {
			_ = c.Error(who.Forbidden("manage probe " + id))
			return jagadesa.Probe{}, false
		}
		return p, true
	}
	_ = c.Error(notFound("no live probe %q", id))
	return jagadesa.Probe{}, false
}
