package server

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jagadesa/jagadesa"
)

// Incidents is the incident manager as the API uses it.
type Incidents interface {
	Acknowledge(ctx context.Context, id, by string) (*jagadesa.Incident, error)
	Resolve(ctx context.Context, id, by, why string) (*jagadesa.Incident, error)
	Assign(ctx context.Context, id, by, assignee string) (*jagadesa.Incident, error)
	SetStage(ctx context.Context, id, by, stage string) (*jagadesa.Incident, error)
	Overlay() map[string]jagadesa.Status
}

// overlay is what open incidents add to live status (incident.Overlay).
func (s *Server) overlay() map[string]jagadesa.Status {
	if s.Incidents == nil {
		return nil
	}
	return s.Incidents.Overlay()
}

// withOverlay applies an open incident to a village's live status: an
// open critical security incident shows as compromised whatever the link
// does; an open degraded incident shows a village that is up as degraded.
func withOverlay(live, o jagadesa.Status) (jagadesa.Status, string, bool) {
	switch {
	case o == jagadesa.StatusCompromised:
		return o, "security_incident", true
	case o == jagadesa.StatusDegraded && live == jagadesa.StatusUp:
		return o, "baseline", true
	}
	return live, "", false
}

// IncidentReporter lists the incidents opened in a period, for the
// per-CSIRT monthly report (jagadesa.SummarizeIncidents).
type IncidentReporter interface {
	IncidentsOpened(ctx context.Context, from, to time.Time) ([]jagadesa.Incident, error)
}

// actor names who made a change, for the audit log: the person (or
// "admin" for the automation token) and how they came.
func (s *Server) actor(c *gin.Context) string {
	via := "API"
	if bearer(c) == "" {
		via = "dasbor"
	}
	return principal(c).Username() + " (" + via + ")"
}

func (s *Server) incidentsReady(c *gin.Context) bool {
	if s.Incidents == nil || s.IncidentStore == nil {
		_ = c.Error(jagadesa.Errorf(jagadesa.EUnavailable, "incident handling is not configured on this server"))
		return false
	}
	return true
}

// handleIncidents lists incidents, newest first. Filters: status, regency,
// kind, severity, csirt, village, since/until (RFC 3339), limit.
func (s *Server) handleIncidents(c *gin.Context) {
	if !s.incidentsReady(c) {
		return
	}
	f := jagadesa.Filter{}
	p := jagadesa.Problems{}
	switch st := jagadesa.IncidentState(c.Query("status")); st {
	case "", jagadesa.StateOpen, jagadesa.StateAcknowledged, jagadesa.StateResolved:
		f.State = st
	default:
		p["status"] = "must be open, acknowledged or resolved"
	}
	switch sev := jagadesa.Severity(c.Query("severity")); sev {
	case "", jagadesa.SeverityInfo, jagadesa.SeverityWarning, jagadesa.SeverityCritical:
		f.Severity = sev
	default:
		p["severity"] = "must be info, warning or critical"
	}
	if k := c.Query("kind"); k != "" {
		switch kk := jagadesa.IncidentKind(k); kk {
		case jagadesa.IncidentDown, jagadesa.IncidentPowerCut, jagadesa.IncidentProbeFault, jagadesa.IncidentDegraded,
			jagadesa.IncidentSLABreach, jagadesa.IncidentRegional, jagadesa.IncidentSecurity:
			f.Kind = kk
		default:
			p["kind"] = "unknown incident kind"
		}
	}
	if r := c.Query("regency"); r != "" {
		if !validRegencyCode(r) {
			p["regency"] = "must be a regency code like 33.06"
		}
		f.Regency = r
	}
	if v := c.Query("village"); v != "" {
		if !jagadesa.ValidVillageCode(v) {
			p["village"] = "must be a village code like 33.06.08.2007"
		}
		f.Village = v
	}
	if cs := c.Query("csirt"); cs != "" {
		if len(cs) > 100 {
			p["csirt"] = "too long"
		}
		f.CSIRT = cs
	}
	for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := c.Query(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				p[name] = "must be an RFC 3339 time like 2026-11-01T00:00:00+07:00"
			}
			*dst = t
		}
	}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			p["limit"] = "must be 1..1000"
		}
		f.Limit = n
	}
	if len(p) > 0 {
		_ = c.Error(invalid(p, "bad incident query"))
		return
	}
	who := principal(c)
	if !who.Everywhere() {
		f.Within = who.Area() // the store's limit then counts what the asker may see
	}
	list, err := s.IncidentStore.Incidents(c.Request.Context(), f)
	if err != nil {
		_ = c.Error(err)
		return
	}
	// Only the asker's jurisdiction, each incident as they may see it: the
	// store narrowed the list; the policy has the last word.
	out := make([]jagadesa.Incident, 0, len(list))
	actionable := []string{} // the ids the asker may act on: the page offers actions only there
	for i := range list {
		if who.CanSeeIncident(&list[i]) {
			if who.CanActOnIncident(&list[i]) {
				actionable = append(actionable, list[i].ID)
			}
			out = append(out, who.RedactIncident(list[i]))
		}
	}
	c.JSON(http.StatusOK, gin.H{"count": len(out), "incidents": out, "actionable": actionable})
}

// handleIncident shows one incident with its notes and audit trail.
func (s *Server) handleIncident(c *gin.Context) {
	id, ok := s.incidentID(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	in, err := s.IncidentStore.Incident(ctx, id)
	if err != nil {
		_ = c.Error(err)
		return
	}
	who := principal(c)
	if !who.CanSeeIncident(in) {
		_ = c.Error(who.Forbidden("see incident " + id))
		return
	}
	canAct := who.CanActOnIncident(in)
	red := who.RedactIncident(*in)
	in = &red
	notes, err := s.IncidentStore.Notes(ctx, id)
	if err != nil {
		_ = c.Error(err)
		return
	}
	audit, err := s.IncidentStore.Audit(ctx, id)
	if err != nil {
		_ = c.Error(err)
		return
	}
	places := make([]jagadesa.Village, 0, len(in.Villages))
	for _, code := range in.Villages {
		if v, ok := s.Registry.Village(code); ok {
			places = append(places, v)
		}
	}
	if notes == nil || in.Kind == jagadesa.IncidentSecurity && !who.CanSeeSecurityEvidence() {
		// Notes on a security incident are evidence too.
		notes, audit = []jagadesa.Note{}, nil
	}
	c.JSON(http.StatusOK, gin.H{"incident": in, "villages": places, "notes": notes, "audit": audit, "can_act": canAct})
}

// incidentID reads the incident id of the path; false means the error is
// already recorded.
func (s *Server) incidentID(c *gin.Context) (string, bool) {
	if !s.incidentsReady(c) {
		return "", false
	}
	id := c.Param("id")
	if !validIncidentID(id) {
		_ = c.Error(invalid(jagadesa.Problems{"id": "not an incident id"}, "bad incident id"))
		return "", false
	}
	return id, true
}

func validIncidentID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z') {
			return false
		}
	}
	return true
}

type actionBody struct {
	Comment  string `json:"comment"`
	Text     string `json:"text"`
	Assignee string `json:"assignee"`
	Stage    string `json:"stage"`
}

// handleIncidentAction serves ack, resolve, notes, assign and stage.
func (s *Server) handleIncidentAction(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := s.incidentID(c)
		if !ok {
			return
		}
		var body actionBody
		if c.Request.ContentLength != 0 {
			var err error
			if body, err = decode[actionBody](c, 16<<10); err != nil {
				_ = c.Error(err)
				return
			}
		}
		for field, v := range map[string]string{"comment": body.Comment, "text": body.Text, "assignee": body.Assignee} {
			if len(v) > 4000 {
				_ = c.Error(invalid(jagadesa.Problems{field: "at most 4000 bytes"}, "too long"))
				return
			}
		}
		ctx, by := c.Request.Context(), s.actor(c)
		cur, err := s.IncidentStore.Incident(ctx, id)
		if err != nil {
			_ = c.Error(err)
			return
		}
		if who := principal(c); !who.CanActOnIncident(cur) {
			_ = c.Error(who.Forbidden("act on incident " + id + " (" + cur.CSIRT + ")"))
			return
		}
		var in *jagadesa.Incident
		switch action {
		case "ack":
			in, err = s.Incidents.Acknowledge(ctx, id, by)
		case "resolve":
			in, err = s.Incidents.Resolve(ctx, id, by, body.Comment)
		case "assign":
			if strings.TrimSpace(body.Assignee) == "" {
				err = invalid(jagadesa.Problems{"assignee": "required"}, "nobody to assign")
				break
			}
			in, err = s.Incidents.Assign(ctx, id, by, body.Assignee)
		case "stage":
			in, err = s.Incidents.SetStage(ctx, id, by, body.Stage)
		case "notes":
			if strings.TrimSpace(body.Text) == "" {
				err = invalid(jagadesa.Problems{"text": "required"}, "empty note")
				break
			}
			n, nerr := s.IncidentStore.AddNote(ctx, jagadesa.Note{IncidentID: id, At: s.Now().UTC(), By: by, Text: body.Text})
			if nerr != nil {
				err = nerr
				break
			}
			s.auditIncident(c, action, cur, clip(body.Text, 200))
			c.JSON(http.StatusCreated, n)
			return
		}
		if err != nil {
			_ = c.Error(err)
			return
		}
		detail := body.Comment
		switch action {
		case "assign":
			detail = body.Assignee
		case "stage":
			detail = body.Stage
		}
		s.auditIncident(c, action, cur, clip(detail, 200))
		c.JSON(http.StatusOK, in)
	}
}

// auditIncident records an action on an incident, under the team it was
// routed to.
func (s *Server) auditIncident(c *gin.Context, action string, in *jagadesa.Incident, detail string) {
	p := principal(c)
	e := jagadesa.AuditEvent{Actor: p.Username(), Role: p.Role(), Address: c.ClientIP(), Action: "incident_" + action,
		Object: in.ID, Area: in.Village, Detail: detail}
	if e.Area == "" {
		e.Area = in.Regency
	}
	if s.Directory != nil {
		if t, ok := s.Directory.TeamByName(in.CSIRT); ok {
			e.Team = t.ID
		}
	}
	s.record(c.Request.Context(), e)
}

// handleIncidentReport serves the per-CSIRT monthly figures (counts, mean
// time to acknowledge and to resolve) as JSON or, with ?format=csv, CSV.
func (s *Server) handleIncidentReport(c *gin.Context) {
	if s.Reporter == nil {
		_ = c.Error(jagadesa.Errorf(jagadesa.EUnavailable, "incident reports are not configured on this server"))
		return
	}
	loc := time.FixedZone("WIB", 7*3600)
	now := s.Now().In(loc)
	from := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, loc).AddDate(0, -11, 0)
	to := now
	p := jagadesa.Problems{}
	for name, dst := range map[string]*time.Time{"from": &from, "to": &to} {
		if v := c.Query(name); v != "" {
			t, err := time.ParseInLocation("2006-01", v, loc)
			if err != nil {
				p[name] = "must be a month like 2026-11"
				continue
			}
			if name == "to" {
				t = t.AddDate(0, 1, 0)
			}
			*dst = t
		}
	}
	format := c.DefaultQuery("format", "json")
	if format != "json" && format != "csv" {
		p["format"] = "must be json or csv"
	}
	if !to.After(from) {
		p["to"] = "must be after from"
	}
	if len(p) > 0 {
		_ = c.Error(invalid(p, "bad report query"))
		return
	}
	who := principal(c)
	if !who.CanReadReports() {
		_ = c.Error(who.Forbidden("read incident reports"))
		return
	}
	ins, err := s.Reporter.IncidentsOpened(c.Request.Context(), from, to)
	if err != nil {
		_ = c.Error(err)
		return
	}
	kept := ins[:0]
	for i := range ins {
		if who.CanSeeIncident(&ins[i]) {
			kept = append(kept, ins[i])
		}
	}
	rows := jagadesa.SummarizeIncidents(kept, loc)
	if format == "csv" {
		var buf bytes.Buffer
		if err := jagadesa.WriteReportCSV(&buf, rows); err != nil {
			_ = c.Error(err)
			return
		}
		c.Header("Content-Disposition", `attachment; filename="jagadesa-insiden-`+from.Format("2006-01")+`-`+to.AddDate(0, 0, -1).Format("2006-01")+`.csv"`)
		c.Data(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
		return
	}
	c.JSON(http.StatusOK, gin.H{"from": from, "to": to, "rows": rows})
}
