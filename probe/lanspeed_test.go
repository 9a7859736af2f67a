package probe

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
)

var updateLANPage = flag.Bool("update-lan-page", false, "rewrite lanspeed_page.html.gz from lanspeed_page.html")

// minifyLANPage is what the embedded page holds: the source without
// indentation, blank lines and whole-line // comments.
func minifyLANPage(src string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(src, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "//") {
			continue
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// TestLANSpeedPageFresh keeps the embedded, gzipped page in step with its
// source; go test ./probe -run TestLANSpeedPageFresh -update-lan-page
// rewrites it.
func TestLANSpeedPageFresh(t *testing.T) {
	src, err := os.ReadFile("lanspeed_page.html")
	if err != nil {
		t.Fatal(err)
	}
	want := minifyLANPage(string(src))
	if *updateLANPage {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		zw.Write([]byte(want))
		zw.Close()
		if err := os.WriteFile("lanspeed_page.html.gz", b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("lanspeed_page.html.gz rewritten: %d bytes (page %d)", b.Len(), len(want))
		return
	}
	if got := gunzip(t, lanSpeedPage); got != want {
		t.Fatal("lanspeed_page.html.gz is not lanspeed_page.html: go test ./probe -run TestLANSpeedPageFresh -update-lan-page")
	}
	// No outside assets: nothing is loaded from another origin.
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|url\(|@import`).FindString(want); m != "" {
		t.Errorf("the page loads something from outside: %q", m)
	}
	if !strings.Contains(want, `lang="id"`) || !strings.Contains(want, "Mulai uji") {
		t.Error("the page is not the Indonesian speed-test page")
	}
}

func gunzip(t *testing.T, s string) string {
	t.Helper()
	zr, err := gzip.NewReader(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLANVerdict(t *testing.T) {
	wan := func(down, other float64) *lanWAN { return &lanWAN{Down: down, Other: other} }
	for _, c := range []struct {
		name  string
		phone float64
		wan   *lanWAN
		want  string
	}{
		{"no WAN figure", 50, nil, jagadesa.LANVerdictUnknown},
		{"both fine", 60, wan(95, 0), jagadesa.LANVerdictOK},
		{"phone at half the WAN is fine", 47.5, wan(95, 0), jagadesa.LANVerdictOK},
		{"phone under half the WAN", 47, wan(95, 0), jagadesa.LANVerdictWiFi},
		{"WAN under 80% of contract", 5, wan(79, 0), jagadesa.LANVerdictISP},
		{"WAN at 80% of contract", 70, wan(80, 0), jagadesa.LANVerdictOK},
		{"busy village: test plus other traffic meets the contract", 30, wan(50, 40), jagadesa.LANVerdictOK},
		{"busy village, weak phone", 20, wan(50, 40), jagadesa.LANVerdictWiFi},
		{"WAN faster than contract: the phone is judged against the contract", 60, wan(300, 0), jagadesa.LANVerdictOK},
		{"WAN faster than contract, phone under half the contract", 45, wan(300, 0), jagadesa.LANVerdictWiFi},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := lanVerdict(c.phone, c.wan, 100); got != c.want {
				t.Errorf("lanVerdict(%v, %+v, 100) = %s, want %s", c.phone, c.wan, got, c.want)
			}
		})
	}
}

func TestCheckLANSpeedListen(t *testing.T) {
	for addr, ok := range map[string]bool{
		"": true, "192.168.1.1:8099": true, "10.0.0.1:80": true, "172.16.5.1:8099": true, "[fd00::1]:8099": true,
		"[fe80::1%br-lan]:8099": true, "169.254.1.1:8099": true, "127.0.0.1:8099": true,
		":8099": false, "0.0.0.0:8099": false, "[::]:8099": false, "8.8.8.8:8099": false, "100.64.0.1:8099": false,
		"router.lan:8099": false, "192.168.1.1": false, "192.168.1.1:0": false, "192.168.1.1:http": false,
	} {
		if err := CheckLANSpeedListen(addr); (err == nil) != ok {
			t.Errorf("CheckLANSpeedListen(%q) = %v, want ok %v", addr, err, ok)
		}
	}
}

func TestLANClientAndHost(t *testing.T) {
	for remote, ok := range map[string]bool{
		"192.168.1.23:50000": true, "10.1.2.3:1": true, "172.31.255.1:1": true, "169.254.9.9:1": true,
		"[fe80::1]:1": true, "[fd12:3456::1]:1": true, "[::ffff:192.168.1.2]:1": true, "127.0.0.1:1": true,
		"8.8.8.8:1": false, "100.64.0.1:1": false, "172.32.0.1:1": false, "[2001:db8::1]:1": false, "garbage": false, "": false,
	} {
		if lanClient(remote) != ok {
			t.Errorf("lanClient(%q) = %v", remote, !ok)
		}
	}
	for host, ok := range map[string]bool{
		"192.168.1.1:8099": true, "192.168.1.1": true, "[fd00::1]:8099": true, "router": true, "router:8099": true,
		"OpenWrt.lan:8099": true, "desa.home.arpa": true, "router.local.": true,
		"attacker.example.com:8099": false, "192.168.1.1.nip.io": false, "": false,
	} {
		if lanHost(host) != ok {
			t.Errorf("lanHost(%q) = %v", host, !ok)
		}
	}
}

// lanFixture is a lanSpeed with a settable clock, a fake WAN test and the
// records it spooled.
type lanFixture struct {
	l       *lanSpeed
	mu      sync.Mutex
	now     time.Time
	records []jagadesa.Sample
	wanRuns atomic.Int32
	// wanDown, wanUp are the fake WAN test's figures; wanErr fails it.
	wanDown, wanUp float64
	wanErr         error
	wanGate        chan struct{} // when set, the WAN test waits for it
}

func newLANFixture(t *testing.T) *lanFixture {
	t.Helper()
	dir := t.TempDir()
	f := &lanFixture{now: time.Date(2026, 11, 30, 10, 0, 0, 0, wib), wanDown: 92, wanUp: 40}
	f.l = &lanSpeed{daily: DefaultLANSpeedDailyBytes, contract: 100, wanBudget: 4 << 30,
		statePath: filepath.Join(dir, lanStateFile), schedPath: filepath.Join(dir, throughputStateFile),
		log: slog.New(slog.DiscardHandler), now: f.clock}
	f.l.wan = func(ctx context.Context, n int64) ([]jagadesa.Sample, int64, error) {
		f.wanRuns.Add(1)
		if f.wanGate != nil {
			<-f.wanGate
		}
		if f.wanErr != nil {
			return nil, 0, f.wanErr
		}
		at := f.clock()
		down := throughputSample(at, "download", n, time.Second, "")
		down.Throughput.Mbps = f.wanDown
		up := throughputSample(at, "upload", n, time.Second, "")
		up.Throughput.Mbps = f.wanUp
		return []jagadesa.Sample{down, up}, 2 * n, nil
	}
	f.l.record = func(s []jagadesa.Sample) {
		f.mu.Lock()
		f.records = append(f.records, s...)
		f.mu.Unlock()
	}
	f.l.st.roll(f.now)
	return f
}

func (f *lanFixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *lanFixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// lanSpeedRecords are the lan_speedtest records spooled so far.
func (f *lanFixture) lanSpeedRecords() []jagadesa.LANSpeed {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []jagadesa.LANSpeed
	for _, s := range f.records {
		if s.Kind == jagadesa.KindLANSpeed {
			out = append(out, *s.LANSpeed)
		}
	}
	return out
}

// do sends one request from a LAN phone, as the page does.
func (f *lanFixture) do(method, target, body string) *httptest.ResponseRecorder {
	return f.doFrom("192.168.1.23:50123", method, target, body)
}

func (f *lanFixture) doFrom(remote, method, target, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "http://192.168.1.1:8099"+target, strings.NewReader(body))
	r.RemoteAddr = remote
	w := httptest.NewRecorder()
	f.l.ServeHTTP(w, r)
	return w
}

type lanStart struct {
	T         string `json:"t"`
	DownBytes int64  `json:"down_bytes"`
	UpBytes   int64  `json:"up_bytes"`
	Seconds   int    `json:"seconds"`
}

func (f *lanFixture) start(t *testing.T) lanStart {
	t.Helper()
	w := f.do("POST", "/start", "")
	var s lanStart
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &s) != nil || len(s.T) != 32 {
		t.Fatalf("start: %d %s", w.Code, w.Body)
	}
	return s
}

// result posts the phone's figures and returns the answer.
func (f *lanFixture) result(t *testing.T, token string, down, up, rtt float64) map[string]any {
	t.Helper()
	w := f.do("POST", "/result?t="+token, fmt.Sprintf(`{"down_mbps":%v,"up_mbps":%v,"rtt_ms":%v}`, down, up, rtt))
	var out map[string]any
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &out) != nil {
		t.Fatalf("result: %d %s", w.Code, w.Body)
	}
	return out
}

func errorCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var e struct{ Error, Code string }
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
		t.Fatalf("error answer %d %q is not {error, code}: %v", w.Code, w.Body, err)
	}
	return e.Code
}

func TestLANSpeedWholeTest(t *testing.T) {
	f := newLANFixture(t)
	page := f.do("GET", "/", "")
	if page.Code != 200 || page.Header().Get("Content-Encoding") != "gzip" || !strings.HasPrefix(page.Header().Get("Content-Type"), "text/html") ||
		page.Header().Get("Cache-Control") != "no-store" || !strings.Contains(page.Header().Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("GET /: %d %v", page.Code, page.Header())
	}
	if !strings.Contains(gunzip(t, page.Body.String()), "Uji Kecepatan Wi-Fi Desa") {
		t.Error("GET / is not the page")
	}

	s := f.start(t)
	if s.DownBytes != lanTestBytes || s.UpBytes != lanTestBytes || s.Seconds != lanTestSeconds {
		t.Errorf("start %+v", s)
	}
	if w := f.do("GET", "/ping?t="+s.T, ""); w.Code != http.StatusNoContent {
		t.Errorf("ping: %d", w.Code)
	}
	w := f.do("GET", "/down?t="+s.T+"&bytes=1000000", "")
	if w.Code != 200 || w.Body.Len() != 1_000_000 || w.Header().Get("Content-Length") != "1000000" {
		t.Fatalf("down: %d, %d bytes", w.Code, w.Body.Len())
	}
	w = f.do("POST", "/up?t="+s.T, strings.Repeat("x", 500_000))
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"bytes":500000}` {
		t.Fatalf("up: %d %s", w.Code, w.Body)
	}
	// A 30 Mbit/s phone on a 92 Mbit/s link: the Wi-Fi is the weak part.
	out := f.result(t, s.T, 30, 12.5, 4.2)
	if out["verdict"] != jagadesa.LANVerdictWiFi || out["wan_down_mbps"] != 92.0 || out["wan_up_mbps"] != 40.0 || out["contract_mbps"] != 100.0 {
		t.Errorf("result answer %v", out)
	}
	recs := f.lanSpeedRecords()
	if len(recs) != 1 {
		t.Fatalf("%d lan_speedtest records, want 1: %+v", len(recs), f.records)
	}
	r := recs[0]
	if r.DownMbps != 30 || r.UpMbps != 12.5 || r.RTTMs != 4.2 || r.Verdict != jagadesa.LANVerdictWiFi || *r.WANDownMbps != 92 || *r.WANUpMbps != 40 {
		t.Errorf("record %+v", r)
	}
	// The WAN test's own samples are spooled too, and everything passes
	// the server's validation. Nothing personal is in the record: its JSON
	// holds the figures and the verdict only.
	f.mu.Lock()
	samples := append([]jagadesa.Sample(nil), f.records...)
	f.mu.Unlock()
	if len(samples) != 3 {
		t.Fatalf("spooled %d samples, want the WAN download, upload and the villager's test", len(samples))
	}
	for i := range samples {
		samples[i].Seq = uint64(i + 1)
	}
	rep := jagadesa.Report{Version: 1, Probe: "p-1", Village: "33.06.08.2007", Samples: samples}
	if p := rep.Validate(f.now); p != nil {
		t.Errorf("records fail the wire's validation: %v", p)
	}
	b, _ := json.Marshal(samples[2])
	var fields map[string]json.RawMessage
	json.Unmarshal(b, &fields)
	var inner map[string]any
	json.Unmarshal(fields["lan_speedtest"], &inner)
	for k := range inner {
		switch k {
		case "down_mbps", "up_mbps", "rtt_ms", "wan_down_mbps", "wan_up_mbps", "verdict":
		default:
			t.Errorf("the record carries %q", k)
		}
	}
	if bytes.Contains(b, []byte("192.168")) {
		t.Errorf("the record names an address: %s", b)
	}
	// The slot is free again; the budget counts what moved.
	if f.l.sess != nil || f.l.st.LANUsed != 1_500_000 {
		t.Errorf("after the test: session %v, %d bytes used today, want 1500000", f.l.sess, f.l.st.LANUsed)
	}
	saved, err := loadLANState(f.l.statePath)
	if err != nil || saved.LANUsed != 1_500_000 || saved.WANUsed != 2*testBytes(4<<30, throughputState{}) {
		t.Errorf("state on disk %+v (%v)", saved, err)
	}
	// The session is over: its token is refused.
	if w := f.do("GET", "/ping?t="+s.T, ""); w.Code != http.StatusConflict || errorCode(t, w) != "session" {
		t.Errorf("ping after the end: %d %s", w.Code, w.Body)
	}
}

func TestLANSpeedVerdictsAndWAN(t *testing.T) {
	f := newLANFixture(t)
	run := func(down float64) map[string]any {
		t.Helper()
		return f.result(t, f.start(t).T, down, 10, 3)
	}
	if out := run(80); out["verdict"] != jagadesa.LANVerdictOK || f.wanRuns.Load() != 1 {
		t.Errorf("first test: %v, %d WAN tests", out, f.wanRuns.Load())
	}
	// The same minute: the WAN result is reused, not measured again.
	f.advance(50 * time.Second)
	if out := run(20); out["verdict"] != jagadesa.LANVerdictWiFi || f.wanRuns.Load() != 1 {
		t.Errorf("second test in the same minute: %v, %d WAN tests", out, f.wanRuns.Load())
	}
	// A minute later the WAN is measured again, and now it is weak.
	f.advance(15 * time.Second)
	f.wanDown = 35
	if out := run(30); out["verdict"] != jagadesa.LANVerdictISP || out["wan_down_mbps"] != 35.0 || f.wanRuns.Load() != 2 {
		t.Errorf("weak ISP: %v, %d WAN tests", out, f.wanRuns.Load())
	}
	// A WAN test that cannot run: unknown, with no WAN figure.
	f.advance(2 * time.Minute)
	f.wanErr = errors.New("connection refused")
	out := run(30)
	if out["verdict"] != jagadesa.LANVerdictUnknown || out["wan_note"] != "failed" || out["wan_down_mbps"] != nil {
		t.Errorf("failed WAN: %v", out)
	}
	recs := f.lanSpeedRecords()
	if last := recs[len(recs)-1]; last.WANDownMbps != nil || last.WANUpMbps != nil || last.Verdict != jagadesa.LANVerdictUnknown {
		t.Errorf("record without WAN %+v", last)
	}
	// No WAN tests configured.
	f.wanErr = nil
	f.l.wanBudget = 0
	f.advance(2 * time.Minute)
	if out := run(30); out["verdict"] != jagadesa.LANVerdictUnknown || out["wan_note"] != "off" {
		t.Errorf("no WAN budget: %v", out)
	}
}

func TestLANSpeedWANBudget(t *testing.T) {
	f := newLANFixture(t)
	const budget = 1 << 30
	f.l.wanBudget = budget
	per := testBytes(budget, throughputState{})
	// The scheduled tests have used all but a little of the month.
	if err := saveThroughputState(f.l.schedPath, throughputState{Month: wibMonth(f.now), Used: budget - per}); err != nil {
		t.Fatal(err)
	}
	if out := f.result(t, f.start(t).T, 50, 10, 3); out["wan_note"] != "budget" || f.wanRuns.Load() != 0 {
		t.Errorf("month spent by the scheduled tests: %v, %d WAN tests", out, f.wanRuns.Load())
	}
	// Last month's usage does not count.
	saveThroughputState(f.l.schedPath, throughputState{Month: "2026-10", Used: budget})
	f.advance(2 * time.Minute)
	if out := f.result(t, f.start(t).T, 50, 10, 3); out["wan_note"] != nil || f.wanRuns.Load() != 1 {
		t.Errorf("fresh month: %v", out)
	}
	// The villagers' tests stay within a quarter of the budget.
	for i := 0; i < 10; i++ {
		f.advance(2 * time.Minute)
		f.result(t, f.start(t).T, 50, 10, 3)
	}
	if used := f.l.st.WANUsed; used > budget/lanWANShareOfBudget || f.wanRuns.Load() > int32(budget/lanWANShareOfBudget/(2*per)) {
		t.Errorf("villagers' WAN tests used %d bytes in %d tests; at most a quarter of %d", used, f.wanRuns.Load(), budget)
	}
	// An unreadable scheduled state is a spent month.
	os.WriteFile(f.l.schedPath, []byte("{"), 0o600)
	f.l.st.WANUsed = 0
	runs := f.wanRuns.Load()
	f.advance(2 * time.Minute)
	if out := f.result(t, f.start(t).T, 50, 10, 3); out["wan_note"] != "budget" || f.wanRuns.Load() != runs {
		t.Errorf("unreadable scheduled state: %v", out)
	}
}

func TestLANSpeedOneAtATime(t *testing.T) {
	f := newLANFixture(t)
	s := f.start(t)
	w := f.do("POST", "/start", "")
	if w.Code != http.StatusTooManyRequests || errorCode(t, w) != "busy" || w.Header().Get("Retry-After") == "" ||
		!strings.Contains(w.Body.String(), "Sedang ada uji lain") {
		t.Fatalf("second start: %d %s", w.Code, w.Body)
	}
	// Another phone cannot use the first one's test.
	if w := f.do("GET", "/down?t=0123456789abcdef0123456789abcdef&bytes=10", ""); w.Code != http.StatusConflict {
		t.Errorf("down with a wrong token: %d", w.Code)
	}
	// Abandoned (the phone left the page): after lanSessionIdle another may start.
	f.advance(lanSessionIdle - time.Second)
	if w := f.do("POST", "/start", ""); w.Code != http.StatusTooManyRequests {
		t.Errorf("start while the first test is idle %s: %d", lanSessionIdle-time.Second, w.Code)
	}
	f.advance(2 * time.Second)
	s2 := f.start(t)
	if w := f.do("GET", "/ping?t="+s.T, ""); w.Code != http.StatusConflict {
		t.Errorf("the abandoned test's token still works: %d", w.Code)
	}

	// While the WAN is measured for s2, the slot stays taken, however long.
	f.wanGate = make(chan struct{})
	done := make(chan map[string]any)
	go func() { done <- f.result(t, s2.T, 50, 10, 3) }()
	for f.wanRuns.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	f.advance(time.Minute)
	if w := f.do("POST", "/start", ""); w.Code != http.StatusTooManyRequests || errorCode(t, w) != "busy" {
		t.Errorf("start during the WAN test: %d %s", w.Code, w.Body)
	}
	if w := f.do("POST", "/result?t="+s2.T, `{"down_mbps":1,"up_mbps":1,"rtt_ms":1}`); w.Code != http.StatusConflict {
		t.Errorf("a second result for the same test: %d", w.Code)
	}
	close(f.wanGate)
	if out := <-done; out["verdict"] != jagadesa.LANVerdictOK {
		t.Errorf("result %v", out)
	}
	f.start(t) // free again
}

func TestLANSpeedDailyBudget(t *testing.T) {
	f := newLANFixture(t)
	f.l.daily = 5_000_000
	s := f.start(t)
	if s.DownBytes != 2_500_000 {
		t.Fatalf("allowance %d a direction with 5 MB left today, want 2.5 MB", s.DownBytes)
	}
	// The test may move its allowance, in either direction, and no more.
	if w := f.do("GET", "/down?t="+s.T+"&bytes=4000000", ""); w.Code != 200 || w.Body.Len() != 4_000_000 {
		t.Fatalf("down: %d %d", w.Code, w.Body.Len())
	}
	if w := f.do("POST", "/up?t="+s.T, strings.Repeat("x", 1_000_001)); w.Code != http.StatusRequestEntityTooLarge || errorCode(t, w) != "allowance" {
		t.Errorf("up beyond the allowance: %d %s", w.Code, w.Body)
	}
	if w := f.do("GET", "/down?t="+s.T+"&bytes=2000000", ""); w.Code != 200 || w.Body.Len() != 1_000_000 {
		t.Errorf("down of the rest: %d, %d bytes, want the 1 MB left", w.Code, w.Body.Len())
	}
	if w := f.do("GET", "/down?t="+s.T+"&bytes=1", ""); w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("down with nothing left: %d", w.Code)
	}
	f.result(t, s.T, 50, 10, 3)
	w := f.do("POST", "/start", "")
	if w.Code != http.StatusTooManyRequests || errorCode(t, w) != "budget" || !strings.Contains(w.Body.String(), "hari ini sudah habis") {
		t.Errorf("start with the day spent: %d %s", w.Code, w.Body)
	}
	// The budget survives a restart, and a new day (WIB) has a new one.
	st, err := loadLANState(f.l.statePath)
	if err != nil || st.LANUsed != 5_000_000 || st.Day != "2026-11-30" {
		t.Fatalf("saved %+v %v", st, err)
	}
	f.advance(14 * time.Hour) // 00:00 WIB on 1 December
	f.start(t)
}

func TestLANSpeedRefusals(t *testing.T) {
	f := newLANFixture(t)
	for _, remote := range []string{"203.0.113.9:4000", "100.64.3.2:4000", "[2001:db8::5]:4000"} {
		w := f.doFrom(remote, "GET", "/", "")
		if w.Code != http.StatusForbidden || errorCode(t, w) != "not_lan" || !strings.Contains(w.Body.String(), "jaringan desa") {
			t.Errorf("GET / from %s: %d %s", remote, w.Code, w.Body)
		}
		if w := f.doFrom(remote, "POST", "/start", ""); w.Code != http.StatusForbidden {
			t.Errorf("POST /start from %s: %d", remote, w.Code)
		}
	}
	// DNS rebinding: a public name pointing at the router.
	r := httptest.NewRequest("POST", "http://evil.example.com:8099/start", nil)
	r.RemoteAddr = "192.168.1.23:5000"
	w := httptest.NewRecorder()
	f.l.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden || errorCode(t, w) != "host" {
		t.Errorf("rebound host: %d %s", w.Code, w.Body)
	}
	// Another web site's page, through the phone.
	r = httptest.NewRequest("POST", "http://192.168.1.1:8099/start", nil)
	r.RemoteAddr = "192.168.1.23:5000"
	r.Header.Set("Origin", "https://evil.example.com")
	w = httptest.NewRecorder()
	f.l.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden || errorCode(t, w) != "origin" {
		t.Errorf("cross-origin start: %d %s", w.Code, w.Body)
	}
	if f.l.sess != nil {
		t.Fatal("a refused request started a test")
	}
	for _, c := range []struct {
		method, target, body string
		status               int
	}{
		{"GET", "/start", "", http.StatusMethodNotAllowed},
		{"POST", "/", "", http.StatusMethodNotAllowed},
		{"PUT", "/up", "", http.StatusMethodNotAllowed},
		{"GET", "/nothing", "", http.StatusNotFound},
		{"GET", "/down?bytes=10", "", http.StatusConflict},
		{"GET", "/down?t=x&bytes=-1", "", http.StatusBadRequest},
		{"POST", "/result?t=x", `{}`, http.StatusConflict},
	} {
		if w := f.do(c.method, c.target, c.body); w.Code != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.target, w.Code, c.status)
		}
	}
	s := f.start(t)
	for _, body := range []string{`{"down_mbps":-1,"up_mbps":1,"rtt_ms":1}`, `{"down_mbps":1e9,"up_mbps":1,"rtt_ms":1}`,
		`{"down_mbps":1,"up_mbps":1,"rtt_ms":99999}`, `not json`, `{"down_mbps":1,"up_mbps":1,"rtt_ms":1` + strings.Repeat(" ", 2000) + `}`} {
		if w := f.do("POST", "/result?t="+s.T, body); w.Code != http.StatusBadRequest {
			t.Errorf("result %.40q: %d", body, w.Code)
		}
	}
	if len(f.lanSpeedRecords()) != 0 {
		t.Error("a refused result was recorded")
	}
	if !validPhone(&jagadesa.LANSpeed{DownMbps: 1, UpMbps: 1, RTTMs: 1}) || validPhone(&jagadesa.LANSpeed{DownMbps: math.NaN()}) {
		t.Error("validPhone")
	}
}

// startLANServer serves h with the probe's own HTTP server on loopback.
func startLANServer(t *testing.T, h http.Handler, maxConns int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := &lanHTTPServer{Handler: h, MaxConns: maxConns, MaxHeaderBytes: 8 << 10,
		HeaderTimeout: 2 * time.Second, IdleTimeout: 5 * time.Second, IOTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Error("the LAN server did not stop within 2 s of its context ending")
		}
	})
	return ln.Addr().String()
}

// TestLANHTTPServer runs the page's flow through the probe's own server
// with net/http's client, as a browser would.
func TestLANHTTPServer(t *testing.T) {
	f := newLANFixture(t)
	addr := startLANServer(t, f.l, 4)
	base := "http://" + addr
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body) // net/http's transport gunzips it
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(page, []byte("Mulai uji")) {
		t.Fatalf("GET /: %d %.100s", resp.StatusCode, page)
	}
	resp, err = c.Post(base+"/start", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var s lanStart
	json.NewDecoder(resp.Body).Decode(&s)
	resp.Body.Close()
	// The pings reuse one kept-alive connection.
	reused := 0
	for i := 0; i < 5; i++ {
		req, _ := http.NewRequest("GET", base+"/ping?t="+s.T, nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
			if i.Reused {
				reused++
			}
		}}))
		resp, err := c.Do(req)
		if err != nil || resp.StatusCode != http.StatusNoContent {
			t.Fatalf("ping: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	if reused < 4 {
		t.Errorf("%d of 5 pings reused the connection", reused)
	}
	resp, err = c.Get(base + "/down?t=" + s.T + "&bytes=3000000")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n != 3_000_000 {
		t.Errorf("downloaded %d bytes", n)
	}
	resp, err = c.Post(base+"/up?t="+s.T, "application/octet-stream", bytes.NewReader(make([]byte, 2_000_000)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != `{"bytes":2000000}` {
		t.Errorf("up: %d %s", resp.StatusCode, b)
	}
	resp, err = c.Post(base+"/result?t="+s.T, "application/json", strings.NewReader(`{"down_mbps":200,"up_mbps":150,"rtt_ms":1.5}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"verdict":"ok"`) {
		t.Errorf("result: %d %s", resp.StatusCode, b)
	}
	if len(f.lanSpeedRecords()) != 1 {
		t.Error("no record")
	}
}

// TestLANHTTPServerRefusesBadRequests sends what a browser never does.
func TestLANHTTPServerRefusesBadRequests(t *testing.T) {
	f := newLANFixture(t)
	addr := startLANServer(t, f.l, 2)
	raw := func(req string) string {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		io.WriteString(c, req)
		b, _ := io.ReadAll(c)
		return string(b)
	}
	for _, c := range []struct{ name, req, status string }{
		{"garbage", "hello\r\n\r\n", "HTTP/1.1 400 "},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "HTTP/1.1 400 "},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 "},
		{"chunked body", "POST /up?t=x HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "HTTP/1.1 501 "},
		{"two lengths", "POST /up HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "HTTP/1.1 400 "},
		{"huge header", "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX: " + strings.Repeat("a", 9<<10) + "\r\n\r\n", "HTTP/1.1 431 "},
		{"HTTP/1.0 closes", "GET /nothing HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", "HTTP/1.1 404 "},
	} {
		got := raw(c.req)
		if !strings.HasPrefix(got, c.status) {
			t.Errorf("%s: answered %.80q, want %q", c.name, got, c.status)
		}
		if !strings.Contains(got, "Connection: close") {
			t.Errorf("%s: the connection is not closed: %.200q", c.name, got)
		}
	}
	// Connections beyond MaxConns are closed at once; the page's own go on.
	time.Sleep(100 * time.Millisecond) // the connections above release their slots
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	time.Sleep(100 * time.Millisecond)
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	extra.SetDeadline(time.Now().Add(2 * time.Second))
	if n, err := extra.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a third connection with MaxConns 2 stayed open: %d %v", n, err)
	}
	extra.Close()
	for _, c := range held {
		c.Close()
	}
	// An idle connection does not hold shutdown (startLANServer's cleanup).
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idle.Close() })
}

// TestLANSpeedLoopSpools runs the page from a real Probe: its WAN test
// against a speed-test server, its records in the probe's spool.
func TestLANSpeedLoopSpools(t *testing.T) {
	fs := &specServer{}
	srv := httptest.NewServer(fs)
	t.Cleanup(srv.Close)
	p := testProbe(t, srv.URL, 4<<30)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.cfg.LANSpeedListen = ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.lanSpeedLoop(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	base := "http://" + p.cfg.LANSpeedListen
	var resp *http.Response
	for i := 0; ; i++ {
		if resp, err = http.Post(base+"/start", "", nil); err == nil {
			break
		}
		if i > 50 {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var s lanStart
	json.NewDecoder(resp.Body).Decode(&s)
	resp.Body.Close()
	resp, err = http.Post(base+"/result?t="+s.T, "application/json", strings.NewReader(`{"down_mbps":3,"up_mbps":2,"rtt_ms":80}`))
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	// Loopback is far faster than the contract: a 3 Mbit/s phone is weak Wi-Fi.
	if out["verdict"] != jagadesa.LANVerdictWiFi {
		t.Fatalf("result %v", out)
	}
	per := testBytes(4<<30, throughputState{})
	if fs.downloaded.Load() != per || fs.uploaded.Load() == 0 {
		t.Errorf("the WAN test moved %d down, %d up; want %d down", fs.downloaded.Load(), fs.uploaded.Load(), per)
	}
	if got := spooled(t, p); len(got) != 2 {
		t.Errorf("%d throughput samples spooled, want the WAN test's 2", len(got))
	}
	recs, _ := p.spool.Peek(1000, 1<<20)
	var lan []jagadesa.LANSpeed
	for _, r := range recs {
		var rec record
		json.Unmarshal(r.Payload, &rec)
		if rec.Sample != nil && rec.Sample.Kind == jagadesa.KindLANSpeed {
			lan = append(lan, *rec.Sample.LANSpeed)
		}
	}
	if len(lan) != 1 || lan[0].Verdict != jagadesa.LANVerdictWiFi || lan[0].WANDownMbps == nil || lan[0].DownMbps != 3 {
		t.Errorf("lan_speedtest records in the spool: %+v", lan)
	}
	select {
	case <-p.wake:
	default:
		t.Error("the uploader was not woken")
	}
}

// TestLANSpeedLoopRefusesAPublicAddress: the page is never served beyond
// the LAN, whatever the configuration says.
func TestLANSpeedLoopRefusesAPublicAddress(t *testing.T) {
	p := testProbe(t, "http://127.0.0.1:1", 0)
	p.cfg.LANSpeedListen = "0.0.0.0:8099"
	done := make(chan struct{})
	go func() { p.lanSpeedLoop(context.Background()); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("lanSpeedLoop served on every interface")
	}
}

// TestLANSpeedStateUnreadable: usage that cannot be read is taken as spent,
// as the scheduled tests do, until the next day (LAN) and month (WAN).
func TestLANSpeedStateUnreadable(t *testing.T) {
	p := testProbe(t, "http://127.0.0.1:1", 4<<30)
	if err := os.WriteFile(filepath.Join(p.cfg.Spool, lanStateFile), []byte("{torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := p.newLANSpeed(context.Background())
	if l.st.LANUsed != DefaultLANSpeedDailyBytes || l.st.WANUsed != 4<<30 || l.st.Day != time.Now().In(wib).Format(time.DateOnly) {
		t.Fatalf("state %+v, want today's and this month's budgets spent", l.st)
	}
	if l.contract != DefaultContractMbps {
		t.Errorf("contract %v, want the default", l.contract)
	}
	r := httptest.NewRequest("POST", "http://192.168.1.1:8099/start", nil)
	r.RemoteAddr = "192.168.1.9:1000"
	w := httptest.NewRecorder()
	l.ServeHTTP(w, r)
	if w.Code != http.StatusTooManyRequests || errorCode(t, w) != "budget" {
		t.Errorf("start with the budget unknown: %d %s", w.Code, w.Body)
	}
}
