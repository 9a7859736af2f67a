package server

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/route"
)

// AuditLog keeps the audit trail of every change (server/sqlite
// implements it).
type AuditLog interface {
	AppendAudit(ctx context.Context, e jagadesa.AuditEvent) error
	AuditLog(ctx context.Context, q jagadesa.AuditQuery) ([]jagadesa.AuditEvent, error)
}

// TeamOf returns the function naming the CSIRT that owns an area
// (village, regency or province code) in dir: the regency's own team, else
// the province's; "" for none.
func TeamOf(dir *route.Directory) func(area string) string {
	return func(area string) string {
		if dir == nil || len(area) < 2 {
			return ""
		}
		v := jagadesa.Village{Code: area, RegencyCode: area[:2]}
		if len(area) >= 5 {
			v.RegencyCode = area[:5]
		}
		owner, _, err := dir.Route(v)
		if err != nil {
			return ""
		}
		return owner.ID
	}
}

func (s *Server) teamOf(area string) string { return TeamOf(s.Directory)(area) }

// record writes an audit event, naming the team that owns its area. The
// change it records has already happened, so a failure to write is logged
// loudly and counted rather than undoing it.
func (s *Server) record(ctx context.Context, e jagadesa.AuditEvent) {
	if s.Audit == nil {
		return
	}
	if e.At.IsZero() {
		e.At = s.Now().UTC()
	}
	if e.Team == "" {
		e.Team = s.teamOf(e.Area)
	}
	// The write must outlive a client that hangs up.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.Audit.AppendAudit(ctx, e); err != nil {
		s.metrics.auditFailures.Inc()
		s.Logger.Error("audit event not recorded", "action", e.Action, "actor", e.Actor, "object", e.Object, "err", err)
	}
}

// audit records a change made by the request's principal.
func (s *Server) audit(c *gin.Context, action, object, area, detail string) {
	p := principal(c)
	s.record(c.Request.Context(), jagadesa.AuditEvent{Actor: p.Username(), Role: p.Role(), Address: c.ClientIP(),
		Action: action, Object: object, Area: area, Detail: detail})
}

// bursts coalesces repeated refused attempts (sign-ins over the limit or
// on a locked account, bad enrollment codes) into one audit event a
// minute per actor, address and action: the first is written at once, the
// rest of the minute as one event with its count when the minute is over
// (on the next refused attempt of any kind).
type bursts struct {
	mu sync.Mutex
	m  map[string]*burst
}

type burst struct {
	first time.Time
	n     int
	e     jagadesa.AuditEvent
}

const (
	burstWindow = time.Minute
	maxBursts   = 10000
)

func (s *Server) auditBurst(ctx context.Context, e jagadesa.AuditEvent) {
	if s.Audit == nil {
		return
	}
	now := s.Now()
	key := e.Action + "\x00" + e.Actor + "\x00" + e.Address
	var out []jagadesa.AuditEvent
	b := &s.bursts
	b.mu.Lock()
	if b.m == nil {
		b.m = map[string]*burst{}
	}
	for k, x := range b.m {
		if now.Sub(x.first) >= burstWindow || len(b.m) >= maxBursts {
			if x.n > 1 {
				f := x.e
				f.At, f.Count = x.first.Add(burstWindow).UTC(), x.n-1
				f.Detail = strings.TrimSpace(f.Detail + " (lanjutan dalam 1 menit / more within the minute)")
				out = append(out, f)
			}
			delete(b.m, k)
		}
	}
	if x := b.m[key]; x != nil {
		x.n++
	} else {
		b.m[key] = &burst{first: now, n: 1, e: e}
		e.At, e.Count = now.UTC(), 1
		out = append(out, e)
	}
	b.mu.Unlock()
	for _, e := range out {
		s.record(ctx, e)
	}
}

// handleAudit serves the audit trail of the asker's jurisdiction, as JSON
// or CSV: ?month=YYYY-MM (WIB; default this month), ?team= a CSIRT's id,
// ?format=csv. For the BSSN CSIRT maturity assessment, a CSIRT exports its
// month.
func (s *Server) handleAudit(c *gin.Context) {
	who := principal(c)
	if !who.CanReadAudit() {
		_ = c.Error(who.Forbidden("read the audit trail"))
		return
	}
	if s.Audit == nil {
		_ = c.Error(jagadesa.Errorf(jagadesa.EUnavailable, "this server keeps no audit trail"))
		return
	}
	month := c.DefaultQuery("month", s.Now().In(wibZone).Format("2006-01"))
	from, err := time.ParseInLocation("2006-01", month, wibZone)
	if err != nil {
		_ = c.Error(invalid(jagadesa.Problems{"month": "YYYY-MM, e.g. 2026-12"}, "bad month"))
		return
	}
	team := c.Query("team")
	if team != "" && s.Directory != nil {
		if _, ok := s.Directory.Team(team); !ok {
			_ = c.Error(invalid(jagadesa.Problems{"team": "not a CSIRT of the directory"}, "unknown team %q", clip(team, 40)))
			return
		}
	}
	q := jagadesa.AuditQuery{From: from, Until: from.AddDate(0, 1, 0), Team: team, Limit: maxAuditExport}
	if !who.Everywhere() {
		q.Within = who.Area()
	}
	events, err := s.Audit.AuditLog(c.Request.Context(), q)
	if err != nil {
		_ = c.Error(err)
		return
	}
	truncated := len(events) >= maxAuditExport
	if c.Query("format") == "csv" {
		name := "audit-" + month
		if team != "" {
			name = "audit-" + team + "-" + month
		} else if q.Within != "" {
			name = "audit-" + q.Within + "-" + month
		}
		c.Header("Content-Disposition", `attachment; filename="`+name+`.csv"`)
		if truncated {
			c.Header("X-JagaDesa-Truncated", "true")
		}
		c.Status(http.StatusOK)
		c.Header("Content-Type", "text/csv; charset=utf-8")
		if err := jagadesa.WriteAuditCSV(c.Writer, events); err != nil {
			s.Logger.Warn("audit export cut short", "err", err)
		}
		return
	}
	c.JSON(http.StatusOK, gin.H{"month": month, "team": team, "within": q.Within, "count": len(events), "truncated": truncated,
		"events": events, "actions": jagadesa.AuditActions})
}

// maxAuditExport bounds one month's export (memory and time); a month of
// a province's changes is a few thousand rows.
const maxAuditExport = 50000
