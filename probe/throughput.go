package probe

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/internal/fsutil"
)

// Throughput tests: a bounded download, then a bounded upload, against the
// server's /api/v1/speedtest, a few times a day within a monthly data
// budget. They answer the one question ICMP cannot: does the village get
// the 100 Mbit/s the province pays for.
const (
	// ThroughputTarget is the Target of throughput samples: the JagaDesa
	// server, the one endpoint every probe can test against.
	ThroughputTarget = "server"
	// DefaultThroughputDuration bounds each direction. The server stops at
	// 10 s; ending sooner leaves room for the bytes still queued in buffers
	// when the probe stops sending, so an upload is not cut off mid-way.
	DefaultThroughputDuration = 8 * time.Second
	// MaxThroughputBytes is the most a test moves in one direction: 8 s at
	// the 100 Mbit/s contract. The server allows 250 MB.
	MaxThroughputBytes = 100_000_000

	// minThroughputBytes is the smallest test worth running: below 5 MB,
	// TCP slow start is a large share of the transfer and the result would
	// read as a slow link. With less budget left, the test is skipped.
	minThroughputBytes = 5_000_000
	// throughputGap and throughputJitter space the tests: uniformly 3..9 h
	// apart, so 600 villages do not test at the same moment and a test does
	// not always fall on the same hour of the village's day.
	throughputGap    = 6 * time.Hour
	throughputJitter = 3 * time.Hour
	// testsPerMonth is how many tests the gap allows in a 31-day month; a
	// test's size is its share of the budget.
	testsPerMonth = int64(31 * 24 * time.Hour / throughputGap)
	// throughputQuiet keeps tests out of the first minutes after a start:
	// after a power cut the link is settling and the spool is draining, and
	// a probe in a crash loop must not test at every start.
	throughputQuiet = 10 * time.Minute
	// throughputBusyRetry is the wait after the server refused a test as
	// busy: soon, but spread (10..30 min) so refused probes do not return
	// together.
	throughputBusyRetry = 10 * time.Minute
	// throughputSlack is what a direction may take past its duration before
	// the probe abandons it: the request itself and a slow server's answer.
	throughputSlack = 5 * time.Second
	// throughputStateFile keeps the month's usage in the spool directory.
	throughputStateFile = "speedtest.json"
	// wireOverhead converts our payload to what the WAN counters see: each
	// 1448-byte TCP segment (MTU 1500, TCP timestamps) is a 1514-byte
	// Ethernet frame. Without it a quiet link would show about 4 Mbit/s of
	// "other" traffic at 100 Mbit/s.
	wireOverhead = 1514.0 / 1448.0
)

// wib is Western Indonesia Time, UTC+7: the budget follows the calendar
// month of Central Java, not of UTC.
var wib = time.FixedZone("WIB", 7*60*60)

// ErrThroughputRefused means the server answered a speed-test request with
// something other than 200: busy (503), this probe already testing (429),
// the token refused (401), a bad request. Nothing was measured; errors.As
// with *ThroughputRefusedError gives the details.
var ErrThroughputRefused = errors.New("server refused the speed test")

// ThroughputRefusedError is a refusal with the server's status and its
// Retry-After, so the schedule can tell "busy, come back soon" from the rest.
type ThroughputRefusedError struct {
	Status     int
	RetryAfter time.Duration
	Message    string
}

// Error says what the server answered.
func (e *ThroughputRefusedError) Error() string {
	return fmt.Sprintf("server refused the speed test: %d %s", e.Status, e.Message)
}

// Unwrap makes errors.Is(err, ErrThroughputRefused) hold.
func (e *ThroughputRefusedError) Unwrap() error { return ErrThroughputRefused }

// busy reports whether the refusal was for load, worth retrying soon.
func (e *ThroughputRefusedError) busy() bool {
	return e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests
}

// ThroughputOptions bound one throughput test.
type ThroughputOptions struct {
	Server string // the JagaDesa server's base URL
	Token  string // the probe's bearer token
	// Client makes the requests; nil is the probe's HTTPClient without a
	// timeout of its own, since every request is bounded by Duration plus
	// a few seconds anyway.
	Client Doer
	// Bytes is the most payload each direction moves (1..MaxThroughputBytes
	// is sensible; the server refuses more than 250 MB).
	Bytes int64
	// Duration is the most time each direction takes (default
	// DefaultThroughputDuration, at most the server's 10 s).
	Duration time.Duration
	// Root is the file-system root proc/net/dev is read under.
	Root string
	// Interface is the WAN interface whose byte counters give the other
	// traffic during the test; empty: not measured (other_mbps 0).
	Interface string
	Version   string // for the User-Agent
}

// MeasureThroughput downloads, then uploads, against the server and returns
// a throughput sample for each direction that ran, and the payload bytes
// moved (what the data budget is charged). A direction whose transfer broke
// off has a sample with Error set and what it moved until then. The error
// is for a test that did not run: the server refused it
// (*ThroughputRefusedError) or could not be reached; samples then holds the
// directions measured before.
func MeasureThroughput(ctx context.Context, o ThroughputOptions) (samples []jagadesa.Sample, used int64, err error) {
	if o.Duration <= 0 {
		o.Duration = DefaultThroughputDuration
	}
	if o.Client == nil {
		o.Client = &HTTPClient{}
	}
	if o.Bytes < 1 {
		return nil, 0, errors.New("throughput test of less than one byte")
	}
	s, n, err := o.download(ctx)
	used += n
	if err != nil {
		return nil, used, fmt.Errorf("download: %w", err)
	}
	samples = append(samples, s)
	s, n, err = o.upload(ctx)
	used += n
	if err != nil {
		return samples, used, fmt.Errorf("upload: %w", err)
	}
	return append(samples, s), used, nil
}

func (o *ThroughputOptions) url() string {
	return strings.TrimRight(o.Server, "/") + "/api/v1/speedtest"
}

func (o *ThroughputOptions) header(req *http.Request) {
	req.Header.Set("Authorization", "Bearer "+o.Token)
	req.Header.Set("User-Agent", "jagadesa-probe/"+o.Version)
	// Identity: the bytes counted are the bytes moved (a *http.Client given
	// as Client would otherwise ask for gzip and inflate transparently).
	req.Header.Set("Accept-Encoding", "identity")
}

// counters reads the WAN interface's byte counters, if it has one.
func (o *ThroughputOptions) counters() (netCounters, bool) {
	if o.Interface == "" {
		return netCounters{}, false
	}
	all, err := readNetDev(o.Root)
	if err != nil {
		return netCounters{}, false
	}
	c, ok := all[o.Interface]
	return c, ok
}

// refused reads a non-200 answer into a refusal.
func refused(resp *http.Response) error {
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	var eb struct {
		Error string `json:"error"`
	}
	text := strings.TrimSpace(string(msg))
	if json.Unmarshal(msg, &eb) == nil && eb.Error != "" {
		text = eb.Error
	}
	return &ThroughputRefusedError{Status: resp.StatusCode, RetryAfter: RetryAfter(resp.Header.Get("Retry-After"), time.Now()), Message: text}
}

// download measures from the first response byte to the last: the request
// and the server's set-up are not the link's throughput.
func (o *ThroughputOptions) download(ctx context.Context) (jagadesa.Sample, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Duration+throughputSlack)
	defer cancel()
	q := "?bytes=" + strconv.FormatInt(o.Bytes, 10) + "&seconds=" + strconv.FormatFloat(o.Duration.Seconds(), 'f', -1, 64)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.url()+q, nil)
	if err != nil {
		return jagadesa.Sample{}, 0, err
	}
	o.header(req)
	c0, haveC0 := o.counters()
	t0 := time.Now()
	resp, err := o.Client.Do(req)
	if err != nil {
		return jagadesa.Sample{}, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return jagadesa.Sample{}, 0, refused(resp)
	}
	start := time.Now()
	// Never more than asked, whatever the server sends: the budget holds.
	n, rerr := discard(io.LimitReader(resp.Body, o.Bytes))
	end := time.Now()
	c1, haveC1 := o.counters()
	window := time.Since(t0)

	s := throughputSample(start, "download", n, end.Sub(start), o.Interface)
	if rerr != nil {
		s.Throughput.Error = errText(rerr)
	}
	if haveC0 && haveC1 {
		s.Throughput.OtherMbps = otherMbps(c0.RxBytes, c1.RxBytes, n, window)
	}
	return s, n, nil
}

// upload sends random bytes until the byte cap or the duration, whichever
// comes first, chunked since the length is not known in advance. The
// sample carries the server's measurement: the probe's own would count
// bytes still queued in its socket buffer as delivered.
func (o *ThroughputOptions) upload(ctx context.Context) (jagadesa.Sample, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Duration+throughputSlack)
	defer cancel()
	body := &uploadBody{data: uploadData(), left: o.Bytes}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url(), body)
	if err != nil {
		return jagadesa.Sample{}, 0, err
	}
	req.ContentLength = -1 // chunked: the body may end early, on time
	req.Header.Set("Content-Type", "application/octet-stream")
	o.header(req)
	c0, haveC0 := o.counters()
	t0 := time.Now()
	body.until = t0.Add(o.Duration)
	resp, err := o.Client.Do(req)
	sent := body.sent.Load()
	if err != nil {
		if sent == 0 {
			return jagadesa.Sample{}, 0, err
		}
		// The link broke off mid-test: what went is a measurement too.
		s := throughputSample(t0, "upload", sent, time.Since(t0), o.Interface)
		s.Throughput.Error = errText(err)
		return s, sent, nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return jagadesa.Sample{}, sent, refused(resp)
	}
	var res struct {
		Bytes      int64   `json:"bytes"`
		DurationMs float64 `json:"duration_ms"`
		Mbps       float64 `json:"mbps"`
		Truncated  bool    `json:"truncated"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<10)).Decode(&res); err != nil {
		return jagadesa.Sample{}, sent, fmt.Errorf("the server's answer: %w", err)
	}
	c1, haveC1 := o.counters()
	window := time.Since(t0)
	s := throughputSample(t0, "upload", res.Bytes, time.Duration(res.DurationMs*float64(time.Millisecond)), o.Interface)
	// A truncated upload (the server's time limit ended it) is still what
	// the link carried in that time: no error.
	s.Throughput.Mbps = clampMbps(res.Mbps)
	if haveC0 && haveC1 {
		s.Throughput.OtherMbps = otherMbps(c0.TxBytes, c1.TxBytes, sent, window)
	}
	return s, sent, nil
}

// errText fits an error into the wire's text limit.
func errText(err error) string {
	s := err.Error()
	if len(s) > jagadesa.MaxTextLen {
		s = s[:jagadesa.MaxTextLen]
	}
	return strings.ToValidUTF8(s, "?")
}

// discard reads r to the end and counts it.
func discard(r io.Reader) (int64, error) {
	buf := make([]byte, 64<<10)
	var n int64
	for {
		k, err := r.Read(buf)
		n += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// uploadData is the probe's random block, made once. 256 KiB keeps the
// router's memory small and is still far beyond gzip's 32 KiB window.
var uploadData = sync.OnceValue(func() []byte {
	b := make([]byte, 256<<10)
	_, _ = crand.Read(b) // never fails (Go 1.24+)
	return b
})

// uploadBody yields random bytes until its cap or its deadline. The
// transport reads it from its own goroutine, hence the atomic count.
type uploadBody struct {
	data  []byte
	off   int
	left  int64
	until time.Time
	sent  atomic.Int64
}

func (b *uploadBody) Read(p []byte) (int, error) {
	if b.left <= 0 || !time.Now().Before(b.until) {
		return 0, io.EOF
	}
	n := copy(p[:min(int64(len(p)), b.left)], b.data[b.off:])
	b.off = (b.off + n) % len(b.data)
	b.left -= int64(n)
	b.sent.Add(int64(n))
	return n, nil
}

// throughputSample builds the sample of one direction.
func throughputSample(at time.Time, direction string, n int64, d time.Duration, iface string) jagadesa.Sample {
	t := &jagadesa.Throughput{Direction: direction, Bytes: n, Interface: iface}
	if d > 0 {
		t.DurationMs = math.Min(float64(d.Microseconds())/1000, 600000)
		t.Mbps = clampMbps(float64(n) * 8 / d.Seconds() / 1e6)
	}
	return jagadesa.Sample{TimeMs: at.UnixMilli(), Kind: jagadesa.KindThroughput, Target: ThroughputTarget, Throughput: t}
}

// clampMbps keeps a rate within what the wire accepts (0..100000).
func clampMbps(v float64) float64 {
	if math.IsNaN(v) || v < 0 {
		return 0
	}
	return math.Min(v, 100000)
}

// netCounters are one interface's byte counters from /proc/net/dev.
type netCounters struct {
	RxBytes, TxBytes uint64
}

// readNetDev reads <root>/proc/net/dev.
func readNetDev(root string) (map[string]netCounters, error) {
	f, err := os.Open(filepath.Join(root, "proc/net/dev"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseNetDev(f)
}

// parseNetDev parses the kernel's /proc/net/dev: two header lines, then
// "iface: rx_bytes rx_packets ... (8 receive fields) tx_bytes ...". Old
// kernels print no space after the colon once the number is wide, so the
// name is split off at the colon, not at a space.
func parseNetDev(r io.Reader) (map[string]netCounters, error) {
	out := map[string]netCounters{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue // the header lines have "|", not ":"
		}
		f := strings.Fields(rest)
		if len(f) < 16 {
			continue
		}
		rx, err1 := strconv.ParseUint(f[0], 10, 64)
		tx, err2 := strconv.ParseUint(f[8], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out[strings.TrimSpace(name)] = netCounters{RxBytes: rx, TxBytes: tx}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no interfaces in /proc/net/dev")
	}
	return out, nil
}

// counterDelta is after − before, allowing for a 32-bit counter that
// wrapped (some drivers on 32-bit MIPS routers still keep 32-bit counters:
// 4 GiB is under six minutes at 100 Mbit/s). A counter that went back
// otherwise was reset (the interface was re-created, a PPPoE redial): the
// delta is unknown.
func counterDelta(before, after uint64) (uint64, bool) {
	switch {
	case after >= before:
		return after - before, true
	case before <= math.MaxUint32:
		return after + (1 << 32) - before, true
	}
	return 0, false
}

// otherMbps is the interface's traffic in one direction over window that
// was not ours: max(0, (counter delta − our bytes on the wire)) in Mbit/s.
func otherMbps(before, after uint64, ours int64, window time.Duration) float64 {
	delta, ok := counterDelta(before, after)
	if !ok || window <= 0 {
		return 0
	}
	other := float64(delta) - float64(ours)*wireOverhead
	if other <= 0 {
		return 0
	}
	return clampMbps(other * 8 / window.Seconds() / 1e6)
}

// throughputState is what survives a restart: the month's usage and when
// the next test is due. It is small, rewritten whole (temp file, fsync,
// rename, fsync of the directory), so a power cut leaves the old or the new
// file, never a torn one.
type throughputState struct {
	Month  string `json:"month"`      // WIB calendar month of Used, "2026-11"
	Used   int64  `json:"used_bytes"` // payload bytes used (or reserved) that month
	NextMs int64  `json:"next_ms"`    // when the next test is due, Unix ms; 0: not planned
}

// wibMonth is t's calendar month in Central Java.
func wibMonth(t time.Time) string { return t.In(wib).Format("2006-01") }

// roll starts a new month's budget once now is in a later month. A clock
// that went back (a router without a battery-backed clock boots at an old
// time until NTP answers) keeps counting against the newer month rather
// than opening a second budget.
func (st *throughputState) roll(now time.Time) {
	if m := wibMonth(now); m > st.Month { // "2006-01" sorts in time order
		st.Month, st.Used = m, 0
	}
}

// testBytes is how many bytes each direction of a test may move given the
// budget and the month's usage: the test's share of the month's budget
// (within 5..100 MB), never more than half of what is left. 0 means skip:
// what is left cannot pay for a test worth running.
func testBytes(budget int64, st throughputState) int64 {
	if budget <= 0 {
		return 0
	}
	per := min(max(budget/(2*testsPerMonth), minThroughputBytes), MaxThroughputBytes)
	per = min(per, (budget-st.Used)/2)
	if per < minThroughputBytes {
		return 0
	}
	return per
}

// nextTestAt is when the test after one at now is due: 3..9 h later.
func nextTestAt(now time.Time, r *rand.Rand) time.Time {
	return now.Add(throughputGap - throughputJitter + time.Duration(r.Int64N(int64(2*throughputJitter))))
}

// firstTestAt is when the first test after a start at now is due. A saved
// plan is kept when it is plausible, so restarts do not move tests earlier;
// otherwise (none, overdue, inside the quiet minutes, or further off than a
// gap can be because the clock moved) the test falls at random within a
// gap after the quiet minutes, so a region's probes restarting together
// after a power cut spread their tests.
func firstTestAt(now, saved time.Time, r *rand.Rand) time.Time {
	earliest := now.Add(throughputQuiet)
	if !saved.Before(earliest) && !saved.After(now.Add(throughputGap+throughputJitter)) {
		return saved
	}
	return earliest.Add(time.Duration(r.Int64N(int64(throughputGap))))
}

// busyRetryAt is when to try again after the server refused for load: 10..30
// minutes, and never sooner than its Retry-After.
func busyRetryAt(now time.Time, retryAfter time.Duration, r *rand.Rand) time.Time {
	d := throughputBusyRetry + time.Duration(r.Int64N(int64(2*throughputBusyRetry)))
	return now.Add(max(d, min(retryAfter, 24*time.Hour)))
}

// loadThroughputState reads the state file; a missing file is a fresh state.
func loadThroughputState(path string) (throughputState, error) {
	var st throughputState
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return throughputState{}, fmt.Errorf("%s: %w", path, err)
	}
	if st.Used < 0 {
		return throughputState{}, fmt.Errorf("%s: negative usage %d", path, st.Used)
	}
	return st, nil
}

func saveThroughputState(path string, st throughputState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(path, b, 0o600)
}

// throughputLoop runs the scheduled throughput tests until ctx ends. A
// budget of 0 disables them.
func (p *Probe) throughputLoop(ctx context.Context) {
	budget := p.cfg.SpeedtestBudget
	if budget <= 0 {
		return
	}
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	path := filepath.Join(p.cfg.Spool, throughputStateFile)
	now := time.Now()
	st, err := loadThroughputState(path)
	if err != nil {
		// Usage unknown: assume the month's budget is spent, since the
		// budget is a promise to the village and a lost month of tests is
		// only a gap in the charts.
		p.log.Error("speed-test state unreadable; no tests until next month", "err", err)
		p.event("speedtest_state_lost", "warning", "speed-test usage unreadable, assuming this month's budget is spent: "+errText(err), nil)
		st = throughputState{Month: wibMonth(now), Used: budget}
	}
	st.roll(now)
	var saved time.Time
	if st.NextMs > 0 {
		saved = time.UnixMilli(st.NextMs)
	}
	next := firstTestAt(now, saved, rng)
	st.NextMs = next.UnixMilli()
	if err := saveThroughputState(path, st); err != nil {
		p.log.Error("speed-test state not saved", "err", err)
	}
	p.log.Debug("next speed test", "at", next, "month", st.Month, "used_bytes", st.Used, "budget_bytes", budget)
	// The server's TLS settings (--ca-file) without the upload client's
	// timeout: each request is bounded by its own context.
	client := &HTTPClient{TLSConfig: p.client.TLSConfig}
	for {
		if sleepCtx(ctx, time.Until(next)) != nil {
			return
		}
		next = p.throughputTest(ctx, client, path, &st, rng)
	}
}

// throughputTest runs one scheduled test, if the budget allows, spools its
// samples, and returns when the next is due. Usage is reserved on disk
// before the test and settled after, so a power cut mid-test over-counts
// and never under-counts.
func (p *Probe) throughputTest(ctx context.Context, client Doer, path string, st *throughputState, rng *rand.Rand) time.Time {
	budget := p.cfg.SpeedtestBudget
	now := time.Now()
	st.roll(now)
	next := nextTestAt(now, rng)
	st.NextMs = next.UnixMilli()
	// Villagers' WAN tests (lanspeed.go) spend the same month's budget.
	charged := *st
	if lan, err := loadLANState(filepath.Join(p.cfg.Spool, lanStateFile)); err == nil && lan.Month == st.Month {
		charged.Used += lan.WANUsed
	}
	per := testBytes(budget, charged)
	if per == 0 {
		p.log.Info("speed test skipped: this month's budget is spent", "month", st.Month, "used_bytes", st.Used, "budget_bytes", budget)
		if err := saveThroughputState(path, *st); err != nil {
			p.log.Error("speed-test state not saved", "err", err)
		}
		return next
	}
	before := st.Used
	st.Used += 2 * per
	if err := saveThroughputState(path, *st); err != nil {
		// Without the reservation on disk a power cut could forget the
		// bytes; the budget matters more than one test.
		p.log.Error("speed test skipped: state not saved", "err", err)
		st.Used = before
		return next
	}
	iface := p.cfg.WANInterface
	if iface == "" {
		_, iface = defaultRoute(p.cfg.Root)
	}
	samples, used, err := MeasureThroughput(ctx, ThroughputOptions{
		Server: p.cfg.Server, Token: p.cfg.Token, Client: client, Bytes: per,
		Root: p.cfg.Root, Interface: iface, Version: p.cfg.Version,
	})
	st.Used = before + used
	var re *ThroughputRefusedError
	if errors.As(err, &re) && re.busy() {
		next = busyRetryAt(time.Now(), re.RetryAfter, rng)
		st.NextMs = next.UnixMilli()
	}
	if serr := saveThroughputState(path, *st); serr != nil {
		p.log.Error("speed-test state not saved", "err", serr)
	}
	if ctx.Err() != nil {
		return next // shutting down: a cut-short test would read as a slow link
	}
	if err != nil {
		p.log.Warn("speed test did not run", "err", err, "next", next)
	}
	for _, s := range samples {
		p.append(EncodeSample(s))
		p.log.Info("speed test", "direction", s.Throughput.Direction, "mbps", math.Round(s.Throughput.Mbps*10)/10,
			"other_mbps", math.Round(s.Throughput.OtherMbps*10)/10, "bytes", s.Throughput.Bytes, "error", s.Throughput.Error)
	}
	if len(samples) > 0 {
		if err := p.spool.Sync(); err != nil {
			p.log.Error("spool sync failed", "err", err)
		}
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	return next
}
