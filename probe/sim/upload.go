package sim

import (
	"bufio"
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
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/probe"
	"github.com/jagadesa/jagadesa/probe/spool"
)

// The fleet's uploads speak the probe's protocol (probe.Sender's): a
// signed, gzipped jagadesa.Report of the oldest queued records, numbered by
// their queue ids, POSTed to /api/v1/reports; records leave the queue only
// once the server has them (2xx), or refused them as invalid (400/413); a
// 409 naming the stream's highest number drops what the server already
// holds; 401 registers the key again; anything else keeps the batch and
// backs off, at least Retry-After. What differs is only the cost: the
// report's JSON is spliced from the queued records instead of decoded and
// encoded again, and the gzip writer and buffers are reused, so tens of
// thousands of simulated probes fit in a fraction of a core.

const (
	maxBatch    = 500     // records per report, as probe.Sender
	maxBatchB   = 2 << 20 // bytes of records per report, as probe.Sender
	backfillGap = 200 * time.Millisecond
	minBackoff  = 2 * time.Second // the sim's probe.Sender MinBackoff
	maxAnswer   = 16 << 20
)

// errLinkDown is what a cut village's upload meets.
var errLinkDown = errors.New("simulated link down: no route to host")

// sendBuf is one upload's scratch space, reused from upload to upload: a
// gzip writer alone allocates over 800 KB.
type sendBuf struct {
	raw []byte
	gz  bytes.Buffer
	zw  *gzip.Writer
}

// gzipLevel is the fleet's compression: Huffman coding only, no match
// search. It is gzip all the same, which the server reads as it reads any
// probe's, and what is signed is the JSON, not its compression; a real
// probe sends one report a minute and compresses harder (the default
// level), but for 1,400 reports a second the match search is the largest
// cost left in the simulator. The measured costs, a 1.3 KB report (one
// round), alone and in a national run's profile:
//
//	default level  624 B  28 µs, and 640 KB of tables cleared per Reset
//	BestSpeed      637 B  13 µs  (~40 µs a report in the national run)
//	HuffmanOnly    864 B   8 µs
//
// The server's cost of inflating either is a few µs.
const gzipLevel = gzip.HuffmanOnly

// sendBufs keeps idle sendBufs. Not a sync.Pool: that one is emptied
// by every other garbage collection, and each refill costs a new writer.
var sendBufs = make(chan *sendBuf, 8)

func getSendBuf() *sendBuf {
	select {
	case b := <-sendBufs:
		return b
	default:
		b := &sendBuf{}
		b.zw, _ = gzip.NewWriterLevel(&b.gz, gzipLevel)
		return b
	}
}

func putSendBuf(b *sendBuf) {
	select {
	case sendBufs <- b:
	default: // enough idle ones
	}
}

// sender is one worker of the pool: it uploads for whichever village the
// scheduler hands it.
func (f *Fleet) sender(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case v := <-f.work:
			f.upload(ctx, v)
		}
	}
}

// upload sends v's queue, one batch; a full batch brings the next after
// backfillGap (on another turn of the pool, not holding a worker). A
// failure keeps the batch and sets the backoff before v's next try.
func (f *Fleet) upload(ctx context.Context, v *village) {
	n, err := f.sendOnce(ctx, v)
	switch {
	case err != nil:
		if ctx.Err() != nil {
			break
		}
		v.failures++
		v.retryAt.Store(time.Now().Add(f.backoff(v, err)).UnixNano())
		f.Stats.UploadFailures.Add(1)
	case n >= maxBatch:
		v.failures = 0
		time.AfterFunc(backfillGap, func() {
			select {
			case f.work <- v:
			case <-ctx.Done():
				v.busy.Store(false)
			}
		})
		return // still busy
	default:
		v.failures = 0
		f.Stats.Uploads.Add(1)
	}
	v.busy.Store(false)
}

// backoff is probe.Sender's: doubling from minBackoff up to the interval,
// with full jitter, never shorter than the server's Retry-After.
func (f *Fleet) backoff(v *village, err error) time.Duration {
	ceil := minBackoff << min(v.failures-1, 16)
	if ceil > f.cfg.Interval || ceil <= 0 {
		ceil = f.cfg.Interval
	}
	wait := minBackoff/2 + mrand.N(ceil)
	var re *probe.RetryError
	if errors.As(err, &re) && re.After > wait {
		wait = min(re.After, 24*time.Hour)
	}
	return wait
}

// setStream names v's run of record numbers and encodes the report's
// fixed head for it.
func (v *village) setStream(stream string) error {
	if !jagadesa.ValidStream(stream) {
		return fmt.Errorf("stream %q is not valid", stream)
	}
	village, err := json.Marshal(v.info.Code)
	if err != nil {
		return err
	}
	st, _ := json.Marshal(stream)
	v.stream = stream
	// Field order and spelling as encoding/json writes a jagadesa.Report
	// (Probe is empty, as the sender leaves it).
	v.head = fmt.Appendf(nil, `{"v":%d,"probe":"","village":%s,"sent_ms":`, jagadesa.WireVersion, village)
	v.tail = append([]byte(`,"stream":`), st...)
	return nil
}

// Record payloads as probe.EncodeSample and probe.EncodeEvent write them:
// the record's number is left 0 for the sender to fill in.
var (
	samplePrefix = []byte(`{"s":{"seq":0,"t":`)
	eventPrefix  = []byte(`{"e":{"seq":0,"t":`)
)

// encodeReport appends to dst the JSON of the report of recs, exactly as
// json.Marshal writes the jagadesa.Report probe.Sender builds from them
// (each record decoded, numbered with its id, and encoded again), but by
// splicing the records' bytes. Records older than oldestMs are left out and
// counted, as the sender does; records in another shape are skipped.
func (v *village) encodeReport(dst []byte, recs []spool.Record, sentMs, oldestMs int64) (out []byte, sent, expired, bad int) {
	dst = append(dst, v.head...)
	dst = strconv.AppendInt(dst, sentMs, 10)
	dst = append(dst, v.tail...)
	for pass, prefix := range [][]byte{samplePrefix, eventPrefix} {
		n := 0
		for _, r := range recs {
			p := r.Payload
			if !bytes.HasPrefix(p, prefix) {
				if pass == 0 && !bytes.HasPrefix(p, eventPrefix) {
					bad++
				}
				continue
			}
			if r.ID == 0 || r.ID > jagadesa.MaxSeq || len(p) < len(prefix)+2 || p[len(p)-1] != '}' {
				bad++
				continue
			}
			t, ok := leadingInt(p[len(prefix):])
			if !ok {
				bad++
				continue
			}
			if t < oldestMs {
				expired++
				continue
			}
			if n == 0 {
				if pass == 0 {
					dst = append(dst, `,"samples":[`...)
				} else {
					dst = append(dst, `,"events":[`...)
				}
			} else {
				dst = append(dst, ',')
			}
			n++
			dst = append(dst, `{"seq":`...)
			dst = strconv.AppendUint(dst, r.ID, 10)
			// From `,"t":` to the end of the inner object.
			dst = append(dst, p[len(prefix)-len(`,"t":`):len(p)-1]...)
		}
		if n > 0 {
			dst = append(dst, ']')
		}
		sent += n
	}
	return append(dst, '}'), sent, expired, bad
}

// leadingInt reads the (possibly negative) integer b starts with.
func leadingInt(b []byte) (int64, bool) {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(string(b[:i]), 10, 64)
	return n, err == nil
}

// sendOnce sends v's oldest batch and returns how many records left the
// queue.
func (f *Fleet) sendOnce(ctx context.Context, v *village) (int, error) {
	if !v.up.Load() {
		return 0, &probe.RetryError{Msg: errLinkDown.Error()}
	}
	recs, err := v.spool.Peek(maxBatch, maxBatchB)
	if err != nil {
		return 0, fmt.Errorf("read queue: %w", err)
	}
	if len(recs) == 0 {
		return 0, nil
	}
	if !v.keyRegistered {
		if err := f.registerKey(ctx, v); err != nil {
			return 0, err
		}
	}
	now := time.Now()
	body, sig, sent, expired, bad, err := v.build(recs, now)
	if err != nil {
		return 0, err
	}
	if bad > 0 {
		f.cfg.Logger.Error("undecodable queued records skipped", "records", bad, "village", v.info.Code)
	}
	if expired > 0 {
		f.cfg.Logger.Warn("dropped records too old for the server to accept", "records", expired, "village", v.info.Code)
	}
	first, last := recs[0].ID, recs[len(recs)-1].ID
	if sent == 0 {
		return len(recs), v.spool.Ack(last)
	}
	err = f.post(ctx, v, body, sig, sent)
	var dup *replayError
	if errors.As(err, &dup) {
		if dup.maxSeq >= first && dup.maxSeq <= last {
			// The server has this batch up to maxSeq already: an answer
			// was lost. Drop what it has; the rest goes next time.
			if err := v.spool.Ack(dup.maxSeq); err != nil {
				return 0, fmt.Errorf("ack queue: %w", err)
			}
			return int(min(dup.maxSeq-first+1, uint64(len(recs)))), nil
		}
		// The server holds numbers beyond any this queue gave out: start a
		// new stream so they count as new, and send again.
		if err := v.setStream(newStreamID(v.info.Code)); err != nil {
			return 0, err
		}
		f.cfg.Logger.Warn("starting a new stream", "reason", "record numbers went back", "new", v.stream, "village", v.info.Code)
		if body, sig, _, _, _, err = v.build(recs, now); err != nil {
			return 0, err
		}
		err = f.post(ctx, v, body, sig, sent)
	}
	var rej *rejectedError
	if errors.As(err, &rej) {
		v.rejected.Add(uint64(sent))
		f.Stats.Rejected.Add(int64(sent))
		f.cfg.Logger.Error("server rejected a batch; dropping it", "err", err, "records", len(recs), "first_seq", first, "last_seq", last, "village", v.info.Code)
		err = nil
	}
	if err != nil {
		return 0, err
	}
	if err := v.spool.Ack(last); err != nil {
		return 0, fmt.Errorf("ack queue: %w", err)
	}
	return len(recs), nil
}

type rejectedError struct {
	status int
	msg    string
}

func (e *rejectedError) Error() string { return fmt.Sprintf("server answered %d: %s", e.status, e.msg) }

type replayError struct{ maxSeq uint64 }

func (e *replayError) Error() string {
	return fmt.Sprintf("server already holds records up to %d", e.maxSeq)
}

// build makes the report of recs as probe.Sender does: its JSON, signed
// with v's key, gzipped. The scratch space goes back before the upload, so
// only the few builds under way at once hold a gzip writer, not every
// upload waiting on the server.
func (v *village) build(recs []spool.Record, now time.Time) (body []byte, sig string, sent, expired, bad int, err error) {
	buf := getSendBuf()
	defer putSendBuf(buf)
	buf.raw, sent, expired, bad = v.encodeReport(buf.raw[:0], recs, now.UnixMilli(), now.Add(-jagadesa.MaxPast+time.Hour).UnixMilli())
	if sent == 0 {
		return nil, "", 0, expired, bad, nil
	}
	buf.gz.Reset()
	buf.zw.Reset(&buf.gz)
	buf.zw.Write(buf.raw)
	if err := buf.zw.Close(); err != nil {
		return nil, "", 0, 0, 0, err
	}
	return bytes.Clone(buf.gz.Bytes()), jagadesa.SignReport(v.key, buf.raw), sent, expired, bad, nil
}

// post sends one report body, as probe.Sender does.
func (f *Fleet) post(ctx context.Context, v *village, body []byte, sig string, sent int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.reportsURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Authorization", "Bearer "+v.token)
	req.Header.Set("User-Agent", "jagadesa-probe/sim")
	req.Header.Set(jagadesa.SignatureHeader, sig)
	resp, err := f.cfg.Client.Do(req)
	if err != nil {
		return &probe.RetryError{Msg: err.Error()}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode/100 == 2:
		f.Stats.Reports.Add(1)
		f.Stats.Records.Add(int64(sent))
		f.readVerdict(v, resp.Body)
		return nil
	case resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusRequestEntityTooLarge:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return &rejectedError{status: resp.StatusCode, msg: string(bytes.TrimSpace(msg))}
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode == http.StatusConflict && resp.Header.Get(jagadesa.MaxSeqHeader) != "" {
		n, err := strconv.ParseUint(resp.Header.Get(jagadesa.MaxSeqHeader), 10, 64)
		if err != nil {
			return &probe.RetryError{Status: resp.StatusCode, Msg: "bad " + jagadesa.MaxSeqHeader + " header"}
		}
		return &replayError{maxSeq: n}
	}
	if resp.StatusCode == http.StatusUnauthorized {
		// Perhaps the key was reset on the server: register it again
		// before the next try.
		v.keyRegistered = false
	}
	return &probe.RetryError{Status: resp.StatusCode, After: probe.RetryAfter(resp.Header.Get("Retry-After"), time.Now()), Msg: string(bytes.TrimSpace(msg))}
}

// readVerdict reads a 2xx answer: the records the server refused while
// storing the others are counted (the whole batch is acknowledged all the
// same, as probe.Sender does). Most answers refuse nothing and are only
// skimmed.
func (f *Fleet) readVerdict(v *village, body io.Reader) {
	br := bufio.NewReaderSize(io.LimitReader(body, maxAnswer), 512)
	head, _ := br.Peek(512)
	if !bytes.Contains(head, []byte(`"rejected"`)) {
		io.Copy(io.Discard, br)
		return
	}
	var res struct {
		Rejected []jagadesa.Rejection `json:"rejected"`
	}
	if err := json.NewDecoder(br).Decode(&res); err != nil {
		f.cfg.Logger.Warn("unreadable answer to a stored batch; records it refused may go uncounted", "err", err, "village", v.info.Code)
	}
	io.Copy(io.Discard, br)
	if n := len(res.Rejected); n > 0 {
		v.rejected.Add(uint64(n))
		f.Stats.Rejected.Add(int64(n))
		f.cfg.Logger.Error("server refused records of a stored batch", "refused", n, "first", res.Rejected[0], "village", v.info.Code)
	}
}

// registerKey tells the server v's public key again (after a 401).
func (f *Fleet) registerKey(ctx context.Context, v *village) error {
	b, _ := json.Marshal(map[string]string{"public_key": jagadesa.FormatPublicKey(v.key.Public().(ed25519.PublicKey))})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.keyURL, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+v.token)
	req.Header.Set("User-Agent", "jagadesa-probe/sim")
	resp, err := f.cfg.Client.Do(req)
	if err != nil {
		return &probe.RetryError{Msg: "register key: " + err.Error()}
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		return &probe.RetryError{Status: resp.StatusCode, After: probe.RetryAfter(resp.Header.Get("Retry-After"), time.Now()), Msg: "register key: " + string(bytes.TrimSpace(msg))}
	}
	v.keyRegistered = true
	return nil
}

// newStreamID is a fresh stream id for a village whose numbers went back.
func newStreamID(code string) string {
	var b [6]byte
	rand.Read(b[:])
	id := "sim-" + code + "-" + hex.EncodeToString(b[:])
	if len(id) > 64 {
		id = id[len(id)-64:]
	}
	return id
}
