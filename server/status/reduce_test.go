package status

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
)

// A replica folding in the reduced report ends where one folding in the
// whole report does, for backfills with rounds out of order, several
// heartbeats, failed and successful throughput tests and other records.
func TestReduceObservesTheSame(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(7, 15))
	for n := range 200 {
		c := &clock{t0.Add(2 * time.Hour)}
		full, reduced := New(Config{Now: c.now}), New(Config{Now: c.now})
		var prev *jagadesa.Report
		for round := range 3 {
			r := &jagadesa.Report{Version: 1, Probe: "p-1", Village: "33.06.08.2005"}
			for i := range 1 + rng.IntN(120) {
				at := t0.Add(time.Duration(rng.IntN(7200)) * time.Second).UnixMilli()
				seq := uint64(i + 1)
				switch rng.IntN(5) {
				case 0:
					r.Samples = append(r.Samples, jagadesa.Sample{Seq: seq, TimeMs: at, Kind: jagadesa.KindHeartbeat,
						Heartbeat: &jagadesa.Heartbeat{IntervalS: float64(30 + 30*rng.IntN(3)), Mode: []string{"router", "appliance"}[rng.IntN(2)], ProbeVersion: fmt.Sprint(rng.IntN(9))}})
				case 1, 2:
					recv := rng.IntN(11)
					p := &jagadesa.ICMP{Sent: 10, Received: recv}
					for range recv {
						p.RTTsMs = append(p.RTTsMs, 10+rng.Float64()*200)
					}
					r.Samples = append(r.Samples, jagadesa.Sample{Seq: seq, TimeMs: at, Kind: jagadesa.KindICMP, Target: fmt.Sprint("t", rng.IntN(4)), ICMP: p})
				case 3:
					x := &jagadesa.Throughput{Direction: []string{"download", "upload"}[rng.IntN(2)], Mbps: rng.Float64() * 100, OtherMbps: rng.Float64()}
					if rng.IntN(4) == 0 {
						x.Error = "timeout"
					}
					r.Samples = append(r.Samples, jagadesa.Sample{Seq: seq, TimeMs: at, Kind: jagadesa.KindThroughput, Throughput: x})
				case 4:
					r.Samples = append(r.Samples, jagadesa.Sample{Seq: seq, TimeMs: at, Kind: jagadesa.KindDNS, Target: "dns", DNS: &jagadesa.DNS{}})
				}
			}
			c.t = c.t.Add(time.Duration(round) * time.Minute)
			full.Observe(r)
			reduced.Observe(Reduce(r))
			prev = r
		}
		got, want := reduced.Get(prev.Village), full.Get(prev.Village)
		// The means over targets are summed in map order: equal to a
		// rounding, not to the bit.
		round(&got)
		round(&want)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("case %d: reduced\n%+v\nwhole\n%+v", n, got, want)
		}
	}
}

func round(v *View) {
	for _, f := range []**float64{&v.RTTMs, &v.LossPct, &v.JitterMs} {
		if *f != nil {
			r := math.Round(**f*1e9) / 1e9
			*f = &r
		}
	}
}
