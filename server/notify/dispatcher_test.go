package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/jagadesa/jagadesa"
)

// hookRequest is what a test webhook receiver saw.
type hookRequest struct {
	path   string
	header http.Header
	body   []byte
	at     time.Time
}

// receiver is a webhook endpoint whose answers a test scripts.
type receiver struct {
	mu     sync.Mutex
	got    []hookRequest
	answer func(n int, w http.ResponseWriter) // n counts requests from 1
	srv    *httptest.Server
	notify chan struct{}
}

func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter)) *receiver {
	t.Helper()
	rc := &receiver{answer: answer, notify: make(chan struct{}, 1000)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, hookRequest{r.URL.Path, r.Header.Clone(), body, time.Now()})
		n := len(rc.got)
		rc.mu.Unlock()
		rc.notify <- struct{}{}
		if rc.answer != nil {
			rc.answer(n, w)
		}
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []hookRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

func closeNow(t *testing.T, d *Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestWebhookIsSignedAndVerifiable(t *testing.T) {
	rc := newReceiver(t, nil)
	clock := &fakeClock{t: t0.Add(3 * time.Minute)}
	d := New(Settings{}, nil, WithClock(clock.Now), WithVersion("1.2.3"))
	const secret = "s3cret-hmac-key"
	d.Send(jagadesa.Channels{Webhooks: []jagadesa.Webhook{{URL: rc.srv.URL + "/hook", Secret: secret}}}, krandegan("opened"))
	closeNow(t, d)

	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	h, body := reqs[0].header, reqs[0].body
	for k, want := range map[string]string{
		"Content-Type":   "application/json",
		"User-Agent":     "jagadesa/1.2.3",
		HeaderEvent:      "opened",
		HeaderTimestamp:  strconv.FormatInt(clock.Now().Unix(), 10),
		HeaderSignature:  SignWebhook(secret, clock.Now().Unix(), body),
		"Content-Length": strconv.Itoa(len(body)),
	} {
		if got := h.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	var n jagadesa.Notification
	if err := json.Unmarshal(body, &n); err != nil {
		t.Fatalf("body is not a Notification: %v\n%s", err, body)
	}
	if n.Event != "opened" || n.Incident.ID != "inc-20260303-0001" || len(n.Villages) != 1 || n.Villages[0].Name != "Krandegan" {
		t.Fatalf("decoded notification %+v", n)
	}
	if strings.Contains(string(body), secret) {
		t.Fatal("the secret is in the body")
	}

	now := clock.Now()
	if err := VerifyWebhook(secret, h, body, now, 0); err != nil {
		t.Fatalf("VerifyWebhook on a genuine request: %v", err)
	}
	tampered := []byte(strings.Replace(string(body), "Krandegan", "Kemuning", 1))
	if err := VerifyWebhook(secret, h, tampered, now, 0); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered body: %v, want ErrBadSignature", err)
	}
	if err := VerifyWebhook("other", h, body, now, 0); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("wrong secret: %v, want ErrBadSignature", err)
	}
	if err := VerifyWebhook(secret, h, body, now.Add(6*time.Minute), 0); !errors.Is(err, ErrBadTimestamp) {
		t.Fatalf("replayed 6 minutes later: %v, want ErrBadTimestamp", err)
	}
	// Replaying the body with a fresh timestamp does not verify: the
	// timestamp is signed.
	replay := h.Clone()
	replay.Set(HeaderTimestamp, strconv.FormatInt(now.Add(time.Hour).Unix(), 10))
	if err := VerifyWebhook(secret, replay, body, now.Add(time.Hour), 0); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("replay with a new timestamp: %v, want ErrBadSignature", err)
	}
}

func TestVerifyWebhook(t *testing.T) {
	now := time.Unix(1_772_500_000, 0)
	body := []byte(`{"event":"opened"}`)
	sig := SignWebhook("k", now.Unix(), body)
	hdr := func(ts, sig string) http.Header {
		h := http.Header{}
		if ts != "" {
			h.Set(HeaderTimestamp, ts)
		}
		if sig != "" {
			h.Set(HeaderSignature, sig)
		}
		return h
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	tests := []struct {
		name      string
		h         http.Header
		now       time.Time
		tolerance time.Duration
		want      error
	}{
		{"genuine", hdr(ts, sig), now, 0, nil},
		{"within tolerance", hdr(ts, sig), now.Add(59 * time.Second), time.Minute, nil},
		{"too old for tolerance", hdr(ts, sig), now.Add(61 * time.Second), time.Minute, ErrBadTimestamp},
		{"from the future", hdr(ts, sig), now.Add(-6 * time.Minute), 0, ErrBadTimestamp},
		{"no timestamp", hdr("", sig), now, 0, ErrBadTimestamp},
		{"timestamp not a number", hdr("yesterday", sig), now, 0, ErrBadTimestamp},
		{"no signature", hdr(ts, ""), now, 0, ErrBadSignature},
		{"other algorithm", hdr(ts, strings.Replace(sig, "sha256=", "sha1=", 1)), now, 0, ErrBadSignature},
		{"not hex", hdr(ts, "sha256=zz"), now, 0, ErrBadSignature},
		{"truncated", hdr(ts, sig[:len(sig)-2]), now, 0, ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyWebhook("k", tt.h, body, tt.now, tt.tolerance)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("VerifyWebhook = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestRetries walks the answers a receiver can give and checks how many
// attempts each earns and how it is counted.
func TestRetries(t *testing.T) {
	status := func(codes ...int) func(int, http.ResponseWriter) {
		return func(n int, w http.ResponseWriter) {
			w.WriteHeader(codes[min(n, len(codes))-1])
		}
	}
	tests := []struct {
		name         string
		answer       func(int, http.ResponseWriter)
		wantRequests int
		wantSent     float64
		wantFailed   float64
		wantRetries  float64
	}{
		{"200 at once", status(200), 1, 1, 0, 0},
		{"204 counts as delivered", status(204), 1, 1, 0, 0},
		{"500 then 200", status(500, 200), 2, 1, 0, 1},
		{"502 503 then 200", status(502, 503, 200), 3, 1, 0, 2},
		{"408 is retried", status(408, 200), 2, 1, 0, 1},
		{"429 is retried", status(429, 200), 2, 1, 0, 1},
		{"500 for ever gives up after 3", status(500), 3, 0, 1, 2},
		{"400 is permanent", status(400), 1, 0, 1, 0},
		{"401 is permanent", status(401), 1, 0, 1, 0},
		{"404 is permanent", status(404), 1, 0, 1, 0},
		{"410 is permanent", status(410), 1, 0, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, tt.answer)
			d := New(Settings{}, nil, WithRetry(fastRetry))
			d.Send(jagadesa.Channels{Webhooks: []jagadesa.Webhook{{URL: rc.srv.URL}}}, krandegan("opened"))
			closeNow(t, d)
			if n := len(rc.requests()); n != tt.wantRequests {
				t.Errorf("%d requests, want %d", n, tt.wantRequests)
			}
			for name, c := range map[string]struct {
				v    *prometheus.CounterVec
				want float64
			}{"sent": {d.sent, tt.wantSent}, "failed": {d.failed, tt.wantFailed}, "retries": {d.retries, tt.wantRetries}} {
				if got := testutil.ToFloat64(c.v.WithLabelValues(ChannelWebhook)); got != c.want {
					t.Errorf("%s = %v, want %v", name, got, c.want)
				}
			}
		})
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	d := New(Settings{}, nil, WithRetry(fastRetry))
	d.Send(jagadesa.Channels{Webhooks: []jagadesa.Webhook{{URL: rc.srv.URL}}}, krandegan("opened"))
	closeNow(t, d)
	reqs := rc.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	// Without Retry-After the wait would be fastRetry's 10 ms.
	if gap := reqs[1].at.Sub(reqs[0].at); gap < 950*time.Millisecond {
		t.Fatalf("retried after %s, want about 1 s (Retry-After: 1)", gap)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 3, 5, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		"-1":                            0,
		"soon":                          0,
		"Tue, 03 Mar 2026 05:00:30 GMT": 30 * time.Second,
		"Tue, 03 Mar 2026 04:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestBackoffGrowsWithJitterAndCap(t *testing.T) {
	d := &Dispatcher{retry: DefaultRetry}
	var total time.Duration
	for attempt, base := range []time.Duration{5 * time.Second, 15 * time.Second, 45 * time.Second, time.Minute} {
		for range 50 {
			w := d.backoff(attempt + 1)
			if w < base*8/10 || w > base*12/10 {
				t.Fatalf("backoff(%d) = %s, want %s ±20%%", attempt+1, w, base)
			}
		}
		total += base
	}
	if total < 110*time.Second || total > 130*time.Second {
		t.Fatalf("5 attempts span %s, want about 2 minutes", total)
	}
	if w := d.backoff(10); w > time.Minute*12/10 {
		t.Fatalf("backoff(10) = %s, above the cap", w)
	}
}

func TestDedup(t *testing.T) {
	rc := newReceiver(t, nil)
	clock := &fakeClock{t: t0}
	d := New(Settings{}, nil, WithClock(clock.Now))
	team := jagadesa.Channels{Webhooks: []jagadesa.Webhook{{URL: rc.srv.URL + "/a"}, {URL: rc.srv.URL + "/b"}}}
	d.Send(team, krandegan("opened"))
	d.Send(team, krandegan("opened")) // same again: nothing new
	d.Send(jagadesa.Channels{Webhooks: team.Webhooks[:1]}, krandegan("opened"))
	d.Send(team, krandegan("acknowledged")) // another event: sent
	clock.Add(9 * time.Minute)
	d.Send(team, krandegan("opened")) // still inside the window
	clock.Add(2 * time.Minute)
	d.Send(team, krandegan("opened")) // 11 minutes on: sent again
	closeNow(t, d)

	var got []string
	for _, r := range rc.requests() {
		got = append(got, r.header.Get(HeaderEvent))
	}
	sort.Strings(got)
	want := []string{"acknowledged", "acknowledged", "opened", "opened", "opened", "opened"}
	if !slices.Equal(got, want) {
		t.Fatalf("events received %v, want %v", got, want)
	}
	if n := testutil.ToFloat64(d.deduped.WithLabelValues(ChannelWebhook)); n != 5 {
		t.Fatalf("deduplicated = %v, want 5", n)
	}
}

// TestQueueDropsOldest fills a one-worker dispatcher whose receiver hangs:
// Send still returns at once and the oldest queued job is the one lost.
func TestQueueDropsOldest(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock()
	rc := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n == 1 {
			<-release
		}
	})
	logger, logs := testLogger(t)
	d := New(Settings{}, logger, WithWorkers(1), WithQueueSize(2))
	team := jagadesa.Channels{Webhooks: []jagadesa.Webhook{{URL: rc.srv.URL}}}
	send := func(id string) {
		n := krandegan("opened")
		n.Incident.ID = id
		d.Send(team, n)
	}
	send("inc-1")
	select {
	case <-rc.notify:
	case <-time.After(5 * time.Second):
		t.Fatal("first notification never arrived")
	}
	start := time.Now()
	send("inc-2")
	send("inc-3")
	send("inc-4") // queue holds inc-2, inc-3: inc-2 goes
	if took := time.Since(start); took > 250*time.Millisecond {
		t.Fatalf("Send blocked for %s with a full queue", took)
	}
	unblock()
	closeNow(t, d)

	var ids []string
	for _, r := range rc.requests() {
		var n jagadesa.Notification
		if err := json.Unmarshal(r.body, &n); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, n.Incident.ID)
	}
	if want := []string{"inc-1", "inc-3", "inc-4"}; !slices.Equal(ids, want) {
		t.Fatalf("delivered %v, want %v", ids, want)
	}
	if n := testutil.ToFloat64(d.dropped.WithLabelValues(ChannelWebhook)); n != 1 {
		t.Fatalf("dropped = %v, want 1", n)
	}
	if !strings.Contains(logs.String(), "queue full") || !strings.Contains(logs.String(), "incident=inc-2") {
		t.Fatalf("the drop of inc-2 is not logged:\n%s", logs)
	}
}

func TestSendNeverBlocks(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(hang) // before srv.Close: the handlers must return
	d := New(Settings{}, nil, WithWorkers(2), WithQueueSize(10))
	team := jagadesa.Channels{Webhooks: []jagadesa.Webhook{{URL: srv.URL}}}
	start := time.Now()
	for i := range 2000 {
		n := krandegan("opened")
		n.Incident.ID = fmt.Sprint("inc-", i)
		d.Send(team, n)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("2000 Sends to a hung receiver took %s", took)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := d.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a hung receiver = %v, want deadline exceeded", err)
	}
	// Every notification is accounted for: none sent, all dropped.
	if n := testutil.ToFloat64(d.dropped.WithLabelValues(ChannelWebhook)); n != 2000 {
		t.Fatalf("dropped = %v, want 2000", n)
	}
	d.Send(team, krandegan("resolved")) // after Close: dropped, not a panic
	if n := testutil.ToFloat64(d.dropped.WithLabelValues(ChannelWebhook)); n != 2001 {
		t.Fatalf("dropped after Close = %v, want 2001", n)
	}
}

func TestCloseDrainsPendingRetries(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n <= 3 {
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	d := New(Settings{}, nil, WithRetry(RetryPolicy{Attempts: 5, Initial: 50 * time.Millisecond, Max: 50 * time.Millisecond}))
	for i := range 3 {
		n := krandegan("opened")
		n.Incident.ID = fmt.Sprint("inc-", i)
		d.Send(jagadesa.Channels{Webhooks: []jagadesa.Webhook{{URL: rc.srv.URL}}}, n)
	}
	closeNow(t, d) // must wait for the retries, not just the queue
	if n := testutil.ToFloat64(d.sent.WithLabelValues(ChannelWebhook)); n != 3 {
		t.Fatalf("sent = %v after Close, want 3", n)
	}
}

func TestRateLimitPerDestination(t *testing.T) {
	rc := newReceiver(t, nil)
	d := New(Settings{}, nil, WithRateLimit(ChannelWebhook, 150*time.Millisecond, 1))
	a := jagadesa.Channels{Webhooks: []jagadesa.Webhook{{URL: rc.srv.URL + "/a"}}}
	b := jagadesa.Channels{Webhooks: []jagadesa.Webhook{{URL: rc.srv.URL + "/b"}}}
	for i := range 3 {
		n := krandegan("opened")
		n.Incident.ID = fmt.Sprint("inc-", i)
		d.Send(a, n)
		d.Send(b, n)
	}
	closeNow(t, d)
	// Each destination: one at once, then one per 150 ms. The two do not
	// share a budget, so both first messages go out at once.
	byPath := map[string][]time.Time{}
	for _, r := range rc.requests() {
		byPath[r.path] = append(byPath[r.path], r.at)
	}
	for _, p := range []string{"/a", "/b"} {
		ts := byPath[p]
		if len(ts) != 3 {
			t.Fatalf("%s got %d requests, want 3", p, len(ts))
		}
		for i := 1; i < len(ts); i++ {
			if gap := ts[i].Sub(ts[i-1]); gap < 130*time.Millisecond {
				t.Errorf("%s: requests %d and %d %s apart, want ≥150 ms", p, i-1, i, gap)
			}
		}
	}
	if gap := byPath["/a"][0].Sub(byPath["/b"][0]).Abs(); gap > 100*time.Millisecond {
		t.Errorf("first messages to /a and /b %s apart: the destinations share a budget", gap)
	}
}

// TestLatencyTarget measures the product target: a notification to a local
// webhook leaves within 2 s of Send.
func TestLatencyTarget(t *testing.T) {
	rc := newReceiver(t, nil)
	d := New(Settings{}, nil)
	var lat []time.Duration
	for i := range 50 {
		n := krandegan("opened")
		n.Incident.ID = fmt.Sprint("inc-", i)
		// One destination per send: this measures the path, not the
		// per-destination rate limit (after a burst of 20, 5 a second).
		team := jagadesa.Channels{Webhooks: []jagadesa.Webhook{{URL: fmt.Sprint(rc.srv.URL, "/team-", i), Secret: "k"}}}
		start := time.Now()
		d.Send(team, n)
		select {
		case <-rc.notify:
		case <-time.After(2 * time.Second):
			t.Fatalf("notification %d not received within 2 s of Send", i)
		}
		lat = append(lat, time.Since(start))
	}
	closeNow(t, d)
	slices.Sort(lat)
	t.Logf("Send → local webhook received, 50 sends: median %s, p95 %s, max %s", lat[len(lat)/2], lat[len(lat)*95/100], lat[len(lat)-1])
	if lat[len(lat)-1] > 2*time.Second {
		t.Fatalf("max latency %s, over the 2 s target", lat[len(lat)-1])
	}
}

func BenchmarkSendToLocalWebhook(b *testing.B) {
	var got atomic.Int64
	done := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got.Add(1)
		done <- struct{}{}
	}))
	defer srv.Close()
	d := New(Settings{}, nil, WithRateLimit(ChannelWebhook, 0, 1))
	team := jagadesa.Channels{Webhooks: []jagadesa.Webhook{{URL: srv.URL, Secret: "k"}}}
	n := krandegan("opened")
	b.ResetTimer()
	for i := range b.N {
		n.Incident.ID = strconv.Itoa(i)
		d.Send(team, n)
		<-done
	}
	b.StopTimer()
	d.Close(context.Background())
}

func TestMetricsCollect(t *testing.T) {
	d := New(Settings{}, nil)
	defer closeNow(t, d)
	reg := prometheus.NewRegistry()
	for _, c := range d.Collectors() {
		if err := reg.Register(c); err != nil {
			t.Fatalf("register: %v", err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	for _, want := range []string{"jagadesa_notify_sent_total", "jagadesa_notify_failed_total", "jagadesa_notify_dropped_total",
		"jagadesa_notify_deduplicated_total", "jagadesa_notify_retries_total", "jagadesa_notify_queue_length"} {
		if !slices.Contains(names, want) {
			t.Errorf("metric %s missing from %v", want, names)
		}
	}
	if got := testutil.CollectAndCount(d.failed); got != 4 {
		t.Errorf("failed_total has %d series, want one per channel (4)", got)
	}
}
