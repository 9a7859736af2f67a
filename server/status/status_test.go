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

// TestStatus judges single rounds. One bad round is not enough to show a
// village degraded (see TestHysteresis), but the round's own verdict shows
// as the raw status.
func TestStatus(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		feed      []*jagadesa.Report
		at        time.Duration // after t0
		want, raw jagadesa.Status
		reason    string // of the raw verdict
		rtt, loss float64
		silentS   int64
	}{
		{"never heard", nil, 0, jagadesa.StatusUnknown, jagadesa.StatusUnknown, ReasonNoReportYet, 0, 0, 0},
		{"healthy", []*jagadesa.Report{report(t0, map[string]int{"a": 0, "b": 0}, 20)}, 10 * time.Second, jagadesa.StatusUp, jagadesa.StatusUp, "", 20, 0, 0},
		{"lossy", []*jagadesa.Report{report(t0, map[string]int{"a": 1, "b": 0}, 20)}, 10 * time.Second, jagadesa.StatusUp, jagadesa.StatusDegraded, ReasonLoss, 20, 5, 0},
		{"slow", []*jagadesa.Report{report(t0, map[string]int{"a": 0}, 200)}, 10 * time.Second, jagadesa.StatusUp, jagadesa.StatusDegraded, ReasonRTT, 200, 0, 0},
		{"every target lost", []*jagadesa.Report{report(t0, map[string]int{"a": 10, "b": 10}, 0)}, 10 * time.Second, jagadesa.StatusDown, jagadesa.StatusDown, ReasonUnreachable, 0, 100, 0},
		{"silent past interval+grace", []*jagadesa.Report{report(t0, map[string]int{"a": 0}, 20)}, 76*time.Second + 900*time.Millisecond, jagadesa.StatusDown, jagadesa.StatusDown, ReasonSilent, 20, 0, 76},
		{"silent within interval+grace", []*jagadesa.Report{report(t0, map[string]int{"a": 0}, 20)}, 74 * time.Second, jagadesa.StatusUp, jagadesa.StatusUp, "", 20, 0, 0},
		{"backfill does not overwrite newer", []*jagadesa.Report{
			report(t0, map[string]int{"a": 0}, 20),
			report(t0.Add(-time.Hour), map[string]int{"a": 10}, 0),
		}, 10 * time.Second, jagadesa.StatusUp, jagadesa.StatusUp, "", 20, 0, 0},
		{"recovered", []*jagadesa.Report{
			report(t0, map[string]int{"a": 10}, 0),
			report(t0.Add(time.Minute), map[string]int{"a": 0}, 30),
		}, time.Minute + 5*time.Second, jagadesa.StatusUp, jagadesa.StatusUp, "", 30, 0, 0},
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
			if v.Status != tt.want || v.RawStatus != tt.raw || v.RawReason != tt.reason {
				t.Fatalf("status = %s (%s), raw %s (%s); want %s, raw %s (%s)", v.Status, v.Reason, v.RawStatus, v.RawReason, tt.want, tt.raw, tt.reason)
			}
			if v.SilentS != tt.silentS {
				t.Errorf("silent_s = %d, want %d", v.SilentS, tt.silentS)
			}
			if tt.want == jagadesa.StatusDown && v.Reason != tt.reason {
				t.Errorf("reason = %q, want %q", v.Reason, tt.reason)
			}
			if tt.want == jagadesa.StatusUp && v.Reason != "" {
				t.Errorf("up with a reason %q", v.Reason)
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

// TestHysteresis plays scripts of one round a minute: O healthy, L lossy,
// S slow, X every target lost, - no report. Round i is measured at minute
// i and arrives a second later; the status is read 30 s after that. The
// want script is the status read each minute: u up, g degraded, d down.
// DegradedAfter is 3 min and RecoveredAfter 5 min, the defaults.
func TestHysteresis(t *testing.T) {
	tests := []struct {
		name, rounds, want string
	}{
		{"healthy", "OOOOO", "uuuuu"},
		{"a blip never shows", "OOLLOOOO", "uuuuuuuu"},
		{"a single bad round never shows", "OLOOLOOL", "uuuuuuuu"},
		{"sustained loss shows after 3 min", "OLLLLLL", "uuuuggg"},
		{"sustained slowness too", "SSSSS", "uuugg"},
		{"loss then slowness is one run", "LLSSO", "uuugg"},
		// The run of L from 0:01 lasted until the O at 3:01: three minutes.
		{"three minutes of loss is enough", "LLLOOO", "uuuggg"},
		{"recovery waits 5 min of health", "LLLLOOOOOOO", "uuuggggggu" + "u"},
		{"one good round does not clear it", "LLLLOLOOOOOO", "uuuggggggggu"},
		{"flapping after degraded stays degraded", "LLLLOLOLOLOLOL", "uuuggggggggggg"},
		{"flapping from healthy stays up", "LOLOLOLOLO", "uuuuuuuuuu"},
		{"down is immediate and clears on the next report", "OOXOO", "uuduu"},
		{"silence is down at its deadline", "OOO--OO", "uuuddu" + "u"},
		{"down breaks a run of degradation", "LLXLLOO", "uudu" + "uuu"},
		{"silence breaks it too", "LL-LLOO", "uuduuuu"},
		{"down does not clear degraded", "LLLLXOOOOOO", "uuugdgggggu"},
		{"recovery restarts after a down", "LLLLOOOXOOOOOO", "uuugggg" + "dggggg" + "u"},
		{"down while degrading, then degraded again", "LLLLX-LLLLL", "uuugddggggg"},
	}
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.rounds) != len(tt.want) {
				t.Fatalf("script %q and want %q differ in length", tt.rounds, tt.want)
			}
			c := &clock{t0}
			e := New(Config{Now: c.now})
			for i, r := range tt.rounds {
				at := t0.Add(time.Duration(i) * time.Minute)
				c.t = at.Add(time.Second)
				rawWant := jagadesa.StatusDown
				switch r {
				case 'O':
					e.Observe(report(at, map[string]int{"a": 0, "b": 0}, 20))
					rawWant = jagadesa.StatusUp
				case 'L':
					e.Observe(report(at, map[string]int{"a": 2, "b": 0}, 20))
					rawWant = jagadesa.StatusDegraded
				case 'S':
					e.Observe(report(at, map[string]int{"a": 0, "b": 0}, 180))
					rawWant = jagadesa.StatusDegraded
				case 'X':
					e.Observe(report(at, map[string]int{"a": 10, "b": 10}, 0))
				}
				c.t = at.Add(31 * time.Second)
				v := e.Get("33.06.08.2005")
				want := map[byte]jagadesa.Status{'u': jagadesa.StatusUp, 'g': jagadesa.StatusDegraded, 'd': jagadesa.StatusDown}[tt.want[i]]
				if v.Status != want || v.RawStatus != rawWant {
					t.Fatalf("minute %d of %q: status %s (%s), raw %s; want %s, raw %s", i, tt.rounds, v.Status, v.Reason, v.RawStatus, want, rawWant)
				}
				switch {
				case v.Status == jagadesa.StatusDegraded && v.Reason != ReasonLoss && v.Reason != ReasonRTT:
					t.Fatalf("minute %d: degraded for reason %q", i, v.Reason)
				case v.Status == jagadesa.StatusDegraded && v.RawStatus == jagadesa.StatusDegraded && v.Reason != v.RawReason:
					t.Fatalf("minute %d: degraded for %q while the round says %q", i, v.Reason, v.RawReason)
				case v.Status == jagadesa.StatusDown && r == 'X' && v.Reason != ReasonUnreachable:
					t.Fatalf("minute %d: down for %q, want unreachable", i, v.Reason)
				case v.Status == jagadesa.StatusDown && r == '-' && (v.Reason != ReasonSilent || v.SilentS < 75):
					t.Fatalf("minute %d: down for %q after %d s, want silent", i, v.Reason, v.SilentS)
				case v.Status == jagadesa.StatusUp && v.Reason != "":
					t.Fatalf("minute %d: up for reason %q", i, v.Reason)
				case (v.Status == jagadesa.StatusDegraded) != (v.DegradedSince != nil):
					t.Fatalf("minute %d: %s with degraded_since %v", i, v.Status, v.DegradedSince)
				}
			}
		})
	}
}

// The hysteresis moves on when reports arrive, not when someone looks: a
// degradation nobody read while it lasted still shows once it has.
func TestHysteresisNeedsNoReader(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	c := &clock{t0}
	e := New(Config{Now: c.now})
	for i, lossy := range []bool{true, true, true, true, false} {
		at := t0.Add(time.Duration(i) * time.Minute)
		c.t = at.Add(time.Second)
		lost := 0
		if lossy {
			lost = 3
		}
		e.Observe(report(at, map[string]int{"a": lost}, 20))
	}
	c.t = t0.Add(4*time.Minute + 30*time.Second)
	v := e.Get("33.06.08.2005")
	if v.Status != jagadesa.StatusDegraded || v.Reason != ReasonLoss || v.RawStatus != jagadesa.StatusUp {
		t.Fatalf("status %s (%s), raw %s; want degraded (loss), raw up", v.Status, v.Reason, v.RawStatus)
	}
	if want := t0.Add(time.Second); v.DegradedSince == nil || !v.DegradedSince.Equal(want) {
		t.Fatalf("degraded_since %v, want %v", v.DegradedSince, want)
	}
	// Reading does not move the state: the same answer twice.
	if again := e.Get("33.06.08.2005"); again.Status != v.Status || again.Reason != v.Reason {
		t.Fatalf("second read %s (%s)", again.Status, again.Reason)
	}
}

// Tests and small deployments may shorten the hysteresis; zero or less
// takes the defaults.
func TestHysteresisConfig(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		e := New(Config{DegradedAfter: d, RecoveredAfter: d})
		if e.cfg.DegradedAfter != 3*time.Minute || e.cfg.RecoveredAfter != 5*time.Minute {
			t.Fatalf("%v: degraded after %v, recovered after %v", d, e.cfg.DegradedAfter, e.cfg.RecoveredAfter)
		}
	}
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	c := &clock{t0}
	e := New(Config{Now: c.now, DegradedAfter: 10 * time.Second, RecoveredAfter: 20 * time.Second})
	steps := []struct {
		at   time.Duration
		lost int // of 10 pings; -1: no report, only a look
		want jagadesa.Status
	}{
		{0, 5, jagadesa.StatusUp},
		{9 * time.Second, -1, jagadesa.StatusUp},
		{10 * time.Second, -1, jagadesa.StatusDegraded},
		{15 * time.Second, 0, jagadesa.StatusDegraded},
		{34 * time.Second, -1, jagadesa.StatusDegraded},
		{35 * time.Second, -1, jagadesa.StatusUp},
	}
	for _, s := range steps {
		c.t = t0.Add(s.at)
		if s.lost >= 0 {
			e.Observe(report(c.t, map[string]int{"a": s.lost}, 20))
		}
		if got := e.Get("33.06.08.2005").Status; got != s.want {
			t.Fatalf("at %v: %s, want %s", s.at, got, s.want)
		}
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
