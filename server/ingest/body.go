package ingest

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"sync"

	"golang.org/x/sync/semaphore"

	"github.com/jagadesa/jagadesa"
)

// Body limits for one report. A full report (10,000 records with raw RTTs)
// stays well under them; a gzip bomb hits the decompressed one, or the
// server-wide budget first.
const (
	MaxBody         = 4 << 20 // as sent on the wire
	MaxDecompressed = 8 << 20 // after gzip; a probe batches at most 2 MiB of records
)

// DefaultBudget is the memory all reports being read and decoded at once
// may hold: the bytes of their bodies and an estimate of their decoded
// records. A report that would go beyond it is refused with 429 and
// Retry-After, and the probe sends it again later.
const DefaultBudget = 96 << 20

// maxPooled is the largest buffer kept for reuse: a live report is a few
// KiB, a backfill batch up to 2 MiB; bigger buffers go to the collector
// rather than sit in the pool outside the budget.
const maxPooled = 2 << 20

// chunk is how much budget a body reader takes at a time.
const chunk = 64 << 10

// Budget bounds the memory held by reports being read and decoded.
type Budget struct{ sem *semaphore.Weighted }

// NewBudget returns a budget of n bytes (DefaultBudget when n <= 0).
func NewBudget(n int64) *Budget {
	if n <= 0 {
		n = DefaultBudget
	}
	return &Budget{sem: semaphore.NewWeighted(n)}
}

// claim is one request's share of the budget.
type claim struct {
	b *Budget
	n int64
}

func (c *claim) take(n int64) error {
	if !c.b.sem.TryAcquire(n) {
		return jagadesa.Errorf(jagadesa.ETooMany, "the server is reading too many reports at once; retry later")
	}
	c.n += n
	return nil
}

func (c *claim) release() {
	if c.n > 0 {
		c.b.sem.Release(c.n)
		c.n = 0
	}
}

// Body is a report's JSON as it came, after gzip, and the gzip bytes as
// they came on the wire (kept for the evidence archive when asked for).
// Release returns its buffers and its share of the budget.
type Body struct {
	JSON  []byte
	Wire  []byte
	claim claim
	bufs  [2]*bytes.Buffer
}

// Release gives back the body's memory. The body must not be used after.
func (b *Body) Release() {
	for _, buf := range b.bufs {
		if buf != nil && buf.Cap() <= maxPooled { // do not pin a bomb's worth of memory
			bufPool.Put(buf)
		}
	}
	b.bufs = [2]*bytes.Buffer{}
	b.claim.release()
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

var gzPool sync.Pool // *gzip.Reader

// ReadBody reads a report body within the limits and the budget: an oversize
// body or a bomb is a 413, a busy server a 429, never an out-of-memory.
// encoding is the Content-Encoding header; length the Content-Length (-1
// when unknown). With keepWire a gzip body is also kept as it came.
func (s *Service) ReadBody(r io.Reader, length int64, encoding string, keepWire bool) (*Body, error) {
	if length > MaxBody {
		return nil, tooLarge("body of %d bytes exceeds the limit of %d", length, MaxBody)
	}
	b := &Body{claim: claim{b: s.budget}}
	ok := false
	defer func() {
		if !ok {
			b.Release()
		}
	}()
	limited := &limitReader{r: r, n: MaxBody}
	var src io.Reader = limited
	switch enc := strings.ToLower(strings.TrimSpace(encoding)); enc {
	case "", "identity":
	case "gzip":
		var in io.Reader = limited
		if keepWire {
			b.bufs[1] = newBuf()
			in = io.TeeReader(limited, b.bufs[1])
		}
		zr, _ := gzPool.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(in)
		} else {
			err = zr.Reset(in)
		}
		if err != nil {
			if errors.Is(err, errBodyLimit) {
				return nil, tooLarge("body exceeds the limit of %d bytes", MaxBody)
			}
			return nil, jagadesa.Errorf(jagadesa.EInvalid, "body is not valid gzip")
		}
		defer gzPool.Put(zr)
		src = zr
	default:
		return nil, jagadesa.Errorf(jagadesa.EInvalid, "unsupported Content-Encoding %q (use gzip or none)", enc)
	}
	buf := newBuf()
	b.bufs[0] = buf
	// Read a chunk of budget at a time; one byte past the limit tells
	// "exactly at the limit" from "over".
	var total int64
	for {
		// Charge what the buffer holds, not what it was sent: growing
		// doubles its capacity.
		buf.Grow(chunk)
		if c := int64(buf.Cap()); c > b.claim.n {
			if err := b.claim.take(c - b.claim.n); err != nil {
				return nil, err
			}
		}
		n, err := buf.ReadFrom(io.LimitReader(src, chunk))
		total += n
		if total > MaxDecompressed {
			return nil, tooLarge("decompressed body exceeds the limit of %d bytes", MaxDecompressed)
		}
		if err != nil {
			if errors.Is(err, errBodyLimit) {
				return nil, tooLarge("body exceeds the limit of %d bytes", MaxBody)
			}
			return nil, jagadesa.Errorf(jagadesa.EInvalid, "could not read the body: %s", readErr(err))
		}
		if n < chunk {
			break
		}
	}
	if total == 0 {
		return nil, jagadesa.Errorf(jagadesa.EInvalid, "empty body")
	}
	b.JSON = buf.Bytes()
	if b.bufs[1] != nil {
		b.Wire = b.bufs[1].Bytes()
	}
	ok = true
	return b, nil
}

func newBuf() *bytes.Buffer {
	b := bufPool.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

// readErr names what went wrong reading a body, without the reader's
// internals.
func readErr(err error) string {
	switch {
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader):
		return "the gzip stream is corrupt"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the body ended early"
	}
	return "the connection failed"
}

var errBodyLimit = errors.New("body over the limit")

// limitReader fails (rather than ending) past n bytes, so a body over the
// limit is told from one that ends at it.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, errBodyLimit
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, errBodyLimit
	}
	return n, err
}

func tooLarge(format string, args ...any) error {
	return jagadesa.Errorf(jagadesa.ETooLarge, format, args...)
}
