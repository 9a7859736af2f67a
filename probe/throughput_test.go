package probe

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
)

func netdevFixture(t *testing.T, name string) map[string]netCounters {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata/netdev", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := parseNetDev(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseNetDev(t *testing.T) {
	tests := []struct {
		file, iface string
		rx, tx      uint64
	}{
		{"openwrt-pppoe-before.txt", "lo", 112004, 112004},
		{"openwrt-pppoe-before.txt", "wan", 1861098766, 1500003822},
		{"openwrt-pppoe-before.txt", "pppoe-wan", 1785491090, 1466296010}, // name wider than the 6-char field
		{"openwrt-pppoe-before.txt", "br-lan", 1217749393, 3052934372},
		{"openwrt-pppoe-before.txt", "lan2", 0, 0},
		{"linux26-32bit.txt", "eth0", 4294000000, 2147483647}, // no space after the colon
		{"linux26-32bit.txt", "eth0.2", 4293967296, 2100000000},
		{"linux26-32bit-after.txt", "eth0.2", 9000000, 2100000000},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.iface, func(t *testing.T) {
			c, ok := netdevFixture(t, tt.file)[tt.iface]
			if !ok || c.RxBytes != tt.rx || c.TxBytes != tt.tx {
				t.Fatalf("%s: %+v (found %v), want rx %d tx %d", tt.iface, c, ok, tt.rx, tt.tx)
			}
		})
	}
	if n := len(netdevFixture(t, "openwrt-pppoe-before.txt")); n != 11 {
		t.Errorf("%d interfaces, want 11", n)
	}
	for name, in := range map[string]string{
		"empty":       "",
		"header only": "Inter-|   Receive |  Transmit\n face |bytes packets|bytes packets\n",
		"short line":  "  eth0: 1 2 3\n",
		"not numbers": "  eth0: a b c d e f g h i j k l m n o p\n",
	} {
		if m, err := parseNetDev(strings.NewReader(in)); err == nil {
			t.Errorf("%s: parsed %v, want an error", name, m)
		}
	}
}

func TestReadNetDevUnderRoot(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "proc/net"), 0o755)
	b, _ := os.ReadFile("testdata/netdev/openwrt-pppoe-before.txt")
	os.WriteFile(filepath.Join(root, "proc/net/dev"), b, 0o644)
	o := ThroughputOptions{Root: root, Interface: "pppoe-wan"}
	if c, ok := o.counters(); !ok || c.RxBytes != 1785491090 {
		t.Fatalf("counters %+v %v", c, ok)
	}
	for _, o := range []ThroughputOptions{{Root: root, Interface: "wwan0"}, {Root: root}, {Root: t.TempDir(), Interface: "wan"}} {
		if c, ok := o.counters(); ok {
			t.Errorf("%+v: counters %+v, want none", o, c)
		}
	}
}

func TestCounterDelta(t *testing.T) {
	tests := []struct {
		name          string
		before, after uint64
		want          uint64
		ok            bool
	}{
		{"forward", 100, 250, 150, true},
		{"unchanged", 7, 7, 0, true},
		{"32-bit wrap", math.MaxUint32 - 999_999, 9_000_000, 10_000_000, true},
		{"64-bit counter reset", 1 << 40, 5, 0, false},
		{"64-bit near the top", math.MaxUint64 - 10, math.MaxUint64, 10, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := counterDelta(tt.before, tt.after)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("counterDelta(%d, %d) = %d, %v; want %d, %v", tt.before, tt.after, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestOtherMbpsFromFixtures(t *testing.T) {
	before := netdevFixture(t, "openwrt-pppoe-before.txt")
	after := netdevFixture(t, "openwrt-pppoe-after.txt")
	old0 := netdevFixture(t, "linux26-32bit.txt")
	old1 := netdevFixture(t, "linux26-32bit-after.txt")
	// In the OpenWrt fixtures the village pulled 10,000,000 bytes of its
	// own through pppoe-wan alongside our 10,000,000 bytes, over 8 s:
	// 10 Mbit/s of other traffic.
	tests := []struct {
		name          string
		before, after uint64
		ours          int64
		window        time.Duration
		want          float64
	}{
		{"busy village, pppoe-wan rx", before["pppoe-wan"].RxBytes, after["pppoe-wan"].RxBytes, 10_000_000, 8 * time.Second, 10},
		// The wan port also carries PPPoE's 8 bytes a packet: a little more.
		{"busy village, wan rx", before["wan"].RxBytes, after["wan"].RxBytes, 10_000_000, 8 * time.Second, 10.112},
		// Upload direction: only ACKs and a little chatter went out besides.
		{"pppoe-wan tx, nothing but our upload", before["pppoe-wan"].TxBytes, after["pppoe-wan"].TxBytes, 290_000, 8 * time.Second, 0.0068},
		{"quiet link: our bytes and their headers only", 1000, 1000 + uint64(math.Round(50_000_000*wireOverhead)), 50_000_000, 4 * time.Second, 0},
		{"counters below our own bytes (lost or estimated high)", 1000, 2000, 50_000, time.Second, 0},
		{"32-bit wrap on an old router", old0["eth0.2"].RxBytes, old1["eth0.2"].RxBytes, 0, time.Second, 80},
		{"counter reset", 1 << 40, 10, 0, time.Second, 0},
		{"zero window", 0, 1e9, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := otherMbps(tt.before, tt.after, tt.ours, tt.window)
			if math.Abs(got-tt.want) > 0.001 {
				t.Fatalf("otherMbps = %.4f, want %.4f", got, tt.want)
			}
		})
	}
}

func TestWIBMonthAndRoll(t *testing.T) {
	tests := []struct {
		name      string
		st        throughputState
		now       time.Time
		wantMonth string
		wantUsed  int64
	}{
		{"fresh state takes the month", throughputState{}, time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC), "2026-11", 0},
		{"same month keeps usage", throughputState{Month: "2026-11", Used: 5e8}, time.Date(2026, 11, 30, 16, 59, 59, 0, time.UTC), "2026-11", 5e8},
		// 17:00 UTC on the 30th is midnight of 1 December in Central Java.
		{"WIB midnight starts December", throughputState{Month: "2026-11", Used: 5e8}, time.Date(2026, 11, 30, 17, 0, 0, 0, time.UTC), "2026-12", 0},
		{"new year", throughputState{Month: "2026-12", Used: 4e9}, time.Date(2026, 12, 31, 17, 0, 0, 0, time.UTC), "2027-01", 0},
		{"months skipped while off", throughputState{Month: "2026-03", Used: 4e9}, time.Date(2026, 7, 2, 0, 0, 0, 0, time.UTC), "2026-07", 0},
		// A router booting with an old clock must not open a second budget.
		{"clock went back a month", throughputState{Month: "2026-11", Used: 3e9}, time.Date(2026, 10, 15, 0, 0, 0, 0, time.UTC), "2026-11", 3e9},
		{"clock at the epoch", throughputState{Month: "2026-11", Used: 3e9}, time.Unix(0, 0), "2026-11", 3e9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.st
			st.roll(tt.now)
			if st.Month != tt.wantMonth || st.Used != tt.wantUsed {
				t.Fatalf("after roll at %s: %+v, want month %s used %d", tt.now, st, tt.wantMonth, tt.wantUsed)
			}
		})
	}
}

func TestTestBytes(t *testing.T) {
	const gib = 1 << 30
	tests := []struct {
		name   string
		budget int64
		used   int64
		want   int64
	}{
		{"disabled", 0, 0, 0},
		// 4 GiB over 124 tests: 17.3 MB each way.
		{"default 4 GiB, fresh month", 4 * gib, 0, 4 * gib / (2 * testsPerMonth)},
		{"large budget capped at 100 MB", 100 * gib, 0, MaxThroughputBytes},
		{"small budget still tests at 5 MB", 500e6, 0, minThroughputBytes},
		{"what is left caps the test", 4 * gib, 4*gib - 20_000_000, 10_000_000},
		{"exactly two minimum directions left", 4 * gib, 4*gib - 10_000_000, minThroughputBytes},
		{"less than a test worth running left: skip", 4 * gib, 4*gib - 9_999_999, 0},
		{"spent", 4 * gib, 4 * gib, 0},
		{"over (assumed spent after a lost state)", 4 * gib, 5 * gib, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := testBytes(tt.budget, throughputState{Used: tt.used})
			if got != tt.want {
				t.Fatalf("testBytes(%d, used %d) = %d, want %d", tt.budget, tt.used, got, tt.want)
			}
			if got > 0 && tt.used+2*got > tt.budget {
				t.Fatalf("a test of 2×%d bytes would take usage %d past the budget %d", got, tt.used, tt.budget)
			}
		})
	}
}

func TestSchedule(t *testing.T) {
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(1, 2))
	var sum time.Duration
	const n = 2000
	for i := 0; i < n; i++ {
		gap := nextTestAt(now, r).Sub(now)
		if gap < 3*time.Hour || gap >= 9*time.Hour {
			t.Fatalf("gap %s outside 3..9 h", gap)
		}
		sum += gap
	}
	if mean := sum / n; mean < 5*time.Hour+50*time.Minute || mean > 6*time.Hour+10*time.Minute {
		t.Errorf("mean gap %s, want about 6 h", mean)
	}

	tests := []struct {
		name     string
		saved    time.Time
		keep     bool // the saved plan is kept
		from, to time.Duration
	}{
		{"no plan: after the quiet minutes, within a gap", time.Time{}, false, throughputQuiet, throughputQuiet + throughputGap},
		{"plan in 2 h is kept", now.Add(2 * time.Hour), true, 0, 0},
		{"plan exactly at the end of the quiet minutes is kept", now.Add(throughputQuiet), true, 0, 0},
		{"plan inside the quiet minutes moves out", now.Add(3 * time.Minute), false, throughputQuiet, throughputQuiet + throughputGap},
		{"overdue plan (probe was off) spreads", now.Add(-5 * time.Hour), false, throughputQuiet, throughputQuiet + throughputGap},
		{"plan further than any gap (clock moved) is redrawn", now.Add(30 * 24 * time.Hour), false, throughputQuiet, throughputQuiet + throughputGap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := 0; i < 200; i++ {
				got := firstTestAt(now, tt.saved, r)
				if tt.keep {
					if !got.Equal(tt.saved) {
						t.Fatalf("first test %s, want the saved %s", got, tt.saved)
					}
					continue
				}
				if d := got.Sub(now); d < tt.from || d >= tt.to {
					t.Fatalf("first test in %s, want %s..%s", d, tt.from, tt.to)
				}
			}
		})
	}

	for _, ra := range []time.Duration{0, time.Minute, 2 * time.Hour, 1000 * time.Hour} {
		for i := 0; i < 100; i++ {
			d := busyRetryAt(now, ra, r).Sub(now)
			lo, hi := max(10*time.Minute, min(ra, 24*time.Hour)), max(30*time.Minute, min(ra, 24*time.Hour))
			if d < lo || d > hi {
				t.Fatalf("retry after Retry-After %s in %s, want %s..%s", ra, d, lo, hi)
			}
		}
	}
}

func TestThroughputStateFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, throughputStateFile)
	if st, err := loadThroughputState(path); err != nil || st != (throughputState{}) {
		t.Fatalf("missing file: %+v %v, want a fresh state", st, err)
	}
	want := throughputState{Month: "2026-11", Used: 123456789, NextMs: 1795334400000}
	if err := saveThroughputState(path, want); err != nil {
		t.Fatal(err)
	}
	if got, err := loadThroughputState(path); err != nil || got != want {
		t.Fatalf("round trip: %+v %v, want %+v", got, err, want)
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp file left behind: %v", err)
	}
	for name, body := range map[string]string{"garbage": "\x00\x00\x00", "negative": `{"month":"2026-11","used_bytes":-5}`} {
		os.WriteFile(path, []byte(body), 0o600)
		if st, err := loadThroughputState(path); err == nil {
			t.Errorf("%s: loaded %+v, want an error", name, st)
		}
	}
}

func TestUploadBodyStopsAtCapAndDeadline(t *testing.T) {
	b := &uploadBody{data: uploadData(), left: 1_000_003, until: time.Now().Add(time.Hour)}
	n, err := io.Copy(io.Discard, b)
	if err != nil || n != 1_000_003 || b.sent.Load() != n {
		t.Fatalf("copied %d (%v), sent %d; want exactly the cap", n, err, b.sent.Load())
	}
	b = &uploadBody{data: uploadData(), left: 1 << 40, until: time.Now().Add(50 * time.Millisecond)}
	start := time.Now()
	n, _ = io.Copy(io.Discard, b)
	if el := time.Since(start); el > time.Second || n == 0 {
		t.Fatalf("deadline body ran %s for %d bytes", el, n)
	}
}

// specServer speaks the speed-test contract of docs/api.md, so the probe's
// scheduling, budget and spooling can be tested here; the real server
// handler is tested against MeasureThroughput in server/speedtest_test.go.
type specServer struct {
	status     atomic.Int32 // answer instead of testing, when set
	downloaded atomic.Int64
	uploaded   atomic.Int64
	requests   atomic.Int32
}

func (f *specServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if r.Header.Get("Authorization") != "Bearer tok" {
		http.Error(w, `{"error":"missing bearer token"}`, http.StatusUnauthorized)
		return
	}
	if st := int(f.status.Load()); st != 0 {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(st)
		w.Write([]byte(`{"error":"busy"}`))
		return
	}
	switch r.Method {
	case http.MethodGet:
		n, _ := strconv.ParseInt(r.URL.Query().Get("bytes"), 10, 64)
		k, _ := io.Copy(w, io.LimitReader(&uploadBody{data: uploadData(), left: n, until: time.Now().Add(time.Hour)}, n))
		f.downloaded.Add(k)
	case http.MethodPost:
		start := time.Now()
		n, _ := io.Copy(io.Discard, r.Body)
		f.uploaded.Add(n)
		d := time.Since(start)
		json.NewEncoder(w).Encode(map[string]any{"bytes": n, "duration_ms": float64(d.Microseconds()) / 1000, "mbps": float64(n) * 8 / d.Seconds() / 1e6})
	}
}

func testProbe(t *testing.T, server string, budget int64) *Probe {
	t.Helper()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "proc/net"), 0o755)
	b, _ := os.ReadFile("testdata/netdev/openwrt-pppoe-before.txt")
	os.WriteFile(filepath.Join(root, "proc/net/dev"), b, 0o644)
	p, err := New(Config{Server: server, Token: "tok", Village: "33.06.08.2007", Spool: t.TempDir(), Interval: time.Minute,
		Targets: []string{"127.0.0.1"}, Root: root, Count: 1, PingInterval: time.Second, Version: "test",
		SpeedtestBudget: budget, WANInterface: "pppoe-wan"}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.close() })
	return p
}

// spooled returns the throughput samples in the probe's spool.
func spooled(t *testing.T, p *Probe) []jagadesa.Sample {
	t.Helper()
	recs, err := p.spool.Peek(1000, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var out []jagadesa.Sample
	for _, r := range recs {
		var rec record
		if err := json.Unmarshal(r.Payload, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Sample != nil && rec.Sample.Kind == jagadesa.KindThroughput {
			out = append(out, *rec.Sample)
		}
	}
	return out
}

func TestThroughputTestSpendsBudgetAndSpools(t *testing.T) {
	f := &specServer{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	const budget = 4 << 30
	p := testProbe(t, srv.URL, budget)
	path := filepath.Join(p.cfg.Spool, throughputStateFile)
	r := rand.New(rand.NewPCG(3, 4))
	st := throughputState{}
	before := time.Now()
	next := p.throughputTest(context.Background(), &http.Client{}, path, &st, r)
	if d := next.Sub(before); d < 3*time.Hour || d > 9*time.Hour+time.Minute {
		t.Errorf("next test in %s, want 3..9 h", d)
	}
	per := int64(budget / (2 * testsPerMonth))
	if f.downloaded.Load() != per || f.uploaded.Load() != per {
		t.Fatalf("moved %d down, %d up; want %d each way", f.downloaded.Load(), f.uploaded.Load(), per)
	}
	saved, err := loadThroughputState(path)
	if err != nil || saved.Used != 2*per || saved.Month != wibMonth(time.Now()) || saved.NextMs != next.UnixMilli() {
		t.Fatalf("state on disk %+v (%v), want %d used this month and the next test", saved, err, 2*per)
	}
	got := spooled(t, p)
	if len(got) != 2 || got[0].Throughput.Direction != "download" || got[1].Throughput.Direction != "upload" {
		t.Fatalf("spooled %+v, want a download and an upload", got)
	}
	for _, s := range got {
		x := s.Throughput
		if s.Target != ThroughputTarget || x.Bytes != per || x.Mbps <= 0 || x.Interface != "pppoe-wan" || x.Error != "" {
			t.Errorf("sample %+v", x)
		}
		// The fixture's counters do not move: no other traffic.
		if x.OtherMbps != 0 {
			t.Errorf("other_mbps %v with still counters", x.OtherMbps)
		}
		if p := (&jagadesa.Report{Version: 1, Probe: "p-1", Village: "33.06.08.2007", Samples: []jagadesa.Sample{{Seq: 1, TimeMs: s.TimeMs, Kind: s.Kind, Target: s.Target, Throughput: x}}}).Validate(time.Now()); p != nil {
			t.Errorf("sample fails the wire's validation: %v", p)
		}
	}
	select {
	case <-p.wake:
	default:
		t.Error("the uploader was not woken")
	}

	// Budget nearly spent: the next test is capped to what is left.
	st.Used = budget - 12_000_000
	f.downloaded.Store(0)
	f.uploaded.Store(0)
	p.throughputTest(context.Background(), &http.Client{}, path, &st, r)
	if f.downloaded.Load() != 6_000_000 || f.uploaded.Load() != 6_000_000 || st.Used != budget {
		t.Fatalf("capped test moved %d/%d, usage %d; want 6 MB each way and the budget exactly", f.downloaded.Load(), f.uploaded.Load(), st.Used)
	}
	// Spent: skipped without a request.
	reqs := f.requests.Load()
	p.throughputTest(context.Background(), &http.Client{}, path, &st, r)
	if f.requests.Load() != reqs {
		t.Fatal("a test ran with the budget spent")
	}
	if saved, _ := loadThroughputState(path); saved.Used != budget {
		t.Fatalf("usage on disk %d, want %d", saved.Used, budget)
	}
}

func TestThroughputRefusedRetriesSoonAndCostsNothing(t *testing.T) {
	f := &specServer{}
	f.status.Store(http.StatusServiceUnavailable)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	p := testProbe(t, srv.URL, 1<<30)
	st := throughputState{}
	now := time.Now()
	next := p.throughputTest(context.Background(), &http.Client{}, filepath.Join(p.cfg.Spool, throughputStateFile), &st, rand.New(rand.NewPCG(5, 6)))
	if d := next.Sub(now); d < 10*time.Minute || d > 31*time.Minute {
		t.Errorf("retry in %s after a 503, want 10..30 min", d)
	}
	if st.Used != 0 || len(spooled(t, p)) != 0 {
		t.Fatalf("usage %d, %d samples after a refusal; want nothing", st.Used, len(spooled(t, p)))
	}
	_, _, err := MeasureThroughput(context.Background(), ThroughputOptions{Server: srv.URL, Token: "tok", Bytes: 1000})
	var re *ThroughputRefusedError
	if !errors.Is(err, ErrThroughputRefused) || !errors.As(err, &re) || re.Status != 503 || re.RetryAfter != 7*time.Second || re.Message != "busy" {
		t.Fatalf("err %v (%+v), want a 503 refusal with Retry-After 7", err, re)
	}
}

func TestThroughputLoopStopsAndPlansAfterQuietMinutes(t *testing.T) {
	f := &specServer{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	p := testProbe(t, srv.URL, 1<<30)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() { p.throughputLoop(ctx); close(done) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("throughputLoop did not return on cancel")
	}
	if f.requests.Load() != 0 {
		t.Fatal("a test ran right after start")
	}
	st, err := loadThroughputState(filepath.Join(p.cfg.Spool, throughputStateFile))
	if d := time.UnixMilli(st.NextMs).Sub(start); err != nil || d < throughputQuiet || d > throughputQuiet+throughputGap+time.Second {
		t.Fatalf("planned test in %s (%v), want after the quiet minutes", d, err)
	}
	// A restart keeps the plan.
	p2 := testProbe(t, srv.URL, 1<<30)
	p2.cfg.Spool = p.cfg.Spool
	ctx, cancel = context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() { p2.throughputLoop(ctx); close(done) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	<-done
	if st2, _ := loadThroughputState(filepath.Join(p.cfg.Spool, throughputStateFile)); st2.NextMs != st.NextMs {
		t.Fatalf("restart moved the plan from %d to %d", st.NextMs, st2.NextMs)
	}

	// Disabled: no state file at all.
	p3 := testProbe(t, srv.URL, 0)
	p3.throughputLoop(context.Background())
	if _, err := os.Stat(filepath.Join(p3.cfg.Spool, throughputStateFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("budget 0 wrote state: %v", err)
	}
}
