package server

import (
	"bytes"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/jagadesa/jagadesa"
)

func (s *Server) governanceReady(c *gin.Context, write bool) bool {
	if s.Governance == nil {
		_ = c.Error(jagadesa.Errorf(jagadesa.EUnavailable, "this server keeps no governance entries"))
		return false
	}
	if who := principal(c); write && !who.CanEditGovernance() {
		_ = c.Error(who.Forbidden("enter villages' digital governance"))
		return false
	}
	return true
}

// handleGovernance shows what staff entered about a village (404 when
// nothing was: the pillar is missing, not zero).
func (s *Server) handleGovernance(c *gin.Context) {
	if !s.governanceReady(c, false) {
		return
	}
	v, ok := s.visibleVillage(c)
	if !ok {
		return
	}
	g, ok, err := s.Governance.GovernanceOf(c.Request.Context(), v.Code)
	if err != nil {
		_ = c.Error(err)
		return
	}
	if !ok {
		_ = c.Error(notFound("no digital-governance entry for %s yet", v.Code))
		return
	}
	c.JSON(http.StatusOK, g)
}

// governanceBody is the body of PUT /api/v1/governance/{code}.
type governanceBody struct {
	Website        bool   `json:"website"`
	App            bool   `json:"app"`
	OnlineServices int    `json:"online_services"`
	Note           string `json:"note,omitempty"`
}

// handleSetGovernance enters a village's digital governance.
func (s *Server) handleSetGovernance(c *gin.Context) {
	if !s.governanceReady(c, true) {
		return
	}
	v, ok := s.visibleVillage(c)
	if !ok {
		return
	}
	b, err := decode[governanceBody](c, 4<<10)
	if err != nil {
		_ = c.Error(err)
		return
	}
	g := jagadesa.Governance{Village: v.Code, Website: b.Website, App: b.App, OnlineServices: b.OnlineServices, Note: b.Note,
		UpdatedBy: principal(c).Username(), UpdatedAt: s.Now().UTC()}
	if p := g.Validate(); p != nil {
		_ = c.Error(invalid(p, "bad governance entry"))
		return
	}
	if err := s.Governance.SetGovernance(c.Request.Context(), g); err != nil {
		_ = c.Error(err)
		return
	}
	s.readiness.invalidate()
	s.audit(c, "governance_set", v.Code, v.Code, "")
	c.JSON(http.StatusOK, g)
}

// maxGovernanceCSV bounds an import's body.
const maxGovernanceCSV = 2 << 20

// handleImportGovernance takes a CSV of villages' digital governance
// (village,website,app,online_services[,note]); all rows or none, and
// only villages inside the asker's jurisdiction.
func (s *Server) handleImportGovernance(c *gin.Context) {
	if !s.governanceReady(c, true) {
		return
	}
	raw, err := readSmall(c, maxGovernanceCSV)
	if err != nil {
		_ = c.Error(err)
		return
	}
	gs, err := jagadesa.ReadGovernanceCSV(bytes.NewReader(raw))
	if err != nil {
		_ = c.Error(err)
		return
	}
	who, now := principal(c), s.Now().UTC()
	for i := range gs {
		v, ok := s.Registry.Village(gs[i].Village)
		if !ok || !who.CanSeeVillage(v) {
			_ = c.Error(invalid(jagadesa.Problems{"village": gs[i].Village + " is not a village of your jurisdiction"}, "nothing imported"))
			return
		}
		gs[i].UpdatedBy, gs[i].UpdatedAt = who.Username(), now
	}
	if err := s.Governance.SetGovernanceMany(c.Request.Context(), gs); err != nil {
		_ = c.Error(err)
		return
	}
	s.readiness.invalidate()
	s.audit(c, "governance_import", "", who.Area(), itoa(len(gs))+" villages")
	c.JSON(http.StatusOK, gin.H{"imported": len(gs)})
}
