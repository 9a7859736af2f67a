package sqlite

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/jagadesa/jagadesa"
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

	ackSum, resSum float64
}

var reportKinds = []jagadesa.IncidentKind{jagadesa.IncidentDown, jagadesa.IncidentPowerCut, jagadesa.IncidentProbeFault,
	jagadesa.IncidentDegraded, jagadesa.IncidentSLABreach, jagadesa.IncidentRegional, jagadesa.IncidentSecurity}

// IncidentReport sums the incidents opened in [from, to) per CSIRT and
// month. Incidents folded into a regional one are not counted twice.
func (d *DB) IncidentReport(ctx context.Context, from, to time.Time, loc *time.Location) ([]ReportRow, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT body FROM incidents WHERE opened_at >= ? AND opened_at < ? ORDER BY opened_at`, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("sqlite: report: %w", err)
	}
	defer rows.Close()
	byKey := map[string]*ReportRow{}
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		in, err := decodeIncident(body)
		if err != nil {
			return nil, err
		}
		if in.MergedInto != "" {
			continue
		}
		month := in.OpenedAt.In(loc).Format("2006-01")
		key := in.CSIRT + "\x00" + month
		r := byKey[key]
		if r == nil {
			r = &ReportRow{CSIRT: in.CSIRT, Month: month, ByKind: map[string]int{}, BySeverity: map[string]int{}}
			byKey[key] = r
		}
		r.Opened++
		r.ByKind[string(in.Kind)]++
		r.BySeverity[string(in.Severity)]++
		if in.Escalated {
			r.Escalated++
		}
		if in.AckedAt != nil {
			r.Acknowledged++
			r.ackSum += in.AckedAt.Sub(in.OpenedAt).Minutes()
		}
		if in.ResolvedAt != nil {
			r.Resolved++
			r.resSum += in.ResolvedAt.Sub(in.OpenedAt).Minutes()
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]ReportRow, 0, len(byKey))
	for _, r := range byKey {
		if r.Acknowledged > 0 {
			m := r.ackSum / float64(r.Acknowledged)
			r.MTTAMinutes = &m
		}
		if r.Resolved > 0 {
			m := r.resSum / float64(r.Resolved)
			r.MTTRMinutes = &m
		}
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].CSIRT != out[j].CSIRT {
			return out[i].CSIRT < out[j].CSIRT
		}
		return out[i].Month < out[j].Month
	})
	return out, nil
}

// IncidentReportRows is IncidentReport for the API's JSON answer.
func (d *DB) IncidentReportRows(ctx context.Context, from, to time.Time, loc *time.Location) (any, error) {
	return d.IncidentReport(ctx, from, to, loc)
}

// IncidentReportCSV writes the report as CSV.
func (d *DB) IncidentReportCSV(ctx context.Context, from, to time.Time, loc *time.Location, w io.Writer) error {
	rows, err := d.IncidentReport(ctx, from, to, loc)
	if err != nil {
		return err
	}
	return WriteReportCSV(w, rows)
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
