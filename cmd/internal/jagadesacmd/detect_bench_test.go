package jagadesacmd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
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
	mgr.Evaluate(ctx, now, snapshots(engine, codes, prog)) // opens the silent villages' incidents
	now = now.Add(time.Second)
	mgr.Evaluate(ctx, now, snapshots(engine, codes, prog))
	b.ReportMetric(float64(len(mgr.Open())), "open-incidents")
	for b.Loop() {
		now = now.Add(time.Second)
		mgr.Evaluate(ctx, now, snapshots(engine, codes, prog))
	}
}
