package jagadesacmd

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa/server"
	"github.com/jagadesa/jagadesa/server/notify"
	"github.com/jagadesa/jagadesa/server/route"
	"github.com/jagadesa/jagadesa/server/sqlite"
)

// The monthly e-mail goes once per team and month, from the 1st at 07:00
// WIB, with the team's own area; a failed send is tried again, and a
// restart does not send twice.
func TestReportMailSchedule(t *testing.T) {
	dir, err := route.Demo()
	if err != nil {
		t.Fatal(err)
	}
	var purworejo *route.Team
	for i := range dir.Teams {
		if dir.Teams[i].ID == "kab-purworejo" {
			purworejo = &dir.Teams[i]
		}
		dir.Teams[i].Synthetic = false
	}
	purworejo.Channels.Email = []string{"csirt@purworejokab.go.id"}
	data := t.TempDir()
	db, err := sqlite.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	type sent struct {
		to      []string
		subject string
		areas   []string
	}
	var got []sent
	var areas []string
	fail := true
	m := &reportMailer{log: slog.New(slog.DiscardHandler), dir: dir, sent: db, audit: db.AppendAudit,
		render: func(_ context.Context, month time.Time, a []string) ([]server.ReportFile, error) {
			if month.Format("2006-01") != "2026-11" {
				t.Errorf("rendered %s", month.Format("2006-01"))
			}
			areas = a
			return []server.ReportFile{{Name: "jagadesa-sla-2026-11.pdf", ContentType: "application/pdf", Data: []byte("%PDF-")}}, nil
		},
		send: func(_ context.Context, to []string, subject, _ string, files []notify.Attachment) error {
			if fail {
				fail = false
				return errors.New("relay down")
			}
			got = append(got, sent{to, subject, areas})
			return nil
		}}
	ctx := context.Background()
	wib := time.FixedZone("WIB", 7*3600)
	if n := m.pass(ctx, time.Date(2026, 12, 1, 6, 59, 0, 0, wib)); n != 0 {
		t.Errorf("sent before 07:00: %d", n)
	}
	if n := m.pass(ctx, time.Date(2026, 12, 1, 7, 0, 0, 0, wib)); n != 0 || len(got) != 0 {
		t.Fatalf("a failed send counted: %d %v", n, got)
	}
	if n := m.pass(ctx, time.Date(2026, 12, 1, 8, 0, 0, 0, wib)); n != 1 || len(got) != 1 {
		t.Fatalf("the retry: %d %v", n, got)
	}
	if got[0].to[0] != "csirt@purworejokab.go.id" || got[0].subject != "[JagaDesa] Laporan bulanan 2026-11 — "+purworejo.Name || len(got[0].areas) != 1 || got[0].areas[0] != "33.06" {
		t.Errorf("sent %+v", got[0])
	}
	db.Close()
	db, err = sqlite.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m.sent = db
	if n := m.pass(ctx, time.Date(2026, 12, 2, 9, 0, 0, 0, wib)); n != 0 || len(got) != 1 {
		t.Errorf("sent again after a restart: %d", n)
	}
	if _, ok := reportMonthDue(time.Date(2026, 12, 6, 9, 0, 0, 0, wib)); ok {
		t.Error("reports still due on the 6th")
	}
	// 1 January: December of the year before.
	if mo, ok := reportMonthDue(time.Date(2027, 1, 1, 7, 30, 0, 0, wib)); !ok || mo.Format("2006-01") != "2026-12" {
		t.Errorf("due on 1 January: %v %v", mo, ok)
	}
	ev, ok, _ := db.LastAuditEvent(ctx, "report_mailed")
	if !ok || ev.Team != "kab-purworejo" || ev.Object != "2026-11" {
		t.Errorf("not audited: %+v", ev)
	}
}
