package probe

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/probe/spool"
)

// Queue is the sender's view of the spool: read the oldest records, and drop
// them once the server has them.
type Queue interface {
	Peek(maxRecords int, maxBytes int) ([]spool.Record, error)
	Ack(upTo uint64) error
}

var _ Queue = (*spool.Spool)(nil)

// record is what one spool record holds: a sample or an event. Its sequence
// number is the spool's record id, unique for the life of the spool.
type record struct {
	Sample *jagadesa.Sample `json:"s,omitempty"`
	Event  *jagadesa.Event  `json:"e,omitempty"`
}

// EncodeSample is the spool payload of a sample.
func EncodeSample(s jagadesa.Sample) ([]byte, error) { return json.Marshal(record{Sample: &s}) }

// EncodeEvent is the spool payload of an event.
func EncodeEvent(e jagadesa.Event) ([]byte, error) { return json.Marshal(record{Event: &e}) }

// Sender uploads the spool to the server in gzip batches, oldest first.
type Sender struct {
	Server  string // base URL, e.g. https://jagadesa.example.go.id
	Token   string
	Village string
	Queue   Queue
	Client  *http.Client
	Logger  *slog.Logger
	Version string

	// Key signs every batch (nil: batches go unsigned, for servers that
	// still accept them). Its public half is registered with the server,
	// once per run, before the first batch.
	Key ed25519.PrivateKey
	// Stream names the run of record numbers (see jagadesa.Report.Stream);
	// StreamFile is where a new stream's id is recorded when the numbers
	// went back ("" keeps it in memory only).
	Stream     string
	StreamFile string

	// MaxBatch caps the records per report (default 500).
	MaxBatch int
	// BackfillGap is the pause between batches while a backlog drains, so a
	// day's backlog does not flood a link that has just come back
	// (default 200 ms: at 500 records a batch, 2,500 records/s).
	BackfillGap time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failure
	// (defaults 2 s and 5 min); the wait doubles with each failure, with
	// full jitter, and is never shorter than the server's Retry-After.
	MinBackoff, MaxBackoff time.Duration

	// Now and Sleep are the clock; tests replace them.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error

	failures      int
	keyRegistered bool
}

// Sentinel results of a send.
var (
	// ErrRejected means the server refused the batch as invalid; retrying
	// the same bytes cannot succeed.
	ErrRejected = errors.New("server rejected the batch")
)

// retryError carries how long the server asked us to wait.
type retryError struct {
	status int
	after  time.Duration
	msg    string
}

func (e *retryError) Error() string {
	if e.status == 0 {
		return e.msg
	}
	return fmt.Sprintf("server answered %d: %s", e.status, e.msg)
}

func (s *Sender) defaults() {
	if s.MaxBatch <= 0 {
		s.MaxBatch = 500
	}
	if s.BackfillGap == 0 {
		s.BackfillGap = 200 * time.Millisecond
	}
	if s.MinBackoff <= 0 {
		s.MinBackoff = 2 * time.Second
	}
	if s.MaxBackoff <= 0 {
		s.MaxBackoff = 5 * time.Minute
	}
	if s.Client == nil {
		s.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Sleep == nil {
		s.Sleep = sleepCtx
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Drain sends batches until the queue is empty. On a failure it waits its
// backoff and returns the error, leaving the batch in the queue.
func (s *Sender) Drain(ctx context.Context) error {
	s.defaults()
	for {
		n, err := s.SendOnce(ctx)
		if err != nil {
			s.failures++
			wait := s.backoff(err)
			s.Logger.Warn("upload failed; keeping the batch", "err", err, "retry_in", wait.Round(time.Millisecond), "village", s.Village)
			if serr := s.Sleep(ctx, wait); serr != nil {
				return serr
			}
			return err
		}
		s.failures = 0
		if n < s.MaxBatch {
			return nil
		}
		if err := s.Sleep(ctx, s.BackfillGap); err != nil {
			return err
		}
	}
}

func (s *Sender) backoff(err error) time.Duration {
	ceil := s.MinBackoff << min(s.failures-1, 16)
	if ceil > s.MaxBackoff || ceil <= 0 {
		ceil = s.MaxBackoff
	}
	wait := s.MinBackoff/2 + mrand.N(ceil) // full jitter, never a hot loop
	var re *retryError
	if errors.As(err, &re) && re.after > wait {
		wait = min(re.after, 24*time.Hour)
	}
	return wait
}

// SendOnce sends the oldest batch and returns how many records it held.
// Records are acknowledged (dropped from the queue) only after a 2xx, or
// after the server rejected them as invalid — those are logged with the
// server's reasons, since resending identical bytes cannot succeed.
func (s *Sender) SendOnce(ctx context.Context) (int, error) {
	s.defaults()
	recs, err := s.Queue.Peek(s.MaxBatch, 2<<20)
	if err != nil {
		return 0, fmt.Errorf("read spool: %w", err)
	}
	if len(recs) == 0 {
		return 0, nil
	}
	if s.Key != nil && !s.keyRegistered {
		if err := s.registerKey(ctx); err != nil {
			return 0, err
		}
	}
	now := s.Now()
	rep := jagadesa.Report{Version: jagadesa.WireVersion, Village: s.Village, SentAt: now.UnixMilli(), Stream: s.Stream}
	// The server refuses records older than jagadesa.MaxPast; sending them
	// would get the whole batch rejected, so they are dropped here, counted.
	oldest := now.Add(-jagadesa.MaxPast + time.Hour).UnixMilli()
	expired := 0
	for _, r := range recs {
		var rec record
		if err := json.Unmarshal(r.Payload, &rec); err != nil {
			// The spool's checksum passed, so this is a bug, not a torn
			// write; skip the record rather than block the queue forever.
			s.Logger.Error("undecodable spool record skipped", "id", r.ID, "err", err)
			continue
		}
		switch {
		case rec.Sample != nil && rec.Sample.TimeMs < oldest, rec.Event != nil && rec.Event.TimeMs < oldest:
			expired++
		case rec.Sample != nil:
			rec.Sample.Seq = r.ID
			rep.Samples = append(rep.Samples, *rec.Sample)
		case rec.Event != nil:
			rec.Event.Seq = r.ID
			rep.Events = append(rep.Events, *rec.Event)
		}
	}
	if expired > 0 {
		s.Logger.Warn("dropped records too old for the server to accept", "records", expired, "village", s.Village)
	}
	last := recs[len(recs)-1].ID
	if len(rep.Samples)+len(rep.Events) > 0 {
		err = s.post(ctx, &rep)
		var dup *replayError
		if errors.As(err, &dup) {
			first := recs[0].ID
			switch {
			case dup.maxSeq >= first && dup.maxSeq <= last:
				// The server has this batch up to maxSeq already: an answer
				// was lost. Drop what it has; the rest goes next time.
				if err := s.Queue.Ack(dup.maxSeq); err != nil {
					return 0, fmt.Errorf("ack spool: %w", err)
				}
				s.Logger.Info("server already had part of the batch", "up_to", dup.maxSeq, "village", s.Village)
				return int(min(dup.maxSeq-first+1, uint64(len(recs)))), nil
			default:
				// The server holds numbers beyond any this spool gave out:
				// the spool was reset and its numbers went back. Start a new
				// stream so they count as new, and send again.
				if err := s.newStream(); err != nil {
					return 0, err
				}
				rep.Stream = s.Stream
				err = s.post(ctx, &rep)
			}
		}
	}
	if errors.Is(err, ErrRejected) {
		s.Logger.Error("server rejected a batch; dropping it", "err", err, "records", len(recs), "first_seq", recs[0].ID, "last_seq", last)
		err = nil
	}
	if err != nil {
		return 0, err
	}
	if err := s.Queue.Ack(last); err != nil {
		return 0, fmt.Errorf("ack spool: %w", err)
	}
	return len(recs), nil
}

func (s *Sender) post(ctx context.Context, rep *jagadesa.Report) error {
	raw, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	zw.Write(raw)
	if err := zw.Close(); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(s.Server, "/")+"/api/v1/reports", &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("User-Agent", "jagadesa-probe/"+s.Version)
	if s.Key != nil {
		req.Header.Set(jagadesa.SignatureHeader, jagadesa.SignReport(s.Key, raw))
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return &retryError{msg: err.Error()}
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode == http.StatusConflict && resp.Header.Get(maxSeqHeader) != "":
		n, err := strconv.ParseUint(resp.Header.Get(maxSeqHeader), 10, 64)
		if err != nil {
			return &retryError{status: resp.StatusCode, msg: "bad " + maxSeqHeader + " header"}
		}
		return &replayError{maxSeq: n}
	case resp.StatusCode == http.StatusUnauthorized && s.Key != nil:
		// Perhaps the key was reset on the server: register it again before
		// the next try.
		s.keyRegistered = false
		return &retryError{status: resp.StatusCode, after: retryAfter(resp.Header.Get("Retry-After"), s.Now()), msg: string(bytes.TrimSpace(msg))}
	case resp.StatusCode == http.StatusBadRequest, resp.StatusCode == http.StatusRequestEntityTooLarge:
		return fmt.Errorf("%w: %d %s", ErrRejected, resp.StatusCode, bytes.TrimSpace(msg))
	default:
		// 401/403 (token problems), 429, 5xx: keep the data and wait.
		return &retryError{status: resp.StatusCode, after: retryAfter(resp.Header.Get("Retry-After"), s.Now()), msg: string(bytes.TrimSpace(msg))}
	}
}

// retryAfter reads seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if n, err := strconv.Atoi(h); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return t.Sub(now)
	}
	return 0
}

// maxSeqHeader is server.MaxSeqHeader (the probe does not import the
// server).
const maxSeqHeader = "X-JagaDesa-Max-Seq"

// replayError is the server's 409: it already holds records up to maxSeq
// of this stream.
type replayError struct{ maxSeq uint64 }

func (e *replayError) Error() string {
	return fmt.Sprintf("server already holds records up to %d", e.maxSeq)
}

func (s *Sender) newStream() error {
	old := s.Stream
	if s.StreamFile != "" {
		id, err := NewStream(s.StreamFile)
		if err != nil {
			return err
		}
		s.Stream = id
	} else {
		s.Stream = streamID()
	}
	s.Logger.Warn("record numbers went back (spool reset?); starting a new stream", "old", old, "new", s.Stream, "village", s.Village)
	return nil
}

// registerKey tells the server the probe's public key. The server binds
// the first key a probe registers; registering it again is harmless.
func (s *Sender) registerKey(ctx context.Context) error {
	b, _ := json.Marshal(map[string]string{"public_key": jagadesa.FormatPublicKey(s.Key.Public().(ed25519.PublicKey))})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(s.Server, "/")+"/api/v1/probes/key", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("User-Agent", "jagadesa-probe/"+s.Version)
	resp, err := s.Client.Do(req)
	if err != nil {
		return &retryError{msg: "register key: " + err.Error()}
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		// 409: the server holds another key for this probe (the router was
		// re-flashed?): an admin must reset it. Keep the data meanwhile.
		return &retryError{status: resp.StatusCode, after: retryAfter(resp.Header.Get("Retry-After"), s.Now()), msg: "register key: " + string(bytes.TrimSpace(msg))}
	}
	s.keyRegistered = true
	s.Logger.Info("probe key registered with the server", "key", jagadesa.KeyID(s.Key.Public().(ed25519.PublicKey)))
	return nil
}
