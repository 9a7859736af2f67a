package status

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
)

func reportFor(village string, t time.Time, loss map[string]int, rttMs float64) *jagadesa.Report {
	r := report(t, loss, rttMs)
	r.Village = village
	return r
}

// A snapshot brings every village back as it was: status after
// hysteresis (a degraded village stays degraded, with its start), the
// raw verdict, targets, throughput and site; a village silent since goes
// down on its own deadline; a village heard from after the restart keeps
// what it has.
func TestSnapshotRestoresEveryVillage(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	c := &clock{t0}
	cfg := Config{Now: c.now, DegradedAfter: 10 * time.Second, RecoveredAfter: 20 * time.Second}
	e := New(cfg)
	up, degraded, young, silent, fresh, recovering := "33.06.08.2001", "33.06.08.2002", "33.06.08.2003", "33.06.08.2004", "33.06.08.2005", "33.06.08.2006"
	for i := range 4 { // 30 s of rounds every 10 s
		c.t = t0.Add(time.Duration(i) * 10 * time.Second)
		e.Observe(reportFor(up, c.t, map[string]int{"a": 0, "b": 0}, 20))
		e.Observe(reportFor(degraded, c.t, map[string]int{"a": 5}, 20))
		e.Observe(reportFor(fresh, c.t, map[string]int{"a": 0}, 20))
		e.Observe(reportFor(recovering, c.t, map[string]int{"a": min(5, 15-5*i)}, 20)) // lossy, then healthy once
		if i == 0 {
			e.Observe(reportFor(silent, c.t, map[string]int{"a": 0}, 20))
		}
	}
	e.Observe(reportFor(young, c.t, map[string]int{"a": 5}, 20)) // one lossy round: not degraded yet
	tp := reportFor(up, c.t, nil, 0)
	tp.Samples = append(tp.Samples, jagadesa.Sample{Seq: 9, TimeMs: c.t.UnixMilli(), Kind: jagadesa.KindThroughput,
		Throughput: &jagadesa.Throughput{Direction: "download", Mbps: 87.5, OtherMbps: 3}})
	e.Observe(tp)
	if got := e.Get(degraded).Status; got != jagadesa.StatusDegraded {
		t.Fatalf("before the snapshot %s is %s", degraded, got)
	}
	var buf bytes.Buffer
	n, err := e.WriteSnapshot(&buf)
	if err != nil || n != 6 {
		t.Fatalf("snapshot of %d villages: %v", n, err)
	}
	want := map[string]View{}
	for _, v := range []string{up, degraded, young, silent, fresh, recovering} {
		want[v] = e.Get(v)
	}
	if g := want[recovering]; g.Status != jagadesa.StatusDegraded || g.RawStatus != jagadesa.StatusUp {
		t.Fatalf("before the snapshot %s is %s (raw %s), want degraded until healthy long enough", recovering, g.Status, g.RawStatus)
	}

	// The restart: a new engine, the same moment.
	f := New(cfg)
	c.t = c.t.Add(time.Second)
	f.Observe(reportFor(fresh, c.t, map[string]int{"a": 10}, 0)) // heard from first, after the restart
	got, taken, err := f.LoadSnapshot(bytes.NewReader(buf.Bytes()), func(code string) bool { return code != "33.06.08.2009" })
	if err != nil || got != 5 || !taken.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("loaded %d taken %v: %v", got, taken, err)
	}
	for _, v := range []string{up, degraded, young, silent, recovering} {
		if g := f.Get(v); !reflect.DeepEqual(g, e.Get(v)) {
			t.Fatalf("%s after the restart:\n%+v\nwant\n%+v", v, g, e.Get(v))
		}
	}
	if g := f.Get(degraded); g.Status != jagadesa.StatusDegraded || !g.DegradedSince.Equal(*want[degraded].DegradedSince) {
		t.Fatalf("%s: %s since %v", degraded, g.Status, g.DegradedSince)
	}
	if g := f.Get(up); g.DownloadMbps == nil || *g.DownloadMbps != 87.5 || len(g.Targets) != 2 {
		t.Fatalf("%s: %+v", up, g)
	}
	if g := f.Get(fresh); g.Status != jagadesa.StatusDown || g.Reason != ReasonUnreachable {
		t.Fatalf("%s, heard from after the restart, was overwritten by the snapshot: %+v", fresh, g)
	}
	// The young degradation keeps counting from before the restart.
	c.t = t0.Add(30*time.Second + 10*time.Second)
	if g := f.Get(young); g.Status != jagadesa.StatusDegraded {
		t.Fatalf("%s 10 s into its lossy run: %s", young, g.Status)
	}
	// The silent village goes down on its own deadline (60 s + 15 s grace
	// after its only round at t0).
	c.t = t0.Add(76 * time.Second)
	if g := f.Get(silent); g.Status != jagadesa.StatusDown || g.Reason != ReasonSilent {
		t.Fatalf("%s: %+v", silent, g)
	}

	// Bad snapshots are refused, and change nothing.
	for name, b := range map[string][]byte{"not gzip": []byte("{}"), "cut short": buf.Bytes()[:buf.Len()/2]} {
		g := New(cfg)
		if _, _, err := g.LoadSnapshot(bytes.NewReader(b), nil); err == nil {
			t.Fatalf("%s: loaded", name)
		}
	}
}

// go test -run '^$' -bench Snapshot -benchmem ./server/status/
//
// National size: 83,763 villages, three targets each, a throughput test
// and a heartbeat's site.
func BenchmarkSnapshot_National(b *testing.B) {
	t0 := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	c := &clock{t0}
	e := New(Config{Now: c.now})
	for i := range 83_763 {
		code := fmt.Sprintf("%02d.%02d.%02d.%04d", 11+i%80, i/80%100, i/8000%100, 2001+i%7000)
		r := reportFor(code, t0, map[string]int{"8.8.8.8": 0, "1.1.1.1": i % 3, "gateway": 0}, 20+float64(i%50))
		r.Samples[0].Heartbeat.Mode, r.Samples[0].Heartbeat.ProbeVersion = "router", "1.4.2"
		e.Observe(r)
	}
	var buf bytes.Buffer
	if _, err := e.WriteSnapshot(&buf); err != nil {
		b.Fatal(err)
	}
	b.Run("write", func(b *testing.B) {
		for b.Loop() {
			var w bytes.Buffer
			if _, err := e.WriteSnapshot(&w); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(buf.Len()), "bytes")
	})
	b.Run("load", func(b *testing.B) {
		for b.Loop() {
			f := New(Config{Now: c.now})
			if n, _, err := f.LoadSnapshot(bytes.NewReader(buf.Bytes()), nil); err != nil || n != 83_763 {
				b.Fatalf("%d: %v", n, err)
			}
		}
	})
}
