package federation

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/internal/fsutil"
	"github.com/jagadesa/jagadesa/probe/spool"
)

// Config sets up a province's Forwarder.
type Config struct {
	// URL is the national server's base URL (https://…); batches go to
	// URL + Path.
	URL      string
	Province string // two-digit code: 33, 15, …
	Key      ed25519.PrivateKey
	// Dir holds the spool and the stream id (<data-dir>/federation).
	Dir string
	// Client posts the batches; the caller sets its TLS (verified).
	Client *http.Client
	// ShareEvidence sends incidents' raw security evidence along; off by
	// default: the national view gets summaries.
	ShareEvidence bool
	// MaxBytes bounds the spool on disk (default 256 MiB: months of a
	// large province's changes). Beyond it the oldest items are dropped,
	// and the national view is told how many.
	MaxBytes int64
	// BatchItems and BatchBytes bound one batch (default 500 items,
	// 1 MiB of JSON).
	BatchItems int
	BatchBytes int
	// MinBackoff and MaxBackoff bound the wait after a failure (default
	// 1 s and 5 min); Poll is how often an idle forwarder looks at its
	// spool besides being kicked by Enqueue (default 30 s).
	MinBackoff, MaxBackoff, Poll time.Duration
	// RequestTimeout bounds one post (default 60 s).
	RequestTimeout time.Duration
	Logger         *slog.Logger
	Now            func() time.Time
}

// Forwarder keeps a province's items in a crash-safe spool and posts them
// to the national server, oldest first, removing them only once acked.
type Forwarder struct {
	cfg  Config
	sp   *spool.Spool
	kick chan struct{}

	mu         sync.Mutex
	stream     string
	batchItems int // lowered after a 413
	lastOK     time.Time
	lastErr    string
	rejected   int64
}

const streamFile = "stream"

// Open opens (creating if needed) the forwarder's spool in cfg.Dir.
func Open(cfg Config) (*Forwarder, error) {
	if !ValidProvince(cfg.Province) {
		return nil, fmt.Errorf("federation: province %q is not a two-digit code", cfg.Province)
	}
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("federation: no signing key")
	}
	if !strings.HasPrefix(cfg.URL, "https://") && !strings.HasPrefix(cfg.URL, "http://") {
		return nil, fmt.Errorf("federation: national URL %q is not http(s)", cfg.URL)
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 256 << 20
	}
	if cfg.BatchItems <= 0 || cfg.BatchItems > MaxItemsPerBatch {
		cfg.BatchItems = 500
	}
	if cfg.BatchBytes <= 0 || cfg.BatchBytes > MaxBodyBytes/2 {
		cfg.BatchBytes = 1 << 20
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(cfg.MinBackoff, 5*time.Minute)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 30 * time.Second
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 60 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// Appends are synced by Enqueue and EnqueueAll themselves, once per
	// call: a tick that changes a thousand villages costs one fsync.
	sp, err := spool.Open(cfg.Dir, spool.Options{MaxBytes: cfg.MaxBytes, SegmentBytes: min(4<<20, cfg.MaxBytes/4), SyncEvery: 1 << 30, Now: cfg.Now})
	if err != nil {
		return nil, fmt.Errorf("federation: %w", err)
	}
	f := &Forwarder{cfg: cfg, sp: sp, kick: make(chan struct{}, 1), batchItems: cfg.BatchItems}
	b, err := os.ReadFile(filepath.Join(cfg.Dir, streamFile))
	switch {
	case err == nil && codeRE.Match(bytes.TrimSpace(b)):
		f.stream = string(bytes.TrimSpace(b))
	case err == nil || errors.Is(err, fs.ErrNotExist):
		if err := f.newStream(); err != nil {
			sp.Close()
			return nil, err
		}
	default:
		sp.Close()
		return nil, fmt.Errorf("federation: %w", err)
	}
	return f, nil
}

// newStream starts a new stream of item numbers: the spool's numbers no
// longer match what the national server has for the old one.
func (f *Forwarder) newStream() error {
	var b [8]byte
	_, _ = rand.Read(b[:])
	s := "f-" + hex.EncodeToString(b[:])
	if err := fsutil.WriteFileAtomic(filepath.Join(f.cfg.Dir, streamFile), []byte(s+"\n"), 0o600); err != nil {
		return fmt.Errorf("federation: stream id: %w", err)
	}
	f.mu.Lock()
	f.stream = s
	f.mu.Unlock()
	return nil
}

// Close closes the spool; items not yet acked stay on disk for the next
// start.
func (f *Forwarder) Close() error { return f.sp.Close() }

// ErrOutside is returned by Enqueue for an item about another province's
// village (a server watching several provinces forwards only its own).
var ErrOutside = errors.New("federation: the item's village lies outside the forwarding province")

// Enqueue adds an item to the spool; it is on disk when Enqueue returns.
// A zero At is stamped now; an incident's evidence is dropped unless the
// province shares it. An item about another province's village is
// ErrOutside; an invalid one is refused with why.
func (f *Forwarder) Enqueue(it Item) error {
	b, err := f.encode(it)
	if err != nil {
		return err
	}
	if _, err := f.sp.Append(b); err != nil {
		return fmt.Errorf("federation: spool: %w", err)
	}
	return f.synced()
}

// EnqueueAll adds items with one sync for all of them, for the many a
// detector tick or a month's figures bring at once. Items Enqueue would
// refuse are skipped and counted; err is a spool failure, after which the
// items from the failed one on are not stored.
func (f *Forwarder) EnqueueAll(items []Item) (skipped int, err error) {
	for _, it := range items {
		b, err := f.encode(it)
		if err != nil {
			skipped++
			if !errors.Is(err, ErrOutside) {
				f.cfg.Logger.Warn("federation: item not forwarded", "err", err)
			}
			continue
		}
		if _, err := f.sp.Append(b); err != nil {
			return skipped, fmt.Errorf("federation: spool: %w", err)
		}
	}
	return skipped, f.synced()
}

func (f *Forwarder) encode(it Item) ([]byte, error) {
	now := f.cfg.Now()
	if it.At.IsZero() {
		it.At = now
	}
	it.Seq = 0
	if it.Incident != nil && !f.cfg.ShareEvidence {
		in := *it.Incident
		in.Evidence = nil
		it.Incident = &in
	}
	if err := it.check(f.cfg.Province, now); err != nil {
		if strings.Contains(err.Error(), "outside province") {
			return nil, ErrOutside
		}
		return nil, fmt.Errorf("federation: %s item refused: %w", it.Kind, err)
	}
	return json.Marshal(it)
}

// synced makes what was appended durable and wakes the sender.
func (f *Forwarder) synced() error {
	if err := f.sp.Sync(); err != nil {
		return fmt.Errorf("federation: spool: %w", err)
	}
	select {
	case f.kick <- struct{}{}:
	default:
	}
	return nil
}

// Status is what the forwarder can tell about itself.
type Status struct {
	Stream   string    `json:"stream"`
	Backlog  int64     `json:"backlog"`
	Dropped  uint64    `json:"dropped"`
	Rejected int64     `json:"rejected"`
	LastOK   time.Time `json:"last_ok"`
	LastErr  string    `json:"last_error,omitempty"`
}

// Status returns the forwarder's counters.
func (f *Forwarder) Status() Status {
	st := f.sp.Stats()
	f.mu.Lock()
	defer f.mu.Unlock()
	return Status{Stream: f.stream, Backlog: st.Records, Dropped: st.Dropped, Rejected: f.rejected, LastOK: f.lastOK, LastErr: f.lastErr}
}

// sendError is a failed post and how long the national server asked to wait.
type sendError struct {
	err        error
	retryAfter time.Duration
}

func (e *sendError) Error() string { return e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

// Run posts batches until ctx ends: at once while there is a backlog,
// after a backoff when the national server is unreachable or refuses.
func (f *Forwarder) Run(ctx context.Context) error {
	fails := 0
	for {
		n, err := f.SendOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var wait time.Duration
		switch {
		case err != nil:
			fails++
			wait = f.cfg.MinBackoff << min(fails-1, 20)
			if wait > f.cfg.MaxBackoff || wait <= 0 {
				wait = f.cfg.MaxBackoff
			}
			wait += time.Duration(mrand.Int64N(int64(wait)/5 + 1)) // spread retries
			var se *sendError
			if errors.As(err, &se) && se.retryAfter > wait {
				wait = min(se.retryAfter, f.cfg.MaxBackoff)
			}
			f.cfg.Logger.Warn("federation: batch not delivered; will retry", "err", err, "retry_in", wait.Round(time.Millisecond), "backlog", f.sp.Stats().Records)
		case n > 0:
			fails = 0
			continue
		default:
			fails = 0
			wait = f.cfg.Poll
		}
		t := time.NewTimer(wait)
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
				waiting = false
			case <-f.kick:
				// A new item ends an idle wait, not a backoff.
				if err == nil {
					t.Stop()
					waiting = false
				}
			}
		}
	}
}

// SendOnce posts one batch of the oldest items, if any, and deletes what
// the national server acked. It returns how many items were acked.
func (f *Forwarder) SendOnce(ctx context.Context) (int, error) { return f.sendOnce(ctx, false) }

func (f *Forwarder) sendOnce(ctx context.Context, newStream bool) (int, error) {
	f.mu.Lock()
	limit, stream := f.batchItems, f.stream
	f.mu.Unlock()
	recs, err := f.sp.Peek(limit, f.cfg.BatchBytes)
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	items := make([]Item, 0, len(recs))
	for _, r := range recs {
		var it Item
		if err := json.Unmarshal(r.Payload, &it); err != nil {
			// CRC-checked, so only a bug could write this; it must not
			// stall the stream.
			f.cfg.Logger.Error("federation: unreadable item skipped", "seq", r.ID, "err", err)
			continue
		}
		it.Seq = r.ID
		items = append(items, it)
	}
	last := recs[len(recs)-1].ID
	if len(items) == 0 {
		return len(recs), f.sp.Ack(last)
	}
	st := f.sp.Stats()
	b := Batch{Version: WireVersion, Province: f.cfg.Province, Stream: stream, SentAt: f.cfg.Now().UTC(),
		KeyID: jagadesa.KeyID(f.cfg.Key.Public().(ed25519.PublicKey)), Backlog: st.Records, Dropped: st.Dropped, Items: items}
	ack, err := f.post(ctx, &b)
	if err != nil {
		f.mu.Lock()
		f.lastErr = err.Error()
		f.mu.Unlock()
		return 0, err
	}
	if ack.AcceptedTo > last && ack.Stored == 0 && !newStream {
		// The national server has numbers beyond any this spool gave out
		// for the stream: the spool was reset under its stream file. A new
		// stream makes these items new again.
		f.cfg.Logger.Warn("federation: the national server's mark is ahead of the spool; starting a new stream", "mark", ack.AcceptedTo, "last", last)
		if err := f.newStream(); err != nil {
			return 0, err
		}
		return f.sendOnce(ctx, true)
	}
	upTo := min(ack.AcceptedTo, last)
	if upTo < items[0].Seq {
		return 0, fmt.Errorf("federation: the national server acked %d, below the batch (%d–%d)", ack.AcceptedTo, items[0].Seq, last)
	}
	if err := f.sp.Ack(upTo); err != nil {
		return 0, err
	}
	for _, r := range ack.Rejected {
		f.cfg.Logger.Error("federation: the national server refused an item", "seq", r.Seq, "reason", r.Reason)
	}
	f.mu.Lock()
	f.lastOK, f.lastErr = f.cfg.Now(), ""
	f.rejected += int64(len(ack.Rejected))
	f.mu.Unlock()
	n := 0
	for _, r := range recs {
		if r.ID <= upTo {
			n++
		}
	}
	return n, nil
}

func (f *Forwarder) post(ctx context.Context, b *Batch) (*Ack, error) {
	body, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(body)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.cfg.URL+Path, &gz)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set(ProvinceHeader, f.cfg.Province)
	req.Header.Set(jagadesa.SignatureHeader, jagadesa.SignReport(f.cfg.Key, body))
	resp, err := f.cfg.Client.Do(req)
	if err != nil {
		return nil, &sendError{err: fmt.Errorf("post to the national server: %w", err)}
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusOK {
		var ack Ack
		if err := json.Unmarshal(answer, &ack); err != nil {
			return nil, &sendError{err: fmt.Errorf("the national server's answer is not an ack: %w", err)}
		}
		return &ack, nil
	}
	e := &sendError{err: fmt.Errorf("the national server answered %s: %s", resp.Status, clipAnswer(answer))}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.retryAfter = time.Duration(s) * time.Second
	}
	if resp.StatusCode == http.StatusRequestEntityTooLarge {
		f.mu.Lock()
		f.batchItems = max(1, len(b.Items)/2)
		f.mu.Unlock()
	}
	return nil, e
}

func clipAnswer(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
