package server

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/evidence"
)

// KeyHistory lists every key a village's probes ever had (server/sqlite).
type KeyHistory interface {
	KeyHistory(ctx context.Context, village string) ([]jagadesa.ProbeKey, error)
}

// handleEvidencePack streams a village's evidence pack of a month for an
// ISP dispute: the signed batches behind the month's figures, the outage
// list, the computation and the steps to verify every signature with
// OpenSSL alone, as one ZIP that is the same byte for byte each time it is
// made (docs/evidence-pack.md). Analysts and province admins of the
// village's jurisdiction; audited.
func (s *Server) handleEvidencePack(c *gin.Context) {
	who := principal(c)
	if !who.CanSeeSecurityEvidence() { // analysts and admins: a pack holds every record the probe sent
		_ = c.Error(who.Forbidden("download evidence packs"))
		return
	}
	month, ok := s.readinessMonth(c)
	if !ok {
		return
	}
	v, ok := s.visibleVillage(c)
	if !ok {
		return
	}
	kh, hasKeys := s.Keys.(KeyHistory)
	if s.Evidence == nil || !hasKeys {
		_ = c.Error(jagadesa.Errorf(jagadesa.EUnavailable, "this server keeps no evidence archive"))
		return
	}
	ctx := c.Request.Context()
	res, err := s.computeSLAFor(ctx, month, []string{v.Code})
	if err != nil {
		_ = c.Error(err)
		return
	}
	r := res[v.Code]
	hist, err := kh.KeyHistory(ctx, v.Code)
	if err != nil {
		_ = c.Error(err)
		return
	}
	keys := make([]evidence.ProbeKey, len(hist))
	for i, k := range hist {
		keys[i] = evidence.ProbeKey{Probe: k.Probe, PublicKey: k.PublicKey}
	}
	from, to := evidence.PackSpan(r)
	age := s.MaxRecordAge
	if age <= 0 {
		age = jagadesa.MaxPast
	}
	plan, err := evidence.PlanPack(evidence.Pack{Village: v.Code, VillageName: v.Name, Keys: keys, SLA: r,
		Batches: s.Evidence.Batches(v.Code, from, to, age)})
	if err != nil {
		_ = c.Error(&jagadesa.Error{Code: jagadesa.EConflict, Message: "the evidence pack cannot be made: " + err.Error(), Err: err})
		return
	}
	s.audit(c, "evidence_pack", v.Code, v.Code, month.Format("2006-01")+": "+itoa(plan.Batches())+" batches")
	// A month of batches is tens of megabytes: more time than a report.
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(15 * time.Minute))
	c.Header("Content-Type", "application/zip")
	c.Header("Content-Disposition", `attachment; filename="`+plan.FileName()+`"`)
	c.Status(http.StatusOK)
	if err := plan.Write(c.Writer); err != nil {
		s.Logger.Warn("evidence pack cut short", "village", v.Code, "err", err)
	}
}
