package dashboards_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/influx"
	"github.com/jagadesa/jagadesa/server/influx/influxtest"
)

func TestMain(m *testing.M) { os.Exit(influxtest.RunMain(m)) }

// Grafana itself is not packaged here, so the dashboards are checked the
// way others check theirs in CI, the strongest way last: every file parses,
// uids are unique, every datasource reference resolves to the provisioned
// one, and every panel's and variable's Flux runs against a real influxd
// holding a village's data and returns rows.

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
// and the template variables filled in, after any imports.
func fluxFor(q, bucket string) string {
	q = strings.NewReplacer("${regency:regex}", ".*", "${target:regex}", ".*", "${village}", "33.06.08.2007").Replace(q)
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
	for f, d := range loadDashboards(t) {
		for _, v := range d.Templating.List {
			recs, err := store.Query(ctx, fluxFor(v.Query, bucket))
			if err != nil || len(recs) == 0 {
				t.Errorf("%s: variable %s: %d rows, %v\n%s", f, v.Name, len(recs), err, v.Query)
			}
		}
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				recs, err := store.Query(ctx, fluxFor(tg.Query, bucket))
				if err != nil || len(recs) == 0 {
					t.Errorf("%s: panel %q target %s: %d rows, %v\n%s", f, p.Title, tg.RefID, len(recs), err, fluxFor(tg.Query, bucket))
				}
			}
		}
	}
}
