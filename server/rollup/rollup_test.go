package rollup_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/influx"
	"github.com/jagadesa/jagadesa/server/influx/influxtest"
	"github.com/jagadesa/jagadesa/server/rollup"
	"github.com/jagadesa/jagadesa/server/sla"
)

const (
	villageA = "33.06.08.2007"
	villageB = "33.06.08.2008"
	villageC = "33.06.08.2009" // never heard from
	refHost  = "jatengprov.go.id"
)

// env is a raw bucket and its rollup retention policy in one fresh database.
type env struct {
	raw    *influx.Store // writes reports as the server does
	rolled *influx.Store // reads the rollup bucket back in the tests
	db     *rollup.DB
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ifx := influxtest.Get(t)
	rawBucket := ifx.NewDatabase(t)
	rollupBucket := strings.TrimSuffix(rawBucket, "/autogen") + "/rollup"
	db, err := rollup.Open(rollup.Config{URL: ifx.URL, Token: influxtest.Token, Org: influxtest.Org, RawBucket: rawBucket, RollupBucket: rollupBucket})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	for range 2 { // creating it twice is harmless
		if err := db.EnsureBucket(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{db: db}
	for _, b := range []struct {
		s    **influx.Store
		name string
	}{{&e.raw, rawBucket}, {&e.rolled, rollupBucket}} {
		s, err := influx.New(influx.Config{URL: ifx.URL, Bucket: b.name, Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		*b.s = s
	}
	return e
}

// probe scripts one village's raw records, a round per minute: pings to
// three targets 5 s into the minute, the heartbeat at 10 s.
type probe struct {
	r   jagadesa.Report
	seq uint64
	h0  time.Time
}

func newProbe(village string, h0 time.Time) *probe {
	return &probe{r: jagadesa.Report{Version: 1, Probe: "p-" + village[len(village)-4:], Village: village}, h0: h0}
}

func (p *probe) at(min int, s float64) time.Time {
	return p.h0.Add(time.Duration(min)*time.Minute + time.Duration(s*float64(time.Second)))
}

func (p *probe) add(s jagadesa.Sample) {
	p.seq++
	s.Seq = p.seq
	p.r.Samples = append(p.r.Samples, s)
}

// roundFunc says, for one target of one round, the packets received of 10
// and the RTT of each reply.
type roundFunc func(min int, target string) (received int, rtt float64)

func (p *probe) rounds(from, to int, f roundFunc) {
	for m := from; m < to; m++ {
		for _, tg := range []string{"192.168.1.1", refHost, "jagadesa.example.id"} {
			n, rtt := f(m, tg)
			icmp := &jagadesa.ICMP{Sent: 10, Received: n}
			if n > 0 {
				icmp.MinMs, icmp.AvgMs, icmp.MaxMs = rtt, rtt, rtt
				icmp.RTTsMs = slices.Repeat([]float64{rtt}, n)
			}
			p.add(jagadesa.Sample{TimeMs: p.at(m, 5).UnixMilli(), Kind: jagadesa.KindICMP, Target: tg, ICMP: icmp})
		}
		p.heartbeat(p.at(m, 10))
	}
}

func (p *probe) heartbeat(t time.Time) {
	p.add(jagadesa.Sample{TimeMs: t.UnixMilli(), Kind: jagadesa.KindHeartbeat,
		Heartbeat: &jagadesa.Heartbeat{BootID: "b", UptimeS: 1000, IntervalS: 60, ProbeVersion: "test"}})
}

func (p *probe) outage(cause string, start, end time.Time) {
	p.add(jagadesa.Sample{TimeMs: end.UnixMilli(), Kind: jagadesa.KindOutage,
		Outage: &jagadesa.Outage{Cause: cause, StartMs: start.UnixMilli(), EndMs: end.UnixMilli(), Detail: "test"}})
}

func (p *probe) write(t testing.TB, s *influx.Store) {
	t.Helper()
	if _, err := s.WriteReport(context.Background(), &p.r, "33.06"); err != nil {
		t.Fatal(err)
	}
	p.r.Samples = nil
}

// rtts: the gateway 1 ms, the server 40 ms, the reference per hour.
func rtts(ref ...float64) roundFunc {
	return func(m int, tg string) (int, float64) {
		switch tg {
		case refHost:
			return 10, ref[max(0, min(m/60, len(ref)-1))]
		case "192.168.1.1":
			return 10, 1
		}
		return 10, 40
	}
}

// scenarioStart is 02:00 WIB three days ago: the scenario's nine hours stay
// inside one WIB day (so inside one month), and inside what the server
// would have accepted.
func scenarioStart() time.Time {
	w := time.Now().In(sla.WIB).AddDate(0, 0, -3)
	return time.Date(w.Year(), w.Month(), w.Day(), 2, 0, 0, 0, sla.WIB).UTC()
}

// writeScenario writes three hours from h0 for two villages:
//
//	A: a 12-minute link cut at 0:30 (every target lost every packet, and the
//	   probe's own link outage record); 10 % loss to the reference in the
//	   first half hour; a power cut from 1:20:15 to 1:45 (record), the probe
//	   back at 1:47; no data from 2:10 to 2:30 (sent late, see lateData).
//	B: up throughout but a 7-minute cut at 1:40 only the gateway answered
//	   through (the probe's link record says down); round 0:11 missing and
//	   0:10's heartbeat late (0:10:59); a speed test at 0:15:30 and a
//	   failed one at 0:20.
func writeScenario(t testing.TB, e *env, h0 time.Time) {
	a := newProbe(villageA, h0)
	base := rtts(20, 30, 25)
	a.rounds(-10, 30, func(m int, tg string) (int, float64) {
		n, rtt := base(m, tg)
		if tg == refHost && m >= 0 {
			n = 9
		}
		return n, rtt
	})
	a.rounds(30, 42, func(int, string) (int, float64) { return 0, 0 })
	a.outage(jagadesa.CauseLink, a.at(30, 0), a.at(42, 0))
	a.rounds(42, 81, base)
	a.outage(jagadesa.CausePower, a.at(80, 15), a.at(105, 0))
	a.rounds(107, 130, base)
	a.rounds(150, 180, base)
	a.write(t, e.raw)

	b := newProbe(villageB, h0)
	ok := rtts(22)
	b.rounds(-10, 10, ok)
	b.rounds(10, 11, ok)
	b.r.Samples[len(b.r.Samples)-1].TimeMs = b.at(10, 59).UnixMilli()
	b.rounds(12, 100, ok)
	b.rounds(100, 107, func(m int, tg string) (int, float64) {
		if tg == "192.168.1.1" {
			return 10, 1
		}
		return 0, 0
	})
	b.outage(jagadesa.CauseLink, b.at(100, 0), b.at(107, 0))
	b.rounds(107, 180, ok)
	for _, x := range []struct {
		t    time.Time
		dir  string
		mbps float64
		err  string
	}{{b.at(15, 30), "download", 91.5, ""}, {b.at(15, 50), "upload", 40.25, ""}, {b.at(20, 0), "download", 0, "timeout"}} {
		b.add(jagadesa.Sample{TimeMs: x.t.UnixMilli(), Kind: jagadesa.KindThroughput,
			Throughput: &jagadesa.Throughput{Direction: x.dir, Bytes: 1e6, DurationMs: 1000, Mbps: x.mbps, Error: x.err}})
	}
	b.write(t, e.raw)
}

// lateData is what A's spool delivers hours later: the rounds of 2:10 to
// 2:30, with a 7-minute cut at 2:15.
func lateData(t testing.TB, e *env, h0 time.Time) {
	a := newProbe(villageA, h0)
	a.seq = 10_000
	ok := rtts(20, 30, 25)
	a.rounds(130, 135, ok)
	a.rounds(135, 142, func(int, string) (int, float64) { return 0, 0 })
	a.outage(jagadesa.CauseLink, a.at(135, 0), a.at(142, 0))
	a.rounds(142, 150, ok)
	a.write(t, e.raw)
}

// runs writes minute strings compactly: runs("U", 30, "D", 12) is 30 U then 12 D.
func runs(parts ...any) string {
	var b strings.Builder
	for i := 0; i < len(parts); i += 2 {
		b.WriteString(strings.Repeat(parts[i].(string), parts[i+1].(int)))
	}
	return b.String()
}

// stop is the Flux stop of [start, t) on InfluxDB 1.8, whose range
// includes its stop, and 2.x alike.
func stop(t time.Time) string { return t.Add(-time.Nanosecond).Format(time.RFC3339Nano) }

func query(t testing.TB, s *influx.Store, flux string, args ...any) []map[string]any {
	t.Helper()
	recs, err := s.Query(context.Background(), fmt.Sprintf(flux, args...))
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// hourMinutes reads avail_1h's minute strings: village → hour index → string.
func hourMinutes(t testing.TB, e *env, h0 time.Time, hours int) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, r := range query(t, e.rolled, `from(bucket: %q) |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == "avail_1h" and r._field == "minutes")`, e.rolled.Bucket(),
		h0.Format(time.RFC3339), stop(h0.Add(time.Duration(hours)*time.Hour))) {
		v := r["village"].(string)
		if out[v] == nil {
			out[v] = make([]string, hours)
		}
		out[v][int(r["_time"].(time.Time).Sub(h0)/time.Hour)] = r["_value"].(string)
	}
	return out
}

// snapshot is every rollup point in the scenario's span, as sorted text.
func snapshot(t testing.TB, e *env, h0 time.Time) []string {
	t.Helper()
	var out []string
	for _, r := range query(t, e.rolled, `from(bucket: %q) |> range(start: %s, stop: %s)`, e.rolled.Bucket(),
		h0.Add(-48*time.Hour).Format(time.RFC3339), h0.Add(48*time.Hour).Format(time.RFC3339)) {
		out = append(out, fmt.Sprintf("%s %v %v %v %v %s %v %v", r["_measurement"], r["village"], r["target"], r["direction"], r["kind"],
			r["_time"].(time.Time).Format(time.RFC3339Nano), r["_field"], r["_value"]))
	}
	slices.Sort(out)
	return out
}

func near(t *testing.T, what string, got *float64, want float64) {
	t.Helper()
	if got == nil || math.Abs(*got-want) > 1e-9 {
		g := "nil"
		if got != nil {
			g = fmt.Sprint(*got)
		}
		t.Errorf("%s = %s, want %v", what, g, want)
	}
}

func TestRollupScenario(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	h0 := scenarioStart()
	writeScenario(t, e, h0)

	now := h0.Add(3*time.Hour + 15*time.Minute)
	r := rollup.NewRunner(e.db, rollup.RunnerOptions{Start: h0, Now: func() time.Time { return now }})

	st, err := r.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.New != 3 || st.Trailing != 0 || st.Backlog != 0 || !st.Through.Equal(h0.Add(3*time.Hour)) {
		t.Fatalf("first pass %+v", st)
	}
	if last, ok, err := r.LastRolled(ctx); err != nil || !ok || !last.Equal(h0.Add(2*time.Hour)) {
		t.Fatalf("LastRolled = %v, %v, %v", last, ok, err)
	}

	// Availability minutes by cause, to the minute.
	want := map[string][]string{
		villageA: {runs("U", 30, "D", 12, "U", 18), runs("U", 20, "P", 25, "N", 2, "U", 13), runs("U", 10, "N", 20, "U", 30)},
		villageB: {runs("U", 60), runs("U", 40, "D", 7, "U", 13), runs("U", 60)},
	}
	got := hourMinutes(t, e, h0, 3)
	for v, hours := range want {
		for i, w := range hours {
			if got[v] == nil || got[v][i] != w {
				t.Errorf("%s hour %d:\n got %v\nwant %s", v, i, got[v], w)
			}
		}
	}
	if len(got) != 2 {
		t.Errorf("villages rolled: %v", got)
	}
	counts := query(t, e.rolled, `import "influxdata/influxdb/v1"
from(bucket: %q) |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == "avail_1h" and r.village == %q)
  |> v1.fieldsAsCols()`, e.rolled.Bucket(), h0.Format(time.RFC3339), stop(h0.Add(3*time.Hour)), villageA)
	if len(counts) != 3 {
		t.Fatalf("A's hours: %v", counts)
	}
	for i, w := range [][5]float64{{48, 12, 0, 0, 0}, {33, 0, 25, 0, 2}, {40, 0, 0, 0, 20}} {
		c := counts[i]
		g := [5]float64{c["up_min"].(float64), c["link_down_min"].(float64), c["power_cut_min"].(float64), c["probe_fault_min"].(float64), c["no_data_min"].(float64)}
		if g != w {
			t.Errorf("A hour %d minutes up/down/power/fault/none %v, want %v", i, g, w)
		}
	}

	// RTT summaries: A to the reference in hour 0 (12 rounds lost whole,
	// 30 with 10 % loss), and the 5 minutes of the cut.
	rtt := query(t, e.rolled, `import "influxdata/influxdb/v1"
from(bucket: %q) |> range(start: %s, stop: %s)
  |> filter(fn: (r) => (r._measurement == "rtt_1h" or r._measurement == "rtt_5m") and r.village == %q and r.target == %q)
  |> v1.fieldsAsCols()
  |> group()
  |> sort(columns: ["_measurement", "_time"])`, e.rolled.Bucket(), h0.Format(time.RFC3339), stop(h0.Add(time.Hour)), villageA, refHost)
	if len(rtt) != 13 {
		t.Fatalf("%d RTT rows, want 1 hour + 12 five-minute windows: %v", len(rtt), rtt)
	}
	hour := rtt[0]
	if hour["_measurement"] != "rtt_1h" || hour["rounds"] != 60.0 || hour["rounds_lost"] != 12.0 || hour["loss_pct"] != 25.0 ||
		hour["p50_ms"] != 20.0 || hour["p90_ms"] != 20.0 || hour["min_ms"] != 20.0 || hour["max_ms"] != 20.0 {
		t.Errorf("A hour 0 to %s: %v", refHost, hour)
	}
	cut := rtt[1+6] // 0:30-0:35
	if cut["rounds"] != 5.0 || cut["rounds_lost"] != 5.0 || cut["loss_pct"] != 100.0 || cut["p50_ms"] != nil {
		t.Errorf("A 0:30 window: %v", cut)
	}

	// Speed tests copied, the failed one left out.
	tp := query(t, e.rolled, `from(bucket: %q) |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == "throughput_test") |> group() |> sort(columns: ["_time"])`,
		e.rolled.Bucket(), h0.Format(time.RFC3339), stop(h0.Add(3*time.Hour)))
	if len(tp) != 2 || tp[0]["_value"] != 91.5 || tp[0]["direction"] != "download" || tp[1]["_value"] != 40.25 || tp[0]["village"] != villageB {
		t.Errorf("speed tests %v", tp)
	}

	// Idempotent: the same pass again (the trailing hours) and a Reroll
	// write exactly the same points.
	before := snapshot(t, e, h0)
	st, err = r.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.New != 0 || st.Trailing != 3 {
		t.Fatalf("second pass %+v", st)
	}
	if after := snapshot(t, e, h0); !slices.Equal(before, after) {
		t.Fatalf("second pass changed the rollups:\n%s", diff(before, after))
	}
	if err := r.Reroll(ctx, h0, h0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, e, h0); !slices.Equal(before, after) {
		t.Fatalf("Reroll changed the rollups:\n%s", diff(before, after))
	}

	// Six hours later A's spool delivers 2:10-2:30, now outside the
	// trailing window: the late scan finds the hour and rolls it again.
	lateData(t, e, h0)
	now = h0.Add(9*time.Hour + 15*time.Minute)
	st, err = r.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.New != 6 || st.Trailing != 0 || st.Late != 1 {
		t.Fatalf("pass after late data %+v", st)
	}
	got = hourMinutes(t, e, h0, 9)
	if w := runs("U", 15, "D", 7, "U", 38); got[villageA][2] != w {
		t.Errorf("A hour 2 after the late data:\n got %s\nwant %s", got[villageA][2], w)
	}
	for _, v := range []string{villageA, villageB} {
		for i := 3; i < 9; i++ { // silent: still written, all no data, for the late scan
			if got[v][i] != runs("N", 60) {
				t.Errorf("%s hour %d: %q", v, i, got[v][i])
			}
		}
	}
	if got[villageA][0] != want[villageA][0] || got[villageA][1] != want[villageA][1] {
		t.Errorf("A's other hours changed: %v", got[villageA])
	}
	st, err = r.Pass(ctx)
	if err != nil || st.Late != 0 {
		t.Fatalf("the late scan finds the same hour twice: %+v, %v", st, err)
	}

	// Invalidate (the ingest path's hook) rolls one village's hour again.
	r.Invalidate(villageB, h0.Add(time.Hour+5*time.Minute), h0.Add(time.Hour+6*time.Minute))
	if st, err = r.Pass(ctx); err != nil || st.Late != 1 {
		t.Fatalf("pass after Invalidate: %+v, %v", st, err)
	}

	// The month, from the rollups alone, through the SLA engine.
	rd := rollup.NewReader(e.db, rollup.ReaderOptions{ReferenceTargets: []string{refHost}})
	data, err := rd.MonthInputs(ctx, h0, []string{villageA, villageB, villageC})
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != 3 || len(data[villageC].Timeline) != 0 || data[villageC].Quality.MedianRTTMs != nil {
		t.Fatalf("MonthInputs: %d villages, C %+v", len(data), data[villageC])
	}
	if tl := data[villageA].Timeline; len(tl) == 0 || tl[0].Start.After(h0) {
		t.Fatalf("A's timeline %v", tl)
	}

	res, err := sla.Compute(data[villageA].Input(sla.Village{Code: villageA}, h0, sla.Contract{}))
	if err != nil {
		t.Fatal(err)
	}
	// A: up 48 + 33 + 53, link down 12 + 7 (both over 5 minutes: counted),
	// power cut 25 (excluded); everything else unknown.
	if res.TotalMin != 178 || res.ExcludedMin != 25 || res.DowntimeMin != 19 || res.ShortOutageMin != 0 {
		t.Errorf("A: total %v, excluded %v, downtime %v, short %v", res.TotalMin, res.ExcludedMin, res.DowntimeMin, res.ShortOutageMin)
	}
	near(t, "A availability", res.AvailabilityPct, 100*134.0/153)
	if res.AvailabilityVerdict != sla.Fail {
		t.Errorf("A availability verdict %s", res.AvailabilityVerdict)
	}
	// Reference medians 20 (48 rounds), 30 (34), 25 (53): weighted median
	// 25. Loss while up: 30 rounds × 10 % over 48 + 34 + 53 up rounds.
	near(t, "A median RTT", data[villageA].Quality.MedianRTTMs, 25)
	near(t, "A loss", data[villageA].Quality.LossPct, 300.0/135)

	res, err = sla.Compute(data[villageB].Input(sla.Village{Code: villageB}, h0, sla.Contract{}))
	if err != nil {
		t.Fatal(err)
	}
	if res.TotalMin != 180 || res.ExcludedMin != 0 || res.DowntimeMin != 7 {
		t.Errorf("B: total %v, excluded %v, downtime %v", res.TotalMin, res.ExcludedMin, res.DowntimeMin)
	}
	near(t, "B availability", res.AvailabilityPct, 100*173.0/180)
	near(t, "B median RTT", data[villageB].Quality.MedianRTTMs, 22)
	near(t, "B loss", data[villageB].Quality.LossPct, 0)
	if tp := data[villageB].Throughput; len(tp) != 1 || *tp[0].DownloadMbps != 91.5 || *tp[0].UploadMbps != 40.25 {
		t.Errorf("B speed tests %+v", tp)
	}
	if res.Throughput.Download.Tests != 1 {
		t.Errorf("B throughput %+v", res.Throughput)
	}
}

func diff(a, b []string) string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, "- "+x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			out = append(out, "+ "+x)
		}
	}
	if len(out) > 20 {
		out = out[:20]
	}
	return strings.Join(out, "\n")
}

// After downtime Run catches up a bounded number of hours per pass, one
// pass after the other, and gives the same minutes as one big pass; it ends
// with its context.
func TestRunCatchesUp(t *testing.T) {
	e := newEnv(t)
	h0 := scenarioStart()
	writeScenario(t, e, h0)
	now := h0.Add(3*time.Hour + 15*time.Minute)
	r := rollup.NewRunner(e.db, rollup.RunnerOptions{Start: h0, MaxHoursPerPass: 1, Every: time.Hour,
		Now: func() time.Time { return now }})

	st, err := r.Pass(context.Background())
	if err != nil || st.New != 1 || st.Backlog != 2 {
		t.Fatalf("bounded pass %+v, %v", st, err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Pass(cancelled); err == nil {
		t.Fatal("a pass with a cancelled context succeeded")
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		last, ok, err := r.LastRolled(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if ok && last.Equal(h0.Add(2*time.Hour)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Run has rolled up to %v after 60 s", last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not end with its context")
	}
	got := hourMinutes(t, e, h0, 3)
	if w := runs("U", 20, "P", 25, "N", 2, "U", 13); got[villageA][1] != w {
		t.Errorf("A hour 1 %s, want %s", got[villageA][1], w)
	}
	if w := runs("U", 40, "D", 7, "U", 13); got[villageB][1] != w {
		t.Errorf("B hour 1 %s, want %s", got[villageB][1], w)
	}
}
