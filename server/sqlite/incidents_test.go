package sqlite_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"reflect"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/sqlite"
)

var wib = time.FixedZone("WIB", 7*3600)

func mkIncident(id, csirt string, kind jagadesa.IncidentKind, opened time.Time, villages ...string) *jagadesa.Incident {
	return &jagadesa.Incident{ID: id, Kind: kind, Severity: jagadesa.SeverityCritical, State: jagadesa.StateOpen,
		Title: "Desa putus — " + id, Villages: villages, Village: villages[0], Regency: villages[0][:5], District: villages[0][:8],
		CSIRT: csirt, Stage: jagadesa.StageIdentification, OpenedAt: opened, StartedAt: opened.Add(-time.Minute),
		Evidence: map[string]string{"reason": "no report", "last_seen": opened.Format(time.RFC3339)}}
}

func TestIncidentStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 123e6, time.UTC)
	a := mkIncident("JD-1", "CSIRT Kabupaten Purworejo", jagadesa.IncidentDown, t0, "33.06.08.2007")
	b := mkIncident("JD-2", "JatengProv-CSIRT", jagadesa.IncidentRegional, t0.Add(time.Hour), "33.13.07.2005", "33.13.07.2001")
	for _, in := range []*jagadesa.Incident{a, b} {
		if err := db.CreateIncident(ctx, in, jagadesa.AuditEntry{At: in.OpenedAt, By: "system", Action: "opened"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreateIncident(ctx, a, jagadesa.AuditEntry{By: "system", Action: "opened"}); jagadesa.ErrorCode(err) != jagadesa.EConflict {
		t.Fatalf("duplicate create: %v", err)
	}
	ghost := mkIncident("JD-404", "x", jagadesa.IncidentDown, t0, "33.01.01.2001")
	if err := db.UpdateIncident(ctx, ghost, jagadesa.AuditEntry{By: "x", Action: "resolved"}); jagadesa.ErrorCode(err) != jagadesa.ENotFound {
		t.Fatalf("update of a missing incident: %v", err)
	}
	// An update whose audit entry is invalid changes nothing.
	changed := *a
	changed.State = jagadesa.StateResolved
	if err := db.UpdateIncident(ctx, &changed, jagadesa.AuditEntry{}); err == nil {
		t.Fatal("update without an audit action accepted")
	}
	if got, _ := db.Incident(ctx, "JD-1"); got.State != jagadesa.StateOpen {
		t.Fatal("a failed update left a change behind")
	}
	ack := t0.Add(7 * time.Minute)
	a.State, a.AckedAt, a.AckedBy, a.Stage = jagadesa.StateAcknowledged, &ack, "analis", jagadesa.StageContainment
	if err := db.UpdateIncident(ctx, a, jagadesa.AuditEntry{At: ack, By: "analis", Action: "acknowledged"}); err != nil {
		t.Fatal(err)
	}
	n, err := db.AddNote(ctx, jagadesa.Note{IncidentID: "JD-1", At: ack, By: "analis", Text: "ISP dihubungi, tiket #123"})
	if err != nil || n.ID == 0 {
		t.Fatalf("note %+v %v", n, err)
	}
	if _, err := db.AddNote(ctx, jagadesa.Note{IncidentID: "JD-nope", By: "x", Text: "y"}); jagadesa.ErrorCode(err) != jagadesa.ENotFound {
		t.Fatalf("note on a missing incident: %v", err)
	}

	// Survives a restart, every field intact.
	db.Close()
	db, err = sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.Incident(ctx, "JD-1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normal(*got), normal(*a)) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", *got, *a)
	}
	open, _ := db.OpenIncidents(ctx)
	if len(open) != 2 {
		t.Fatalf("%d open after restart", len(open))
	}
	for _, tc := range []struct {
		f    jagadesa.Filter
		want []string
	}{
		{jagadesa.Filter{}, []string{"JD-2", "JD-1"}},
		{jagadesa.Filter{State: jagadesa.StateAcknowledged}, []string{"JD-1"}},
		{jagadesa.Filter{Regency: "33.13"}, []string{"JD-2"}},
		{jagadesa.Filter{Kind: jagadesa.IncidentRegional}, []string{"JD-2"}},
		{jagadesa.Filter{CSIRT: "CSIRT Kabupaten Purworejo"}, []string{"JD-1"}},
		{jagadesa.Filter{Village: "33.13.07.2001"}, []string{"JD-2"}},
		{jagadesa.Filter{Since: t0.Add(time.Minute)}, []string{"JD-2"}},
		{jagadesa.Filter{Until: t0.Add(time.Minute)}, []string{"JD-1"}},
		{jagadesa.Filter{Limit: 1}, []string{"JD-2"}},
		{jagadesa.Filter{Severity: jagadesa.SeverityWarning}, nil},
	} {
		list, err := db.Incidents(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, in := range list {
			ids = append(ids, in.ID)
		}
		if !reflect.DeepEqual(ids, tc.want) {
			t.Errorf("filter %+v: %v, want %v", tc.f, ids, tc.want)
		}
	}
	audit, _ := db.Audit(ctx, "JD-1")
	var actions []string
	for _, e := range audit {
		actions = append(actions, e.Action+"/"+e.By)
	}
	if !reflect.DeepEqual(actions, []string{"opened/system", "acknowledged/analis", "note/analis"}) {
		t.Fatalf("audit %v", actions)
	}
	notes, _ := db.Notes(ctx, "JD-1")
	if len(notes) != 1 || notes[0].Text != "ISP dihubungi, tiket #123" || !notes[0].At.Equal(ack.Truncate(time.Millisecond)) {
		t.Fatalf("notes %+v", notes)
	}
}

func normal(in jagadesa.Incident) jagadesa.Incident {
	in.OpenedAt, in.StartedAt = in.OpenedAt.UTC(), in.StartedAt.UTC()
	if in.AckedAt != nil {
		x := in.AckedAt.UTC()
		in.AckedAt = &x
	}
	return in
}

// The per-CSIRT report: counts, mean time to acknowledge and to resolve,
// by month in WIB; merged incidents are not counted twice.
func TestIncidentReport(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	add := func(id, csirt string, opened time.Time, ackAfter, resolveAfter time.Duration, escalated bool, merged string) {
		in := mkIncident(id, csirt, jagadesa.IncidentDown, opened, "33.06.08.2007")
		if ackAfter > 0 {
			x := opened.Add(ackAfter)
			in.AckedAt = &x
		}
		if resolveAfter > 0 {
			x := opened.Add(resolveAfter)
			in.ResolvedAt, in.State = &x, jagadesa.StateResolved
		}
		in.Escalated, in.MergedInto = escalated, merged
		if err := db.CreateIncident(ctx, in, jagadesa.AuditEntry{By: "system", Action: "opened"}); err != nil {
			t.Fatal(err)
		}
	}
	// 31 October 20:00 UTC is 1 November 03:00 WIB: November in the report.
	add("a", "P", time.Date(2026, 10, 31, 20, 0, 0, 0, time.UTC), 10*time.Minute, 60*time.Minute, false, "")
	add("b", "P", time.Date(2026, 11, 5, 1, 0, 0, 0, time.UTC), 20*time.Minute, 0, true, "")
	add("c", "P", time.Date(2026, 11, 6, 1, 0, 0, 0, time.UTC), 0, 0, false, "JD-regional")
	add("d", "Q", time.Date(2026, 10, 2, 1, 0, 0, 0, time.UTC), 0, 30*time.Minute, false, "")
	ins, err := db.IncidentsOpened(ctx, time.Date(2026, 10, 1, 0, 0, 0, 0, wib), time.Date(2026, 12, 1, 0, 0, 0, 0, wib))
	rows := jagadesa.SummarizeIncidents(ins, wib)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("rows %+v", rows)
	}
	p := rows[0]
	if p.CSIRT != "P" || p.Month != "2026-11" || p.Opened != 2 || p.Acknowledged != 2 || p.Resolved != 1 || p.Escalated != 1 ||
		*p.MTTAMinutes != 15 || *p.MTTRMinutes != 60 || p.ByKind["village_down"] != 2 {
		t.Fatalf("P: %+v", p)
	}
	q := rows[1]
	if q.CSIRT != "Q" || q.Month != "2026-10" || q.MTTAMinutes != nil || *q.MTTRMinutes != 30 {
		t.Fatalf("Q: %+v", q)
	}
	var buf bytes.Buffer
	if err := jagadesa.WriteReportCSV(&buf, rows); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0][6] != "mtta_minutes" || recs[1][6] != "15.0" || recs[2][6] != "" || recs[1][8] != "2" {
		t.Fatalf("csv %v", recs)
	}
}

// Within narrows the list in the store, so that a regency analyst's limit
// counts only what they may see: 30 Kudus incidents newer than Purworejo's
// one do not push it off a page of 10.
func TestIncidentsWithin(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	mine := mkIncident("JD-P", "CSIRT Kabupaten Purworejo", jagadesa.IncidentDown, t0, "33.06.08.2007")
	db.CreateIncident(ctx, mine, jagadesa.AuditEntry{By: "system", Action: "opened"})
	// A regional incident whose first village is Kudus's but which spans Purworejo.
	span := mkIncident("JD-R", "JatengProv-CSIRT", jagadesa.IncidentRegional, t0.Add(time.Minute), "33.19.01.2001", "33.06.01.2001")
	db.CreateIncident(ctx, span, jagadesa.AuditEntry{By: "system", Action: "opened"})
	for i := 0; i < 30; i++ {
		in := mkIncident("JD-K"+string(rune('A'+i)), "CSIRT Kabupaten Kudus", jagadesa.IncidentDown, t0.Add(time.Duration(i+2)*time.Minute), "33.19.01.2001")
		if err := db.CreateIncident(ctx, in, jagadesa.AuditEntry{By: "system", Action: "opened"}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.Incidents(ctx, jagadesa.Filter{Within: "33.06", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, in := range got {
		ids = append(ids, in.ID)
	}
	if !reflect.DeepEqual(ids, []string{"JD-R", "JD-P"}) {
		t.Errorf("within 33.06: %v", ids)
	}
	if got, _ := db.Incidents(ctx, jagadesa.Filter{Within: "33.0", Limit: 100}); len(got) != 0 {
		t.Errorf("a partial code matched %d incidents", len(got))
	}
	if got, _ := db.Incidents(ctx, jagadesa.Filter{Within: "33", Limit: 100}); len(got) != 32 {
		t.Errorf("within the province: %d", len(got))
	}
}
