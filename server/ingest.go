package server

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	gojson "github.com/goccy/go-json"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/evidence"
)

// Body limits for POST /api/v1/reports. A full report (10,000 records with
// raw RTTs) stays well under them; a gzip bomb hits the decompressed one.
const (
	MaxReportBody         = 4 << 20  // as sent on the wire
	MaxReportDecompressed = 32 << 20 // after gzip
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

var gzPool sync.Pool // *gzip.Reader

// ingestResult is the body of a successful POST /api/v1/reports.
type ingestResult struct {
	Accepted int    `json:"accepted"` // records in the report
	Points   int    `json:"points"`   // points written to InfluxDB
	MaxSeq   uint64 `json:"max_seq"`  // highest sequence number stored
}

// handleReports validates a probe's batch and answers 200 only after its
// points are durable in InfluxDB; while InfluxDB is down it answers 503 with
// Retry-After, and the probe keeps the batch.
func (s *Server) handleReports(c *gin.Context) {
	p := c.MustGet(ctxProbe).(jagadesa.Probe)
	result := "ok"
	defer func() { s.metrics.reports.WithLabelValues(result).Inc() }()
	fail := func(err error) {
		result = jagadesa.ErrorCode(err)
		_ = c.Error(err)
	}

	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 2*MaxReportBody { // do not pin a bomb's worth of memory
			bufPool.Put(buf)
		}
	}()
	// wire keeps the gzip body as it came, for the evidence archive.
	var wire *bytes.Buffer
	if s.Evidence != nil {
		wire = bufPool.Get().(*bytes.Buffer)
		wire.Reset()
		defer func() {
			if wire.Cap() <= 2*MaxReportBody {
				bufPool.Put(wire)
			}
		}()
	}
	if err := readBody(c.Request, buf, wire); err != nil {
		fail(err)
		return
	}

	if err := s.checkSignature(c, p, buf.Bytes()); err != nil {
		fail(err)
		return
	}

	// goccy/go-json decodes reports at about twice encoding/json's speed;
	// on the ingest path that CPU is InfluxDB's, so it matters.
	var r jagadesa.Report
	if err := gojson.Unmarshal(buf.Bytes(), &r); err != nil {
		fail(invalid(nil, "report is not valid JSON: %s", jsonErr(err)))
		return
	}
	if r.Probe == "" {
		r.Probe = p.ID
	}
	if r.Probe != p.ID {
		fail(jagadesa.Errorf(jagadesa.EForbidden, "this token belongs to probe %s, not %s", p.ID, r.Probe))
		return
	}
	if r.Village != p.Village {
		fail(jagadesa.Errorf(jagadesa.EForbidden, "this probe is enrolled for village %s and may not report for %q", p.Village, r.Village))
		return
	}
	if problems := r.Validate(s.Now()); problems != nil {
		fail(invalid(problems, "report failed validation"))
		return
	}
	v, ok := s.Registry.Village(r.Village)
	if !ok {
		fail(invalid(jagadesa.Problems{"village": "not in the village registry"}, "unknown village %s", r.Village))
		return
	}

	// One batch of a probe at a time from here: the replay check, the
	// write and the advance of the probe's mark go together.
	mu, ok := s.ingestLocks.Load(p.ID)
	if !ok { // a probe's first batch since start
		mu, _ = s.ingestLocks.LoadOrStore(p.ID, new(sync.Mutex))
	}
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	lo, hi := r.SeqRange()
	if s.Keys != nil {
		if mark := s.Keys.StreamSeq(p.ID, r.Stream); lo <= mark {
			// Already accepted (a retry whose answer was lost, or a replay):
			// nothing is written again. The header tells the probe how far
			// the server has its records, so it can drop those and go on.
			c.Header(MaxSeqHeader, strconv.FormatUint(mark, 10))
			fail(jagadesa.Errorf(jagadesa.EConflict, "replayed batch: records up to %d of this probe's stream were already accepted, and this batch starts at %d", mark, lo))
			return
		}
	}

	n, err := s.Points.WriteReport(c.Request.Context(), &r, v.RegencyCode)
	if err != nil {
		fail(err)
		return
	}
	if sig := c.GetHeader(jagadesa.SignatureHeader); sig != "" && s.Evidence != nil {
		key, _ := s.Keys.ProbeKey(p.ID)
		rec := evidence.Record{Received: s.Now().UTC(), Probe: p.ID, Village: r.Village, Stream: r.Stream,
			FirstSeq: lo, LastSeq: hi, KeyID: jagadesa.KeyID(key.PublicKey), Signature: sig, Body: buf.Bytes()}
		var gz []byte
		if wire.Len() > 0 {
			gz = wire.Bytes()
		}
		if err := s.Evidence.Append(&rec, gz); err != nil {
			// The points are written, but without their evidence the batch
			// is not accepted: the probe sends it again (writes are
			// idempotent) until the archive works.
			s.Logger.Error("evidence archive failed", "probe", p.ID, "err", err)
			fail(jagadesa.Errorf(jagadesa.EUnavailable, "the server could not archive the batch; retry later"))
			return
		}
	}
	if s.Keys != nil {
		if err := s.Keys.AdvanceStream(c.Request.Context(), p.ID, r.Stream, hi); err != nil {
			s.Logger.Error("replay mark not stored", "probe", p.ID, "err", err)
			fail(jagadesa.Errorf(jagadesa.EUnavailable, "the server could not record the batch; retry later"))
			return
		}
	}
	s.metrics.points.Add(float64(n))
	s.Status.Observe(&r)
	if s.Incidents != nil {
		// The probe's own account of an outage, sent once it was over,
		// corrects the incident that covered it (cause, true start and end).
		for i := range r.Samples {
			if o := r.Samples[i].Outage; o != nil {
				s.Incidents.OutageReported(c.Request.Context(), r.Village, o.Cause, time.UnixMilli(o.StartMs), time.UnixMilli(o.EndMs))
			}
		}
		// The probe's security collectors speak in events.
		for _, e := range r.Events {
			s.Incidents.SecurityEvent(c.Request.Context(), r.Village, e)
		}
	}

	res := ingestResult{Accepted: len(r.Samples) + len(r.Events), Points: n, MaxSeq: hi}
	c.JSON(http.StatusOK, res)
}

// readBody reads the request body into buf, inflating gzip, within the
// limits: an oversize body or a bomb is a 413, never an out-of-memory. A
// gzip body is also copied, as it came, into wire when it is not nil.
func readBody(req *http.Request, buf, wire *bytes.Buffer) error {
	if req.ContentLength > MaxReportBody {
		return tooLarge("body of %d bytes exceeds the limit of %d", req.ContentLength, MaxReportBody)
	}
	body := http.MaxBytesReader(nil, req.Body, MaxReportBody)
	var src io.Reader = body
	switch enc := strings.ToLower(strings.TrimSpace(req.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		zr, _ := gzPool.Get().(*gzip.Reader)
		var in io.Reader = body
		if wire != nil {
			in = io.TeeReader(body, wire)
		}
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(in)
		} else {
			err = zr.Reset(in)
		}
		if err != nil {
			if isMaxBytes(err) {
				return tooLarge("body exceeds the limit of %d bytes", MaxReportBody)
			}
			return invalid(nil, "body is not valid gzip: %v", err)
		}
		defer gzPool.Put(zr)
		src = zr
	default:
		return invalid(nil, "unsupported Content-Encoding %q (use gzip or none)", enc)
	}
	// One byte past the limit tells "exactly at the limit" from "over".
	n, err := buf.ReadFrom(io.LimitReader(src, MaxReportDecompressed+1))
	switch {
	case isMaxBytes(err):
		return tooLarge("body exceeds the limit of %d bytes", MaxReportBody)
	case err != nil:
		return invalid(nil, "could not read body: %v", err)
	case n > MaxReportDecompressed:
		return tooLarge("decompressed body exceeds the limit of %d bytes", MaxReportDecompressed)
	case n == 0:
		return invalid(nil, "empty body")
	}
	return nil
}

func isMaxBytes(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

func tooLarge(format string, args ...any) error {
	return jagadesa.Errorf(jagadesa.ETooLarge, format, args...)
}

// jsonErr keeps decoder messages short and free of Go type names, for both
// decoders the server uses.
func jsonErr(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var gse *gojson.SyntaxError
	var gte *gojson.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return se.Error() + " at byte " + itoa(se.Offset)
	case errors.As(err, &te):
		return "field " + te.Field + " has the wrong type (" + te.Value + ") at byte " + itoa(te.Offset)
	case errors.As(err, &gse):
		return gse.Error()
	case errors.As(err, &gte):
		return "field " + gte.Field + " has the wrong type at byte " + itoa(gte.Offset)
	}
	return err.Error()
}

// MaxSeqHeader, on a 409 answer to a replayed batch, is the highest record
// number of the probe's stream the server already holds.
const MaxSeqHeader = "X-JagaDesa-Max-Seq"

// checkSignature enforces signed batches: a probe with a registered key
// must sign every batch with it; one without may post unsigned batches only
// while the server allows them (AllowUnsigned, for migration).
func (s *Server) checkSignature(c *gin.Context, p jagadesa.Probe, body []byte) error {
	sig := c.GetHeader(jagadesa.SignatureHeader)
	var key jagadesa.ProbeKey
	var hasKey bool
	if s.Keys != nil {
		key, hasKey = s.Keys.ProbeKey(p.ID)
	}
	switch {
	case sig != "" && !hasKey:
		return jagadesa.Errorf(jagadesa.EUnauthorized, "probe %s has no registered key; it registers one with POST /api/v1/probes/key before sending signed batches", p.ID)
	case sig != "":
		if err := jagadesa.VerifyReport(key.PublicKey, body, sig); err != nil {
			return jagadesa.Errorf(jagadesa.EUnauthorized, "batch refused: %v (key %s)", err, jagadesa.KeyID(key.PublicKey))
		}
		return nil
	case hasKey:
		return jagadesa.Errorf(jagadesa.EUnauthorized, "batch is not signed, but probe %s has key %s registered: every batch must carry %s", p.ID, jagadesa.KeyID(key.PublicKey), jagadesa.SignatureHeader)
	case !s.AllowUnsigned:
		return jagadesa.Errorf(jagadesa.EUnauthorized, "batch is not signed: this server accepts only signed batches (update the probe; see docs/evidence.md)")
	}
	return nil
}
