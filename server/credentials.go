package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/accounts"
)

// Probe credentials after enrollment: rotation without a site visit,
// enrollment codes typed on the router, and a key bound by staff.

func (s *Server) probeAdmin(c *gin.Context) bool {
	if s.ProbeAdmin == nil {
		_ = c.Error(jagadesa.Errorf(jagadesa.EUnavailable, "this server cannot rotate tokens or take enrollment codes"))
		return false
	}
	return true
}

// handleRotateProbe asks for a probe's token to be replaced: the answer to
// its next batch tells the probe, which fetches a new token and saves it.
func (s *Server) handleRotateProbe(c *gin.Context) {
	if !s.probeAdmin(c) {
		return
	}
	p, ok := s.mayManageProbe(c, c.Param("id"))
	if !ok {
		return
	}
	if err := s.ProbeAdmin.RequestRotation(c.Request.Context(), p.ID); err != nil {
		_ = c.Error(err)
		return
	}
	s.audit(c, "probe_rotate_request", p.ID, p.Village, "")
	c.JSON(http.StatusAccepted, gin.H{"probe": p.ID, "rotate_requested": true,
		"message": "the probe fetches a new token with its next report; the old token works until it first uses the new one"})
}

// tokenRequestSkew is how far a token request's time may be from ours.
const tokenRequestSkew = 10 * time.Minute

// handleProbeToken gives a probe its next token, once staff asked for a
// rotation. A probe with a key must sign the request with it.
func (s *Server) handleProbeToken(c *gin.Context) {
	if !s.probeAdmin(c) {
		return
	}
	p := c.MustGet(ctxProbe).(jagadesa.Probe)
	raw, err := readSmall(c, 2<<10)
	if err != nil {
		_ = c.Error(err)
		return
	}
	req, err := decodeBytes[jagadesa.TokenRequest](raw)
	if err != nil {
		_ = c.Error(err)
		return
	}
	switch {
	case req.Village != p.Village || req.Purpose != jagadesa.TokenPurpose:
		_ = c.Error(invalid(jagadesa.Problems{"village": "must be this probe's village", "purpose": jagadesa.TokenPurpose}, "not a token request of this probe"))
		return
	case req.At.IsZero() || req.At.Sub(s.Now()).Abs() > tokenRequestSkew:
		_ = c.Error(invalid(jagadesa.Problems{"at": "the probe's clock, within 10 minutes of the server's"}, "stale token request"))
		return
	}
	if s.Keys != nil {
		if k, ok := s.Keys.ProbeKey(p.ID); ok {
			if err := jagadesa.VerifyReport(k.PublicKey, raw, c.GetHeader(jagadesa.SignatureHeader)); err != nil {
				_ = c.Error(jagadesa.Errorf(jagadesa.EUnauthorized, "token request refused: %v (key %s)", err, jagadesa.KeyID(k.PublicKey)))
				return
			}
		}
	}
	tok, err := s.ProbeAdmin.IssueToken(c.Request.Context(), p.ID)
	if err != nil {
		_ = c.Error(err)
		return
	}
	s.record(c.Request.Context(), jagadesa.AuditEvent{Actor: "probe:" + p.ID, Address: c.ClientIP(), Action: "probe_token_rotated",
		Object: p.ID, Area: p.Village, Detail: "new token issued; the old one ends at its first use"})
	c.JSON(http.StatusOK, jagadesa.TokenResponse{Probe: p.ID, Token: tok})
}

// codeRequest is the body of POST /api/v1/enrollment-codes.
type codeRequest struct {
	Village  string `json:"village"`
	Replace  bool   `json:"replace,omitempty"`
	TTLHours int    `json:"ttl_hours,omitempty"` // default 72, at most 168
}

// handleCreateEnrollCode makes a single-use code for a village, for a
// field technician to type on the router (jagadesa-probe enroll).
func (s *Server) handleCreateEnrollCode(c *gin.Context) {
	if !s.probeAdmin(c) {
		return
	}
	req, err := decode[codeRequest](c, 1<<10)
	if err != nil {
		_ = c.Error(err)
		return
	}
	if req.TTLHours == 0 {
		req.TTLHours = 72
	}
	if req.TTLHours < 1 || req.TTLHours > 168 {
		_ = c.Error(invalid(jagadesa.Problems{"ttl_hours": "1 to 168 (a week)"}, "bad lifetime"))
		return
	}
	v, ok := s.Registry.Village(req.Village)
	if !jagadesa.ValidVillageCode(req.Village) || !ok {
		_ = c.Error(invalid(jagadesa.Problems{"village": "a village of the registry, like 33.06.08.2005"}, "bad village"))
		return
	}
	who := principal(c)
	if !who.CanManageProbes(v) {
		_ = c.Error(who.Forbidden("make an enrollment code for village " + v.Code))
		return
	}
	code, hash := accounts.NewEnrollCode()
	ec, err := s.ProbeAdmin.CreateEnrollCode(c.Request.Context(), hash, v.Code, req.Replace, who.Username(), time.Duration(req.TTLHours)*time.Hour)
	if err != nil {
		_ = c.Error(err)
		return
	}
	s.audit(c, "enroll_code_create", v.Code, v.Code, "code "+strconv.FormatInt(ec.ID, 10)+", valid "+strconv.Itoa(req.TTLHours)+" h"+map[bool]string{true: ", replaces the village's probe"}[req.Replace])
	c.JSON(http.StatusCreated, gin.H{"code": code, "id": ec.ID, "village": v.Code, "village_name": v.Name, "replace": ec.Replace,
		"expires_at": ec.ExpiresAt, "command": "jagadesa-probe enroll --server " + s.publicURL(c) + " --code " + code})
}

// publicURL is this server's URL as the asker reached it.
func (s *Server) publicURL(c *gin.Context) string {
	scheme := "http"
	if s.overTLS(c) {
		scheme = "https"
	}
	return scheme + "://" + c.Request.Host
}

// handleEnrollCodes lists the enrollment codes of the asker's
// jurisdiction (never the codes themselves): ?all=true for used and
// expired ones too.
func (s *Server) handleEnrollCodes(c *gin.Context) {
	if !s.probeAdmin(c) {
		return
	}
	who := principal(c)
	if !who.ManagesProbes() {
		_ = c.Error(who.Forbidden("list enrollment codes"))
		return
	}
	codes, err := s.ProbeAdmin.EnrollCodes(c.Request.Context(), c.Query("all") != "true", 1000)
	if err != nil {
		_ = c.Error(err)
		return
	}
	out := codes[:0]
	for _, ec := range codes {
		if who.Covers(ec.Village) {
			out = append(out, ec)
		}
	}
	c.JSON(http.StatusOK, gin.H{"count": len(out), "codes": out})
}

// handleEnrollWithCode enrolls a probe with a code typed on the router:
// no other credential, so it is limited per address (10 a minute), every
// unusable code looks alike, refusals go to the audit trail in bursts,
// and the probe's key is bound in the same step.
func (s *Server) handleEnrollWithCode(c *gin.Context) {
	if !s.probeAdmin(c) {
		return
	}
	if wait := s.enrolls.address(c.ClientIP()); wait > 0 {
		c.Header("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		_ = c.Error(jagadesa.Errorf(jagadesa.ETooMany, "too many enrollment attempts from this address; wait %s", wait.Round(time.Second)))
		return
	}
	req, err := decode[jagadesa.EnrollWithCode](c, 2<<10)
	if err != nil {
		_ = c.Error(err)
		return
	}
	hash, err := accounts.HashEnrollCode(req.Code)
	if err != nil {
		_ = c.Error(err)
		return
	}
	pub, err := jagadesa.ParsePublicKey(req.PublicKey)
	if err != nil {
		_ = c.Error(invalid(jagadesa.Problems{"public_key": err.Error()}, "bad public key"))
		return
	}
	if req.Village != "" && !jagadesa.ValidVillageCode(req.Village) {
		_ = c.Error(invalid(jagadesa.Problems{"village": "a village code like 33.06.08.2005"}, "bad village"))
		return
	}
	p, tok, err := s.ProbeAdmin.EnrollProbe(c.Request.Context(), jagadesa.EnrollSpec{CodeHash: hash, Village: req.Village, Key: pub})
	if jagadesa.ErrorCode(err) == jagadesa.EUnauthorized {
		s.auditBurst(c.Request.Context(), jagadesa.AuditEvent{Actor: "-", Address: c.ClientIP(), Action: "enroll_code_refused", Detail: "unknown, used or expired code"})
	}
	if err != nil {
		_ = c.Error(err)
		return
	}
	res := s.auditEnrolled(c, p.EnrolledBy, p, enrollResponse{Probe: p.ID, Village: p.Village, Token: tok, KeyID: jagadesa.KeyID(pub)})
	c.JSON(http.StatusCreated, res)
}

// handleBindKey binds a key staff read off the router (jagadesa-probe
// keygen) to a probe that has none, e.g. after its key was reset.
func (s *Server) handleBindKey(c *gin.Context) {
	if s.Keys == nil {
		_ = c.Error(jagadesa.Errorf(jagadesa.EUnavailable, "this server keeps no probe keys"))
		return
	}
	p, ok := s.mayManageProbe(c, c.Param("id"))
	if !ok {
		return
	}
	pub, ok := readKey(c)
	if !ok {
		return
	}
	k, err := s.Keys.SetProbeKey(c.Request.Context(), p.ID, pub, principal(c).Username())
	if err != nil {
		_ = c.Error(err)
		return
	}
	s.audit(c, "probe_key_bound", p.ID, p.Village, "key "+jagadesa.KeyID(pub)+" bound by staff")
	v := newKeyView(k)
	v.Village = p.Village
	c.JSON(http.StatusOK, v)
}
