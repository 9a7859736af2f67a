package dashboards_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/influx"
	"github.com/jagadesa/jagadesa/server/influx/influxtest"
	"github.com/jagadesa/jagadesa/server/rollup"
	"github.com/jagadesa/jagadesa/server/sla"
)

func TestMain(m *testing.M) { os.Exit(influxtest.RunMain(m)) }

// Grafana itself is not packaged here, so the dashboards are checked the
// way others check theirs in CI, the strongest way last: every file parses,
// uids are unique, every datasource reference resolves to the provisioned
// one, and every panel's and variable's Flux runs against a real influxd
// holding a village's data and returns rows. The monthly dashboard
// (jagadesa-sla) reads the figures the server publishes to the rollup
// bucket; TestSLADashboardFigures checks the rows it returns for a
// hand-made month.

type target struct {
	RefID      string `json:"refId"`
	Query      string `json:"query"`
	Datasource struct {
		UID string `json:"uid"`
	} `json:"datasource"`
}

type dashboard struct {
	UID    string `json:"uid"`
	Title  string `json:"title"`
	Panels []struct {
		ID         int      `json:"id"`
		Title      string   `json:"title"`
		Type       string   `json:"type"`
		Targets    []target `json:"targets"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Query      string `json:"query"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

func loadDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	files, err := filepath.Glob("grafana/dashboards/*.json")
	if err != nil || len(files) < 2 {
		t.Fatalf("dashboards: %v %v", files, err)
	}
	out := map[string]dashboard{}
	uids := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
			t.Fatalf("%s: uid %q title %q, %d panels", f, d.UID, d.Title, len(d.Panels))
		}
		if prev, dup := uids[d.UID]; dup {
			t.Fatalf("uid %s in %s and %s", d.UID, prev, f)
		}
		uids[d.UID] = f
		out[f] = d
	}
	return out
}

// provisionedUID reads the datasource uid from the provisioning file.
func provisionedUID(t *testing.T) string {
	b, err := os.ReadFile("grafana/provisioning/datasources/influxdb.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s+uid:\s*(\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no uid in the datasource provisioning")
	}
	return string(m[1])
}

func TestDashboardsAreConsistent(t *testing.T) {
	uid := provisionedUID(t)
	for f, d := range loadDashboards(t) {
		ids := map[int]bool{}
		for _, p := range d.Panels {
			if ids[p.ID] {
				t.Fatalf("%s: panel id %d twice", f, p.ID)
			}
			ids[p.ID] = true
			if p.Datasource.UID != uid || len(p.Targets) == 0 {
				t.Fatalf("%s: panel %q datasource %q, %d targets", f, p.Title, p.Datasource.UID, len(p.Targets))
			}
			for _, tg := range p.Targets {
				if tg.Datasource.UID != uid || strings.TrimSpace(tg.Query) == "" {
					t.Fatalf("%s: panel %q target %s: datasource %q, query %q", f, p.Title, tg.RefID, tg.Datasource.UID, tg.Query)
				}
			}
		}
	}
}

// fluxFor turns a panel's query into one influxd runs: Grafana's v record
// and the template variables filled in (every "All" selection, the month of
// the hand-made figures), after any imports.
func fluxFor(t *testing.T, q, bucket string) string {
	t.Helper()
	return fluxWith(t, q, bucket, map[string]string{"${month}": figuresMonth.Format("2006-01")})
}

// fluxWith is fluxFor with some variables set: vars maps "${name}" or
// "${name:regex}" to the text Grafana would put there.
func fluxWith(t *testing.T, q, bucket string, vars map[string]string) string {
	t.Helper()
	subst := map[string]string{
		"${regency:regex}": ".*", "${province:regex}": ".*", "${target:regex}": ".*",
		"${village}": "33.06.08.2007",
	}
	for k, v := range vars {
		subst[k] = v
	}
	var pairs []string
	for k, v := range subst {
		pairs = append(pairs, k, v)
	}
	q = strings.NewReplacer(pairs...).Replace(q)
	if m := regexp.MustCompile(`\$\{[^}]*\}`).FindString(q); m != "" {
		t.Fatalf("no value for %s in\n%s", m, q)
	}
	v := `v = {timeRangeStart: -3h, timeRangeStop: now(), windowPeriod: 5m, defaultBucket: "` + bucket + `"}` + "\n"
	lines := strings.Split(q, "\n")
	i := 0
	for i < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), "import ") {
		i++
	}
	return strings.Join(lines[:i], "\n") + "\n" + v + strings.Join(lines[i:], "\n")
}

func TestDashboardQueriesRunAgainstInfluxDB(t *testing.T) {
	ifx := influxtest.Get(t)
	bucket := ifx.NewDatabase(t)
	store, err := influx.New(influx.Config{URL: ifx.URL, Bucket: bucket, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	now := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	for vi, village := range []string{"33.06.08.2007", "33.06.08.2001"} {
		r := &jagadesa.Report{Version: 1, Probe: "p-grafana", Village: village}
		seq := uint64(1)
		add := func(s jagadesa.Sample) { s.Seq = seq; seq++; r.Samples = append(r.Samples, s) }
		for i := 0; i < 30; i++ {
			at := now.Add(-time.Duration(30-i) * 2 * time.Minute).UnixMilli()
			rtts := []float64{20, 21, 22, 23, 24, 25 + float64(i%5), 30, 31}
			add(jagadesa.Sample{TimeMs: at, Kind: jagadesa.KindICMP, Target: "gateway", ICMP: &jagadesa.ICMP{Sent: 10, Received: 8, MinMs: 20, AvgMs: 24.5, MaxMs: 31, StddevMs: 3, JitterMs: 1.5, RTTsMs: rtts}})
			add(jagadesa.Sample{TimeMs: at, Kind: jagadesa.KindHeartbeat, Heartbeat: &jagadesa.Heartbeat{BootID: "b", UptimeS: 1000, IntervalS: 60}})
		}
		add(jagadesa.Sample{TimeMs: now.UnixMilli(), Kind: jagadesa.KindThroughput, Throughput: &jagadesa.Throughput{Direction: "download", Bytes: 1e8, DurationMs: 8000, Mbps: 91 - float64(vi*30)}})
		add(jagadesa.Sample{TimeMs: now.UnixMilli(), Kind: jagadesa.KindOutage, Outage: &jagadesa.Outage{Cause: "power", StartMs: now.Add(-70 * time.Minute).UnixMilli(), EndMs: now.Add(-60 * time.Minute).UnixMilli()}})
		r.Events = []jagadesa.Event{{Seq: 1000, TimeMs: now.UnixMilli(), Kind: "link_down", Severity: "warning", Message: "gateway unreachable"}}
		if err := r.Validate(time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := store.WriteReport(ctx, r, "33.06"); err != nil {
			t.Fatal(err)
		}
	}
	writeFigures(t, ifx, bucket)
	for f, d := range loadDashboards(t) {
		for _, v := range d.Templating.List {
			recs, err := store.Query(ctx, fluxFor(t, v.Query, bucket))
			if err != nil || len(recs) == 0 {
				t.Errorf("%s: variable %s: %d rows, %v\n%s", f, v.Name, len(recs), err, v.Query)
			}
		}
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				recs, err := store.Query(ctx, fluxFor(t, tg.Query, bucket))
				if err != nil || len(recs) == 0 {
					t.Errorf("%s: panel %q target %s: %d rows, %v\n%s", f, p.Title, tg.RefID, len(recs), err, fluxFor(t, tg.Query, bucket))
				}
			}
		}
	}
}

// The monthly figures the tests write, as the server publishes them
// (cmd/internal/jagadesacmd/figures.go): one point per village and month in
// sla_month and readiness_month of the rollup bucket, a missing value left
// out. Two regencies of three villages each (33.06, 33.07), one of two
// villages without data in another province (15.01), and the months on
// either side, which must never leak into November.
var figuresMonth = time.Date(2026, 11, 1, 0, 0, 0, 0, sla.WIB)

func num(v float64) *float64 { return &v }

// slaFigure is a village's sla_month point; avail and rest nil when unknown.
func slaFigure(village, isp, status string, avail *float64, downMin float64, rest *float64) rollup.Figure {
	flag := func(s string) *float64 {
		if status == s {
			return num(1)
		}
		return num(0)
	}
	f := rollup.Figure{Village: village, Regency: village[:5], ISP: isp, Cohort: "2023",
		Numbers: map[string]*float64{"availability_pct": avail, "downtime_min": num(downMin), "excluded_min": num(0),
			"total_min": num(43200), "unknown_min": num(0), "restitution_idr": rest,
			"all_met": flag("all_met"), "below": flag("below"), "no_data": flag("no_data")},
		Texts: map[string]string{"status": status, "throughput_verdict": "pass"}}
	if status == "no_data" {
		f.Numbers["unknown_min"] = num(43200)
		f.Texts["throughput_verdict"] = "no_data"
	} else {
		f.Numbers["throughput_mean_mbps"], f.Numbers["latency_median_ms"], f.Numbers["loss_pct"] = num(88), num(24), num(0.2)
	}
	return f
}

// readyFigure is a village's readiness_month point: score only when every
// pillar is known, as server/readiness computes it.
func readyFigure(village string, pillars ...*float64) rollup.Figure {
	f := rollup.Figure{Village: village, Regency: village[:5], ISP: "telkom", Cohort: "2023", Numbers: map[string]*float64{
		"connectivity": pillars[0], "use": pillars[1], "village_development": pillars[2], "governance": pillars[3], "complete": num(0)}}
	sum, n := 0.0, 0.0
	for i, p := range pillars {
		if p != nil {
			w := []float64{0.4, 0.2, 0.2, 0.2}[i]
			sum, n = sum+w*(*p), n+w
		}
	}
	if n > 0 {
		f.Numbers["partial_score"] = num(sum / n)
	}
	if n > 0.999 {
		f.Numbers["score"], f.Numbers["complete"] = num(sum), num(1)
	}
	return f
}

// all gives the same value to the four pillars, so the score is that value.
func all(v float64) []*float64 { return []*float64{num(v), num(v), num(v), num(v)} }

// writeFigures writes the hand-made months into the "<db>/rollup" bucket
// beside the raw bucket "<db>/autogen", through the server's own writer.
func writeFigures(t *testing.T, ifx *influxtest.Server, bucket string) {
	t.Helper()
	dbName, _, _ := strings.Cut(bucket, "/")
	db, err := rollup.Open(rollup.Config{URL: ifx.URL, Token: influxtest.Token, Org: influxtest.Org,
		RawBucket: bucket, RollupBucket: dbName + "/rollup", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if err := db.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	nov := []rollup.Figure{
		slaFigure("33.06.08.2007", "telkom", "all_met", num(99.9), 43, num(0)),
		slaFigure("33.06.08.2001", "telkom", "below", num(97), 1296, num(150000)),
		slaFigure("33.06.01.2003", "lintas", "no_data", nil, 0, nil),
		slaFigure("33.07.02.2001", "lintas", "all_met", num(99.7), 120, num(0)),
		slaFigure("33.07.02.2002", "lintas", "all_met", num(99.6), 170, num(0)),
		slaFigure("33.07.02.2003", "telkom", "below", num(95), 2160, num(300000)),
		slaFigure("15.01.01.2001", "telkom", "no_data", nil, 0, nil),
		slaFigure("15.01.01.2002", "", "no_data", nil, 0, nil), // no ISP known: group "unknown"
	}
	ready := []rollup.Figure{
		readyFigure("33.06.08.2007", all(80)...),
		readyFigure("33.06.08.2001", all(40)...),
		readyFigure("33.06.01.2003", num(60), nil, num(60), nil), // partial
		readyFigure("33.07.02.2001", all(25)...),                 // a band holds its lower bound
		readyFigure("33.07.02.2002", all(75)...),
		readyFigure("33.07.02.2003", all(10)...),
		readyFigure("15.01.01.2001", nil, nil, nil, nil), // nothing known: complete = 0 only
		readyFigure("15.01.01.2002", num(55), nil, nil, nil),
	}
	oct, dec := figuresMonth.AddDate(0, -1, 0), figuresMonth.AddDate(0, 1, 0)
	for _, w := range []struct {
		meas  string
		month time.Time
		figs  []rollup.Figure
	}{
		{rollup.MeasSLAMonth, figuresMonth, nov},
		{rollup.MeasReadinessMonth, figuresMonth, ready},
		{rollup.MeasSLAMonth, oct, []rollup.Figure{slaFigure("33.06.08.2007", "telkom", "below", num(90), 4320, num(500000))}},
		{rollup.MeasReadinessMonth, oct, []rollup.Figure{readyFigure("33.06.01.2003", all(90)...)}},
		{rollup.MeasSLAMonth, dec, []rollup.Figure{slaFigure("33.06.01.2003", "lintas", "all_met", num(100), 0, num(0))}},
		{rollup.MeasReadinessMonth, dec, []rollup.Figure{readyFigure("33.07.02.2003", all(99)...)}},
	} {
		if err := db.WriteFigures(ctx, w.meas, w.month, w.figs); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSLADashboardFigures runs the monthly dashboard's variables and panels
// against the hand-made figures and checks every cell they return: counts,
// shares among the villages with data, sums, medians and bands; empty (nil)
// where a value is unknown, never 0.
func TestSLADashboardFigures(t *testing.T) {
	ifx := influxtest.Get(t)
	bucket := ifx.NewDatabase(t)
	writeFigures(t, ifx, bucket)
	store, err := influx.New(influx.Config{URL: ifx.URL, Bucket: bucket, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()

	var d dashboard
	for _, x := range loadDashboards(t) {
		if x.UID == "jagadesa-sla" {
			d = x
		}
	}
	if d.UID == "" {
		t.Fatal("no dashboard jagadesa-sla")
	}
	query := func(q string, vars map[string]string) []map[string]any {
		t.Helper()
		flux := fluxWith(t, q, bucket, vars)
		recs, err := store.Query(ctx, flux)
		if err != nil {
			t.Fatalf("%v\n%s", err, flux)
		}
		for _, r := range recs {
			// Grafana shows one frame per table: a table panel needs one.
			if r["table"] != int64(0) {
				t.Fatalf("more than one table: %v\n%s", r, flux)
			}
		}
		return recs
	}
	nov := map[string]string{"${month}": "2026-11"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{"${month}": "2026-11"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}

	// Variables: the months newest first, the provinces, the regencies of
	// the chosen provinces.
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Query
	}
	values := func(q string, vars map[string]string) []string {
		var out []string
		for _, r := range query(q, vars) {
			out = append(out, r["_value"].(string))
		}
		return out
	}
	for _, c := range []struct {
		name string
		vars map[string]string
		want string
	}{
		{"month", nil, "2026-12 2026-11 2026-10"},
		{"province", nov, "15 33"},
		{"regency", nov, "15.01 33.06 33.07"},
		{"regency", with("${province:regex}", "33"), "33.06 33.07"},
		{"regency", with("${province:regex}", "(15|33)"), "15.01 33.06 33.07"},
		{"regency", with("${month}", "2026-10", "${province:regex}", "33"), "33.06"},
	} {
		if got := strings.Join(values(vars[c.name], c.vars), " "); got != c.want {
			t.Errorf("variable %s %v: %q, want %q", c.name, c.vars, got, c.want)
		}
	}

	panels := map[int]string{}
	for _, p := range d.Panels {
		panels[p.ID] = p.Targets[0].Query
	}
	// check compares a table's rows, keyed by column key, with want: a nil
	// cell must be null (or the column absent), a number equal to 1e-9.
	check := func(name string, recs []map[string]any, key string, cols []string, want map[string][]any) {
		t.Helper()
		var keys []string
		for _, r := range recs {
			k, _ := r[key].(string)
			keys = append(keys, k)
			w, ok := want[k]
			if !ok {
				t.Errorf("%s: unexpected row %v", name, r)
				continue
			}
			for i, c := range cols {
				got, ok := r[c].(float64)
				switch {
				case w[i] == nil && r[c] != nil:
					t.Errorf("%s %s: %s = %v, want empty", name, k, c, r[c])
				case w[i] != nil && (!ok || math.Abs(got-w[i].(float64)) > 1e-9):
					t.Errorf("%s %s: %s = %v, want %v", name, k, c, r[c], w[i])
				}
			}
		}
		if len(keys) != len(want) {
			t.Errorf("%s: rows %v, want %d", name, keys, len(want))
		}
		for i := 1; i < len(keys); i++ {
			if keys[i-1] >= keys[i] {
				t.Errorf("%s: rows not sorted: %v", name, keys)
			}
		}
	}

	slaCols := []string{"villages", "all_met", "below", "no_data", "met_pct", "downtime_min", "restitution_idr"}
	check("SLA per regency", query(panels[1], nov), "regency", slaCols, map[string][]any{
		"15.01": {2.0, 0.0, 0.0, 2.0, nil, 0.0, nil}, // none with data: no share, restitution unknown
		"33.06": {3.0, 1.0, 1.0, 1.0, 50.0, 1339.0, 150000.0},
		"33.07": {3.0, 2.0, 1.0, 0.0, 200.0 / 3, 2450.0, 300000.0},
	})
	check("SLA per regency, 33.06", query(panels[1], with("${regency:regex}", `33\.06`)), "regency", slaCols, map[string][]any{
		"33.06": {3.0, 1.0, 1.0, 1.0, 50.0, 1339.0, 150000.0},
	})
	check("SLA per regency, province 15", query(panels[1], with("${province:regex}", "15")), "regency", slaCols, map[string][]any{
		"15.01": {2.0, 0.0, 0.0, 2.0, nil, 0.0, nil},
	})
	check("SLA per regency, October", query(panels[1], with("${month}", "2026-10")), "regency", slaCols, map[string][]any{
		"33.06": {1.0, 0.0, 1.0, 0.0, 0.0, 4320.0, 500000.0},
	})
	check("SLA per ISP", query(panels[2], nov), "isp", slaCols, map[string][]any{
		"lintas":  {3.0, 2.0, 0.0, 1.0, 100.0, 290.0, 0.0}, // known zeros stay 0
		"telkom":  {4.0, 1.0, 2.0, 1.0, 100.0 / 3, 3499.0, 450000.0},
		"unknown": {1.0, 0.0, 0.0, 1.0, nil, 0.0, nil},
	})
	check("SLA per ISP, province 15", query(panels[2], with("${province:regex}", "15")), "isp", slaCols, map[string][]any{
		"telkom":  {1.0, 0.0, 0.0, 1.0, nil, 0.0, nil},
		"unknown": {1.0, 0.0, 0.0, 1.0, nil, 0.0, nil},
	})

	readyCols := []string{"villages", "complete", "partial", "median_score", "band_0_25", "band_25_50", "band_50_75", "band_75_100"}
	check("readiness per regency", query(panels[3], nov), "regency", readyCols, map[string][]any{
		"15.01": {2.0, 0.0, 2.0, nil, 0.0, 0.0, 0.0, 0.0},  // none complete: no median, zero in every band
		"33.06": {3.0, 2.0, 1.0, 60.0, 0.0, 1.0, 0.0, 1.0}, // median of 40 and 80
		"33.07": {3.0, 3.0, 0.0, 25.0, 1.0, 1.0, 0.0, 1.0}, // 10, 25, 75
	})
	check("readiness bands", query(panels[4], nov), "band", []string{"villages"}, map[string][]any{
		"0–25": {1.0}, "25–50": {2.0}, "50–75": {0.0}, "75–100": {2.0},
	})
	check("readiness bands, 15.01", query(panels[4], with("${regency:regex}", `15\.01`)), "band", []string{"villages"}, map[string][]any{
		"0–25": {0.0}, "25–50": {0.0}, "50–75": {0.0}, "75–100": {0.0},
	})

	villageCols := []string{"availability_pct", "downtime_min", "unknown_min", "restitution_idr", "throughput_mean_mbps", "latency_median_ms", "loss_pct"}
	recs := query(panels[5], with("${regency:regex}", `33\.06`))
	check("SLA per village", recs, "village", villageCols, map[string][]any{
		"33.06.01.2003": {nil, 0.0, 43200.0, nil, nil, nil, nil}, // no data: availability absent, not 0
		"33.06.08.2001": {97.0, 1296.0, 0.0, 150000.0, 88.0, 24.0, 0.2},
		"33.06.08.2007": {99.9, 43.0, 0.0, 0.0, 88.0, 24.0, 0.2},
	})
	for _, r := range recs {
		if r["village"] == "33.06.01.2003" && (r["status"] != "no_data" || r["isp"] != "lintas" || r["regency"] != "33.06") {
			t.Errorf("SLA per village: %v", r)
		}
	}
	if len(panels) != 5 {
		t.Errorf("%d panels: check the new ones here", len(panels))
	}
}
