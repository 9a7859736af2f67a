package status

import (
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func report(t time.Time, loss map[string]int, rttMs float64) *jagadesa.Report {
	r := &jagadesa.Report{Version: 1, Probe: "p-1", Village: "33.06.08.2005"}
	r.Samples = append(r.Samples, jagadesa.Sample{Seq: 1, TimeMs: t.UnixMilli(), Kind: jagadesa.KindHeartbeat, Heartbeat: &jagadesa.Heartbeat{IntervalS: 60}})
	for target, lost := range loss {
		p := &jagadesa.ICMP{Sent: 10, Received: 10 - lost}
		for i := 0; i < p.Received; i++ {
			p.RTTsMs = append(p.RTTsMs, rttMs)
		}
		r.Samples = append(r.Samples, jagadesa.Sample{Seq: 2, TimeMs: t.UnixMilli(), Kind: jagadesa.KindICMP, Target: target, ICMP: p})
	}
	return r
}

func TestStatus(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		feed []*jagadesa.Report
		at   time.Duration // after t0
		want jagadesa.Status
		rtt  float64
		loss float64
	}{
		{"never heard", nil, 0, jagadesa.StatusUnknown, 0, 0},
		{"healthy", []*jagadesa.Report{report(t0, map[string]int{"a": 0, "b": 0}, 20)}, 10 * time.Second, jagadesa.StatusUp, 20, 0},
		{"lossy", []*jagadesa.Report{report(t0, map[string]int{"a": 1, "b": 0}, 20)}, 10 * time.Second, jagadesa.StatusDegraded, 20, 5},
		{"slow", []*jagadesa.Report{report(t0, map[string]int{"a": 0}, 200)}, 10 * time.Second, jagadesa.StatusDegraded, 200, 0},
		{"every target lost", []*jagadesa.Report{report(t0, map[string]int{"a": 10, "b": 10}, 0)}, 10 * time.Second, jagadesa.StatusDown, 0, 100},
		{"silent past interval+grace", []*jagadesa.Report{report(t0, map[string]int{"a": 0}, 20)}, 76 * time.Second, jagadesa.StatusDown, 20, 0},
		{"silent within interval+grace", []*jagadesa.Report{report(t0, map[string]int{"a": 0}, 20)}, 74 * time.Second, jagadesa.StatusUp, 20, 0},
		{"backfill does not overwrite newer", []*jagadesa.Report{
			report(t0, map[string]int{"a": 0}, 20),
			report(t0.Add(-time.Hour), map[string]int{"a": 10}, 0),
		}, 10 * time.Second, jagadesa.StatusUp, 20, 0},
		{"recovered", []*jagadesa.Report{
			report(t0, map[string]int{"a": 10}, 0),
			report(t0.Add(time.Minute), map[string]int{"a": 0}, 30),
		}, time.Minute + 5*time.Second, jagadesa.StatusUp, 30, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t0}
			e := New(Config{Now: c.now})
			for _, r := range tt.feed {
				// Reports arrive just after they were measured.
				if at := time.UnixMilli(r.Samples[0].TimeMs).Add(time.Second); at.After(c.t) {
					c.t = at
				}
				e.Observe(r)
			}
			c.t = t0.Add(tt.at)
			v := e.Get("33.06.08.2005")
			if v.Status != tt.want {
				t.Fatalf("status = %s (%s), want %s", v.Status, v.Reason, tt.want)
			}
			if tt.want == jagadesa.StatusUnknown {
				if v.LastSeen != nil {
					t.Fatal("unknown village has a last_seen")
				}
				return
			}
			if tt.rtt > 0 && (v.RTTMs == nil || *v.RTTMs != tt.rtt) {
				t.Errorf("rtt = %v, want %v", v.RTTMs, tt.rtt)
			}
			if v.LossPct == nil || *v.LossPct != tt.loss {
				t.Errorf("loss = %v, want %v", v.LossPct, tt.loss)
			}
		})
	}
}

func TestFutureTimestampDoesNotKeepVillageAlive(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	c := &clock{t0}
	e := New(Config{Now: c.now})
	e.Observe(report(t0.Add(4*time.Minute), map[string]int{"a": 0}, 20)) // fast probe clock
	c.t = t0.Add(2 * time.Minute)
	if st := e.Get("33.06.08.2005").Status; st != jagadesa.StatusDown {
		t.Fatalf("status = %s, want down: last_seen must be capped at arrival time", st)
	}
}

func TestHeartbeatIntervalSetsDeadline(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	c := &clock{t0}
	e := New(Config{Now: c.now, Grace: 15 * time.Second})
	r := report(t0, map[string]int{"a": 0}, 20)
	r.Samples[0].Heartbeat.IntervalS = 300
	e.Observe(r)
	c.t = t0.Add(300 * time.Second)
	if st := e.Get("33.06.08.2005").Status; st != jagadesa.StatusUp {
		t.Fatalf("status = %s at 300 s with a 300 s interval, want up", st)
	}
	c.t = t0.Add(316 * time.Second)
	if st := e.Get("33.06.08.2005").Status; st != jagadesa.StatusDown {
		t.Fatalf("status = %s at 316 s, want down", st)
	}
}

func TestCounts(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	c := &clock{t0}
	e := New(Config{Now: c.now})
	e.Observe(report(t0, map[string]int{"a": 0}, 20))
	got := e.Counts([]string{"33.06.08.2005", "33.06.08.2006"})
	if got[jagadesa.StatusUp] != 1 || got[jagadesa.StatusUnknown] != 1 {
		t.Fatalf("counts = %v", got)
	}
}

func speedSample(t time.Time, dir string, mbps, other float64, errText string) jagadesa.Sample {
	return jagadesa.Sample{Seq: 3, TimeMs: t.UnixMilli(), Kind: jagadesa.KindThroughput, Target: "server",
		Throughput: &jagadesa.Throughput{Direction: dir, Bytes: 1e7, DurationMs: 1000, Mbps: mbps, OtherMbps: other, Error: errText}}
}

func TestThroughputLatest(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	type want struct {
		down, up, other float64 // -1: null
		at              time.Time
	}
	tests := []struct {
		name    string
		reports [][]jagadesa.Sample
		want    want
	}{
		{"never tested", nil, want{-1, -1, -1, time.Time{}}},
		{"one test", [][]jagadesa.Sample{{
			speedSample(t0, "download", 93.5, 1.5, ""), speedSample(t0.Add(9*time.Second), "upload", 41, 0.2, ""),
		}}, want{93.5, 41, 1.5, t0.Add(9 * time.Second)}},
		{"newer test replaces", [][]jagadesa.Sample{
			{speedSample(t0, "download", 93.5, 1.5, ""), speedSample(t0, "upload", 41, 0, "")},
			{speedSample(t0.Add(6*time.Hour), "download", 60, 30, ""), speedSample(t0.Add(6*time.Hour), "upload", 38, 0, "")},
		}, want{60, 38, 30, t0.Add(6 * time.Hour)}},
		{"backfilled older test does not", [][]jagadesa.Sample{
			{speedSample(t0, "download", 93.5, 1.5, "")},
			{speedSample(t0.Add(-6*time.Hour), "download", 20, 0, "")},
		}, want{93.5, -1, 1.5, t0}},
		{"a failed transfer is not a speed", [][]jagadesa.Sample{
			{speedSample(t0, "download", 93.5, 1.5, "")},
			{speedSample(t0.Add(time.Hour), "download", 0.4, 0, "connection reset by peer")},
		}, want{93.5, -1, 1.5, t0}},
		{"upload only", [][]jagadesa.Sample{{speedSample(t0, "upload", 12, 0, "")}}, want{-1, 12, -1, t0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t0.Add(7 * time.Hour)}
			e := New(Config{Now: c.now})
			for _, s := range tt.reports {
				e.Observe(&jagadesa.Report{Version: 1, Probe: "p-1", Village: "33.06.08.2005", Samples: s})
			}
			v := e.Get("33.06.08.2005")
			check := func(name string, got *float64, want float64) {
				t.Helper()
				switch {
				case want < 0 && got != nil:
					t.Errorf("%s = %v, want null", name, *got)
				case want >= 0 && (got == nil || *got != want):
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
			check("download_mbps", v.DownloadMbps, tt.want.down)
			check("upload_mbps", v.UploadMbps, tt.want.up)
			check("other_mbps", v.OtherMbps, tt.want.other)
			if tt.want.at.IsZero() != (v.ThroughputAt == nil) || (v.ThroughputAt != nil && !v.ThroughputAt.Equal(tt.want.at)) {
				t.Errorf("throughput_at = %v, want %v", v.ThroughputAt, tt.want.at)
			}
		})
	}
}

func TestContractShare(t *testing.T) {
	tests := []struct {
		name           string
		down, other    float64
		contract       int
		pct            float64
		breach, judged bool
	}{
		{"full speed", 97.3, 0.4, 100, 97.3, false, true},
		{"exactly 80%", 80, 0, 100, 80, false, true},
		{"just under 80%", 79.9, 0, 100, 79.9, true, true},
		{"slow and quiet: breach", 42.5, 1.2, 100, 42.5, true, true},
		// The village used the link too: 45 + 40 = 85% delivered.
		{"slow but the village was busy: no breach", 45, 40, 100, 45, false, true},
		{"busy village not enough to excuse", 45, 20, 100, 45, true, true},
		{"other contract speed", 16, 0, 20, 80, false, true},
		{"faster than contract", 250, 0, 100, 250, false, true},
		{"rounds to one decimal", 66.666, 0, 100, 66.7, true, true},
		{"negative other ignored", 70, -5, 100, 70, true, true},
		{"no contract speed", 50, 0, 0, 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pct, breach, ok := ContractShare(tt.down, tt.other, tt.contract)
			if pct != tt.pct || breach != tt.breach || ok != tt.judged {
				t.Fatalf("ContractShare(%v, %v, %d) = %v, %v, %v; want %v, %v, %v", tt.down, tt.other, tt.contract, pct, breach, ok, tt.pct, tt.breach, tt.judged)
			}
		})
	}
}

// Jitter is the mean of the answering targets' RFC 3550 jitter; a target
// that lost everything has none to give.
func TestJitter(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	c := &clock{t0.Add(5 * time.Second)}
	e := New(Config{Now: c.now})
	r := report(t0, map[string]int{"a": 0, "b": 0, "c": 10}, 20)
	for i := range r.Samples {
		if x := r.Samples[i].ICMP; x != nil {
			switch r.Samples[i].Target {
			case "a":
				x.JitterMs = 2
			case "b":
				x.JitterMs = 4
			case "c":
				x.JitterMs = 0
			}
		}
	}
	e.Observe(r)
	v := e.Get("33.06.08.2005")
	if v.JitterMs == nil || *v.JitterMs != 3 {
		t.Fatalf("jitter %v, want 3", v.JitterMs)
	}
}
