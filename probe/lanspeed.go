package probe

import (
	"context"
	crand "crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/internal/fsutil"
)

// The villagers' speed test (issue 14, item 6). The probe serves a small
// page on the village LAN (lanspeed_page.html, no outside assets) that
// measures a phone's latency, download and upload to the probe; the probe
// then measures its own WAN link in the same minute and judges which of the
// two is weak. The result goes to the server as a lan_speedtest record:
// numbers and a verdict, nothing about the phone or its owner.
//
// The page's requests:
//
//	GET  /                  the page
//	POST /start             takes the one test slot: {"t", "down_bytes", "up_bytes", "seconds"}
//	GET  /ping?t=           latency (204)
//	GET  /down?t=&bytes=N   N bytes to download, within the test's allowance
//	POST /up?t=             a body of at most the allowance: {"bytes"}
//	POST /result?t=         the phone's figures; the WAN test and the verdict
//
// Bounds: one test at a time (another /start gets 429 until the first ends
// or is abandoned for lanSessionIdle), a daily byte budget for /down and
// /up together, requests only from private LAN addresses (403 otherwise),
// only for a Host that is an address or a local name (no DNS rebinding),
// and cross-origin requests refused.
const (
	// DefaultLANSpeedDailyBytes is the default day's budget for /down and
	// /up (the flag's 2000 MB): LAN bytes cost no money, but Wi-Fi air time
	// is shared, so a page left reloading must not hold it all day. It is
	// some 35 tests.
	DefaultLANSpeedDailyBytes = 2000 << 20
	// DefaultContractMbps is the village link's contracted download when
	// the configuration does not say: the province's 100 Mbit/s.
	DefaultContractMbps = 100

	// LANVerdictISPShare: the WAN (the test plus the village's other
	// traffic meanwhile) delivering less than this share of the contract
	// is the ISP's fault — the server's breach threshold (80 %).
	LANVerdictISPShare = 0.8
	// LANVerdictWiFiShare: a phone downloading less than this share of
	// what the WAN gives (at most the contract: a faster WAN is more than
	// a villager is promised) has a weak Wi-Fi or LAN.
	LANVerdictWiFiShare = 0.5

	// lanTestBytes is the most each direction of one phone test moves: 6 s
	// at 40 Mbit/s, under a second on good 802.11ac; the page stops on
	// time first on a slow Wi-Fi.
	lanTestBytes = 30_000_000
	// lanTestSeconds bounds each direction on the page.
	lanTestSeconds = 6
	// lanMinBytes is the smallest allowance worth a test; with less of the
	// day's budget left, tests are refused until tomorrow.
	lanMinBytes = 2_000_000
	// lanSessionIdle is how long a test may go without a request before
	// another phone may take the slot; lanSessionMax bounds a test whole.
	lanSessionIdle = 20 * time.Second
	lanSessionMax  = 3 * time.Minute
	// lanWANFresh is how old a WAN result may be and still count as "the
	// same minute".
	lanWANFresh = time.Minute
	// lanWANDuration bounds each direction of the WAN test a villager's
	// test asks for: shorter than the scheduled tests' 8 s, since someone
	// is waiting.
	lanWANDuration = 5 * time.Second
	// lanWANShareOfBudget: WAN tests asked for by villagers may use at most
	// this fraction (1/4) of the monthly speed-test budget.
	lanWANShareOfBudget = 4
	// lanResultMaxBytes bounds the /result body.
	lanResultMaxBytes = 1 << 10
	// lanStateFile keeps the day's LAN usage and the month's WAN usage of
	// villagers' tests in the spool directory.
	lanStateFile = "lanspeed.json"
)

// lanSpeedPage is lanspeed_page.html without indentation and comment
// lines, gzipped: 3 KB of flash instead of 8. After editing the page, run
// go test ./probe -run TestLANSpeedPageFresh -update-lan-page (the test
// fails while it is stale). It is served gzipped to every client: every
// browser takes gzip.
//
//go:embed lanspeed_page.html.gz
var lanSpeedPage string

// CheckLANSpeedListen checks a --lan-speedtest-listen address: empty (off),
// or a private LAN address of the router and a port. Every interface
// (":8099", "0.0.0.0") is refused because it includes the WAN, where an
// ISP's private (CGNAT or modem) network could reach the page.
func CheckLANSpeedListen(addr string) error {
	if addr == "" {
		return nil
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || ap.Port() == 0 || !lanAddr(ap.Addr()) {
		return fmt.Errorf("--lan-speedtest-listen %q: want a private LAN address of the router and a port, like 192.168.1.1:8099", addr)
	}
	return nil
}

// lanAddr reports whether ip is on a LAN: RFC 1918, IPv6 ULA (fc00::/7),
// link-local, or the router itself. CGNAT (100.64/10) is not: it is the
// ISP's side.
func lanAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLoopback()
}

// lanClient reports whether a request's remote address is on the LAN.
func lanClient(remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	return err == nil && lanAddr(ap.Addr())
}

// lanHost reports whether a request's Host names the router the way a
// villager reaches it: an IP address, or a local name (one label, or under
// .lan, .local, .home.arpa). A public name would be a web page's DNS
// rebinding, reaching the page through the phone.
func lanHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if host == "" {
		return false
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	host = strings.ToLower(host)
	if !strings.Contains(host, ".") {
		return true
	}
	for _, suffix := range []string{".lan", ".local", ".home.arpa"} {
		if strings.HasSuffix(host, suffix) {
			return true
		}
	}
	return false
}

// lanVerdict judges a villager's test. No WAN figure: unknown. The WAN
// (its download plus the village's other traffic meanwhile, as the server
// judges the contract) under 80 % of the contract: the ISP. The phone
// under half of the WAN's download (at most the contract): the Wi-Fi or
// LAN. Otherwise ok. A weak ISP wins over a weak Wi-Fi: the phone cannot
// get more than the link gives.
func lanVerdict(phoneDown float64, wan *lanWAN, contract float64) string {
	switch {
	case wan == nil:
		return jagadesa.LANVerdictUnknown
	case wan.Down+wan.Other < LANVerdictISPShare*contract:
		return jagadesa.LANVerdictISP
	case phoneDown < LANVerdictWiFiShare*min(wan.Down, contract):
		return jagadesa.LANVerdictWiFi
	}
	return jagadesa.LANVerdictOK
}

// noEq makes a struct incomparable, so that the compiler emits no
// equality function for it: some 300 bytes of flash each on MIPS.
type noEq [0]func()

// lanWAN is a WAN test's result as a villager's test uses it.
type lanWAN struct {
	_     noEq
	At    time.Time
	Down  float64
	Up    *float64 // nil: the upload did not complete
	Other float64  // the village's other download traffic meanwhile
}

// wanFunc runs one WAN throughput test of at most bytes a direction.
type wanFunc func(ctx context.Context, bytes int64) (samples []jagadesa.Sample, used int64, err error)

// lanState is what survives a restart: the day's LAN bytes and the
// month's WAN bytes of villagers' tests. Rewritten whole (fsutil).
type lanState struct {
	_       noEq
	Day     string `json:"day"`            // WIB date of LANUsed, "2026-11-30"
	LANUsed int64  `json:"lan_used_bytes"` // /down and /up bytes that day
	Month   string `json:"month"`          // WIB month of WANUsed
	WANUsed int64  `json:"wan_used_bytes"` // WAN test bytes villagers' tests used that month
}

// roll starts a new day's and month's count; a clock that went back keeps
// the newer ones (as throughputState.roll).
func (st *lanState) roll(now time.Time) {
	d := now.In(wib).Format(time.DateOnly)
	if d > st.Day {
		st.Day, st.LANUsed = d, 0
	}
	if d[:7] > st.Month {
		st.Month, st.WANUsed = d[:7], 0
	}
}

// lanSession is the one test running.
type lanSession struct {
	_       noEq
	token   string
	started time.Time
	last    time.Time // of its latest request
	active  int       // requests in progress
	left    int64     // bytes it may still move, both directions
	judging bool      // /result arrived: the WAN test runs
}

// lanSpeed serves the page and its requests (an http.Handler).
type lanSpeed struct {
	daily     int64   // LAN bytes a day
	contract  float64 // Mbit/s
	wanBudget int64   // the monthly speed-test budget (Config.SpeedtestBudget); 0: no WAN tests
	statePath string  // lanStateFile
	schedPath string  // the scheduled tests' state (throughputStateFile), read for their usage
	wan       wanFunc // nil: no WAN tests
	record    func(samples []jagadesa.Sample)
	log       *slog.Logger
	now       func() time.Time
	base      context.Context // bounds the WAN tests; nil: Background

	saveMu sync.Mutex // orders state writes; never held with mu
	mu     sync.Mutex
	st     lanState
	sess   *lanSession
	last   *lanWAN
}

var _ http.Handler = (*lanSpeed)(nil)

// ServeHTTP checks who asks, then routes.
func (l *lanSpeed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Canonical keys assigned directly: Set's canonicalising costs flash.
	h["Cache-Control"] = []string{"no-store"}
	switch {
	case !lanClient(r.RemoteAddr):
		lanError(w, http.StatusForbidden, "not_lan", "Uji kecepatan ini hanya untuk perangkat di jaringan desa (LAN).")
		return
	case !lanHost(r.Host):
		lanError(w, http.StatusForbidden, "host", "Buka halaman ini dengan alamat IP router.")
		return
	case r.Header.Get("Origin") != "" && r.Header.Get("Origin") != "http://"+r.Host:
		lanError(w, http.StatusForbidden, "origin", "Permintaan dari halaman lain ditolak.")
		return
	}
	post := r.URL.Path == "/start" || r.URL.Path == "/up" || r.URL.Path == "/result"
	if (post && r.Method != http.MethodPost) || (!post && r.Method != http.MethodGet) {
		lanError(w, http.StatusMethodNotAllowed, "method", "method not allowed")
		return
	}
	switch r.URL.Path {
	case "/":
		h["Content-Encoding"] = []string{"gzip"} // every browser takes it; curl needs --compressed
		h["Content-Type"] = []string{"text/html; charset=utf-8"}
		h["Content-Security-Policy"] = []string{"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'"}
		h["Content-Length"] = []string{strconv.Itoa(len(lanSpeedPage))}
		_, _ = io.WriteString(w, lanSpeedPage)
	case "/start":
		l.start(w)
	case "/ping":
		s, _ := l.enter(r, 0)
		if s == nil {
			lanNoSession(w)
			return
		}
		l.leave(s, 0)
		w.WriteHeader(http.StatusNoContent)
	case "/down":
		l.down(w, r)
	case "/up":
		l.up(w, r)
	case "/result":
		l.result(w, r)
	default:
		lanError(w, http.StatusNotFound, "not_found", "Halaman tidak ada.")
	}
}

// lanError answers {"error": msg, "code": code}. Both are the probe's own
// constants, with nothing JSON would escape.
func lanError(w http.ResponseWriter, status int, code, msg string) {
	lanJSON(w, status, `{"error":"`+msg+`","code":"`+code+`"}`)
}

// lanJSON answers with a JSON body, written by hand for the small answers
// (encoding/json would cost a type descriptor each).
func lanJSON(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func lanNoSession(w http.ResponseWriter) {
	lanError(w, http.StatusConflict, "session", "Sesi uji sudah berakhir; tekan Mulai uji lagi.")
}

// expired reports whether s may be taken over: abandoned (no request for
// lanSessionIdle) or running too long, and not in the middle of a request
// or of its WAN test.
func (s *lanSession) expired(now time.Time) bool {
	return !s.judging && s.active == 0 && (now.Sub(s.last) > lanSessionIdle || now.Sub(s.started) > lanSessionMax)
}

// start takes the test slot: refused while another test runs or when the
// day's budget is spent.
func (l *lanSpeed) start(w http.ResponseWriter) {
	now := l.now()
	var b [16]byte
	_, _ = crand.Read(b[:])
	s := &lanSession{token: hex.EncodeToString(b[:]), started: now, last: now}
	l.mu.Lock()
	busy := l.sess != nil && !l.sess.expired(now)
	l.st.roll(now)
	s.left = min(2*lanTestBytes, l.daily-l.st.LANUsed)
	if !busy && s.left >= lanMinBytes {
		l.sess = s
	}
	l.mu.Unlock()
	switch {
	case busy:
		w.Header().Set("Retry-After", "60")
		lanError(w, http.StatusTooManyRequests, "busy", "Sedang ada uji lain dari perangkat lain. Tunggu sekitar satu menit, lalu coba lagi.")
	case s.left < lanMinBytes:
		lanError(w, http.StatusTooManyRequests, "budget", "Kuota uji kecepatan hari ini sudah habis. Coba lagi besok.")
	default:
		n := strconv.FormatInt(s.left/2, 10) // each direction
		lanJSON(w, http.StatusOK, `{"t":"`+s.token+`","down_bytes":`+n+`,"up_bytes":`+n+`,"seconds":`+strconv.Itoa(lanTestSeconds)+`}`)
	}
}

// enter finds the running test r belongs to (its ?t=), counts r as in
// progress and takes up to want bytes of the test's and the day's
// allowance for it; nil when r belongs to no running test. leave ends r,
// giving back the bytes it did not move.
func (l *lanSpeed) enter(r *http.Request, want int64) (*lanSession, int64) {
	t := queryValue(r.URL.RawQuery, "t")
	now := l.now()
	l.mu.Lock()
	s := l.sess
	if s == nil || s.judging || t != s.token || s.expired(now) {
		l.mu.Unlock()
		return nil, 0
	}
	l.st.roll(now)
	n := max(min(want, s.left, l.daily-l.st.LANUsed), 0)
	s.left -= n
	l.st.LANUsed += n
	s.active++
	s.last = now
	l.mu.Unlock()
	return s, n
}

func (l *lanSpeed) leave(s *lanSession, unused int64) {
	l.mu.Lock()
	s.active--
	s.left += unused
	l.st.LANUsed = max(l.st.LANUsed-unused, 0)
	s.last = l.now()
	l.mu.Unlock()
}

// down sends ?bytes= bytes (at most what the test has left) of random data.
func (l *lanSpeed) down(w http.ResponseWriter, r *http.Request) {
	want, err := strconv.ParseInt(queryValue(r.URL.RawQuery, "bytes"), 10, 64)
	if err != nil || want < 1 {
		lanError(w, http.StatusBadRequest, "bytes", "bytes must be a positive number")
		return
	}
	s, n := l.enter(r, want)
	if s == nil {
		lanNoSession(w)
		return
	}
	var sent int64
	defer func() { l.leave(s, n-sent) }()
	if n == 0 {
		lanSpent(w)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	data := uploadData() // random, so nothing on the way can compress it
	for off := 0; sent < n; {
		k, err := w.Write(data[off:min(int64(len(data)), int64(off)+n-sent)])
		sent += int64(k)
		off = (off + k) % len(data)
		if err != nil || r.Context().Err() != nil {
			return
		}
	}
}

func lanSpent(w http.ResponseWriter) {
	lanError(w, http.StatusRequestEntityTooLarge, "allowance", "Batas data uji ini sudah terpakai.")
}

// up reads a body of at most what the test has left.
func (l *lanSpeed) up(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength < 0 {
		lanError(w, http.StatusLengthRequired, "length", "Content-Length required")
		return
	}
	s, n := l.enter(r, r.ContentLength)
	if s == nil {
		lanNoSession(w)
		return
	}
	if n < r.ContentLength {
		l.leave(s, n)
		lanSpent(w)
		return
	}
	got, err := discard(io.LimitReader(r.Body, n))
	l.leave(s, n-got)
	if err != nil {
		lanError(w, http.StatusBadRequest, "body", "upload broke off")
		return
	}
	lanJSON(w, http.StatusOK, `{"bytes":`+strconv.FormatInt(got, 10)+`}`)
}

// validPhone checks the page's figures.
func validPhone(p *jagadesa.LANSpeed) bool {
	// Written so that NaN fails every comparison.
	return p.DownMbps >= 0 && p.DownMbps <= 100000 && p.UpMbps >= 0 && p.UpMbps <= 100000 && p.RTTMs >= 0 && p.RTTMs <= 60000
}

// result takes the phone's figures, gets the WAN's of the same minute,
// spools the record and answers with the verdict. The test keeps the slot
// until then.
func (l *lanSpeed) result(w http.ResponseWriter, r *http.Request) {
	s, _ := l.enter(r, 0)
	if s == nil {
		lanNoSession(w)
		return
	}
	// The page sends down_mbps, up_mbps and rtt_ms; the rest is the
	// probe's to fill.
	var rec jagadesa.LANSpeed
	err := json.NewDecoder(io.LimitReader(r.Body, lanResultMaxBytes)).Decode(&rec)
	if err != nil || !validPhone(&rec) {
		l.leave(s, 0)
		lanError(w, http.StatusBadRequest, "result", "bad result")
		return
	}
	l.mu.Lock()
	s.judging = true
	l.mu.Unlock()

	wan, note := l.wanResult()
	rec.Verdict, rec.WANDownMbps, rec.WANUpMbps = lanVerdict(rec.DownMbps, wan, l.contract), nil, nil
	if wan != nil {
		rec.WANDownMbps, rec.WANUpMbps = &wan.Down, wan.Up
	}
	l.record([]jagadesa.Sample{{TimeMs: l.now().UnixMilli(), Kind: jagadesa.KindLANSpeed, LANSpeed: &rec}})
	// Numbers only: no address, no device.
	l.log.Info("villager's speed test", "verdict", rec.Verdict, "wan_note", note)
	l.mu.Lock()
	l.sess = nil
	st := l.st
	l.mu.Unlock()
	_ = l.save(st)
	b, _ := json.Marshal(lanResult{LANSpeed: rec, ContractMbps: l.contract, WANNote: note})
	lanJSON(w, http.StatusOK, string(b))
}

// lanResult is /result's answer: the record, and what the page needs to
// explain it.
type lanResult struct {
	_ noEq
	jagadesa.LANSpeed
	ContractMbps float64 `json:"contract_mbps"`
	// WANNote says why there is no WAN figure: "off", "budget", "failed".
	WANNote string `json:"wan_note,omitempty"`
}

// queryValue is key's raw value in a query: the page's values (a hex
// token, a number) need no unescaping.
func queryValue(query, key string) string {
	for query != "" {
		var kv string
		kv, query, _ = strings.Cut(query, "&")
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v
		}
	}
	return ""
}

// wanResult is the WAN's figure for a villager's test: the last one if it
// is of the same minute, else a short test now if the month's budget
// allows. note says why there is none: "off" (no WAN tests configured),
// "budget" (the month's is spent), "failed" (the test did not run or broke
// off).
func (l *lanSpeed) wanResult() (*lanWAN, string) {
	now := l.now()
	l.mu.Lock()
	if w := l.last; w != nil && now.Sub(w.At) >= 0 && now.Sub(w.At) < lanWANFresh {
		c := *w
		l.mu.Unlock()
		return &c, ""
	}
	l.mu.Unlock()
	if l.wan == nil || l.wanBudget <= 0 {
		return nil, "off"
	}
	per, ok := l.reserveWAN(now)
	if !ok {
		return nil, "budget"
	}
	ctx := l.base
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, 2*(lanWANDuration+throughputSlack))
	defer cancel()
	samples, used, err := l.wan(ctx, per)
	l.mu.Lock()
	l.st.WANUsed = max(l.st.WANUsed-2*per+used, 0)
	st := l.st
	l.mu.Unlock()
	l.save(st)
	if len(samples) > 0 {
		l.record(samples) // the WAN test is a measurement like any scheduled one
	}
	if err != nil {
		l.log.Warn("villager's WAN test", "err", err)
	}
	// MeasureThroughput gives the download first, then the upload; a
	// direction that broke off (Error) is no figure.
	if len(samples) == 0 || samples[0].Throughput.Error != "" {
		return nil, "failed"
	}
	res := &lanWAN{At: now, Down: samples[0].Throughput.Mbps, Other: samples[0].Throughput.OtherMbps}
	if len(samples) > 1 && samples[1].Throughput.Error == "" {
		res.Up = &samples[1].Throughput.Mbps
	}
	l.mu.Lock()
	l.last = res
	l.mu.Unlock()
	c := *res
	return &c, ""
}

// reserveWAN charges a WAN test to the month before it runs (a power cut
// mid-test over-counts, never under-counts). The test has the scheduled
// tests' size (testBytes) and runs only while the scheduled tests' usage,
// read from their state file, plus the villagers' leaves room for it, and
// the villagers' tests stay within their quarter of the budget. The
// scheduled loop reads this file's month of WAN usage too (throughput.go),
// so the two together stay within the budget.
func (l *lanSpeed) reserveWAN(now time.Time) (int64, bool) {
	sched, err := loadThroughputState(l.schedPath)
	if err != nil {
		return 0, false // usage unknown: the scheduled loop assumes it spent, so do we
	}
	sched.roll(now)
	l.mu.Lock()
	l.st.roll(now)
	per := testBytes(l.wanBudget, throughputState{Used: sched.Used + l.st.WANUsed})
	per = min(per, (l.wanBudget/lanWANShareOfBudget-l.st.WANUsed)/2)
	if per < minThroughputBytes {
		l.mu.Unlock()
		return 0, false
	}
	l.st.WANUsed += 2 * per
	st := l.st
	l.mu.Unlock()
	if err := l.save(st); err != nil {
		l.mu.Lock()
		l.st.WANUsed = max(l.st.WANUsed-2*per, 0)
		l.mu.Unlock()
		return 0, false // without the reservation on disk, no test
	}
	return per, true
}

// save writes the state; errors are logged and returned.
func (l *lanSpeed) save(st lanState) error {
	l.saveMu.Lock()
	defer l.saveMu.Unlock()
	b, err := json.Marshal(st)
	if err == nil {
		err = fsutil.WriteFileAtomic(l.statePath, b, 0o600)
	}
	if err != nil {
		l.log.Error("LAN speed-test state not saved", "err", err)
	}
	return err
}

// loadLANState reads the state file; a missing file is a fresh state.
func loadLANState(path string) (st lanState, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err == nil && (st.LANUsed < 0 || st.WANUsed < 0) {
		err = errors.New("negative usage")
	}
	return st, err
}

// newLANSpeed builds the handler from the probe's configuration.
func (p *Probe) newLANSpeed(ctx context.Context) *lanSpeed {
	l := &lanSpeed{
		daily: p.cfg.LANSpeedDailyBytes, contract: float64(p.cfg.LANSpeedContractMbps), wanBudget: p.cfg.SpeedtestBudget,
		statePath: filepath.Join(p.cfg.Spool, lanStateFile), schedPath: filepath.Join(p.cfg.Spool, throughputStateFile),
		log: p.log, now: time.Now, base: ctx,
	}
	if l.daily <= 0 {
		l.daily = DefaultLANSpeedDailyBytes
	}
	if l.contract <= 0 {
		l.contract = DefaultContractMbps
	}
	now := l.now()
	st, err := loadLANState(l.statePath)
	if err != nil {
		// Usage unknown: assume the day's and the month's shares spent, as
		// the scheduled tests do.
		p.log.Error("LAN speed-test state unreadable; budget assumed spent", "err", err)
		st = lanState{}
		st.roll(now)
		st.LANUsed, st.WANUsed = l.daily, l.wanBudget
	}
	st.roll(now)
	l.st = st
	client := &HTTPClient{TLSConfig: p.client.TLSConfig} // each request bounded by its context
	l.wan = func(ctx context.Context, bytes int64) ([]jagadesa.Sample, int64, error) {
		iface := p.cfg.WANInterface
		if iface == "" {
			_, iface = defaultRoute(p.cfg.Root)
		}
		return MeasureThroughput(ctx, ThroughputOptions{Server: p.cfg.Server, Token: p.cfg.Token, Client: client, Bytes: bytes,
			Duration: lanWANDuration, Root: p.cfg.Root, Interface: iface, Version: p.cfg.Version})
	}
	l.record = func(samples []jagadesa.Sample) {
		for _, s := range samples {
			p.append(EncodeSample(s))
		}
		if err := p.spool.Sync(); err != nil {
			p.log.Error("spool sync failed", "err", err)
		}
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	return l
}

// lanSpeedLoop serves the villagers' speed-test page on
// Config.LANSpeedListen until ctx ends. The LAN address may not be up yet
// at boot (the bridge comes after the probe): listening is retried.
func (p *Probe) lanSpeedLoop(ctx context.Context) {
	addr := p.cfg.LANSpeedListen
	if err := CheckLANSpeedListen(addr); err != nil {
		p.log.Error("LAN speed-test page not served", "err", err)
		p.event("lan_speedtest_error", "warning", errText(err), nil)
		return
	}
	srv := &lanHTTPServer{Handler: p.newLANSpeed(ctx), MaxConns: 16, MaxHeaderBytes: 8 << 10,
		HeaderTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second, IOTimeout: 30 * time.Second}
	// ListenTCP, not Listen: the latter links Unix sockets too.
	at := net.TCPAddrFromAddrPort(netip.MustParseAddrPort(addr))
	for wait := time.Second; ; wait = min(2*wait, time.Minute) {
		ln, err := net.ListenTCP("tcp", at)
		if err == nil {
			p.log.Info("LAN speed-test page served", "addr", addr)
			_ = srv.serve(ctx, ln)
			return
		}
		p.log.Warn("LAN speed-test page not served yet", "err", err, "retry", wait)
		if sleepCtx(ctx, wait) != nil {
			return
		}
	}
}
