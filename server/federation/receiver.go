package federation

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
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jagadesa/jagadesa"
)

// Ack is the national server's answer to a batch.
type Ack struct {
	Province string `json:"province"`
	Stream   string `json:"stream"`
	// AcceptedTo is the highest item number the national server has for
	// the stream: the province may delete every item up to it.
	AcceptedTo uint64     `json:"accepted_to"`
	Stored     int        `json:"stored"`
	Duplicates int        `json:"duplicates,omitempty"`
	Rejected   []Rejected `json:"rejected,omitempty"`
}

// Receiver takes provinces' batches on a national server.
type Receiver struct {
	store  *Store
	peers  map[string]ed25519.PublicKey // province code → its key
	log    *slog.Logger
	now    func() time.Time
	budget chan struct{} // batches being read and applied at once
	// Timeout bounds the work on one batch after its body is read.
	Timeout time.Duration
}

// maxConcurrent bounds the batches held in memory at once (each at most
// MaxBodyBytes decoded): a national server has a few dozen provinces.
const maxConcurrent = 4

// NewReceiver returns a receiver storing into store and trusting the
// given provinces' keys.
func NewReceiver(store *Store, peers map[string]ed25519.PublicKey, log *slog.Logger, now func() time.Time) *Receiver {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Receiver{store: store, peers: peers, log: log, now: now, budget: make(chan struct{}, maxConcurrent), Timeout: 30 * time.Second}
}

// Peers lists the registered provinces, for the national view.
func (r *Receiver) Peers() map[string]string {
	out := make(map[string]string, len(r.peers))
	for p, k := range r.peers {
		out[p] = jagadesa.KeyID(k)
	}
	return out
}

// Accept reads, authenticates, checks and stores one batch. Its errors are
// *jagadesa.Error: EUnauthorized (unknown province, bad signature),
// EInvalid (a header problem; the batch is refused whole), ETooLarge,
// ETooMany (others' batches fill the budget), EUnavailable (the store
// failed: nothing was stored, send again).
func (r *Receiver) Accept(ctx context.Context, req *http.Request) (*Ack, error) {
	select {
	case r.budget <- struct{}{}:
		defer func() { <-r.budget }()
	default:
		return nil, jagadesa.Errorf(jagadesa.ETooMany, "other provinces' batches are being stored; send again shortly")
	}
	province := strings.TrimSpace(req.Header.Get(ProvinceHeader))
	pub, ok := r.peers[province]
	if !ok {
		return nil, jagadesa.Errorf(jagadesa.EUnauthorized, "province %q is not registered here (--federation-peers)", clip(province))
	}
	sig := req.Header.Get(jagadesa.SignatureHeader)
	if sig == "" {
		return nil, jagadesa.Errorf(jagadesa.EUnauthorized, "the batch is not signed (%s)", jagadesa.SignatureHeader)
	}
	body, err := readBody(req)
	if err != nil {
		return nil, err
	}
	if err := jagadesa.VerifyReport(pub, body, sig); err != nil {
		return nil, &jagadesa.Error{Code: jagadesa.EUnauthorized, Message: "the batch's signature does not verify with province " + province + "'s registered key", Err: err}
	}
	var b Batch
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&b); err != nil {
		return nil, jagadesa.Errorf(jagadesa.EInvalid, "the batch is not valid JSON: %s", clip(err.Error()))
	}
	if p := b.checkHeader(province); p != nil {
		e := jagadesa.Errorf(jagadesa.EInvalid, "the batch is refused whole")
		e.Problems = p
		return nil, e
	}
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	rc, err := r.store.apply(ctx, &b, r.now())
	if err != nil {
		return nil, &jagadesa.Error{Code: jagadesa.EUnavailable, Message: "the batch could not be stored; nothing was kept, send it again", Err: err}
	}
	if len(rc.rejected) > 0 {
		r.log.Warn("federation items refused", "province", province, "stream", b.Stream, "refused", len(rc.rejected), "first", rc.rejected[0].Reason)
	}
	return &Ack{Province: province, Stream: b.Stream, AcceptedTo: rc.acceptedTo, Stored: rc.stored, Duplicates: rc.duplicates, Rejected: rc.rejected}, nil
}

var gzPool sync.Pool

// readBody reads a batch, gzip or plain, within the size limits.
func readBody(req *http.Request) ([]byte, error) {
	raw := io.LimitReader(req.Body, MaxWireBytes+1)
	var src io.Reader = raw
	switch strings.ToLower(strings.TrimSpace(req.Header.Get("Content-Encoding"))) {
	case "gzip":
		zr, _ := gzPool.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(raw)
		} else {
			err = zr.Reset(raw)
		}
		if err != nil {
			return nil, jagadesa.Errorf(jagadesa.EInvalid, "the body is not gzip: %s", clip(err.Error()))
		}
		defer gzPool.Put(zr)
		src = zr
	case "", "identity":
	default:
		return nil, jagadesa.Errorf(jagadesa.EInvalid, "Content-Encoding %q: send gzip or none", clip(req.Header.Get("Content-Encoding")))
	}
	body, err := io.ReadAll(io.LimitReader(src, MaxBodyBytes+1))
	// A gzip stream cut short by the wire limit fails to read: say why.
	if lr := raw.(*io.LimitedReader); lr.N <= 0 {
		return nil, jagadesa.Errorf(jagadesa.ETooLarge, "the body is over %d bytes as sent", MaxWireBytes)
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, jagadesa.Errorf(jagadesa.ETooLarge, "the body is over the server's limit")
		}
		return nil, jagadesa.Errorf(jagadesa.EInvalid, "the body could not be read: %s", clip(err.Error()))
	}
	if len(body) > MaxBodyBytes {
		return nil, jagadesa.Errorf(jagadesa.ETooLarge, "the batch is over %d bytes of JSON", MaxBodyBytes)
	}
	return body, nil
}

// ServeHTTP serves Accept on its own, for a national server that is only
// a receiver and for tests; jagadesa serve routes Accept through its own
// error renderer instead.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	ack, err := r.Accept(req.Context(), req)
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		var ae *jagadesa.Error
		if !errors.As(err, &ae) {
			ae = &jagadesa.Error{Code: jagadesa.EInternal, Message: "internal error"}
		}
		st := map[string]int{jagadesa.EInvalid: 400, jagadesa.EUnauthorized: 401, jagadesa.ETooLarge: 413,
			jagadesa.ETooMany: 429, jagadesa.EUnavailable: 503}[ae.Code]
		if st == 0 {
			st = 500
		}
		if st == 429 || st == 503 {
			w.Header().Set("Retry-After", "5")
		}
		if st >= 500 {
			r.log.Error("federation batch failed", "err", err)
		}
		w.WriteHeader(st)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": ae.Message, "problems": ae.Problems})
		return
	}
	_ = json.NewEncoder(w).Encode(ack)
}

// ErrNotRegistered is returned by ParsePeers for an empty list.
var ErrNotRegistered = errors.New("no province registered")

// ParsePeers reads the national server's list of provinces: one a line,
// the two-digit code and the province's public key (base64, as
// jagadesa.FormatPublicKey writes it); blank lines and # comments are
// skipped.
//
//	33 MCowBQYDK2VwAyEA…=   # Jawa Tengah
func ParsePeers(text string) (map[string]ed25519.PublicKey, error) {
	out := map[string]ed25519.PublicKey{}
	for i, line := range strings.Split(text, "\n") {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want a province code and its public key", i+1)
		}
		if !ValidProvince(f[0]) {
			return nil, fmt.Errorf("line %d: %q is not a two-digit province code", i+1, clip(f[0]))
		}
		if _, dup := out[f[0]]; dup {
			return nil, fmt.Errorf("line %d: province %s is listed twice", i+1, f[0])
		}
		k, err := jagadesa.ParsePublicKey(f[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		out[f[0]] = k
	}
	if len(out) == 0 {
		return nil, ErrNotRegistered
	}
	return out, nil
}
