package sla_test

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa/server/sla"
)

func wib(m time.Month, d, h, min int) time.Time {
	return time.Date(2026, m, d, h, min, 0, 0, sla.WIB)
}

func f(x float64) *float64 { return &x }

func near(t *testing.T, name string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9 {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}

func iv(s, e time.Time, st sla.State) sla.Interval { return sla.Interval{Start: s, End: e, State: st} }

// upAll is a timeline saying "up" for all of November 2026 WIB.
var upAll = []sla.Interval{iv(wib(11, 1, 0, 0), wib(12, 1, 0, 0), sla.StateUp)}

func TestMonthRange(t *testing.T) {
	// 2026-10-31 17:30 UTC is 1 November 00:30 WIB: November.
	start, end := sla.MonthRange(time.Date(2026, 10, 31, 17, 30, 0, 0, time.UTC))
	if !start.Equal(wib(11, 1, 0, 0)) || !end.Equal(wib(12, 1, 0, 0)) {
		t.Fatalf("MonthRange = %v .. %v, want November WIB", start, end)
	}
	if got := start.UTC().Format(time.RFC3339); got != "2026-10-31T17:00:00Z" {
		t.Fatalf("November starts at %s UTC, want 2026-10-31T17:00:00Z", got)
	}
	m, err := sla.ParseMonth("2024-02")
	if err != nil {
		t.Fatal(err)
	}
	s, e := sla.MonthRange(m)
	if got := e.Sub(s).Minutes(); got != 29*1440 { // 2024 is a leap year
		t.Fatalf("February 2024 has %v minutes, want 41760", got)
	}
	for _, bad := range []string{"2024-13", "2024/02", "", "24-02"} {
		if _, err := sla.ParseMonth(bad); err == nil {
			t.Errorf("ParseMonth(%q) accepted", bad)
		}
	}
}

// TestNovember works through one village's month with every kind of minute.
func TestNovember(t *testing.T) {
	in := sla.Input{
		Village: sla.Village{Code: "33.06.08.2007", ISP: "Telkom Indonesia", Cohort: 2024},
		Month:   wib(11, 15, 12, 0),
		Timeline: []sla.Interval{
			// Up all month except a 1-hour hole on the 25th (no data).
			iv(wib(11, 1, 0, 0), wib(11, 25, 0, 0), sla.StateUp),
			iv(wib(11, 25, 1, 0), wib(12, 1, 0, 0), sla.StateUp),
			iv(wib(11, 3, 10, 0), wib(11, 3, 10, 5), sla.StateLinkDown),    // exactly 5:00: not counted
			iv(wib(11, 5, 8, 0), wib(11, 5, 14, 0), sla.StateLinkDown),     // 360 min
			iv(wib(11, 10, 9, 0), wib(11, 10, 9, 6), sla.StateLinkDown),    // 6 min
			iv(wib(11, 12, 18, 0), wib(11, 12, 22, 0), sla.StatePowerCut),  // 240 min excluded
			iv(wib(11, 20, 0, 0), wib(11, 20, 12, 0), sla.StateProbeFault), // 720 min unknown
			iv(wib(11, 28, 1, 0), wib(11, 28, 3, 0), sla.StateLinkDown),    // 60 min before maintenance
		},
		Maintenance:  []sla.Window{{Start: wib(11, 28, 2, 0), End: wib(11, 28, 4, 0)}},
		ForceMajeure: []sla.Window{{Start: wib(11, 12, 20, 0), End: wib(11, 13, 2, 0)}},
		Throughput: []sla.ThroughputTest{
			// 17:00 UTC on 31 October is midnight WIB: November's.
			{T: time.Date(2026, 10, 31, 17, 0, 0, 0, time.UTC), DownloadMbps: f(95), UploadMbps: f(40)},
			{T: wib(11, 7, 10, 0), DownloadMbps: f(70), UploadMbps: f(35)},
			{T: wib(11, 14, 10, 0), DownloadMbps: f(85), UploadMbps: f(50)},
			{T: wib(11, 21, 10, 0), DownloadMbps: f(60), UploadMbps: f(30)},
			{T: wib(11, 30, 23, 59), DownloadMbps: f(90), UploadMbps: f(45)},
			// October's and December's: left out.
			{T: time.Date(2026, 10, 31, 16, 59, 0, 0, time.UTC), DownloadMbps: f(1)},
			{T: wib(12, 1, 0, 0), DownloadMbps: f(1)},
		},
		Quality:  sla.Quality{MedianRTTMs: f(48), LossPct: f(1.5)},
		Contract: sla.Contract{TargetPct: 99, MonthlyFeeIDR: 10_000_000},
	}
	r, err := sla.Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	if r.Month != "2026-11" || r.Regency != "33.06" || r.Province != "33" {
		t.Fatalf("month %s regency %s province %s", r.Month, r.Regency, r.Province)
	}
	// 30 days × 1440 = 43200 minutes.
	near(t, "calendar_min", r.CalendarMin, 43200)
	// Unknown: probe fault 720 + hole 60 = 780; T = 43200 − 780 = 42420.
	near(t, "unknown_min", r.UnknownMin, 780)
	near(t, "total_min", r.TotalMin, 42420)
	// E: power cut 18:00–22:00 = 240 (it wins 20:00–22:00 over force
	// majeure); force majeure 22:00–02:00 = 240; maintenance 02:00–04:00 =
	// 120 (it wins 02:00–03:00 over link_down). E = 600.
	near(t, "excluded_min", r.ExcludedMin, 600)
	near(t, "power_cut_min", r.Excluded.PowerCutMin, 240)
	near(t, "force_majeure_min", r.Excluded.ForceMajeureMin, 240)
	near(t, "maintenance_min", r.Excluded.MaintenanceMin, 120)
	// D = 360 + 6 + 60 = 426; the 5:00 outage is short.
	near(t, "downtime_min", r.DowntimeMin, 426)
	near(t, "short_outage_min", r.ShortOutageMin, 5)
	// A = (42420 − 600 − 426) / (42420 − 600) = 41394 / 41820 = 98.98135 %.
	near(t, "availability_pct", *r.AvailabilityPct, 100*41394.0/41820)
	if r.AvailabilityVerdict != sla.Fail {
		t.Errorf("availability verdict %s against 99%%, want fail", r.AvailabilityVerdict)
	}
	var tiers []string
	for _, tr := range r.AvailabilityTiers {
		tiers = append(tiers, jsonOf(t, tr.TargetPct)+"="+jsonOf(t, tr.Met))
	}
	if got := strings.Join(tiers, " "); got != "99=false 98=true 99.5=false" {
		t.Errorf("tiers %s", got)
	}

	type want struct {
		start   time.Time
		min     float64
		cause   sla.Cause
		counted bool
	}
	wantOutages := []want{
		{wib(11, 3, 10, 0), 5, sla.CauseLinkDown, false},
		{wib(11, 5, 8, 0), 360, sla.CauseLinkDown, true},
		{wib(11, 10, 9, 0), 6, sla.CauseLinkDown, true},
		{wib(11, 12, 18, 0), 240, sla.CausePowerCut, false},
		{wib(11, 28, 1, 0), 60, sla.CauseLinkDown, true},
	}
	if len(r.Outages) != len(wantOutages) {
		t.Fatalf("%d outages, want %d: %+v", len(r.Outages), len(wantOutages), r.Outages)
	}
	for i, w := range wantOutages {
		o := r.Outages[i]
		if !o.Start.Equal(w.start) || o.Minutes != w.min || o.MinutesInMonth != w.min || o.Cause != w.cause || o.Counted != w.counted {
			t.Errorf("outage %d = %+v, want %+v", i, o, w)
		}
		if (o.Cause == sla.CausePowerCut) != (o.TimeToRestoreH == nil) {
			t.Errorf("outage %d: time to restore %v; only link-down outages have one", i, o.TimeToRestoreH)
		}
	}
	near(t, "time to restore of the 360-min outage", *r.Outages[1].TimeToRestoreH, 6)
	if r.RestoreVerdict != sla.Pass || r.FlaggedOutages != 0 {
		t.Errorf("restore %s, flagged %d", r.RestoreVerdict, r.FlaggedOutages)
	}

	// Download 95, 70, 85, 60, 90: mean 400/5 = 80 = 80% of 100: pass (≥).
	// Sorted 60 70 85 90 95: median 85; p10 at (5−1)·0.1 = 0.4 → 60 + 0.4·10 = 64.
	// Upload 30 35 40 45 50: mean 40, median 40, p10 30 + 0.4·5 = 32.
	th := r.Throughput
	if r.ThroughputVerdict != sla.Pass || th.Download.Tests != 5 || th.ThresholdMbps != 80 {
		t.Errorf("throughput %s, %d tests, threshold %v", r.ThroughputVerdict, th.Download.Tests, th.ThresholdMbps)
	}
	near(t, "download mean", *th.Download.MeanMbps, 80)
	near(t, "download median", *th.Download.MedianMbps, 85)
	near(t, "download p10", *th.Download.P10Mbps, 64)
	near(t, "upload mean", *th.Upload.MeanMbps, 40)
	near(t, "upload median", *th.Upload.MedianMbps, 40)
	near(t, "upload p10", *th.Upload.P10Mbps, 32)

	if r.LatencyVerdict != sla.Pass || !*r.LatencyMs.TargetMet {
		t.Errorf("latency 48 ms: %s, target met %v", r.LatencyVerdict, *r.LatencyMs.TargetMet)
	}
	if r.LossVerdict != sla.Pass || *r.LossPct.TargetMet {
		t.Errorf("loss 1.5%%: %s, target met %v; want pass, target missed", r.LossVerdict, *r.LossPct.TargetMet)
	}

	// 10,000,000 × 7.1 h ÷ 720 h = 10,000,000 × 426 ÷ 43200 = 98,611.11 → 98,611.
	if !r.RestitutionDue || r.RestitutionIDR == nil || *r.RestitutionIDR != 98_611 {
		t.Errorf("restitution due %v, %v IDR; want 98611", r.RestitutionDue, r.RestitutionIDR)
	}
	if r.Status != sla.Below || !slices.Equal(r.Failed, []string{"availability"}) {
		t.Errorf("status %s, failed %v", r.Status, r.Failed)
	}

	// Against the default 98% target the same month meets everything.
	in.Contract.TargetPct = 0
	r, err = sla.Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	if r.AvailabilityTargetPct != 98 || r.Status != sla.AllMet || r.RestitutionDue || r.RestitutionIDR == nil || *r.RestitutionIDR != 0 {
		t.Errorf("at 98%%: target %v status %s due %v restitution %v", r.AvailabilityTargetPct, r.Status, r.RestitutionDue, r.RestitutionIDR)
	}
	if len(r.AvailabilityTiers) != 3 {
		t.Errorf("tiers %+v: the contract's 98 is not repeated", r.AvailabilityTiers)
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMonthBoundary: each month counts its own minutes of an outage that
// crosses midnight WIB, and the 5-minute rule looks at the whole outage.
func TestMonthBoundary(t *testing.T) {
	timeline := []sla.Interval{
		iv(wib(10, 1, 0, 0), wib(12, 2, 0, 0), sla.StateUp),
		// 10 minutes, 3 in October and 7 in November: counted in both.
		iv(wib(10, 31, 23, 57), wib(11, 1, 0, 7), sla.StateLinkDown),
		// 17:10–17:20 UTC on 31 October is 00:10–00:20 WIB on 1 November.
		iv(time.Date(2026, 10, 31, 17, 10, 0, 0, time.UTC), time.Date(2026, 10, 31, 17, 20, 0, 0, time.UTC), sla.StateLinkDown),
		// 4 minutes, 2 in November and 2 in December: counted in neither.
		iv(wib(11, 30, 23, 58), wib(12, 1, 0, 2), sla.StateLinkDown),
	}
	oct, err := sla.Compute(sla.Input{Village: sla.Village{Code: "33.01.01.2001"}, Month: wib(10, 1, 0, 0), Timeline: timeline})
	if err != nil {
		t.Fatal(err)
	}
	// October: 31 × 1440 = 44640 minutes, D = 3, A = 44637/44640.
	near(t, "October total_min", oct.TotalMin, 44640)
	near(t, "October downtime_min", oct.DowntimeMin, 3)
	near(t, "October availability", *oct.AvailabilityPct, 100*44637.0/44640)
	if len(oct.Outages) != 1 || oct.Outages[0].Minutes != 10 || oct.Outages[0].MinutesInMonth != 3 || !oct.Outages[0].Counted {
		t.Errorf("October outages %+v", oct.Outages)
	}

	nov, err := sla.Compute(sla.Input{Village: sla.Village{Code: "33.01.01.2001"}, Month: wib(11, 1, 0, 0), Timeline: timeline})
	if err != nil {
		t.Fatal(err)
	}
	// November: D = 7 + 10 = 17, short = 2, A = 43183/43200.
	near(t, "November downtime_min", nov.DowntimeMin, 17)
	near(t, "November short_outage_min", nov.ShortOutageMin, 2)
	near(t, "November availability", *nov.AvailabilityPct, 100*43183.0/43200)
	if len(nov.Outages) != 3 || nov.Outages[2].Minutes != 4 || nov.Outages[2].MinutesInMonth != 2 || nov.Outages[2].Counted {
		t.Errorf("November outages %+v", nov.Outages)
	}
}

// TestPrecedence puts one hour of overlapping sources on a month of "up" and
// checks which bucket it lands in: unknown > power_cut > force_majeure >
// maintenance > link_down > up.
func TestPrecedence(t *testing.T) {
	s, e := wib(11, 10, 10, 0), wib(11, 10, 11, 0)
	hour := []sla.Window{{Start: s, End: e}}
	cases := []struct {
		name                 string
		timeline             []sla.Interval // on top of upAll unless hole
		hole                 bool           // take the hour out of the up timeline
		maintenance, fm      bool
		unknown, power, main float64
		force, down          float64
	}{
		{name: "up+maintenance", maintenance: true, main: 60},
		{name: "link_down+maintenance", timeline: []sla.Interval{iv(s, e, sla.StateLinkDown)}, maintenance: true, main: 60},
		{name: "link_down+maintenance+force majeure", timeline: []sla.Interval{iv(s, e, sla.StateLinkDown)}, maintenance: true, fm: true, force: 60},
		{name: "power_cut+force majeure", timeline: []sla.Interval{iv(s, e, sla.StatePowerCut)}, fm: true, power: 60},
		{name: "probe_fault+power_cut+maintenance", timeline: []sla.Interval{iv(s, e, sla.StateProbeFault), iv(s, e, sla.StatePowerCut)}, maintenance: true, unknown: 60},
		{name: "no data+maintenance", hole: true, maintenance: true, unknown: 60},
		{name: "explicit no_data over up", timeline: []sla.Interval{iv(s, e, sla.StateNoData)}, unknown: 60},
		{name: "up+link_down", timeline: []sla.Interval{iv(s, e, sla.StateLinkDown)}, down: 60},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := sla.Input{Village: sla.Village{Code: "33.01.01.2001"}, Month: s}
			if c.hole {
				in.Timeline = []sla.Interval{iv(wib(11, 1, 0, 0), s, sla.StateUp), iv(e, wib(12, 1, 0, 0), sla.StateUp)}
			} else {
				in.Timeline = append(slices.Clone(upAll), c.timeline...)
			}
			if c.maintenance {
				in.Maintenance = hour
			}
			if c.fm {
				in.ForceMajeure = hour
			}
			r, err := sla.Compute(in)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "unknown", r.UnknownMin, c.unknown)
			near(t, "power cut", r.Excluded.PowerCutMin, c.power)
			near(t, "maintenance", r.Excluded.MaintenanceMin, c.main)
			near(t, "force majeure", r.Excluded.ForceMajeureMin, c.force)
			near(t, "downtime", r.DowntimeMin, c.down)
			near(t, "total", r.TotalMin, 43200-c.unknown)
		})
	}
}

func TestTimeToRestore(t *testing.T) {
	in := sla.Input{
		Village: sla.Village{Code: "33.01.01.2001"},
		Month:   wib(11, 1, 0, 0),
		Timeline: append(slices.Clone(upAll),
			iv(wib(11, 2, 0, 0), wib(11, 3, 6, 0), sla.StateLinkDown),   // 30 h: misses 24 h
			iv(wib(11, 20, 0, 0), wib(11, 23, 8, 0), sla.StateLinkDown), // 80 h: flagged
		),
	}
	r, err := sla.Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	// D = 1800 + 4800 = 6600; A = 36600/43200 = 84.72 %.
	near(t, "downtime_min", r.DowntimeMin, 6600)
	near(t, "availability_pct", *r.AvailabilityPct, 100*36600.0/43200)
	if r.RestoreVerdict != sla.Fail || r.FlaggedOutages != 1 {
		t.Errorf("restore %s, flagged %d; want fail, 1", r.RestoreVerdict, r.FlaggedOutages)
	}
	o := r.Outages
	if *o[0].TimeToRestoreH != 30 || *o[0].RestoreWithinTarget || o[0].RestoreFlagged ||
		*o[1].TimeToRestoreH != 80 || !o[1].RestoreFlagged {
		t.Errorf("outages %+v", o)
	}
	// Fee unknown: restitution is due but its amount unknown, never 0.
	if !r.RestitutionDue || r.RestitutionIDR != nil || r.MonthlyFeeIDR != nil {
		t.Errorf("due %v restitution %v fee %v", r.RestitutionDue, r.RestitutionIDR, r.MonthlyFeeIDR)
	}
	// No speed tests and no RTT summary, yet two known failures: below.
	if r.ThroughputVerdict != sla.NoData || r.Status != sla.Below || !slices.Equal(r.Failed, []string{"availability", "restore"}) {
		t.Errorf("throughput %s status %s failed %v", r.ThroughputVerdict, r.Status, r.Failed)
	}
}

// TestRestitutionRounding: 7,200 IDR × D ÷ 43,200 min = D ÷ 6, rounded half up.
func TestRestitutionRounding(t *testing.T) {
	for _, c := range []struct {
		downMin int
		want    int64
	}{
		{8, 1},  // 1.333 → 1
		{9, 2},  // 1.5 → 2
		{10, 2}, // 1.667 → 2
		{12, 2}, // 2 exactly
	} {
		in := sla.Input{
			Village:  sla.Village{Code: "33.01.01.2001"},
			Month:    wib(11, 1, 0, 0),
			Timeline: append(slices.Clone(upAll), iv(wib(11, 9, 0, 0), wib(11, 9, 0, c.downMin), sla.StateLinkDown)),
			Contract: sla.Contract{TargetPct: 99.99, MonthlyFeeIDR: 7200},
		}
		r, err := sla.Compute(in)
		if err != nil {
			t.Fatal(err)
		}
		if r.RestitutionIDR == nil || *r.RestitutionIDR != c.want {
			t.Errorf("%d min down: restitution %v, want %d", c.downMin, r.RestitutionIDR, c.want)
		}
	}
}

func TestNoData(t *testing.T) {
	r, err := sla.Compute(sla.Input{
		Village:  sla.Village{Code: "33.01.01.2001"},
		Month:    wib(11, 1, 0, 0),
		Contract: sla.Contract{MonthlyFeeIDR: 5_000_000},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.TotalMin != 0 || r.UnknownMin != 43200 || r.AvailabilityPct != nil || r.AvailabilityVerdict != sla.NoData ||
		r.RestoreVerdict != sla.NoData || r.RestitutionIDR != nil || r.Status != sla.StatusNone || r.AvailabilityTiers[0].Met != nil {
		t.Fatalf("a month without data: %+v", r)
	}
	b := jsonOf(t, r)
	for _, k := range []string{`"availability_pct":null`, `"downtime_min":0`, `"excluded_min":0`, `"total_min":0`, `"throughput_verdict":"no_data"`, `"village":"33.01.01.2001"`, `"outages":[]`, `"failed":[]`} {
		if !strings.Contains(b, k) {
			t.Errorf("JSON lacks %s: %s", k, b)
		}
	}
	// A known failure beats missing data.
	r, _ = sla.Compute(sla.Input{Village: sla.Village{Code: "33.01.01.2001"}, Month: wib(11, 1, 0, 0), Quality: sla.Quality{LossPct: f(3)}})
	if r.Status != sla.Below || r.LossVerdict != sla.Fail {
		t.Fatalf("loss 3%%: status %s loss %s", r.Status, r.LossVerdict)
	}
}

func TestThroughputVerdicts(t *testing.T) {
	tests := func(downs ...float64) []sla.ThroughputTest {
		var ts []sla.ThroughputTest
		for i, d := range downs {
			ts = append(ts, sla.ThroughputTest{T: wib(11, 1+i, 12, 0), DownloadMbps: f(d), UploadMbps: f(d / 2)})
		}
		return ts
	}
	for _, c := range []struct {
		name     string
		contract sla.Contract
		tests    []sla.ThroughputTest
		want     sla.Verdict
	}{
		{"no tests", sla.Contract{}, nil, sla.NoData},
		{"mean 79.9 of 100", sla.Contract{}, tests(79.9), sla.Fail},
		{"mean 16 of 20", sla.Contract{Mbps: 20}, tests(10, 22), sla.Pass},
		// Upload judged only when contracted: 40 of 50 passes, of 60 fails.
		{"upload 40 of 50", sla.Contract{UploadMbps: 50}, tests(80), sla.Pass},
		{"upload 40 of 60", sla.Contract{UploadMbps: 60}, tests(80), sla.Fail},
	} {
		r, err := sla.Compute(sla.Input{Village: sla.Village{Code: "33.01.01.2001"}, Month: wib(11, 1, 0, 0), Throughput: c.tests, Contract: c.contract})
		if err != nil {
			t.Fatal(err)
		}
		if r.ThroughputVerdict != c.want {
			t.Errorf("%s: %s, want %s", c.name, r.ThroughputVerdict, c.want)
		}
	}
}

func TestLimits(t *testing.T) {
	for _, c := range []struct {
		rtt, loss           float64
		rttV, lossV         sla.Verdict
		rttTarget, lossTarg bool
	}{
		{50, 1, sla.Pass, sla.Pass, true, true},
		{150, 2, sla.Pass, sla.Pass, false, false},
		{150.1, 2.01, sla.Fail, sla.Fail, false, false},
	} {
		r, err := sla.Compute(sla.Input{Village: sla.Village{Code: "33.01.01.2001"}, Month: wib(11, 1, 0, 0), Quality: sla.Quality{MedianRTTMs: f(c.rtt), LossPct: f(c.loss)}})
		if err != nil {
			t.Fatal(err)
		}
		if r.LatencyVerdict != c.rttV || r.LossVerdict != c.lossV || *r.LatencyMs.TargetMet != c.rttTarget || *r.LossPct.TargetMet != c.lossTarg {
			t.Errorf("rtt %v loss %v: %s %s %v %v", c.rtt, c.loss, r.LatencyVerdict, r.LossVerdict, *r.LatencyMs.TargetMet, *r.LossPct.TargetMet)
		}
	}
}

func TestValidate(t *testing.T) {
	_, err := sla.Compute(sla.Input{
		Month: wib(11, 1, 0, 0),
		Timeline: []sla.Interval{
			iv(wib(11, 2, 0, 0), wib(11, 1, 0, 0), sla.StateUp),
			iv(wib(11, 1, 0, 0), wib(11, 2, 0, 0), "sideways"),
		},
		Maintenance: []sla.Window{{Start: wib(11, 3, 0, 0), End: wib(11, 3, 0, 0)}},
		Throughput:  []sla.ThroughputTest{{T: wib(11, 1, 0, 0), DownloadMbps: f(-1)}},
		Quality:     sla.Quality{LossPct: f(101)},
		Contract:    sla.Contract{TargetPct: 101, MonthlyFeeIDR: -5},
	})
	if err == nil {
		t.Fatal("bad input accepted")
	}
	for _, want := range []string{"code is required", "timeline[0]: end", `timeline[1]: unknown state "sideways"`, "maintenance[0]", "throughput[0]: download -1", "loss 101", "target 101", "fee -5"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestPerMinuteSteps: a month given as 43,200 one-minute steps gives the same
// result as the same month given as a few intervals.
func TestPerMinuteSteps(t *testing.T) {
	down := func(m time.Time) bool {
		return (m.Day() == 4 && m.Hour() == 9 && m.Minute() < 7) || // 7 min: counted
			(m.Day() == 9 && m.Hour() == 21 && m.Minute() < 3) // 3 min: short
	}
	var steps []sla.Interval
	for m := wib(11, 1, 0, 0); m.Before(wib(12, 1, 0, 0)); m = m.Add(time.Minute) {
		st := sla.StateUp
		if down(m) {
			st = sla.StateLinkDown
		}
		if m.Day() == 15 && m.Hour() < 2 {
			continue // two hours without data
		}
		steps = append(steps, iv(m, m.Add(time.Minute), st))
	}
	intervals := []sla.Interval{
		iv(wib(11, 1, 0, 0), wib(11, 15, 0, 0), sla.StateUp),
		iv(wib(11, 15, 2, 0), wib(12, 1, 0, 0), sla.StateUp),
		iv(wib(11, 4, 9, 0), wib(11, 4, 9, 7), sla.StateLinkDown),
		iv(wib(11, 9, 21, 0), wib(11, 9, 21, 3), sla.StateLinkDown),
	}
	a, err := sla.Compute(sla.Input{Village: sla.Village{Code: "33.01.01.2001"}, Month: wib(11, 1, 0, 0), Timeline: steps})
	if err != nil {
		t.Fatal(err)
	}
	b, err := sla.Compute(sla.Input{Village: sla.Village{Code: "33.01.01.2001"}, Month: wib(11, 1, 0, 0), Timeline: intervals})
	if err != nil {
		t.Fatal(err)
	}
	// T = 43200 − 120 = 43080; D = 7; A = 43073/43080.
	near(t, "total_min", a.TotalMin, 43080)
	near(t, "downtime_min", a.DowntimeMin, 7)
	near(t, "short_outage_min", a.ShortOutageMin, 3)
	near(t, "availability_pct", *a.AvailabilityPct, 100*43073.0/43080)
	if ja, jb := jsonOf(t, a), jsonOf(t, b); ja != jb {
		t.Errorf("per-minute and interval inputs differ:\n%s\n%s", ja, jb)
	}
}
