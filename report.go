package jagadesa

import (
	"encoding/csv"
	"io"
	"sort"
	"strconv"
	"time"
)

// ReportRow is one CSIRT's incidents opened in one month: the counts and
// the mean times to acknowledge and to resolve that a BSSN CSIRT maturity
// assessment asks for.
type ReportRow struct {
	CSIRT        string         `json:"csirt"`
	Month        string         `json:"month"` // 2026-11, in the report's time zone
	Opened       int            `json:"opened"`
	Acknowledged int            `json:"acknowledged"`
	Resolved     int            `json:"resolved"`
	Escalated    int            `json:"escalated"`
	MTTAMinutes  *float64       `json:"mtta_minutes"` // mean of acknowledged_at − opened_at
	MTTRMinutes  *float64       `json:"mttr_minutes"` // mean of resolved_at − opened_at
	ByKind       map[string]int `json:"by_kind"`
	BySeverity   map[string]int `json:"by_severity"`
}

var reportKinds = []IncidentKind{IncidentDown, IncidentPowerCut, IncidentProbeFault,
	IncidentDegraded, IncidentSLABreach, IncidentRegional, IncidentSecurity}

// SummarizeIncidents sums incidents per CSIRT and month (in loc).
// Incidents folded into a regional one are not counted twice.
func SummarizeIncidents(ins []Incident, loc *time.Location) []ReportRow {
	type acc struct {
		row            ReportRow
		ackSum, resSum float64
	}
	byKey := map[string]*acc{}
	for i := range ins {
		in := &ins[i]
		if in.MergedInto != "" {
			continue
		}
		month := in.OpenedAt.In(loc).Format("2006-01")
		key := in.CSIRT + "\x00" + month
		a := byKey[key]
		if a == nil {
			a = &acc{row: ReportRow{CSIRT: in.CSIRT, Month: month, ByKind: map[string]int{}, BySeverity: map[string]int{}}}
			byKey[key] = a
		}
		r := &a.row
		r.Opened++
		r.ByKind[string(in.Kind)]++
		r.BySeverity[string(in.Severity)]++
		if in.Escalated {
			r.Escalated++
		}
		if in.AckedAt != nil {
			r.Acknowledged++
			a.ackSum += in.AckedAt.Sub(in.OpenedAt).Minutes()
		}
		if in.ResolvedAt != nil {
			r.Resolved++
			a.resSum += in.ResolvedAt.Sub(in.OpenedAt).Minutes()
		}
	}
	out := make([]ReportRow, 0, len(byKey))
	for _, a := range byKey {
		r := a.row
		if r.Acknowledged > 0 {
			m := a.ackSum / float64(r.Acknowledged)
			r.MTTAMinutes = &m
		}
		if r.Resolved > 0 {
			m := a.resSum / float64(r.Resolved)
			r.MTTRMinutes = &m
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].CSIRT != out[j].CSIRT {
			return out[i].CSIRT < out[j].CSIRT
		}
		return out[i].Month < out[j].Month
	})
	return out
}

// WriteReportCSV writes report rows as CSV: one line per CSIRT and month,
// times in minutes with one decimal, an empty cell where there is no mean,
// and a column per incident kind.
func WriteReportCSV(w io.Writer, rows []ReportRow) error {
	cw := csv.NewWriter(w)
	head := []string{"csirt", "month", "opened", "acknowledged", "resolved", "escalated", "mtta_minutes", "mttr_minutes"}
	for _, k := range reportKinds {
		head = append(head, string(k))
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	opt := func(p *float64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatFloat(*p, 'f', 1, 64)
	}
	for _, r := range rows {
		rec := []string{r.CSIRT, r.Month, strconv.Itoa(r.Opened), strconv.Itoa(r.Acknowledged), strconv.Itoa(r.Resolved),
			strconv.Itoa(r.Escalated), opt(r.MTTAMinutes), opt(r.MTTRMinutes)}
		for _, k := range reportKinds {
			rec = append(rec, strconv.Itoa(r.ByKind[string(k)]))
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
