package probe

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/probe/spool"
)

// fakeServer answers with scripted statuses and records what it received.
type fakeServer struct {
	mu       sync.Mutex
	statuses []int // one per request; 200 when exhausted
	header   http.Header
	got      []jagadesa.Report
	auth     []string
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	st := 200
	if len(f.statuses) > 0 {
		st, f.statuses = f.statuses[0], f.statuses[1:]
	}
	if r.Header.Get("Content-Encoding") != "gzip" {
		http.Error(w, "want gzip", 400)
		return
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	var rep jagadesa.Report
	if err := json.NewDecoder(zr).Decode(&rep); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	if st == 200 {
		f.got = append(f.got, rep)
	}
	for k, v := range f.header {
		w.Header()[k] = v
	}
	w.WriteHeader(st)
	w.Write([]byte(`{"error":"scripted"}`))
}

type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func newSender(t *testing.T, f *fakeServer, n int) (*Sender, *spool.Spool, *sleeps) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	sp, err := spool.Open(t.TempDir(), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	now := time.Now()
	for i := 0; i < n; i++ {
		b, err := EncodeSample(jagadesa.Sample{TimeMs: now.Add(time.Duration(i) * time.Second).UnixMilli(), Kind: jagadesa.KindICMP, Target: "t", ICMP: &jagadesa.ICMP{Sent: 1}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sp.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	sl := &sleeps{}
	s := &Sender{Server: srv.URL, Token: "jdp_x", Village: "33.06.08.2007", Queue: sp, MaxBatch: 10, Sleep: sl.sleep}
	return s, sp, sl
}

func TestSenderDrainsOldestFirstInBatches(t *testing.T) {
	f := &fakeServer{}
	s, sp, sl := newSender(t, f, 25)
	if err := s.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(f.got) != 3 {
		t.Fatalf("%d batches, want 3 (10+10+5)", len(f.got))
	}
	var seq uint64
	for _, r := range f.got {
		if r.Village != "33.06.08.2007" || r.Version != jagadesa.WireVersion {
			t.Fatalf("report header %+v", r)
		}
		for _, smp := range r.Samples {
			if smp.Seq <= seq {
				t.Fatalf("seq %d after %d: not oldest first", smp.Seq, seq)
			}
			seq = smp.Seq
		}
	}
	if seq != 25 || sp.Stats().Records != 0 {
		t.Fatalf("last seq %d, %d records left", seq, sp.Stats().Records)
	}
	if f.auth[0] != "Bearer jdp_x" {
		t.Fatalf("auth header %q", f.auth[0])
	}
	// Backfill is paced: a gap after each full batch.
	if len(sl.d) != 2 || sl.d[0] != 200*time.Millisecond {
		t.Fatalf("pauses %v, want two of 200ms", sl.d)
	}
}

func TestSenderKeepsBatchOnRetryableAnswers(t *testing.T) {
	for _, st := range []int{503, 500, 429, 401, 403} {
		t.Run(http.StatusText(st), func(t *testing.T) {
			f := &fakeServer{statuses: []int{st}, header: http.Header{"Retry-After": {"120"}}}
			s, sp, sl := newSender(t, f, 5)
			err := s.Drain(context.Background())
			var re *RetryError
			if !errors.As(err, &re) || re.Status != st {
				t.Fatalf("Drain: %v, want a retry error with status %d", err, st)
			}
			if sp.Stats().Records != 5 {
				t.Fatalf("%d records left after a %d; the batch must be kept", sp.Stats().Records, st)
			}
			if len(sl.d) != 1 || sl.d[0] < 120*time.Second {
				t.Fatalf("waited %v; Retry-After 120 must be honoured", sl.d)
			}
			f.header = nil
			if err := s.Drain(context.Background()); err != nil {
				t.Fatal(err)
			}
			if sp.Stats().Records != 0 || len(f.got) != 1 || len(f.got[0].Samples) != 5 {
				t.Fatalf("after recovery: %d left, %d batches", sp.Stats().Records, len(f.got))
			}
		})
	}
}

func TestSenderBackoffGrowsWithJitter(t *testing.T) {
	f := &fakeServer{statuses: []int{503, 503, 503, 503, 503, 503, 503, 503}}
	s, _, sl := newSender(t, f, 1)
	s.MinBackoff, s.MaxBackoff = time.Second, 8*time.Second
	for i := 0; i < 8; i++ {
		s.Drain(context.Background())
	}
	for i, d := range sl.d {
		ceil := min(time.Second<<i, 8*time.Second)
		if d < 500*time.Millisecond || d > ceil+500*time.Millisecond {
			t.Fatalf("wait %d = %v, want within [0.5s, %v]", i, d, ceil+500*time.Millisecond)
		}
	}
}

func TestSenderDropsRejectedBatch(t *testing.T) {
	f := &fakeServer{statuses: []int{400}}
	s, sp, _ := newSender(t, f, 15)
	if err := s.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The rejected batch of 10 is dropped; the next 5 arrive.
	if sp.Stats().Records != 0 || len(f.got) != 1 || len(f.got[0].Samples) != 5 || f.got[0].Samples[0].Seq != 11 {
		t.Fatalf("left %d, got %+v", sp.Stats().Records, f.got)
	}
}

func TestSenderKeepsBatchWhenServerUnreachable(t *testing.T) {
	f := &fakeServer{}
	s, sp, sl := newSender(t, f, 3)
	s.Server = "http://127.0.0.1:1"
	if err := s.Drain(context.Background()); err == nil {
		t.Fatal("no error with the server unreachable")
	}
	if sp.Stats().Records != 3 || len(sl.d) != 1 {
		t.Fatalf("left %d, waits %v", sp.Stats().Records, sl.d)
	}
}

func TestSenderDropsRecordsTooOldForServer(t *testing.T) {
	f := &fakeServer{}
	s, sp, _ := newSender(t, f, 2)
	b, _ := EncodeSample(jagadesa.Sample{TimeMs: time.Now().Add(-8 * 24 * time.Hour).UnixMilli(), Kind: jagadesa.KindICMP, Target: "t", ICMP: &jagadesa.ICMP{Sent: 1}})
	sp.Append(b)
	if err := s.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(f.got) != 1 || len(f.got[0].Samples) != 2 || sp.Stats().Records != 0 {
		t.Fatalf("sent %+v, left %d", f.got, sp.Stats().Records)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	for h, want := range map[string]time.Duration{
		"": 0, "30": 30 * time.Second, "junk": 0, "-5": 0,
		now.Add(time.Minute).Format(http.TimeFormat): time.Minute,
	} {
		if got := RetryAfter(h, now); got != want {
			t.Errorf("RetryAfter(%q) = %v, want %v", h, got, want)
		}
	}
}
