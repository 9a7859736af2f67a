package probe

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/probe/spool"
)

// verdictServer answers each report with what answer returns for it (200
// with an empty verdict when answer is nil), the way the server judges
// every record of a batch on its own.
type verdictServer struct {
	mu     sync.Mutex
	answer func(rep *jagadesa.Report) (status int, header http.Header, body any)
	got    []jagadesa.Report // every report received, answered or not
}

func (v *verdictServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	defer v.mu.Unlock()
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
	v.got = append(v.got, rep)
	st, h, body := 200, http.Header(nil), any(jagadesa.BatchResult{})
	if v.answer != nil {
		st, h, body = v.answer(&rep)
	}
	for k, vs := range h {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(st)
	json.NewEncoder(w).Encode(body)
}

// stored is the server's 200: everything stored but the records listed.
func stored(rep *jagadesa.Report, rejected ...jagadesa.Rejection) jagadesa.BatchResult {
	_, hi := rep.SeqRange()
	n := len(rep.Samples) + len(rep.Events)
	return jagadesa.BatchResult{Accepted: n - len(rejected), Points: n - len(rejected), MaxSeq: hi, Rejected: rejected}
}

// syncBuffer is a log sink safe to write from the server's goroutines too.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newVerdictSender is a sender of n spooled samples to v, logging to the
// returned buffer.
func newVerdictSender(t *testing.T, v *verdictServer, n int) (*Sender, *spool.Spool, *sleeps, *syncBuffer) {
	t.Helper()
	s, sp, sl := newSender(t, &fakeServer{}, n)
	srv := httptest.NewServer(v)
	t.Cleanup(srv.Close)
	s.Server = srv.URL
	logs := &syncBuffer{}
	s.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return s, sp, sl, logs
}

func logLines(logs *syncBuffer, substr string) []string {
	var out []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// A 200 listing 2 of 5 records as refused: all 5 leave the spool, 2 are
// counted and logged once, and the next heartbeat tells the server.
func TestSenderCountsRecordsRefusedInAStoredBatch(t *testing.T) {
	v := &verdictServer{}
	v.answer = func(rep *jagadesa.Report) (int, http.Header, any) {
		if len(v.got) > 1 {
			return 200, nil, stored(rep)
		}
		return 200, nil, stored(rep,
			jagadesa.Rejection{Seq: 2, Problems: jagadesa.Problems{"samples[1].icmp.received": "more received than sent"}},
			jagadesa.Rejection{Seq: 4, Problems: jagadesa.Problems{"samples[3].target": "too many distinct targets"}})
	}
	s, sp, _, logs := newVerdictSender(t, v, 5)
	n, err := s.SendOnce(context.Background())
	if err != nil || n != 5 {
		t.Fatalf("SendOnce = %d, %v; want 5, nil", n, err)
	}
	if left := sp.Stats().Records; left != 0 {
		t.Fatalf("%d records left; a 200 acknowledges the whole batch", left)
	}
	if got := s.Rejected(); got != 2 {
		t.Fatalf("Rejected() = %d, want 2", got)
	}
	lines := logLines(logs, "refused records")
	if len(lines) != 1 || !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], "refused=2") ||
		!strings.Contains(lines[0], "seq 2: samples[1].icmp.received: more received than sent") ||
		!strings.Contains(lines[0], "seq 4: samples[3].target: too many distinct targets") {
		t.Fatalf("want one warning naming both records, got:\n%s", logs)
	}

	// The next heartbeat carries the count, on the wire.
	p := &Probe{cfg: Config{Root: t.TempDir(), Interval: time.Minute}, log: s.Logger, spool: sp, sender: s, start: time.Now()}
	p.append(EncodeSample(p.heartbeat()))
	if _, err := s.SendOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	last := v.got[len(v.got)-1]
	if len(last.Samples) != 1 || last.Samples[0].Heartbeat == nil || last.Samples[0].Heartbeat.Rejected != 2 {
		t.Fatalf("heartbeat sent: %+v, want rejected=2", last.Samples)
	}
	if got := s.Rejected(); got != 2 {
		t.Fatalf("Rejected() = %d after a clean batch, want still 2", got)
	}
}

// The server's list counts each record of the batch once; numbers not in
// the batch (a confused server) count for nothing.
func TestSenderCountsEachRefusedRecordOnce(t *testing.T) {
	v := &verdictServer{answer: func(rep *jagadesa.Report) (int, http.Header, any) {
		p := jagadesa.Problems{"x": "y"}
		return 200, nil, stored(rep, jagadesa.Rejection{Seq: 3, Problems: p}, jagadesa.Rejection{Seq: 3, Problems: p},
			jagadesa.Rejection{Seq: 99, Problems: p}, jagadesa.Rejection{Seq: 0, Problems: p})
	}}
	s, sp, _, _ := newVerdictSender(t, v, 5)
	if _, err := s.SendOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.Rejected() != 1 || sp.Stats().Records != 0 {
		t.Fatalf("Rejected() = %d, %d left; want 1, 0", s.Rejected(), sp.Stats().Records)
	}
}

// Thousands of refusals make one bounded log line, not thousands.
func TestSenderLogsRefusalsBounded(t *testing.T) {
	v := &verdictServer{answer: func(rep *jagadesa.Report) (int, http.Header, any) {
		var rej []jagadesa.Rejection
		for _, smp := range rep.Samples[1:] {
			p := jagadesa.Problems{}
			for i := range 20 {
				p[fmt.Sprintf("samples[%d].f%02d", smp.Seq-1, i)] = strings.Repeat("long reason ", 25)
			}
			rej = append(rej, jagadesa.Rejection{Seq: smp.Seq, Problems: p})
		}
		return 200, nil, stored(rep, rej...)
	}}
	s, sp, _, logs := newVerdictSender(t, v, 500)
	s.MaxBatch = 500
	if _, err := s.SendOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.Rejected() != 499 || sp.Stats().Records != 0 {
		t.Fatalf("Rejected() = %d, %d left; want 499, 0", s.Rejected(), sp.Stats().Records)
	}
	lines := logLines(logs, "refused records")
	if len(lines) != 1 || len(logs.String()) > 8<<10 || !strings.Contains(lines[0], "and 494 more") || !strings.Contains(lines[0], "and 17 more") {
		t.Fatalf("want one bounded line, got %d lines, %d bytes:\n%.2000s", len(lines), len(logs.String()), logs)
	}
}

// A 400 refusing every record, or the report as a whole: the batch is
// dropped, as before, and every record of it counted.
func TestSenderCountsABatchRefusedWhole(t *testing.T) {
	for name, body := range map[string]func(rep *jagadesa.Report) any{
		"every record": func(rep *jagadesa.Report) any {
			var rej []jagadesa.Rejection
			for _, smp := range rep.Samples {
				rej = append(rej, jagadesa.Rejection{Seq: smp.Seq, Problems: jagadesa.Problems{"samples[0].kind": "unknown kind"}})
			}
			return map[string]any{"error": "every record of the report was refused", "rejected": rej}
		},
		"the report": func(*jagadesa.Report) any {
			return map[string]any{"error": "invalid report", "problems": jagadesa.Problems{"village": "not this probe's village"}}
		},
	} {
		t.Run(name, func(t *testing.T) {
			v := &verdictServer{}
			v.answer = func(rep *jagadesa.Report) (int, http.Header, any) {
				if len(v.got) == 1 {
					return 400, nil, body(rep)
				}
				return 200, nil, stored(rep)
			}
			s, sp, _, logs := newVerdictSender(t, v, 15)
			if err := s.Drain(context.Background()); err != nil {
				t.Fatal(err)
			}
			// The refused batch of 10 is dropped; the next 5 are stored.
			if sp.Stats().Records != 0 || len(v.got) != 2 || len(v.got[1].Samples) != 5 || v.got[1].Samples[0].Seq != 11 {
				t.Fatalf("left %d, sent %d reports", sp.Stats().Records, len(v.got))
			}
			if got := s.Rejected(); got != 10 {
				t.Fatalf("Rejected() = %d, want the batch's 10", got)
			}
			lines := logLines(logs, "server rejected a batch")
			if len(lines) != 1 || !strings.Contains(lines[0], "refused=10") ||
				!(strings.Contains(lines[0], "seq 1: samples[0].kind: unknown kind") || strings.Contains(lines[0], "village: not this probe's village")) {
				t.Fatalf("want one error with the server's reasons, got:\n%s", logs)
			}
		})
	}
}

// A 429 (the server is busy reading other reports) keeps the data, and the
// retry waits at least Retry-After.
func TestSenderWaitsRetryAfterOnTooManyRequests(t *testing.T) {
	v := &verdictServer{}
	v.answer = func(rep *jagadesa.Report) (int, http.Header, any) {
		if len(v.got) == 1 {
			return 429, http.Header{"Retry-After": {"7"}}, map[string]string{"error": "busy"}
		}
		return 200, nil, stored(rep)
	}
	s, sp, sl, _ := newVerdictSender(t, v, 5)
	s.MinBackoff, s.MaxBackoff = 10*time.Millisecond, 20*time.Millisecond // well under 7 s
	_, err := s.SendOnce(context.Background())
	var re *RetryError
	if !errors.As(err, &re) || re.Status != 429 || re.After != 7*time.Second || errors.Is(err, ErrRejected) {
		t.Fatalf("SendOnce: %#v, want a retry error asking for 7s", err)
	}
	s.failures = 1
	if wait := s.backoff(err); wait < 7*time.Second {
		t.Fatalf("backoff %v, want at least Retry-After's 7s", wait)
	}
	if sp.Stats().Records != 5 || s.Rejected() != 0 {
		t.Fatalf("%d records left, %d counted refused; a 429 keeps the batch", sp.Stats().Records, s.Rejected())
	}

	// Through Drain, as the upload loop runs it: one wait of at least 7 s
	// (on the fake clock), then the batch goes through.
	v.mu.Lock()
	v.got = v.got[:0]
	v.mu.Unlock()
	if err := s.Drain(context.Background()); !errors.As(err, &re) || re.Status != 429 {
		t.Fatalf("Drain: %v, want the 429", err)
	}
	if len(sl.d) != 1 || sl.d[0] < 7*time.Second {
		t.Fatalf("waited %v, want one wait of at least 7s", sl.d)
	}
	if err := s.Drain(context.Background()); err != nil || sp.Stats().Records != 0 {
		t.Fatalf("after the wait: %v, %d left", err, sp.Stats().Records)
	}
}

// A stream file holding an id the server refuses (too long, or characters
// outside [A-Za-z0-9._-]): the sender starts a new stream rather than have
// every batch refused.
func TestSenderReplacesAnInvalidStream(t *testing.T) {
	for _, bad := range []string{"village stream", "s-ü", strings.Repeat("a", 64) + "/"} {
		v := &verdictServer{}
		s, sp, _, _ := newVerdictSender(t, v, 3)
		s.StreamFile = filepath.Join(t.TempDir(), "stream")
		if err := os.WriteFile(s.StreamFile, []byte(bad+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		var err error
		if s.Stream, err = LoadOrCreateStream(s.StreamFile); err != nil {
			t.Fatal(err)
		}
		if err := s.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
		if s.Stream == bad || !jagadesa.ValidStream(s.Stream) || s.Stream == "" {
			t.Fatalf("stream %q from %q", s.Stream, bad)
		}
		if len(v.got) != 1 || v.got[0].Stream != s.Stream || sp.Stats().Records != 0 {
			t.Fatalf("sent %d reports on stream %q, %d left", len(v.got), v.got[0].Stream, sp.Stats().Records)
		}
		if b, _ := os.ReadFile(s.StreamFile); strings.TrimSpace(string(b)) != s.Stream {
			t.Fatalf("stream file holds %q, sender uses %q", b, s.Stream)
		}
	}
	// A valid id is kept.
	v := &verdictServer{}
	s, _, _, _ := newVerdictSender(t, v, 1)
	s.Stream = "s-0123abcd.x_y-z"
	if err := s.Drain(context.Background()); err != nil || s.Stream != "s-0123abcd.x_y-z" || v.got[0].Stream != s.Stream {
		t.Fatalf("valid stream changed: %v, %q", err, s.Stream)
	}
}

// sliceQueue is a Queue over records with any ids.
type sliceQueue struct {
	recs  []spool.Record
	acked uint64
}

func (q *sliceQueue) Peek(n, _ int) ([]spool.Record, error) {
	var out []spool.Record
	for _, r := range q.recs {
		if r.ID > q.acked && len(out) < n {
			out = append(out, r)
		}
	}
	return out, nil
}

func (q *sliceQueue) Ack(upTo uint64) error { q.acked = upTo; return nil }

// A record number the server cannot take (0, or above 2^53) is never sent.
func TestSenderNeverSendsASeqOutsideTheWireRange(t *testing.T) {
	v := &verdictServer{}
	s, _, _, logs := newVerdictSender(t, v, 0)
	b, _ := EncodeSample(jagadesa.Sample{TimeMs: time.Now().UnixMilli(), Kind: jagadesa.KindICMP, Target: "t", ICMP: &jagadesa.ICMP{Sent: 1}})
	q := &sliceQueue{recs: []spool.Record{{ID: jagadesa.MaxSeq - 1, Payload: b}, {ID: jagadesa.MaxSeq, Payload: b}, {ID: jagadesa.MaxSeq + 1, Payload: b}}}
	s.Queue = q
	if n, err := s.SendOnce(context.Background()); err != nil || n != 3 {
		t.Fatalf("SendOnce = %d, %v", n, err)
	}
	if len(v.got) != 1 || len(v.got[0].Samples) != 2 || v.got[0].Samples[1].Seq != jagadesa.MaxSeq || q.acked != jagadesa.MaxSeq+1 {
		t.Fatalf("sent %+v, acked %d", v.got, q.acked)
	}
	if len(logLines(logs, "outside 1..2^53")) != 1 {
		t.Fatalf("want one error about the record, got:\n%s", logs)
	}
}

func TestDecodeVerdict(t *testing.T) {
	p := `{"f":"r"}`
	for _, c := range []struct {
		name, body string
		refused    int
		errMsg     string
		problems   int
		wantErr    bool
	}{
		{"empty body", "", 0, "", 0, false},
		{"stored, none refused", `{"accepted":5,"points":9,"max_seq":5}`, 0, "", 0, false},
		{"null list", `{"accepted":5,"rejected":null}`, 0, "", 0, false},
		{"stored, some refused", `{"accepted":3,"points":3,"max_seq":5,"rejected":[{"seq":2,"problems":` + p + `},{"seq":4,"problems":` + p + `}]}`, 2, "", 0, false},
		{"all refused", `{"error":"every record refused","rejected":[{"seq":1,"problems":` + p + `}]}`, 1, "every record refused", 0, false},
		{"report refused", `{"error":"invalid report","problems":{"village":"wrong","stream":"bad"}}`, 0, "invalid report", 2, false},
		{"cut off", `{"accepted":3,"rejected":[{"seq":2,"problems":` + p + `},{"seq":4,"probl`, 1, "", 0, true},
		{"not JSON", "<html>Bad Request</html>", 0, "", 0, true},
		{"not an object", `[1,2]`, 0, "", 0, true},
		{"list is not a list", `{"rejected":{"seq":1}}`, 0, "", 0, true},
	} {
		v, err := decodeVerdict(strings.NewReader(c.body))
		if (err != nil) != c.wantErr || len(v.refused) != c.refused || v.errMsg != c.errMsg || len(v.problems) != c.problems {
			t.Errorf("%s: %+v, %v", c.name, v, err)
		}
	}
}

// A 413 (too large) or a 400 without verdicts: dropped as before, and
// counted like any batch the server refused.
func TestSenderCountsBatchesRefusedWithoutVerdicts(t *testing.T) {
	for _, st := range []int{413, 400} {
		f := &fakeServer{statuses: []int{st}}
		s, sp, _ := newSender(t, f, 15)
		if err := s.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
		if sp.Stats().Records != 0 || len(f.got) != 1 || s.Rejected() != 10 {
			t.Fatalf("%d: %d left, %d reports stored, Rejected() = %d; want 0, 1, 10", st, sp.Stats().Records, len(f.got), s.Rejected())
		}
	}
}
