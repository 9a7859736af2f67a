package reports

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/sla"
)

func nov(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, sla.WIB) }

func after(t time.Time, min int) *time.Time {
	x := t.Add(time.Duration(min) * time.Minute)
	return &x
}

const (
	prov = "JatengProv-CSIRT"
	pwr  = "PurworejoKab-CSIRT"
)

// csirtIncidents is a month worked by hand; the expected rows are in
// TestCSIRTRows.
func csirtIncidents() []jagadesa.Incident {
	return []jagadesa.Incident{
		// Province team, November, critical: acknowledged after 10, 40
		// and 20 minutes; two resolved after 60 and 120 minutes.
		{ID: "a1", CSIRT: prov, Severity: jagadesa.SeverityCritical, OpenedAt: nov(3, 10, 0),
			AckedAt: after(nov(3, 10, 0), 10), ResolvedAt: after(nov(3, 10, 0), 60), Escalated: true, Stage: jagadesa.StageRecovery},
		{ID: "a2", CSIRT: prov, Severity: jagadesa.SeverityCritical, OpenedAt: nov(9, 12, 0),
			AckedAt: after(nov(9, 12, 0), 40), Stage: jagadesa.StageContainment},
		{ID: "a3", CSIRT: prov, Severity: jagadesa.SeverityCritical, OpenedAt: nov(20, 13, 0),
			AckedAt: after(nov(20, 13, 0), 20), ResolvedAt: after(nov(20, 13, 0), 120), Stage: jagadesa.StageRecovery},
		// Warning: one cleared by the system after 45 minutes, never
		// acknowledged; one still open with no stage recorded.
		{ID: "a4", CSIRT: prov, Severity: jagadesa.SeverityWarning, OpenedAt: nov(21, 8, 0),
			ResolvedAt: after(nov(21, 8, 0), 45), Stage: jagadesa.StageRecovery},
		{ID: "a5", CSIRT: prov, Severity: jagadesa.SeverityWarning, OpenedAt: nov(22, 8, 0)},
		// Folded into a regional incident: not counted.
		{ID: "a6", CSIRT: prov, Severity: jagadesa.SeverityWarning, OpenedAt: nov(22, 8, 1), MergedInto: "a5"},
		// 31 October 23:30 WIB is 16:30 UTC: October in WIB.
		{ID: "a7", CSIRT: prov, Severity: jagadesa.SeverityCritical, OpenedAt: time.Date(2026, 10, 31, 16, 30, 0, 0, time.UTC)},
		// 30 November 17:30 UTC is 1 December 00:30 WIB: December.
		{ID: "a8", CSIRT: prov, Severity: jagadesa.SeverityInfo, OpenedAt: time.Date(2026, 11, 30, 17, 30, 0, 0, time.UTC)},
		// Regency team: an info incident moved to containment by hand
		// without an acknowledgement.
		{ID: "b1", CSIRT: pwr, Severity: jagadesa.SeverityInfo, OpenedAt: nov(5, 9, 0), Stage: jagadesa.StageContainment},
	}
}

func TestCSIRTRows(t *testing.T) {
	type want struct {
		team, month   string
		sev           jagadesa.Severity
		opened        int
		ack, res, esc int
		mttaMean      *float64
		mttaMed       *float64
		mttrMean      *float64
		mttrMed       *float64
		ident, cont   int
		rec           int
	}
	wants := []want{
		{prov, "2026-10", jagadesa.SeverityCritical, 1, 0, 0, 0, nil, nil, nil, nil, 1, 0, 0},
		{prov, "2026-10", AllSeverities, 1, 0, 0, 0, nil, nil, nil, nil, 1, 0, 0},
		// MTTA (10+40+20)/3 = 23.33, median 20; MTTR (60+120)/2 = 90, median 90.
		{prov, "2026-11", jagadesa.SeverityCritical, 3, 3, 2, 1, fp(70.0 / 3), fp(20), fp(90), fp(90), 3, 3, 2},
		{prov, "2026-11", jagadesa.SeverityWarning, 2, 0, 1, 0, nil, nil, fp(45), fp(45), 2, 1, 1},
		// MTTR (60+120+45)/3 = 75, median 60.
		{prov, "2026-11", AllSeverities, 5, 3, 3, 1, fp(70.0 / 3), fp(20), fp(75), fp(60), 5, 4, 3},
		{prov, "2026-12", jagadesa.SeverityInfo, 1, 0, 0, 0, nil, nil, nil, nil, 1, 0, 0},
		{prov, "2026-12", AllSeverities, 1, 0, 0, 0, nil, nil, nil, nil, 1, 0, 0},
		{pwr, "2026-11", jagadesa.SeverityInfo, 1, 0, 0, 0, nil, nil, nil, nil, 1, 1, 0},
		{pwr, "2026-11", AllSeverities, 1, 0, 0, 0, nil, nil, nil, nil, 1, 1, 0},
	}
	got := CSIRTRows(csirtIncidents(), sla.WIB)
	if len(got) != len(wants) {
		for _, r := range got {
			t.Logf("%s %s %q opened %d", r.CSIRT, r.Month, r.Severity, r.Opened)
		}
		t.Fatalf("%d rows, want %d", len(got), len(wants))
	}
	same := func(a, b *float64) bool {
		if a == nil || b == nil {
			return a == b
		}
		return math.Abs(*a-*b) < 1e-9
	}
	for i, w := range wants {
		g := got[i]
		if g.CSIRT != w.team || g.Month != w.month || g.Severity != w.sev {
			t.Fatalf("row %d is %s %s %q, want %s %s %q", i, g.CSIRT, g.Month, g.Severity, w.team, w.month, w.sev)
		}
		if g.Opened != w.opened || g.Acknowledged != w.ack || g.Resolved != w.res || g.Escalated != w.esc {
			t.Errorf("row %d counts %d/%d/%d/%d, want %d/%d/%d/%d", i, g.Opened, g.Acknowledged, g.Resolved, g.Escalated, w.opened, w.ack, w.res, w.esc)
		}
		if !same(g.MTTAMeanMin, w.mttaMean) || !same(g.MTTAMedianMin, w.mttaMed) || !same(g.MTTRMeanMin, w.mttrMean) || !same(g.MTTRMedianMin, w.mttrMed) {
			t.Errorf("row %d times %v %v %v %v, want %v %v %v %v", i, deref(g.MTTAMeanMin), deref(g.MTTAMedianMin), deref(g.MTTRMeanMin), deref(g.MTTRMedianMin),
				deref(w.mttaMean), deref(w.mttaMed), deref(w.mttrMean), deref(w.mttrMed))
		}
		if g.Identification != w.ident || g.Containment != w.cont || g.Recovery != w.rec {
			t.Errorf("row %d stages %d/%d/%d, want %d/%d/%d", i, g.Identification, g.Containment, g.Recovery, w.ident, w.cont, w.rec)
		}
	}

	// In UTC the same incidents fall in other months: a7 is October
	// either way, a8 becomes November's.
	utc := CSIRTRows(csirtIncidents(), time.UTC)
	for _, r := range utc {
		if r.CSIRT == prov && r.Month == "2026-12" {
			t.Errorf("in UTC nothing is opened in December, got %+v", r)
		}
	}
}

func deref(p *float64) any {
	if p == nil {
		return "nil"
	}
	return *p
}

func TestCSIRTDocument(t *testing.T) {
	doc, err := CSIRTDocument(CSIRTInput{
		Lang: ID, Month: "2026-11", Province: "Jawa Tengah", GeneratedAt: generatedAt,
		Incidents: csirtIncidents(),
		TeamNames: map[string]string{prov: "CSIRT Provinsi Jawa Tengah"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Sections) != 1 {
		t.Fatalf("%d sections, want 1", len(doc.Sections))
	}
	s := doc.Sections[0]
	// November only: 3 rows for the province team, 2 for Purworejo's.
	if len(s.Table.Rows) != 5 {
		t.Fatalf("%d rows, want 5", len(s.Table.Rows))
	}
	first := s.Table.Rows[0]
	if first[0].Text != "CSIRT Provinsi Jawa Tengah" || first[1].Text != "kritis" {
		t.Errorf("first row is %q %q, want the province team's critical row named", first[0].Text, first[1].Text)
	}
	if got := display(first[6], s.Table.Columns[6].Format, ID); got != "23,3" {
		t.Errorf("MTTA mean shown as %q, want 23,3", got)
	}
	warn := s.Table.Rows[1]
	if got := display(warn[6], s.Table.Columns[6].Format, ID); got != "–" {
		t.Errorf("MTTA of a severity with no acknowledgement shown as %q, want a dash, never 0", got)
	}
	if s.Table.Rows[3][0].Text != pwr {
		t.Errorf("a team without a name is shown as %q, want its identifier", s.Table.Rows[3][0].Text)
	}
	if s.Table.Rows[2][1].Text != "semua" {
		t.Errorf("the team's total row is labelled %q, want semua", s.Table.Rows[2][1].Text)
	}
	notes := strings.Join(s.Notes, "\n")
	if !strings.Contains(notes, "2 insiden yang dibuka di luar bulan ini tidak dihitung") {
		t.Errorf("the notes do not count the 2 incidents outside November:\n%s", notes)
	}
	if doc.Subtitle != "Bulan November 2026 · per tim dan tingkat keparahan" {
		t.Errorf("subtitle %q", doc.Subtitle)
	}
}
