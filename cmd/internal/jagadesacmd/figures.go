package jagadesacmd

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server"
	"github.com/jagadesa/jagadesa/server/rollup"
	"github.com/jagadesa/jagadesa/server/sla"
)

// publishFigures writes the month's SLA and readiness per village into
// the rollup bucket (sla_month, readiness_month) every interval, and the
// month before during the first days of a month, when late data may still
// change it: what Grafana's regency SLA table and readiness panel read.
// forward, if not nil, hears of every month's figures too (federation).
func publishFigures(ctx context.Context, log *slog.Logger, srv *server.Server, db *rollup.DB, prog map[string]jagadesa.Programme, every time.Duration, forward func(meas string, month time.Time, figs []rollup.Figure)) {
	first := time.NewTimer(min(2*time.Minute, every))
	defer first.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-first.C:
		case <-time.After(every):
		}
		now := time.Now()
		months := []time.Time{now}
		if now.In(sla.WIB).Day() <= 5 {
			start, _ := sla.MonthRange(now)
			months = append(months, start.Add(-time.Hour))
		}
		for _, m := range months {
			if err := publishMonth(ctx, srv, db, prog, m, forward); err != nil && ctx.Err() == nil {
				log.Warn("monthly figures not published", "month", m.In(sla.WIB).Format("2006-01"), "err", err)
			}
		}
	}
}

func publishMonth(ctx context.Context, srv *server.Server, db *rollup.DB, prog map[string]jagadesa.Programme, month time.Time, forward func(string, time.Time, []rollup.Figure)) error {
	start, _ := sla.MonthRange(month)
	slas, ready, err := srv.MonthFigures(ctx, start)
	if err != nil {
		return err
	}
	num := func(v float64) *float64 { return &v }
	flag := func(b bool) *float64 {
		if b {
			return num(1)
		}
		return num(0)
	}
	tags := func(code string) rollup.Figure {
		p := prog[code]
		f := rollup.Figure{Village: code, Regency: code[:min(5, len(code))], ISP: p.ISP}
		if p.Year > 0 {
			f.Cohort = strconv.Itoa(p.Year)
		}
		return f
	}
	figs := make([]rollup.Figure, 0, len(slas))
	for code, r := range slas {
		f := tags(code)
		var rest *float64
		if r.RestitutionIDR != nil {
			rest = num(float64(*r.RestitutionIDR))
		}
		f.Numbers = map[string]*float64{"availability_pct": r.AvailabilityPct, "downtime_min": num(r.DowntimeMin), "excluded_min": num(r.ExcludedMin),
			"total_min": num(r.TotalMin), "unknown_min": num(r.UnknownMin), "restitution_idr": rest,
			"throughput_mean_mbps": r.Throughput.Download.MeanMbps, "latency_median_ms": r.LatencyMs.Value, "loss_pct": r.LossPct.Value,
			"all_met": flag(r.Status == sla.AllMet), "below": flag(r.Status == sla.Below), "no_data": flag(r.Status == sla.StatusNone),
			"restitution_due": flag(r.RestitutionDue)}
		f.Texts = map[string]string{"status": string(r.Status), "throughput_verdict": string(r.ThroughputVerdict)}
		figs = append(figs, f)
	}
	if forward != nil {
		forward(rollup.MeasSLAMonth, start, figs)
	}
	if err := db.WriteFigures(ctx, rollup.MeasSLAMonth, start, figs); err != nil {
		return err
	}
	figs = figs[:0]
	for code, r := range ready {
		f := tags(code)
		f.Numbers = map[string]*float64{"score": r.Score, "partial_score": r.PartialScore, "connectivity": r.Pillars.Connectivity,
			"use": r.Pillars.Use, "village_development": r.Pillars.Village, "governance": r.Pillars.Governance, "complete": flag(r.Complete)}
		figs = append(figs, f)
	}
	if forward != nil {
		forward(rollup.MeasReadinessMonth, start, figs)
	}
	return db.WriteFigures(ctx, rollup.MeasReadinessMonth, start, figs)
}
