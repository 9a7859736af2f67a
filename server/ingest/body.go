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
const DefaultBudget = 64 << 20

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
	bufs  [2][]byte
}

// Release gives back the body's memory. The body must not be used after.
func (b *Body) Release() {
	for _, buf := range b.bufs {
		if buf != nil && cap(buf) <= maxPooled { // do not pin a bomb's worth of memory
			bufPool.Put(&buf)
		}
	}
	b.bufs = [2][]byte{}
	b.claim.release()
}

var bufPool sync.Pool // *[]byte

var gzPool sync.Pool // *gzip.Reader

// ReadBody reads a report body within the limits and the budget: an oversize
// body or a bomb is a 413, a busy server a 429, never an out-of-memory.
// encoding is the Content-Encoding header; length the Content-Length (-1
// when unknown). With keepWire a gzip body is also kept as it came.
func (s *Service) ReadBody(r io.Reader, length int64, encoding string, keepWire bool) (*Body, error) {
	if length > MaxBody {
		return nil, tooLarge("body of %d bytes exceeds the limit of %d", length, MaxBody)
	}
	enc := strings.ToLower(strings.TrimSpace(encoding))
	if enc != "" && enc != "identity" && enc != "gzip" {
		return nil, jagadesa.Errorf(jagadesa.EInvalid, "unsupported Content-Encoding %q (use gzip or none)", enc)
	}
	b := &Body{claim: claim{b: s.budget}}
	ok := false
	defer func() {
		if !ok {
			b.Release()
		}
	}()
	raw, err := b.read(0, r, MaxBody)
	switch {
	case errors.Is(err, errBodyLimit):
		return nil, tooLarge("body exceeds the limit of %d bytes", MaxBody)
	case err != nil:
		return nil, err
	case len(raw) == 0:
		return nil, jagadesa.Errorf(jagadesa.EInvalid, "empty body")
	}
	if enc != "gzip" {
		b.JSON = raw
		ok = true
		return b, nil
	}
	zr, _ := gzPool.Get().(*gzip.Reader)
	if zr == nil {
		zr, err = gzip.NewReader(bytes.NewReader(raw))
	} else {
		err = zr.Reset(bytes.NewReader(raw))
	}
	if err != nil {
		return nil, jagadesa.Errorf(jagadesa.EInvalid, "body is not valid gzip")
	}
	defer gzPool.Put(zr)
	js, err := b.read(1, zr, MaxDecompressed)
	switch {
	case errors.Is(err, errBodyLimit):
		return nil, tooLarge("decompressed body exceeds the limit of %d bytes", MaxDecompressed)
	case err != nil:
		return nil, err
	case len(js) == 0:
		return nil, jagadesa.Errorf(jagadesa.EInvalid, "empty body")
	}
	// The JSON now lives in the second buffer: swap so that bufs[0] is
	// always the JSON.
	b.bufs[0], b.bufs[1] = b.bufs[1], b.bufs[0]
	b.JSON = js
	if keepWire {
		b.Wire = raw
	}
	ok = true
	return b, nil
}

// read reads src to its end into buffer i, at most limit bytes (more is
// errBodyLimit), taking budget for every byte of capacity before it is
// allocated.
func (b *Body) read(i int, src io.Reader, limit int64) ([]byte, error) {
	buf := b.bufs[i]
	if buf == nil {
		if p, _ := bufPool.Get().(*[]byte); p != nil {
			buf = (*p)[:0]
		}
	}
	if err := b.claim.take(int64(cap(buf))); err != nil {
		return nil, err
	}
	b.bufs[i] = buf
	for {
		if len(buf) == cap(buf) {
			grow := int64(max(cap(buf), chunk))
			if err := b.claim.take(grow); err != nil {
				return nil, err
			}
			nb := make([]byte, len(buf), int64(cap(buf))+grow)
			copy(nb, buf)
			buf = nb
			b.bufs[i] = buf
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		b.bufs[i] = buf
		if int64(len(buf)) > limit {
			return nil, errBodyLimit
		}
		switch {
		case err == io.EOF:
			return buf, nil
		case errors.Is(err, errBodyLimit):
			return nil, err
		case err != nil:
			return nil, jagadesa.Errorf(jagadesa.EInvalid, "could not read the body: %s", readErr(err))
		}
	}
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

func tooLarge(format string, args ...any) error {
	return jagadesa.Errorf(jagadesa.ETooLarge, format, args...)
}
