package probe

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
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
	Client  Doer // nil: the probe's HTTPClient, system roots, 30 s a request
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

	// Tokens keeps a rotated token where the next start finds it (the
	// token file, or a file beside the spool); nil: the probe cannot take
	// a new token, and says so when staff ask for one.
	Tokens TokenSaver

	// Now and Sleep are the clock; tests replace them.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error

	rotateWarned bool

	failures      int
	keyRegistered bool
	// rejected counts the records the server refused since the sender was
	// made; the heartbeat reads it from another goroutine.
	rejected atomic.Uint64
}

// Rejected returns how many records the server has refused since the
// sender was made: those it listed as rejected in a 200 answer, and every
// record of a batch it answered 400 or 413. It is safe to call while the
// sender runs.
func (s *Sender) Rejected() uint64 { return s.rejected.Load() }

// Sentinel results of a send.
var (
	// ErrRejected means the server refused the batch as invalid; retrying
	// the same bytes cannot succeed.
	ErrRejected = errors.New("server rejected the batch")
)

// rejectedError is the server's 400 or 413: the whole batch was refused.
// It wraps ErrRejected and carries the server's reasons, when it gave them
// as JSON: per record (every record was refused) or for the report.
type rejectedError struct {
	status int
	msg    string
	v      verdict
}

func (e *rejectedError) Error() string {
	return fmt.Sprintf("%v: %d %s", ErrRejected, e.status, e.msg)
}

func (e *rejectedError) Unwrap() error { return ErrRejected }

// reasons sums the server's reasons up for a log line.
func (e *rejectedError) reasons() string {
	if len(e.v.refused) > 0 {
		return describeRejections(e.v.quoted, len(e.v.refused))
	}
	return describeProblems(e.v.problems)
}

// RetryError is an upload the server did not take for now (or could not
// be reached for): keep the records and try again, not before After (the
// server's Retry-After, 0 when it gave none). Status is 0 when no answer
// came.
type RetryError struct {
	Status int
	After  time.Duration
	Msg    string
}

func (e *RetryError) Error() string {
	if e.Status == 0 {
		return e.Msg
	}
	return fmt.Sprintf("server answered %d: %s", e.Status, e.Msg)
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
		s.Client, _ = newHTTPClient(nil)
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
	var re *RetryError
	if errors.As(err, &re) && re.After > wait {
		wait = min(re.After, 24*time.Hour)
	}
	return wait
}

// SendOnce sends the oldest batch and returns how many records it held.
// Records are acknowledged (dropped from the queue) only after a 2xx, or
// after the server rejected them as invalid — those are logged with the
// server's reasons, since resending identical bytes cannot succeed. A 2xx
// may list records the server refused while storing the others: the whole
// batch is acknowledged, and the refused ones counted (Rejected) and logged.
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
	if !jagadesa.ValidStream(s.Stream) || s.Stream == "" && s.StreamFile != "" {
		// A stream file edited by hand or written by something else: the
		// server refuses every report naming such a stream, so the spool
		// would drain into 400s. The server never stored a record under it,
		// so nothing sent before can come back as a duplicate. (No stream
		// at all, without a stream file, is a test's or an old setup's.)
		if err := s.newStream("stream id unusable: it must be 1 to 64 of A-Z, a-z, 0-9, '.', '_', '-'"); err != nil {
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
		if r.ID == 0 || r.ID > jagadesa.MaxSeq {
			// The server refuses such a number (it must be 1..2^53, exact in
			// every JSON reader), so it is never sent. It cannot happen in
			// practice: spool ids start at 1 and grow by one per Append, and
			// at a thousand records a second 2^53 is 285,000 years away.
			// Only a foreign or hand-made segment file in the spool
			// directory could make the ids jump (the state file is
			// checksummed). A new stream would not help there, since the
			// record numbers are the spool's ids and would stay as high;
			// the records are dropped, loudly, and the fix is a new spool
			// directory (whose numbers going back start a new stream).
			s.Logger.Error("spool record id outside 1..2^53; record dropped (move the spool directory away)", "id", r.ID, "village", s.Village)
			continue
		}
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
	sent := len(rep.Samples) + len(rep.Events)
	var res *verdict
	if sent > 0 {
		res, err = s.post(ctx, &rep)
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
				if err := s.newStream("record numbers went back (spool reset?)"); err != nil {
					return 0, err
				}
				rep.Stream = s.Stream
				res, err = s.post(ctx, &rep)
			}
		}
	}
	var rej *rejectedError
	if errors.As(err, &rej) {
		s.rejected.Add(uint64(sent))
		s.Logger.Error("server rejected a batch; dropping it", "err", err, "records", len(recs), "refused", sent,
			"first_seq", recs[0].ID, "last_seq", last, "reasons", rej.reasons(), "village", s.Village)
		err = nil
	}
	if err != nil {
		return 0, err
	}
	if res != nil {
		// Counted before the ack: should the ack fail, the batch goes again,
		// the server answers 409 without verdicts, and nothing counts twice.
		s.countRefused(&rep, res)
	}
	if err := s.Queue.Ack(last); err != nil {
		return 0, fmt.Errorf("ack spool: %w", err)
	}
	if res != nil && res.rotate {
		s.rotateToken(ctx)
	}
	return len(recs), nil
}

// rotateToken fetches the probe's next token, after staff asked for one
// (the server said rotate_token): saved durably first, used after. The old
// token works until the new one is first used, so a failure here loses
// nothing: the next batch's answer asks again.
func (s *Sender) rotateToken(ctx context.Context) {
	if s.Tokens == nil {
		if !s.rotateWarned {
			s.rotateWarned = true
			s.Logger.Warn("the server asks for a new token, but this probe has nowhere to keep one; give it a --token-file", "village", s.Village)
		}
		return
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	tok, err := FetchToken(ctx, s.Client, s.Server, s.Token, s.Village, s.Key, now())
	if err != nil {
		s.Logger.Warn("new token not fetched; trying again after the next batch", "err", err)
		return
	}
	if err := s.Tokens.SaveToken(tok); err != nil {
		s.Logger.Error("new token not saved; keeping the old one", "err", err)
		return
	}
	s.Token = tok
	s.Logger.Info("probe token rotated", "village", s.Village)
}

// countRefused counts and logs the records a stored batch's answer lists as
// refused: each record of the batch once, whatever else the list holds.
func (s *Sender) countRefused(rep *jagadesa.Report, res *verdict) {
	if len(res.refused) == 0 {
		return
	}
	inBatch := make(map[uint64]bool, len(rep.Samples)+len(rep.Events))
	for i := range rep.Samples {
		inBatch[rep.Samples[i].Seq] = true
	}
	for i := range rep.Events {
		inBatch[rep.Events[i].Seq] = true
	}
	records := len(inBatch)
	n := 0
	for _, seq := range res.refused {
		if inBatch[seq] {
			n++
			delete(inBatch, seq)
		}
	}
	s.rejected.Add(uint64(n))
	s.Logger.Warn("server refused records of a batch; they are dropped", "refused", n, "records", records,
		"reasons", describeRejections(res.quoted, len(res.refused)), "village", s.Village)
}

// Bounds on what a log line quotes of the server's reasons: enough to see
// what is wrong, never thousands of lines or kilobytes.
const (
	maxLoggedRejections = 5
	maxLoggedProblems   = 3
	maxLoggedText       = 200
)

// describeRejections quotes the first few refused records of total and
// their reasons: "seq 12: samples[3].kind: unknown kind; seq 13: ...".
func describeRejections(rej []jagadesa.Rejection, total int) string {
	var b strings.Builder
	for i, r := range rej {
		if i == maxLoggedRejections {
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "seq %d: %s", r.Seq, describeProblems(r.Problems))
	}
	if more := total - min(len(rej), maxLoggedRejections); more > 0 {
		fmt.Fprintf(&b, "; and %d more", more)
	}
	return b.String()
}

// describeProblems quotes the first few problems, by field name.
func describeProblems(p jagadesa.Problems) string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(p)) {
		if i == maxLoggedProblems {
			fmt.Fprintf(&b, ", and %d more", len(p)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(clip(k, maxLoggedText))
		b.WriteString(": ")
		b.WriteString(clip(p[k], maxLoggedText))
	}
	return b.String()
}

// clip shortens s to at most n bytes, on a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// maxVerdictBytes bounds the answer read for a batch: verdicts on every
// record of the largest batch fit many times over. The answer is decoded
// as it arrives, one refusal at a time, so a long one costs little memory.
const maxVerdictBytes = 16 << 20

// verdict is what the sender keeps of the server's answer to a batch (a
// 200's jagadesa.BatchResult, or a 400's error): the numbers of the records
// it refused, the first few refusals whole for the log, and on a 400 the
// error and the report's problems.
type verdict struct {
	refused  []uint64
	quoted   []jagadesa.Rejection
	errMsg   string
	problems jagadesa.Problems
	rotate   bool // staff asked for a new token
}

// decodeVerdict reads an answer object. It keeps only a record number per
// refusal past the first few, and what it read before an error (a cut-off
// answer) stays usable. An empty answer is an empty verdict.
func decodeVerdict(r io.Reader) (verdict, error) {
	var v verdict
	dec := json.NewDecoder(r)
	t, err := dec.Token()
	switch {
	case err == io.EOF:
		return v, nil
	case err != nil:
		return v, err
	case t != json.Delim('{'):
		return v, errors.New("not a JSON object")
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return v, err
		}
		switch key {
		case "rejected":
			if err := v.decodeRejections(dec); err != nil {
				return v, err
			}
		case "error":
			if err := dec.Decode(&v.errMsg); err != nil {
				return v, err
			}
		case "problems":
			if err := dec.Decode(&v.problems); err != nil {
				return v, err
			}
		case "rotate_token":
			if err := dec.Decode(&v.rotate); err != nil {
				return v, err
			}
		default: // accepted, points, max_seq: the sender needs none of them
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return v, err
			}
		}
	}
	_, err = dec.Token() // the closing brace: is the answer whole?
	return v, err
}

func (v *verdict) decodeRejections(dec *json.Decoder) error {
	t, err := dec.Token()
	if err != nil || t == nil { // null: none
		return err
	}
	if t != json.Delim('[') {
		return errors.New(`"rejected" is not a list`)
	}
	for dec.More() {
		var r jagadesa.Rejection
		if err := dec.Decode(&r); err != nil {
			return err
		}
		v.refused = append(v.refused, r.Seq)
		if len(v.quoted) < maxLoggedRejections {
			v.quoted = append(v.quoted, r)
		}
	}
	_, err = dec.Token()
	return err
}

// post sends one report. A 2xx returns the server's verdict (empty when it
// sent none); a 400 or 413 is a *rejectedError; a 409 with the stream's
// highest record number a *replayError; anything else a *RetryError.
func (s *Sender) post(ctx context.Context, rep *jagadesa.Report) (*verdict, error) {
	raw, err := json.Marshal(rep)
	if err != nil {
		return nil, err
	}
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	zw.Write(raw)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(s.Server, "/")+"/api/v1/reports", &body)
	if err != nil {
		return nil, err
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
		return nil, &RetryError{Msg: err.Error()}
	}
	defer resp.Body.Close()
	ok := resp.StatusCode/100 == 2
	if ok || resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusRequestEntityTooLarge {
		br := bufio.NewReader(io.LimitReader(resp.Body, maxVerdictBytes))
		head, _ := br.Peek(512) // for the log, should the answer not be JSON
		text := clip(string(bytes.TrimSpace(head)), 512)
		v, err := decodeVerdict(br)
		if ok {
			if err != nil {
				// The batch is stored all the same; only (some of) the
				// verdicts are lost.
				s.Logger.Warn("unreadable answer to a stored batch; records it refused may go uncounted", "err", err, "refused_read", len(v.refused), "village", s.Village)
			}
			return &v, nil
		}
		e := &rejectedError{status: resp.StatusCode, msg: clip(v.errMsg, 512), v: v}
		if e.msg == "" {
			e.msg = text // not the server's JSON: a proxy's page?
		}
		return nil, e
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	switch {
	case resp.StatusCode == http.StatusConflict && resp.Header.Get(jagadesa.MaxSeqHeader) != "":
		n, err := strconv.ParseUint(resp.Header.Get(jagadesa.MaxSeqHeader), 10, 64)
		if err != nil {
			return nil, &RetryError{Status: resp.StatusCode, Msg: "bad " + jagadesa.MaxSeqHeader + " header"}
		}
		return nil, &replayError{maxSeq: n}
	case resp.StatusCode == http.StatusUnauthorized && s.Key != nil:
		// Perhaps the key was reset on the server: register it again before
		// the next try.
		s.keyRegistered = false
		return nil, &RetryError{Status: resp.StatusCode, After: RetryAfter(resp.Header.Get("Retry-After"), s.Now()), Msg: string(bytes.TrimSpace(msg))}
	default:
		// 401/403 (token problems), 429 (the server is busy reading other
		// reports), 5xx: keep the data and wait, at least Retry-After.
		return nil, &RetryError{Status: resp.StatusCode, After: RetryAfter(resp.Header.Get("Retry-After"), s.Now()), Msg: string(bytes.TrimSpace(msg))}
	}
}

// RetryAfter reads a Retry-After header: seconds or an HTTP date.
func RetryAfter(h string, now time.Time) time.Duration {
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

// replayError is the server's 409: it already holds records up to maxSeq
// of this stream.
type replayError struct{ maxSeq uint64 }

func (e *replayError) Error() string {
	return fmt.Sprintf("server already holds records up to %d", e.maxSeq)
}

// newStream starts a new stream of record numbers, for the reason given.
func (s *Sender) newStream(reason string) error {
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
	s.Logger.Warn("starting a new stream", "reason", reason, "old", clip(old, 80), "new", s.Stream, "village", s.Village)
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
		return &RetryError{Msg: "register key: " + err.Error()}
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		// 409: the server holds another key for this probe (the router was
		// re-flashed?): an admin must reset it. Keep the data meanwhile.
		return &RetryError{Status: resp.StatusCode, After: RetryAfter(resp.Header.Get("Retry-After"), s.Now()), Msg: "register key: " + string(bytes.TrimSpace(msg))}
	}
	s.keyRegistered = true
	s.Logger.Info("probe key registered with the server", "key", jagadesa.KeyID(s.Key.Public().(ed25519.PublicKey)))
	return nil
}
