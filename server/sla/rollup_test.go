package sla_test

import (
	"strings"
	"testing"

	"github.com/jagadesa/jagadesa/server/sla"
)

func i64(x int64) *int64 { return &x }

// result builds a village result with the given verdicts (availability,
// throughput, latency, loss, restore) and derives its status as Compute does.
func result(code, isp string, cohort int, verdicts string, downMin float64, restitution *int64) sla.Result {
	v := map[byte]sla.Verdict{'p': sla.Pass, 'f': sla.Fail, 'n': sla.NoData}
	r := sla.Result{
		Village:             sla.Village{Code: code, ISP: isp, Cohort: cohort, Regency: code[:5], Province: code[:2]},
		Month:               "2026-11",
		AvailabilityVerdict: v[verdicts[0]],
		ThroughputVerdict:   v[verdicts[1]],
		LatencyVerdict:      v[verdicts[2]],
		LossVerdict:         v[verdicts[3]],
		RestoreVerdict:      v[verdicts[4]],
		DowntimeMin:         downMin,
		RestitutionIDR:      restitution,
		RestitutionDue:      verdicts[0] == 'f',
	}
	switch {
	case strings.ContainsRune(verdicts, 'f'):
		r.Status = sla.Below
	case strings.ContainsRune(verdicts, 'n'):
		r.Status = sla.StatusNone
	default:
		r.Status = sla.AllMet
	}
	return r
}

func TestRollup(t *testing.T) {
	results := []sla.Result{
		result("33.06.08.2007", "Telkom Indonesia", 2022, "ppppp", 10, i64(0)),
		result("33.06.08.2008", "Telkom Indonesia", 2023, "fpppp", 900, i64(50_000)),
		result("33.07.01.2001", "Telkom Indonesia", 2023, "pnppp", 0, nil),
		result("33.07.01.2002", "Lintasarta", 2024, "fpfpp", 1200, nil), // owed, fee unknown
		result("15.01.01.2001", "", 0, "nnnnn", 0, nil),
	}
	groups, err := sla.Rollup(results, sla.ByISP)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 3 || groups[0].Key != "Lintasarta" || groups[1].Key != "Telkom Indonesia" || groups[2].Key != sla.UnknownKey {
		t.Fatalf("groups %+v", groups)
	}
	lin, tel, unk := groups[0], groups[1], groups[2]

	// Telkom: 3 villages, 1 all met, 1 below, 1 without throughput data.
	// Share all met = 1 ÷ (1 + 1) = 50 %. Availability: met 2 (first and
	// third), failed 1 → 66.67 %. Throughput: met 2, no data 1 → 100 %.
	// Downtime 10 + 900 + 0 = 910; restitution 0 + 50,000.
	if tel.Villages != 3 || tel.AllMet != 1 || tel.Below != 1 || tel.NoData != 1 || tel.Month != "2026-11" {
		t.Errorf("Telkom counts %+v", tel)
	}
	near(t, "Telkom share all met", *tel.ShareAllMetPct, 50)
	av, tp := tel.Parameters[0], tel.Parameters[1]
	if av.Parameter != "availability" || av.Met != 2 || av.Failed != 1 || av.NoData != 0 {
		t.Errorf("Telkom availability %+v", av)
	}
	near(t, "Telkom availability share", *av.SharePct, 200.0/3)
	if tp.Parameter != "throughput" || tp.Met != 2 || tp.NoData != 1 {
		t.Errorf("Telkom throughput %+v", tp)
	}
	near(t, "Telkom throughput share", *tp.SharePct, 100)
	near(t, "Telkom downtime", tel.DowntimeMin, 910)
	if tel.RestitutionIDR != 50_000 || tel.RestitutionUnknown != 0 {
		t.Errorf("Telkom restitution %d, unknown %d", tel.RestitutionIDR, tel.RestitutionUnknown)
	}

	// Lintasarta: one village below on availability and latency, owed
	// restitution of unknown amount: counted, not summed as 0.
	near(t, "Lintasarta share all met", *lin.ShareAllMetPct, 0)
	if lin.Below != 1 || lin.RestitutionIDR != 0 || lin.RestitutionUnknown != 1 || lin.Parameters[2].Failed != 1 {
		t.Errorf("Lintasarta %+v", lin)
	}
	near(t, "Lintasarta downtime", lin.DowntimeMin, 1200)

	// No ISP known and no data at all: counted, with no share to show.
	if unk.Villages != 1 || unk.NoData != 1 || unk.ShareAllMetPct != nil || unk.Parameters[0].SharePct != nil {
		t.Errorf("unknown ISP %+v", unk)
	}

	keys := func(by sla.GroupBy) string {
		gs, err := sla.Rollup(results, by)
		if err != nil {
			t.Fatal(err)
		}
		var ks []string
		for _, g := range gs {
			ks = append(ks, g.Key+":"+string(rune('0'+g.Villages)))
		}
		return strings.Join(ks, " ")
	}
	for by, want := range map[sla.GroupBy]string{
		sla.ByCohort:   "2022:1 2023:2 2024:1 unknown:1",
		sla.ByRegency:  "15.01:1 33.06:2 33.07:2",
		sla.ByProvince: "15:1 33:4",
	} {
		if got := keys(by); got != want {
			t.Errorf("by %s: %s, want %s", by, got, want)
		}
	}
}

func TestRollupRefuses(t *testing.T) {
	a := result("33.06.08.2007", "Telkom Indonesia", 2022, "ppppp", 0, nil)
	b := a
	b.Code = "33.06.08.2008"
	b.Month = "2026-10"
	if _, err := sla.Rollup([]sla.Result{a, b}, sla.ByISP); err == nil || !strings.Contains(err.Error(), "2026-10") {
		t.Errorf("mixed months: %v", err)
	}
	if _, err := sla.Rollup([]sla.Result{a, a}, sla.ByISP); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate village: %v", err)
	}
	if _, err := sla.Rollup([]sla.Result{a}, "kecamatan"); err == nil {
		t.Error("unknown grouping accepted")
	}
}

// TestRollupFromCompute runs two real months through Compute and the roll-up
// so the two agree on what a village's status is.
func TestRollupFromCompute(t *testing.T) {
	good, err := sla.Compute(sla.Input{
		Village:    sla.Village{Code: "33.06.08.2007", ISP: "Telkom Indonesia", Cohort: 2024},
		Month:      wib(11, 1, 0, 0),
		Timeline:   upAll,
		Throughput: []sla.ThroughputTest{{T: wib(11, 2, 0, 0), DownloadMbps: f(90)}},
		Quality:    sla.Quality{MedianRTTMs: f(30), LossPct: f(0.2)},
	})
	if err != nil {
		t.Fatal(err)
	}
	silent, err := sla.Compute(sla.Input{Village: sla.Village{Code: "33.06.08.2008", ISP: "Telkom Indonesia", Cohort: 2024}, Month: wib(11, 1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	gs, err := sla.Rollup([]sla.Result{good, silent}, sla.ByCohort)
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 1 || gs[0].Key != "2024" || gs[0].AllMet != 1 || gs[0].NoData != 1 || *gs[0].ShareAllMetPct != 100 {
		t.Fatalf("%+v", gs)
	}
}
