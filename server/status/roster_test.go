package status

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
)

// oldBriefView is Brief's view of a village as the engine worked it out
// before Reading: pointers allocated per village. Kept to check that Read
// and the views built from it say exactly what it said.
func oldBriefView(e *Engine, v *village, now time.Time) View {
	if v == nil {
		return View{Status: jagadesa.StatusUnknown, Reason: ReasonNoReportYet, RawStatus: jagadesa.StatusUnknown, RawReason: ReasonNoReportYet}
	}
	out := View{Probe: v.probe}
	if !v.lastSeen.IsZero() {
		ls := v.lastSeen
		out.LastSeen = &ls
	}
	if d := v.download; d != nil {
		mbps, other, at := d.mbps, d.other, d.time
		out.DownloadMbps, out.OtherMbps, out.ThroughputAt = &mbps, &other, &at
	}
	if u := v.upload; u != nil {
		mbps, at := u.mbps, u.time
		out.UploadMbps = &mbps
		if out.ThroughputAt == nil || at.After(*out.ThroughputAt) {
			out.ThroughputAt = &at
		}
	}
	fresh := now.Add(-3*v.interval - e.cfg.Grace)
	var loss, rtt, jitter float64
	var nLoss, nRTT int
	for _, t := range v.targets {
		if t.Time.Before(fresh) {
			continue
		}
		loss += t.LossPct
		nLoss++
		if t.LossPct < 100 {
			rtt += t.RTTMs
			jitter += t.JitterMs
			nRTT++
		}
	}
	if nLoss > 0 {
		l := loss / float64(nLoss)
		out.LossPct = &l
	}
	if nRTT > 0 {
		r, j := rtt/float64(nRTT), jitter/float64(nRTT)
		out.RTTMs, out.JitterMs = &r, &j
	}
	allLost := nLoss > 0 && nRTT == 0
	var silentS int64
	switch {
	case v.lastSeen.IsZero():
		out.RawStatus, out.RawReason = jagadesa.StatusUnknown, ReasonNoReportYet
	case now.Sub(v.lastSeen) > v.interval+e.cfg.Grace:
		out.RawStatus, out.RawReason, silentS = jagadesa.StatusDown, ReasonSilent, int64(now.Sub(v.lastSeen)/time.Second)
	case allLost:
		out.RawStatus, out.RawReason = jagadesa.StatusDown, ReasonUnreachable
	case out.LossPct != nil && *out.LossPct > DegradedLossPct:
		out.RawStatus, out.RawReason = jagadesa.StatusDegraded, ReasonLoss
	case out.RTTMs != nil && *out.RTTMs > DegradedRTTMs:
		out.RawStatus, out.RawReason = jagadesa.StatusDegraded, ReasonRTT
	default:
		out.RawStatus = jagadesa.StatusUp
	}
	switch out.RawStatus {
	case jagadesa.StatusDown, jagadesa.StatusUnknown:
		out.Status, out.Reason = out.RawStatus, out.RawReason
		if out.Reason == ReasonSilent {
			out.SilentS = silentS
		}
		return out
	}
	h := v.h
	h.settle(now, &e.cfg)
	if !h.shown {
		out.Status = jagadesa.StatusUp
		return out
	}
	out.Status, out.Reason = jagadesa.StatusDegraded, h.shownReason
	if out.RawStatus == jagadesa.StatusDegraded {
		out.Reason = out.RawReason
	}
	since := h.shownSince
	out.DegradedSince = &since
	return out
}

// randomReport is a round of a random village: heartbeats of varying
// intervals, pings to a few targets (some lossy, slow or lost), and now and
// then a throughput test, failed or not.
func randomReport(rng *rand.Rand, code string, at time.Time) *jagadesa.Report {
	r := &jagadesa.Report{Version: 1, Probe: "p-" + code, Village: code}
	ms := at.UnixMilli() - rng.Int64N(5000)
	if rng.IntN(3) == 0 {
		r.Samples = append(r.Samples, jagadesa.Sample{Seq: 1, TimeMs: ms, Kind: jagadesa.KindHeartbeat, Heartbeat: &jagadesa.Heartbeat{IntervalS: float64(10 + 10*rng.IntN(6))}})
	}
	for range rng.IntN(4) {
		p := &jagadesa.ICMP{Sent: 10, Received: 10 - []int{0, 0, 0, 1, 3, 10}[rng.IntN(6)], JitterMs: rng.Float64() * 5}
		rtt := 10 + rng.Float64()*[]float64{30, 30, 300}[rng.IntN(3)]
		for range p.Received {
			p.RTTsMs = append(p.RTTsMs, rtt)
		}
		r.Samples = append(r.Samples, jagadesa.Sample{Seq: 2, TimeMs: ms, Kind: jagadesa.KindICMP, Target: fmt.Sprint("t", rng.IntN(5)), ICMP: p})
	}
	if rng.IntN(6) == 0 {
		x := &jagadesa.Throughput{Direction: []string{"download", "upload"}[rng.IntN(2)], Mbps: rng.Float64() * 100, OtherMbps: rng.Float64() * 5}
		if rng.IntN(5) == 0 {
			x.Error = "timeout"
		}
		r.Samples = append(r.Samples, jagadesa.Sample{Seq: 3, TimeMs: ms - rng.Int64N(60000), Kind: jagadesa.KindThroughput, Throughput: x})
	}
	return r
}

// A roster reads of every village exactly what Brief's views said before
// Reading, on a random fleet over a random hour: villages reporting now and
// then, falling silent, heard from only after the roster was made, never
// heard from, and replaced by a snapshot loaded meanwhile.
func TestRosterReadsWhatBriefDid(t *testing.T) {
	seen := map[string]int{}
	for seed := range uint64(3) {
		rng := rand.New(rand.NewPCG(seed, 15))
		t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
		c := &clock{t0}
		e := New(Config{Now: c.now, DegradedAfter: 40 * time.Second, RecoveredAfter: 70 * time.Second})
		var codes []string
		for i := range 300 {
			codes = append(codes, fmt.Sprintf("33.06.%02d.%04d", i%20, 2000+i))
		}
		for _, code := range codes[:100] { // heard of before the roster
			e.Observe(randomReport(rng, code, c.t))
		}
		roster := e.Roster(codes[:250]) // the last 50 are never read through it
		var buf []Reading
		for tick := range 300 {
			c.t = c.t.Add(time.Duration(1+rng.IntN(15)) * time.Second)
			for range rng.IntN(40) {
				code := codes[rng.IntN(240)] // the roster's last ten are never heard from
				if rng.IntN(10) != 0 || code < codes[30] {
					e.Observe(randomReport(rng, code, c.t))
				}
			}
			if tick == 200 { // a snapshot of another engine replaces some villages in place
				other := New(Config{Now: c.now})
				for _, code := range codes[50:150] {
					other.Observe(randomReport(rng, code, c.t.Add(time.Second)))
				}
				var snap bytes.Buffer
				if _, err := other.WriteSnapshot(&snap); err != nil {
					t.Fatal(err)
				}
				c.t = c.t.Add(2 * time.Second)
				if _, _, err := e.LoadSnapshot(&snap, nil); err != nil {
					t.Fatal(err)
				}
			}
			buf = roster.Read(buf)
			if len(buf) != 250 {
				t.Fatalf("%d readings for 250 villages", len(buf))
			}
			var briefs []View
			e.Brief(codes[:250], func(i int, v View) { briefs = append(briefs, v) })
			for i, code := range codes[:250] {
				want := oldBriefView(e, e.v[code], c.t)
				seen[string(want.Status)+" "+want.Reason]++
				if want.ThroughputAt != nil {
					seen["throughput"]++
				}
				if got := buf[i].View(); !reflect.DeepEqual(got, want) {
					t.Fatalf("seed %d tick %d %s: read\n%+v\nwas\n%+v", seed, tick, code, got, want)
				}
				if !reflect.DeepEqual(briefs[i], want) {
					t.Fatalf("seed %d tick %d %s: brief\n%+v\nwas\n%+v", seed, tick, code, briefs[i], want)
				}
				if tick%10 != 0 {
					continue
				}
				// Get adds the rounds, sorted by target, and the site.
				full := e.Get(code)
				if v := e.v[code]; v != nil {
					want.Site = v.site
					for _, tg := range v.targets {
						want.Targets = append(want.Targets, tg)
					}
					sort.Slice(want.Targets, func(i, j int) bool { return want.Targets[i].Target < want.Targets[j].Target })
				}
				if !reflect.DeepEqual(full, want) {
					t.Fatalf("seed %d tick %d %s: get\n%+v\nwant\n%+v", seed, tick, code, full, want)
				}
			}
		}
		for _, k := range []string{"up ", "degraded loss", "degraded rtt", "down silent", "down unreachable", "unknown no_report_yet", "throughput"} {
			if seen[k] == 0 {
				t.Fatalf("the random fleet was never %q: %v", k, seen)
			}
		}
		// The roster's villages never heard from are not in a snapshot.
		var snap bytes.Buffer
		n, err := e.WriteSnapshot(&snap)
		if err != nil {
			t.Fatal(err)
		}
		heard := 0
		for _, v := range e.v {
			if !v.lastSeen.IsZero() {
				heard++
			}
		}
		if n != heard || heard >= len(e.v) {
			t.Fatalf("snapshot of %d villages; %d heard from of %d held", n, heard, len(e.v))
		}
	}
}

// A roster's reading of a village read through Brief and Get is the same
// whether or not the roster made the engine hold it before its first
// report: a village never heard from is as if absent.
func TestRosterVillageNeverHeardFromIsAbsent(t *testing.T) {
	c := &clock{time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)}
	e := New(Config{Now: c.now})
	absent := e.Get("33.06.08.2001")
	r := e.Roster([]string{"33.06.08.2001"})
	if got := e.Get("33.06.08.2001"); !reflect.DeepEqual(got, absent) {
		t.Fatalf("held before its first report: %+v, absent %+v", got, absent)
	}
	if got := r.Read(nil)[0].View(); !reflect.DeepEqual(got, absent) {
		t.Fatalf("read %+v, absent %+v", got, absent)
	}
	c.t = c.t.Add(time.Second)
	e.Observe(reportFor("33.06.08.2001", c.t, map[string]int{"a": 0}, 20))
	got := r.Read(nil)[0]
	if got.Status != jagadesa.StatusUp || !got.HasRTT || got.RTTMs != 20 || !got.LastSeen.Equal(c.t) {
		t.Fatalf("after its first report: %+v", got)
	}
}
