package jagadesacmd

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server"
	"github.com/jagadesa/jagadesa/server/notify"
	"github.com/jagadesa/jagadesa/server/route"
	"github.com/jagadesa/jagadesa/server/sla"
)

// The monthly report e-mail: on the 1st of a month from 07:00 WIB, each
// CSIRT with e-mail addresses in the directory gets the month before's
// SLA, readiness and CSIRT reports of its own area as PDF. What was sent
// is recorded, so a restart sends nothing twice; a failure is tried again
// the next hour, until the 5th.

// reportMailer is what the schedule needs; the real ones are the server,
// the dispatcher and the metadata store.
type reportMailer struct {
	log    *slog.Logger
	dir    *route.Directory
	render func(ctx context.Context, month time.Time, areas []string) ([]server.ReportFile, error)
	send   func(ctx context.Context, to []string, subject, text string, files []notify.Attachment) error
	sent   interface {
		ReportMailed(ctx context.Context, team, month string) (bool, error)
		MarkReportMailed(ctx context.Context, team, month string, at time.Time) error
	}
	audit func(ctx context.Context, e jagadesa.AuditEvent) error
}

// due is the month whose reports are due at now, if any: the previous
// month, from the 1st at 07:00 WIB to the end of the 5th.
func reportMonthDue(now time.Time) (time.Time, bool) {
	w := now.In(sla.WIB)
	if w.Day() > 5 || w.Day() == 1 && w.Hour() < 7 {
		return time.Time{}, false
	}
	start, _ := sla.MonthRange(now)
	prev, _ := sla.MonthRange(start.Add(-time.Hour))
	return prev, true
}

// teamAreas is the area a team's reports cover: its regencies, or its
// province for a province team.
func teamAreas(t *route.Team) []string {
	if len(t.Regencies) > 0 {
		return t.Regencies
	}
	return []string{t.Province}
}

// pass sends what is due at now; it returns how many teams were sent to.
func (m *reportMailer) pass(ctx context.Context, now time.Time) int {
	month, ok := reportMonthDue(now)
	if !ok {
		return 0
	}
	label := month.Format("2006-01")
	n := 0
	for i := range m.dir.Teams {
		t := &m.dir.Teams[i]
		if len(t.Channels.Email) == 0 || t.Synthetic {
			continue
		}
		done, err := m.sent.ReportMailed(ctx, t.ID, label)
		if err != nil || done {
			continue
		}
		files, err := m.render(ctx, month, teamAreas(t))
		if err != nil {
			m.log.Warn("monthly reports not rendered", "team", t.Name, "month", label, "err", err)
			continue
		}
		att := make([]notify.Attachment, len(files))
		for i, f := range files {
			att[i] = notify.Attachment{Name: f.Name, ContentType: f.ContentType, Data: f.Data}
		}
		subject := fmt.Sprintf("[JagaDesa] Laporan bulanan %s — %s", label, t.Name)
		text := fmt.Sprintf("Yth. %s,\n\nTerlampir laporan bulanan JagaDesa untuk %s: SLA per ISP dan kabupaten, indeks kesiapan digital per kabupaten, dan penanganan insiden CSIRT (PDF).\n\nMonthly JagaDesa reports for %s attached: SLA per ISP and regency, digital readiness per regency, and CSIRT incident handling.\n",
			t.Name, label, label)
		if err := m.send(ctx, t.Channels.Email, subject, text, att); err != nil {
			m.log.Warn("monthly reports not sent; trying again next hour", "team", t.Name, "month", label, "err", err)
			continue
		}
		if err := m.sent.MarkReportMailed(ctx, t.ID, label, now); err != nil {
			m.log.Error("monthly reports sent but not recorded", "team", t.Name, "err", err)
		}
		if m.audit != nil {
			_ = m.audit(ctx, jagadesa.AuditEvent{At: now, Actor: "system", Action: "report_mailed", Object: label, Area: teamAreas(t)[0], Team: t.ID,
				Detail: fmt.Sprintf("%d files to %d addresses", len(att), len(t.Channels.Email))})
		}
		n++
	}
	return n
}

// run checks every hour.
func (m *reportMailer) run(ctx context.Context) {
	for {
		m.pass(ctx, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Hour):
		}
	}
}
