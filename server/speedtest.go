package server

import (
	"crypto/rand"
	"errors"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jagadesa/jagadesa"
)

// Limits of the speed-test endpoint, GET and POST /api/v1/speedtest. A
// village link is 100 Mbit/s: 10 s at that rate is 125 MB, so the byte cap
// rather than the clock ends a test only on links much faster than the
// contract. Sizes are decimal (1 MB = 10^6 bytes), like Mbit/s.
const (
	SpeedtestDefaultBytes = 100_000_000      // GET without ?bytes
	SpeedtestMaxBytes     = 250_000_000      // either direction, per test
	SpeedtestMaxDuration  = 10 * time.Second // either direction, per test
	// SpeedtestMaxConcurrent bounds the tests running at once, server-wide,
	// so that speed tests cannot take the server's uplink or CPU from the
	// ingest path: four at 100 Mbit/s is 400 Mbit/s at most.
	SpeedtestMaxConcurrent = 4
)

const (
	// speedtestChunk is how much one write or read moves. Small enough that
	// the clock is checked every few milliseconds even on a slow link (32 KiB
	// at 2 Mbit/s is 0.13 s), large enough to cost nothing at 1 Gbit/s.
	speedtestChunk = 32 << 10
	// speedtestBlock is the random data downloads repeat. Larger than the
	// window of any compressor a middlebox might apply (gzip 32 KiB, zstd's
	// usual levels 8 MiB), so the bytes stay incompressible end to end.
	speedtestBlock = 16 << 20
	// speedtestWriteGrace is how long past its time limit a download may
	// still be flushing to a slow reader before the write is abandoned.
	speedtestWriteGrace = 5 * time.Second
	// speedtestProbeRetry is the Retry-After of a 429: the probe's other
	// test ends within the time limit.
	speedtestProbeRetry = SpeedtestMaxDuration
)

// speedtestData is generated once, on the first test, and shared by every
// download: random bytes cost CPU, repeating them costs nothing.
var speedtestData = sync.OnceValue(func() []byte {
	b := make([]byte, speedtestBlock)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return b
})

// speedtestResult is the body of a successful POST /api/v1/speedtest.
type speedtestResult struct {
	Bytes      int64   `json:"bytes"`       // body bytes received
	DurationMs float64 `json:"duration_ms"` // from the request's arrival to its last byte
	Mbps       float64 `json:"mbps"`
	// Truncated says the time limit cut the upload short; bytes counts what
	// had arrived by then.
	Truncated bool `json:"truncated,omitempty"`
}

// speedtest is the endpoint's shared state: the server-wide slots and the
// probes that hold one.
type speedtest struct {
	s     *Server
	slots chan struct{}

	mu      sync.Mutex
	running map[string]bool // probe id → a test in progress

	tests *prometheus.CounterVec
	bytes *prometheus.CounterVec
}

// newSpeedtest builds the endpoint's handler. It is called once, from
// routes, so that GET and POST share the same slots.
func newSpeedtest(s *Server) *speedtest {
	st := &speedtest{
		s:       s,
		slots:   make(chan struct{}, SpeedtestMaxConcurrent),
		running: map[string]bool{},
		tests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jagadesa_speedtests_total",
			Help: "Speed tests by direction and result (ok, truncated, busy, probe_busy, invalid, too_large, aborted).",
		}, []string{"direction", "result"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jagadesa_speedtest_bytes_total",
			Help: "Payload bytes moved by speed tests, by direction as the probe sees it (download: server to probe).",
		}, []string{"direction"}),
	}
	st.tests = registerOrExisting(s.Metrics, st.tests)
	st.bytes = registerOrExisting(s.Metrics, st.bytes)
	return st
}

// registerOrExisting registers c, or returns the collector already
// registered under its name when two servers share one registry.
func registerOrExisting(reg *prometheus.Registry, c *prometheus.CounterVec) *prometheus.CounterVec {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if prev, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return prev
			}
		}
	}
	return c
}

// handle serves both methods; routes registers it for GET and POST.
func (st *speedtest) handle(c *gin.Context) {
	if c.Request.Method == http.MethodPost {
		st.upload(c)
		return
	}
	st.download(c)
}

// acquire takes the probe's turn and a server-wide slot, or answers 429
// (this probe is already testing: a bug or a retry storm on its side) or
// 503 (the server is busy). release undoes it.
func (st *speedtest) acquire(c *gin.Context, direction string) (release func(), ok bool) {
	p := c.MustGet(ctxProbe).(jagadesa.Probe)
	st.mu.Lock()
	// A probe's next test may start the moment it has read the last byte of
	// the previous one, a moment before that handler has returned and
	// released its turn: wait briefly for it rather than refuse.
	for wait := 0; st.running[p.ID] && wait < 40; wait++ {
		st.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
		st.mu.Lock()
	}
	if st.running[p.ID] {
		st.mu.Unlock()
		st.tests.WithLabelValues(direction, "probe_busy").Inc()
		c.Header("Retry-After", strconv.Itoa(int(speedtestProbeRetry.Seconds())))
		c.AbortWithStatusJSON(http.StatusTooManyRequests, errorBody{Error: "this probe already has a speed test running; one at a time"})
		return nil, false
	}
	select {
	case st.slots <- struct{}{}:
	default:
		st.mu.Unlock()
		st.tests.WithLabelValues(direction, "busy").Inc()
		// EUnavailable: the error renderer adds the server's Retry-After.
		_ = c.Error(jagadesa.Errorf(jagadesa.EUnavailable, "%d speed tests are running, the most the server allows at once; retry later", SpeedtestMaxConcurrent))
		return nil, false
	}
	st.running[p.ID] = true
	st.mu.Unlock()
	return func() {
		st.mu.Lock()
		delete(st.running, p.ID)
		st.mu.Unlock()
		<-st.slots
	}, true
}

// noStore sets the headers every speed-test answer carries: nothing may
// cache or compress it, and the connection is not reused, because the
// deadlines set on it for the test must not outlive the test.
func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Encoding", "identity")
	c.Header("Connection", "close")
}

// download streams ?bytes=N (default 100 MB) of random data, or as much as
// ?seconds=S (default and at most 10) allows, whichever ends first. The
// body is chunked: a short body is a clean end (the time limit), a broken
// connection is an error at the client.
func (st *speedtest) download(c *gin.Context) {
	const dir = "download"
	n, limit, problems := speedtestQuery(c)
	if problems != nil {
		st.tests.WithLabelValues(dir, "invalid").Inc()
		_ = c.Error(invalid(problems, "bad speed-test query"))
		return
	}
	release, ok := st.acquire(c, dir)
	if !ok {
		return
	}
	defer release()
	data := speedtestData()
	start := time.Now()
	deadline := start.Add(limit)
	// A client that stops reading must not hold a slot beyond the test.
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(deadline.Add(speedtestWriteGrace))
	noStore(c)
	c.Header("Content-Type", "application/octet-stream")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Status(http.StatusOK)

	var sent int64
	off := 0
	result := "ok"
	for sent < n {
		if !time.Now().Before(deadline) {
			result = "truncated"
			break
		}
		k := int(min(n-sent, speedtestChunk, int64(len(data)-off)))
		w, err := c.Writer.Write(data[off : off+k])
		sent += int64(w)
		if off += w; off == len(data) {
			off = 0
		}
		if err != nil {
			result = "aborted" // the client left or stopped reading
			break
		}
	}
	st.tests.WithLabelValues(dir, result).Inc()
	st.bytes.WithLabelValues(dir).Add(float64(sent))
}

// upload reads and discards the request body for at most 10 s and 250 MB,
// and answers what arrived, measured here: the probe's own clock would count
// bytes still in its socket buffer as sent.
func (st *speedtest) upload(c *gin.Context) {
	const dir = "upload"
	req := c.Request
	if enc := strings.ToLower(strings.TrimSpace(req.Header.Get("Content-Encoding"))); enc != "" && enc != "identity" {
		st.tests.WithLabelValues(dir, "invalid").Inc()
		_ = c.Error(invalid(nil, "a speed-test upload must not be compressed (Content-Encoding %q)", enc))
		return
	}
	if req.ContentLength > SpeedtestMaxBytes {
		st.tests.WithLabelValues(dir, "too_large").Inc()
		_ = c.Error(tooLarge("body of %d bytes exceeds the speed-test limit of %d", req.ContentLength, SpeedtestMaxBytes))
		return
	}
	release, ok := st.acquire(c, dir)
	if !ok {
		return
	}
	defer release()
	start := time.Now()
	// The deadline ends the test even if the client trickles forever.
	_ = http.NewResponseController(c.Writer).SetReadDeadline(start.Add(SpeedtestMaxDuration))
	noStore(c)

	buf := make([]byte, speedtestChunk)
	var n int64
	last := start
	truncated := false
	var readErr error
	for {
		k, err := req.Body.Read(buf)
		if k > 0 {
			n += int64(k)
			last = time.Now()
		}
		if n > SpeedtestMaxBytes {
			st.tests.WithLabelValues(dir, "too_large").Inc()
			st.bytes.WithLabelValues(dir).Add(float64(n))
			_ = c.Error(tooLarge("body exceeds the speed-test limit of %d bytes", SpeedtestMaxBytes))
			return
		}
		if err == io.EOF {
			break
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			truncated = true
			break
		}
		if err != nil {
			readErr = err
			break
		}
	}
	st.bytes.WithLabelValues(dir).Add(float64(n))
	if readErr != nil {
		// The client is gone or sent a broken chunked body; it will not
		// read an answer, but the log and the metrics should see it.
		st.tests.WithLabelValues(dir, "aborted").Inc()
		_ = c.Error(invalid(nil, "upload ended early after %d bytes: %v", n, readErr))
		return
	}
	res := speedtestResult{Bytes: n, Truncated: truncated}
	if d := last.Sub(start); d > 0 {
		res.DurationMs = float64(d.Microseconds()) / 1000
		res.Mbps = float64(n) * 8 / d.Seconds() / 1e6
	}
	result := "ok"
	if truncated {
		result = "truncated"
	}
	st.tests.WithLabelValues(dir, result).Inc()
	c.JSON(http.StatusOK, res)
}

// speedtestQuery reads ?bytes and ?seconds of a download. Out-of-range
// values are refused rather than clamped, so a misconfigured probe learns
// of it instead of measuring something it did not ask for.
func speedtestQuery(c *gin.Context) (n int64, limit time.Duration, problems jagadesa.Problems) {
	n, limit = SpeedtestDefaultBytes, SpeedtestMaxDuration
	p := jagadesa.Problems{}
	if v, ok := c.GetQuery("bytes"); ok {
		b, err := strconv.ParseInt(v, 10, 64)
		if err != nil || b < 1 || b > SpeedtestMaxBytes {
			p["bytes"] = "must be an integer 1.." + itoa(int64(SpeedtestMaxBytes))
		}
		n = b
	}
	if v, ok := c.GetQuery("seconds"); ok {
		s, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(s) || s <= 0 || s > SpeedtestMaxDuration.Seconds() {
			p["seconds"] = "must be a number of seconds, more than 0 and at most " + itoa(int64(SpeedtestMaxDuration.Seconds()))
		}
		limit = time.Duration(s * float64(time.Second))
	}
	if len(p) > 0 {
		return 0, 0, p
	}
	return n, limit, nil
}
