package jagadesacmd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server/incident"
	"github.com/jagadesa/jagadesa/server/route"
	"github.com/jagadesa/jagadesa/server/sqlite"
	"github.com/jagadesa/jagadesa/server/status"
)

type noSender struct{}

func (noSender) Send(*route.Team, jagadesa.Notification) {}

// go test -run '^$' -bench DetectorPass -benchmem ./cmd/internal/jagadesacmd/
//
// One detector tick at national size (issue 15's target: 100 ms): the
// snapshots of all 83,763 villages of the synthetic national registry read
// from live status, and the incident manager's evaluation of them, with
// every village reporting (one in fifty lossy, one in two hundred silent,
// so that incidents are open and kept open).
func BenchmarkDetectorPass_National(b *testing.B) {
	reg, err := geo.NationalSynthetic()
	if err != nil {
		b.Fatal(err)
	}
	prog := programmeAll(reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	now := time.Now()
	engine := status.New(status.Config{Now: func() time.Time { return now }})
	codes := make([]string, 0, len(prog))
	i := 0
	for code := range prog {
		codes = append(codes, code)
		i++
		at := now.Add(-20 * time.Second)
		if i%200 == 0 {
			at = now.Add(-10 * time.Minute)
		}
		lost := 0
		if i%50 == 0 {
			lost = 3
		}
		r := &jagadesa.Report{Version: 1, Probe: fmt.Sprint("p-", i), Village: code, Samples: []jagadesa.Sample{
			{Seq: 1, TimeMs: at.UnixMilli(), Kind: jagadesa.KindHeartbeat, Heartbeat: &jagadesa.Heartbeat{IntervalS: 60}},
			{Seq: 2, TimeMs: at.UnixMilli(), Kind: jagadesa.KindICMP, Target: "8.8.8.8", ICMP: &jagadesa.ICMP{Sent: 10, Received: 10 - lost, RTTsMs: []float64{20, 21, 22}}},
		}}
		engine.Observe(r)
	}
	db, err := sqlite.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	dir, err := route.Demo()
	if err != nil {
		b.Fatal(err)
	}
	mgr := incident.New(incident.Config{StartupGrace: time.Nanosecond, Now: func() time.Time { return now }}, slog.New(slog.DiscardHandler), db, dir, reg, prog, noSender{})
	ctx := context.Background()
	slices.Sort(codes) // as monitored lists them
	pass := newDetectPass(engine, codes, prog)
	mgr.Evaluate(ctx, now, pass.snapshots()) // opens the silent villages' incidents
	now = now.Add(time.Second)
	mgr.Evaluate(ctx, now, pass.snapshots())
	for b.Loop() {
		now = now.Add(time.Second)
		mgr.Evaluate(ctx, now, pass.snapshots())
	}
	b.ReportMetric(float64(len(mgr.Open())), "open-incidents")
}

// snapshotsByBrief is how the detector read the engine before detectPass:
// a map lookup and a View of allocated pointers per village per tick.
func snapshotsByBrief(engine *status.Engine, codes []string, prog map[string]jagadesa.Programme) []incident.Snapshot {
	out := make([]incident.Snapshot, 0, len(codes))
	engine.Brief(codes, func(i int, v status.View) {
		c := codes[i]
		s := incident.Snapshot{Code: c, Status: v.Status, Reason: v.Reason, SilentS: v.SilentS, RTTMs: v.RTTMs, LossPct: v.LossPct, JitterMs: v.JitterMs}
		if v.LastSeen != nil {
			s.LastSeen = *v.LastSeen
		}
		if v.DownloadMbps != nil && v.ThroughputAt != nil {
			if p, ok := prog[c]; ok {
				other := 0.0
				if v.OtherMbps != nil {
					other = *v.OtherMbps
				}
				if pct, breach, ok := status.ContractShare(*v.DownloadMbps, other, p.ContractMbps); ok {
					s.SLABreach, s.DownloadPct, s.ThroughputAt = breach, &pct, *v.ThroughputAt
				}
			}
		}
		out = append(out, s)
	})
	return out
}

// The detector's pass reads, tick after tick into the same buffers, what
// it read before: a random fleet of villages in and out of the programme
// (with and without a contract), reporting, lossy, slow, unreachable,
// silent, never heard from, running speed tests in either direction.
func TestDetectPassReadsWhatBriefDid(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 1))
	now := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	engine := status.New(status.Config{Now: func() time.Time { return now }, DegradedAfter: 30 * time.Second, RecoveredAfter: time.Minute})
	prog := map[string]jagadesa.Programme{}
	var codes []string
	for i := range 400 {
		code := fmt.Sprintf("33.06.%02d.%04d", i%20, 2000+i)
		codes = append(codes, code)
		switch i % 4 {
		case 0, 1:
			prog[code] = jagadesa.Programme{Code: code, ContractMbps: 10 + rng.IntN(90)}
		case 2:
			prog[code] = jagadesa.Programme{Code: code} // no contract to judge
		}
	}
	observe := func(code string) {
		ms := now.UnixMilli() - rng.Int64N(3000)
		r := &jagadesa.Report{Version: 1, Probe: "p-" + code, Village: code}
		if rng.IntN(4) == 0 {
			r.Samples = append(r.Samples, jagadesa.Sample{Seq: 1, TimeMs: ms, Kind: jagadesa.KindHeartbeat, Heartbeat: &jagadesa.Heartbeat{IntervalS: float64(10 * (1 + rng.IntN(4)))}})
		}
		for range rng.IntN(3) {
			p := &jagadesa.ICMP{Sent: 10, Received: []int{10, 10, 9, 6, 0}[rng.IntN(5)], JitterMs: rng.Float64()}
			for range p.Received {
				p.RTTsMs = append(p.RTTsMs, 15+rng.Float64()*[]float64{20, 400}[rng.IntN(2)])
			}
			r.Samples = append(r.Samples, jagadesa.Sample{Seq: 2, TimeMs: ms, Kind: jagadesa.KindICMP, Target: fmt.Sprint("t", rng.IntN(3)), ICMP: p})
		}
		if rng.IntN(5) == 0 {
			r.Samples = append(r.Samples, jagadesa.Sample{Seq: 3, TimeMs: ms, Kind: jagadesa.KindThroughput,
				Throughput: &jagadesa.Throughput{Direction: []string{"download", "upload"}[rng.IntN(2)], Mbps: rng.Float64() * 100, OtherMbps: rng.Float64() * 10}})
		}
		engine.Observe(r)
	}
	for _, c := range codes[:200] {
		observe(c)
	}
	slices.Sort(codes)
	pass := newDetectPass(engine, codes, prog)
	seen := map[string]int{}
	for tick := range 300 {
		now = now.Add(time.Duration(1+rng.IntN(10)) * time.Second)
		for range rng.IntN(60) {
			if c := codes[rng.IntN(len(codes)-20)]; rng.IntN(8) != 0 || c > codes[300] { // some fall silent; twenty never report
				observe(c)
			}
		}
		got, want := pass.snapshots(), snapshotsByBrief(engine, codes, prog)
		if !reflect.DeepEqual(got, want) {
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Fatalf("tick %d %s: pass\n%+v\nwas\n%+v", tick, want[i].Code, got[i], want[i])
				}
			}
			t.Fatalf("tick %d: %d snapshots, was %d", tick, len(got), len(want))
		}
		for _, s := range want {
			seen[string(s.Status)+" "+s.Reason]++
			if s.DownloadPct != nil {
				seen[fmt.Sprint("sla breach ", s.SLABreach)]++
			}
		}
	}
	for _, k := range []string{"up ", "degraded loss", "degraded rtt", "down silent", "down unreachable", "unknown no_report_yet", "sla breach true", "sla breach false"} {
		if seen[k] == 0 {
			t.Fatalf("the random fleet was never %q: %v", k, seen)
		}
	}
}
