package sim

import (
	"compress/gzip"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jagadesa/jagadesa"
)

// fakeServer answers the few endpoints a fleet uses. With verify set it
// checks every report as the real server would (gzip, JSON, Ed25519
// signature by the enrolled key, record numbers) and keeps what it got;
// without, it discards the body as fast as it can, so a benchmark measures
// the fleet rather than the server.
type fakeServer struct {
	villages int
	verify   bool
	// fail, while set, answers every report 503.
	fail atomic.Bool

	reports, records atomic.Int64
	enrolled         atomic.Int64

	mu     sync.Mutex
	keys   map[string]ed25519.PublicKey // token → key
	seqs   map[string][]uint64          // village → record numbers received, in order
	sizes  map[string][]int             // village → records in each report
	errors []string
}

func newFakeServer(tb testing.TB, villages int, verify bool) (*fakeServer, *httptest.Server) {
	f := &fakeServer{villages: villages, verify: verify, keys: map[string]ed25519.PublicKey{}, seqs: map[string][]uint64{}, sizes: map[string][]int{}}
	ts := httptest.NewServer(f)
	tb.Cleanup(ts.Close)
	return f, ts
}

func (f *fakeServer) fault(format string, args ...any) {
	f.mu.Lock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/villages":
		var b strings.Builder
		b.WriteString(`{"villages":[`)
		for i := range f.villages {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"code":"33.%06d","name":"Desa %d","district_code":"33.%03d","district":"Kec %d","regency_code":"33.01","programme":{}}`, i, i, i/20, i/20)
		}
		b.WriteString(`]}`)
		io.WriteString(w, b.String())
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/probes":
		var in struct {
			Village   string `json:"village"`
			PublicKey string `json:"public_key"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		pub, err := jagadesa.ParsePublicKey(in.PublicKey)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		tok := fmt.Sprintf("tok-%s-%d", in.Village, f.enrolled.Add(1))
		f.mu.Lock()
		f.keys[tok] = pub
		f.mu.Unlock()
		fmt.Fprintf(w, `{"token":%q}`, tok)
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/probes/key":
		io.Copy(io.Discard, r.Body)
		w.Write([]byte(`{}`))
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/reports":
		if f.fail.Load() {
			io.Copy(io.Discard, r.Body)
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		if !f.verify {
			io.Copy(io.Discard, r.Body)
			f.reports.Add(1)
			w.Write([]byte(`{"accepted":4}`))
			return
		}
		f.check(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeServer) check(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	pub := f.keys[tok]
	f.mu.Unlock()
	if pub == nil {
		f.fault("unknown token %q", tok)
		http.Error(w, "unknown token", 401)
		return
	}
	if r.Header.Get("Content-Encoding") != "gzip" || r.Header.Get("Content-Type") != "application/json" {
		f.fault("headers %v", r.Header)
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		f.fault("gzip: %v", err)
		http.Error(w, err.Error(), 400)
		return
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		f.fault("gzip body: %v", err)
		http.Error(w, err.Error(), 400)
		return
	}
	if err := jagadesa.VerifyReport(pub, raw, r.Header.Get(jagadesa.SignatureHeader)); err != nil {
		f.fault("signature: %v", err)
		http.Error(w, err.Error(), 401)
		return
	}
	var rep jagadesa.Report
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		f.fault("report: %v", err)
		http.Error(w, err.Error(), 400)
		return
	}
	if rep.Version != jagadesa.WireVersion || rep.Village == "" || !strings.Contains(tok, rep.Village) || rep.Stream == "" {
		f.fault("report header %+v", rep)
	}
	var seqs []uint64
	for _, s := range rep.Samples {
		seqs = append(seqs, s.Seq)
		if s.TimeMs == 0 || s.Kind == "" || (s.ICMP == nil) == (s.Heartbeat == nil) {
			f.fault("sample %+v", s)
		}
	}
	for _, e := range rep.Events {
		seqs = append(seqs, e.Seq)
	}
	slices.Sort(seqs) // samples and events travel in separate lists
	f.mu.Lock()
	f.seqs[rep.Village] = append(f.seqs[rep.Village], seqs...)
	f.sizes[rep.Village] = append(f.sizes[rep.Village], len(seqs))
	f.mu.Unlock()
	f.reports.Add(1)
	f.records.Add(int64(len(seqs)))
	fmt.Fprintf(w, `{"accepted":%d}`, len(seqs))
}
