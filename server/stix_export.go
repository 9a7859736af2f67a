package server

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/stix"
)

const (
	// maxSecurityExport is the most incidents one STIX export carries; a
	// range with more is refused, not cut short, so a CSIRT never shares a
	// partial picture without knowing it.
	maxSecurityExport = 5000
	// securityExportPage is what one store query asks for: the SQL store
	// answers at most 1000 rows.
	securityExportPage    = 1000
	maxSecurityExportSpan = 366 * 24 * time.Hour
	defaultExportSpan     = 30 * 24 * time.Hour
)

// handleSecurityExport serves the security incidents opened in a range as
// a STIX 2.1 bundle (docs/stix.md), for staff to hand to the national
// CSIRT or load into OpenCTI or MISP. Query: from and to (RFC 3339, or a
// date YYYY-MM-DD in WIB, to inclusive; default the last 30 days, at most
// 366 days), status (open, acknowledged or resolved).
//
// Mount as GET /api/v1/reports/security.stix in the staff group.
func (s *Server) handleSecurityExport(c *gin.Context) {
	who := principal(c)
	if !who.CanSeeSecurityEvidence() {
		_ = c.Error(who.Forbidden("export security evidence"))
		return
	}
	if s.IncidentStore == nil {
		_ = c.Error(jagadesa.Errorf(jagadesa.EUnavailable, "incident handling is not configured on this server"))
		return
	}
	wib := time.FixedZone("WIB", 7*3600)
	now := s.Now()
	from, to := now.Add(-defaultExportSpan), now
	p := jagadesa.Problems{}
	for name, dst := range map[string]*time.Time{"from": &from, "to": &to} {
		v := c.Query(name)
		if v == "" {
			continue
		}
		t, err := parseExportTime(v, name == "to", wib)
		if err != nil {
			p[name] = "must be an RFC 3339 time like 2026-11-01T00:00:00+07:00 or a date like 2026-11-01"
			continue
		}
		*dst = t
	}
	st := jagadesa.IncidentState(c.Query("status"))
	switch st {
	case "", jagadesa.StateOpen, jagadesa.StateAcknowledged, jagadesa.StateResolved:
	default:
		p["status"] = "must be open, acknowledged or resolved"
	}
	if len(p) == 0 {
		switch {
		case !to.After(from):
			p["to"] = "must be after from"
		case to.Sub(from) > maxSecurityExportSpan:
			p["to"] = "at most 366 days after from"
		}
	}
	if len(p) > 0 {
		_ = c.Error(invalid(p, "bad security export query"))
		return
	}

	list, complete, err := s.securityIncidents(c, jagadesa.Filter{
		Kind: jagadesa.IncidentSecurity, State: st, Since: from, Until: to,
	})
	if err != nil {
		_ = c.Error(err)
		return
	}
	if !complete {
		_ = c.Error(invalid(jagadesa.Problems{"from": "more than " + strconv.Itoa(maxSecurityExport) + " security incidents in this range: ask for a shorter one"},
			"too many incidents for one export"))
		return
	}
	kept := list[:0]
	for i := range list {
		if who.CanSeeIncident(&list[i]) {
			kept = append(kept, who.RedactIncident(list[i]))
		}
	}
	list = kept
	village := func(string) (jagadesa.Village, bool) { return jagadesa.Village{}, false }
	if s.Registry != nil {
		village = s.Registry.Village
	}
	body, err := stix.Bundle(list, village, stix.Producer{Name: s.exportProducer()})
	if err != nil {
		_ = c.Error(err)
		return
	}
	name := "jagadesa-keamanan-" + from.In(wib).Format("20060102") + "-" + to.Add(-time.Nanosecond).In(wib).Format("20060102") + ".stix.json"
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, stix.MediaType, body)
}

// parseExportTime reads an RFC 3339 time or a WIB date; a date given as
// the end of a range means the end of that day.
func parseExportTime(v string, end bool, wib *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := time.ParseInLocation("2006-01-02", v, wib)
	if err != nil {
		return time.Time{}, err
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}

// securityIncidents reads every incident the filter selects, a page at a
// time, newest first; complete is false when there are more than
// maxSecurityExport.
func (s *Server) securityIncidents(c *gin.Context, f jagadesa.Filter) ([]jagadesa.Incident, bool, error) {
	var out []jagadesa.Incident
	seen := map[string]bool{}
	f.Limit = securityExportPage
	for {
		page, err := s.IncidentStore.Incidents(c.Request.Context(), f)
		if err != nil {
			return nil, false, err
		}
		added := 0
		for _, in := range page {
			if in.Kind != jagadesa.IncidentSecurity || seen[in.ID] {
				continue
			}
			seen[in.ID] = true
			out = append(out, in)
			added++
		}
		if len(out) > maxSecurityExport {
			return nil, false, nil
		}
		if len(page) < securityExportPage {
			return out, true, nil
		}
		if added == 0 {
			// A whole page within one millisecond, all seen: the next
			// page cannot be reached by time.
			return nil, false, nil
		}
		// Pages are newest first and Until is exclusive: ask again up to
		// just after the oldest seen, so incidents opened in that same
		// millisecond are not skipped (the ids already seen are).
		next := page[len(page)-1].OpenedAt.Truncate(time.Millisecond).Add(time.Millisecond)
		if next.Before(f.Until) {
			f.Until = next
		}
	}
}

// exportProducer names the organisation the bundle comes from: the
// provincial CSIRT when the server covers one province.
func (s *Server) exportProducer() string {
	if s.Registry != nil {
		var names []string
		for _, p := range s.Registry.Provinces() {
			if p.CSIRT != "" && !slices.Contains(names, p.CSIRT) {
				names = append(names, p.CSIRT)
			}
		}
		if len(names) == 1 {
			return names[0]
		}
	}
	return "JagaDesa"
}
