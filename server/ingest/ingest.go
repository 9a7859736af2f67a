// Package ingest accepts a probe's batch: it checks the signature, refuses
// replays, validates every record on its own, writes the good ones to the
// time-series store, keeps the signed body as evidence, and records — in
// one step with the batch's replay mark — what the batch means for
// incidents (an outbox a worker applies on its own context). It knows no
// HTTP: the server's handler reads the body and calls Accept.
package ingest

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/evidence"
	"golang.org/x/time/rate"
)

// Points durably stores the measurements of a report.
type Points interface {
	// WriteReport returns once the points are durable, with how many there
	// were. Errors are *jagadesa.Error (EUnavailable: retry later).
	WriteReport(ctx context.Context, r *jagadesa.Report, regency string) (int, error)
}

// Marks keeps the probes' keys and, per stream, the highest record number
// accepted, together with the outbox of accepted batches' effects.
type Marks interface {
	ProbeKey(probe string) (jagadesa.ProbeKey, bool)
	StreamSeq(probe, stream string) uint64
	// CommitBatch raises the stream's mark to seq and stores effects (may
	// be nil) in the outbox, in one transaction; it returns once both are
	// committed.
	CommitBatch(ctx context.Context, probe, stream string, seq uint64, effects []byte) error
}

// Archive keeps each accepted signed batch as evidence.
type Archive interface {
	Append(r *evidence.Record, wire []byte) error
}

// Observer takes each accepted report into live status.
type Observer interface {
	Observe(r *jagadesa.Report)
}

// Registry knows the villages.
type Registry interface {
	Village(code string) (jagadesa.Village, bool)
}

// Deps are what Accept needs. Evidence may be nil (no archive).
type Deps struct {
	Logger   *slog.Logger
	Registry Registry
	Points   Points
	Marks    Marks
	Evidence Archive
	Status   Observer
	// AllowUnsigned admits unsigned batches from probes that have no key
	// registered (the migration of probes older than signing).
	AllowUnsigned bool
	// Budget is the memory all reports being read at once may hold
	// (DefaultBudget when 0).
	Budget int64
	// RecordsPerMinute is how many records one probe may send a minute,
	// with a burst of as many (DefaultRecordsPerMinute when 0). A probe
	// over it gets 429 and sends again later, so a flooding probe slows
	// down and no other probe waits for it.
	RecordsPerMinute int
	// Late, when set, hears of every accepted batch holding records older
	// than LateAfter (village, oldest, newest): the rollups roll those
	// hours again.
	Late func(village string, from, to time.Time)
	// MaxRecordAge is how old a record may be (jagadesa.MaxPast when 0):
	// longer for a backfill of weeks of history.
	MaxRecordAge time.Duration
	Now          func() time.Time
}

// Service accepts batches. It is safe for concurrent use.
type Service struct {
	Deps
	budget *Budget
	rates  sync.Map // probe id → *allowance
	locks  sync.Map // probe id → chan struct{}: one batch of a probe at a time
	cards  cardinality
}

// New returns the ingest service.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.RecordsPerMinute <= 0 {
		d.RecordsPerMinute = DefaultRecordsPerMinute
	}
	return &Service{Deps: d, budget: NewBudget(d.Budget), cards: cardinality{probes: map[string]*seen{}}}
}

// DefaultRecordsPerMinute is far above what a probe sends: a live round
// is a handful of records a minute, and a day offline drains in one
// burst of about 6,000.
const DefaultRecordsPerMinute = 20000

// allowance is one probe's records per minute, and the size of the batch
// it was last refused for.
type allowance struct {
	lim  *rate.Limiter
	need atomic.Int64
}

// allow takes n records from the probe's allowance.
func (s *Service) allow(probe string, n int) error {
	a := s.allowance(probe)
	if !a.lim.AllowN(s.Now(), n) {
		a.need.Store(int64(n))
		return s.overAllowance()
	}
	a.need.Store(0)
	return nil
}

// Admit refuses, before its body is read, a batch from a probe that has
// not yet earned back the records it was last refused for: a flooding
// probe's next batches then cost the server next to nothing.
func (s *Service) Admit(probe string) error {
	a := s.allowance(probe)
	if tokens := a.lim.TokensAt(s.Now()); tokens < 1 || tokens < float64(a.need.Load()) {
		return s.overAllowance()
	}
	return nil
}

func (s *Service) allowance(probe string) *allowance {
	v, ok := s.rates.Load(probe)
	if !ok {
		v, _ = s.rates.LoadOrStore(probe, &allowance{lim: rate.NewLimiter(rate.Limit(float64(s.RecordsPerMinute)/60), s.RecordsPerMinute)})
	}
	return v.(*allowance)
}

func (s *Service) overAllowance() error {
	return jagadesa.Errorf(jagadesa.ETooMany, "this probe sent more than %d records in the last minute; send again later", s.RecordsPerMinute)
}

// Effects is what an accepted batch means for incidents, kept in the
// outbox until the worker has applied it.
type Effects struct {
	Probe   string                `json:"probe"`
	Village string                `json:"village"`
	Stream  string                `json:"stream,omitempty"`
	Events  []jagadesa.EventGroup `json:"events,omitempty"`
	Outages []jagadesa.Outage     `json:"outages,omitempty"`
}

// Replay is the error of a batch at or below its stream's mark: the server
// already has records up to MaxSeq.
type Replay struct {
	MaxSeq uint64
	err    *jagadesa.Error
}

func (r *Replay) Error() string { return r.err.Error() }
func (r *Replay) Unwrap() error { return r.err }

// Accept takes a probe's batch: body is its JSON as signed, sig the
// signature header (empty: unsigned). It returns once the accepted records
// are durable. A batch some of whose records are invalid is accepted
// without them: the result lists each refused record with its reasons. A
// batch none of whose records are valid is an EInvalid error carrying the
// same list.
func (s *Service) Accept(ctx context.Context, p jagadesa.Probe, body *Body, sig string) (*jagadesa.BatchResult, error) {
	if s.Marks == nil {
		return nil, jagadesa.Errorf(jagadesa.EUnavailable, "this server keeps no replay marks and accepts no reports")
	}
	// A report of a million tiny records is refused before anything is
	// decoded, and a probe over its allowance before its signature is
	// checked: what a flooding probe costs stays small.
	n := countRecords(body.JSON, jagadesa.MaxRecordsPerReport)
	if n > jagadesa.MaxRecordsPerReport {
		return nil, jagadesa.Errorf(jagadesa.ETooLarge, "more than %d records in one report", jagadesa.MaxRecordsPerReport)
	}
	if err := s.allow(p.ID, n); err != nil {
		return nil, err
	}
	key, hasKey := s.Marks.ProbeKey(p.ID)
	if err := s.checkSignature(p, key, hasKey, body.JSON, sig); err != nil {
		return nil, err
	}
	// Decoding copies the body once more and reads it through a stream
	// buffer: charge that before, and the decoded records after.
	if err := body.claim.take(2 * int64(len(body.JSON))); err != nil {
		return nil, err
	}
	r, err := decode(body.JSON)
	if err != nil {
		return nil, err
	}
	if err := body.claim.take(decodedSize(r)); err != nil {
		return nil, err
	}
	if r.Probe == "" {
		r.Probe = p.ID
	}
	if r.Probe != p.ID {
		return nil, jagadesa.Errorf(jagadesa.EForbidden, "this token belongs to probe %s, not %s", p.ID, r.Probe)
	}
	if r.Village != p.Village {
		return nil, jagadesa.Errorf(jagadesa.EForbidden, "this probe is enrolled for village %s and may not report for %q", p.Village, r.Village)
	}

	if problems := r.ValidateHeader(); problems != nil {
		return nil, invalid(problems, nil, "report failed validation")
	}
	v, ok := s.Registry.Village(r.Village)
	if !ok {
		return nil, invalid(jagadesa.Problems{"village": "not in the village registry"}, nil, "unknown village %s", r.Village)
	}
	lo, hi := seqRange(r)

	// One batch of a probe at a time from here: the replay check, the
	// write and the advance of the mark go together. Waiting honours the
	// request's context, so a probe's retries do not pile up behind it.
	unlock, err := s.lock(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if mark := s.Marks.StreamSeq(p.ID, r.Stream); lo <= mark && lo > 0 {
		// Already accepted (a retry whose answer was lost, or a replay):
		// nothing is written again.
		return nil, &Replay{err: jagadesa.Errorf(jagadesa.EConflict,
			"replayed batch: records up to %d of this probe's stream were already accepted, and this batch starts at %d", mark, lo), MaxSeq: mark}
	}

	rejected := r.SplitWithin(s.Now(), s.MaxRecordAge)
	rejected = append(rejected, s.cards.admit(p.ID, r)...)
	res := &jagadesa.BatchResult{Accepted: len(r.Samples) + len(r.Events), MaxSeq: hi, Rejected: rejected}
	if res.Accepted == 0 {
		return nil, invalid(nil, rejected, "every record of the batch was refused")
	}
	// The points and the evidence go to two stores that each commit the
	// batches of many probes together: write to both at once, so a batch
	// waits for the slower of the two commits, not for their sum.
	var archived chan error
	if sig != "" && s.Evidence != nil {
		archived = make(chan error, 1)
		rec := evidence.Record{Received: s.Now().UTC(), Probe: p.ID, Village: r.Village, Stream: r.Stream,
			FirstSeq: lo, LastSeq: hi, KeyID: jagadesa.KeyID(key.PublicKey), Signature: sig, Body: body.JSON}
		go func() { archived <- s.Evidence.Append(&rec, body.Wire) }()
	}
	res.Points, err = s.Points.WriteReport(ctx, r, v.RegencyCode)
	if archived != nil {
		// Waited for even when the points failed: the body must not be
		// released while the archive still reads it.
		if aerr := <-archived; aerr != nil && err == nil {
			// The points are written, but without their evidence the batch
			// is not accepted: the probe sends it again (writes are
			// idempotent) until the archive works.
			err = &jagadesa.Error{Code: jagadesa.EUnavailable, Message: "the server could not archive the batch; retry later", Err: aerr}
		}
	}
	if err != nil {
		return nil, err
	}
	eff, err := effectsOf(p, r)
	if err != nil {
		return nil, err
	}
	if err := s.Marks.CommitBatch(ctx, p.ID, r.Stream, hi, eff); err != nil {
		return nil, &jagadesa.Error{Code: jagadesa.EUnavailable, Message: "the server could not record the batch; retry later", Err: err}
	}
	if s.Status != nil {
		s.Status.Observe(r)
	}
	if s.Late != nil {
		// Records older than the rollups' settle time land in hours
		// already rolled (a spool emptied after a cut, a backfill): say
		// which, so they are rolled again.
		if lo, hi, ok := timeSpan(r); ok && s.Now().Sub(lo) > LateAfter {
			for _, o := range r.Samples {
				if o.Outage != nil && time.UnixMilli(o.Outage.StartMs).Before(lo) {
					lo = time.UnixMilli(o.Outage.StartMs)
				}
			}
			s.Late(r.Village, lo, hi)
		}
	}
	return res, nil
}

// LateAfter is how old a batch's oldest record must be for Deps.Late to
// hear of it: the rollups' settle time.
const LateAfter = 10 * time.Minute

// timeSpan is the oldest and newest record time of the batch.
func timeSpan(r *jagadesa.Report) (lo, hi time.Time, ok bool) {
	see := func(ms int64) {
		t := time.UnixMilli(ms)
		if !ok || t.Before(lo) {
			lo = t
		}
		if !ok || t.After(hi) {
			hi = t
		}
		ok = true
	}
	for i := range r.Samples {
		see(r.Samples[i].TimeMs)
	}
	for i := range r.Events {
		see(r.Events[i].TimeMs)
	}
	return lo, hi, ok
}

// effectsOf encodes what the worker must apply: the events and the
// probe's own accounts of outages. Nil when there is nothing.
func effectsOf(p jagadesa.Probe, r *jagadesa.Report) ([]byte, error) {
	e := Effects{Probe: p.ID, Village: r.Village, Stream: r.Stream}
	for i := range r.Samples {
		if o := r.Samples[i].Outage; o != nil {
			e.Outages = append(e.Outages, *o)
		}
	}
	var evs []jagadesa.Event
	for i := range r.Events {
		if r.Events[i].Severity != "info" {
			evs = append(evs, r.Events[i])
		}
	}
	e.Events = jagadesa.GroupEvents(evs)
	if len(e.Events) == 0 && len(e.Outages) == 0 {
		return nil, nil
	}
	return json.Marshal(e)
}

// seqRange is the lowest and highest valid record number of the batch; an
// out-of-range number is refused with its record and moves no mark.
func seqRange(r *jagadesa.Report) (lo, hi uint64) {
	see := func(q uint64) {
		if q == 0 || q > jagadesa.MaxSeq {
			return
		}
		if lo == 0 || q < lo {
			lo = q
		}
		hi = max(hi, q)
	}
	for i := range r.Samples {
		see(r.Samples[i].Seq)
	}
	for i := range r.Events {
		see(r.Events[i].Seq)
	}
	return lo, hi
}

func (s *Service) lock(ctx context.Context, probe string) (func(), error) {
	v, ok := s.locks.Load(probe)
	if !ok { // a probe's first batch since start
		v, _ = s.locks.LoadOrStore(probe, make(chan struct{}, 1))
	}
	ch := v.(chan struct{})
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, jagadesa.Errorf(jagadesa.EUnavailable, "an earlier batch of this probe is still being stored; retry later")
	}
}

// checkSignature enforces signed batches: a probe with a registered key
// must sign every batch with it; one without may post unsigned batches only
// while the server allows them.
func (s *Service) checkSignature(p jagadesa.Probe, key jagadesa.ProbeKey, hasKey bool, body []byte, sig string) error {
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

// RejectedError is an EInvalid error that lists the refused records.
type RejectedError struct {
	Message  string
	Rejected []jagadesa.Rejection
	err      *jagadesa.Error
}

func (r *RejectedError) Error() string { return r.err.Error() }
func (r *RejectedError) Unwrap() error { return r.err }

func invalid(problems jagadesa.Problems, rejected []jagadesa.Rejection, format string, args ...any) error {
	e := jagadesa.Errorf(jagadesa.EInvalid, format, args...)
	e.Problems = problems
	if rejected != nil {
		return &RejectedError{Message: e.Message, Rejected: rejected, err: e}
	}
	return e
}
