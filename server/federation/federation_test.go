package federation

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
)

// clock is a test clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// national is a receiver over TLS whose availability the test switches.
type national struct {
	srv     *httptest.Server
	store   *Store
	recv    *Receiver
	down    atomic.Bool
	mu      sync.Mutex
	batches map[string][][]uint64 // province → the item numbers of each batch answered 200
}

func newNational(t *testing.T, now func() time.Time, peers map[string]ed25519.PublicKey) *national {
	t.Helper()
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	n := &national{store: st, recv: NewReceiver(st, peers, nil, now), batches: map[string][][]uint64{}}
	n.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.down.Load() {
			// As a national server whose link is cut: the connection dies.
			hj, ok := w.(http.Hijacker)
			if ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		n.recv.ServeHTTP(rec, r)
		if rec.Code == http.StatusOK {
			var b Batch
			if zr, err := gzip.NewReader(bytes.NewReader(body)); err == nil {
				if err := json.NewDecoder(zr).Decode(&b); err == nil {
					var seqs []uint64
					for _, it := range b.Items {
						seqs = append(seqs, it.Seq)
					}
					n.mu.Lock()
					n.batches[b.Province] = append(n.batches[b.Province], seqs)
					n.mu.Unlock()
				}
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(n.srv.Close)
	return n
}

func newForwarder(t *testing.T, n *national, dir, province string, key ed25519.PrivateKey, now func() time.Time) *Forwarder {
	t.Helper()
	f, err := Open(Config{URL: n.srv.URL, Province: province, Key: key, Dir: dir, Client: n.srv.Client(), Now: now,
		MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, Poll: 10 * time.Millisecond, BatchItems: 100})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

var t0 = time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)

func statusItem(village string, st jagadesa.Status, at time.Time) Item {
	return Item{Kind: KindVillageStatus, At: at, VillageStatus: &VillageStatus{Village: village, Status: st, Since: at, Cause: "silent"}}
}

func TestDeliverSignedAndReplay(t *testing.T) {
	clk := &clock{t: t0}
	k33 := newKey(t)
	n := newNational(t, clk.Now, map[string]ed25519.PublicKey{"33": pub(k33)})
	f := newForwarder(t, n, t.TempDir(), "33", k33, clk.Now)
	defer f.Close()
	ctx := context.Background()

	opened := t0.Add(-time.Hour)
	in := &jagadesa.Incident{ID: "inc-1", Kind: jagadesa.IncidentSecurity, Severity: jagadesa.SeverityCritical, State: jagadesa.StateOpen,
		Title: "Kredensial router berubah", Villages: []string{"33.06.08.2005"}, Village: "33.06.08.2005", CSIRT: "JatengProv-CSIRT",
		OpenedAt: opened, Evidence: map[string]string{"reason": "credentials_changed"},
		Signals: []jagadesa.Signal{{Kind: "credentials_changed", Count: 1, FirstSeen: opened, LastSeen: opened}}}
	for _, it := range []Item{statusItem("33.06.08.2005", jagadesa.StatusDown, t0), IncidentSummary(in, true),
		{Kind: KindSLAMonth, Month: &Month{Village: "33.06.08.2005", Month: "2026-11", Numbers: map[string]float64{"availability_pct": 99.1}, Texts: map[string]string{"status": "all_met"}}}} {
		if err := f.Enqueue(it); err != nil {
			t.Fatal(err)
		}
	}
	sent, err := f.SendOnce(ctx)
	if err != nil || sent != 3 {
		t.Fatalf("SendOnce = %d, %v; want 3 sent", sent, err)
	}
	vs, _ := n.store.Villages(ctx, VillageFilter{})
	if len(vs) != 1 || vs[0].Status != jagadesa.StatusDown || vs[0].Province != "33" {
		t.Fatalf("villages = %+v", vs)
	}
	ins, _ := n.store.Incidents(ctx, IncidentFilter{Province: "33"})
	if len(ins) != 1 || ins[0].ID != "inc-1" || ins[0].Team != "JatengProv-CSIRT" {
		t.Fatalf("incidents = %+v", ins)
	}
	if ins[0].Evidence != nil {
		t.Fatalf("evidence reached the national server although the province does not share it: %s", ins[0].Evidence)
	}
	ms, _ := n.store.Months(ctx, KindSLAMonth, "2026-11", "33")
	if len(ms) != 1 || ms[0].Numbers["availability_pct"] != 99.1 {
		t.Fatalf("months = %+v", ms)
	}
	if st := f.Status(); st.Backlog != 0 {
		t.Fatalf("backlog after the ack = %d", st.Backlog)
	}

	// A batch captured on the wire and sent again changes nothing and is
	// acked with the mark.
	body, _ := json.Marshal(Batch{Version: 1, Province: "33", Stream: f.Status().Stream, SentAt: t0, Items: []Item{
		{Seq: 1, Kind: KindVillageStatus, At: t0, VillageStatus: &VillageStatus{Village: "33.06.08.2005", Status: jagadesa.StatusUp, Since: t0}}}})
	post := func(province string, body []byte, sig string) (int, Ack) {
		req, _ := http.NewRequest(http.MethodPost, n.srv.URL+Path, bytes.NewReader(body))
		req.Header.Set(ProvinceHeader, province)
		req.Header.Set(jagadesa.SignatureHeader, sig)
		resp, err := n.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a Ack
		_ = json.NewDecoder(resp.Body).Decode(&a)
		return resp.StatusCode, a
	}
	code, a := post("33", body, jagadesa.SignReport(k33, body))
	if code != 200 || a.AcceptedTo != 3 || a.Duplicates != 1 || a.Stored != 0 {
		t.Fatalf("replay: %d %+v; want 200, accepted_to 3, one duplicate", code, a)
	}
	if vs, _ := n.store.Villages(ctx, VillageFilter{}); vs[0].Status != jagadesa.StatusDown {
		t.Fatal("a replayed batch changed the stored status")
	}
	// Altered, foreign-signed, unsigned and unregistered batches: 401.
	altered := bytes.Replace(body, []byte(`"up"`), []byte(`"dn"`), 1)
	for name, c := range map[string]struct {
		province string
		body     []byte
		sig      string
	}{
		"altered":      {"33", altered, jagadesa.SignReport(k33, body)},
		"foreign key":  {"33", body, jagadesa.SignReport(newKey(t), body)},
		"unsigned":     {"33", body, ""},
		"unregistered": {"15", body, jagadesa.SignReport(k33, body)},
	} {
		if code, _ := post(c.province, c.body, c.sig); code != http.StatusUnauthorized {
			t.Errorf("%s batch: %d, want 401", name, code)
		}
	}
}

func TestEvidenceSharedOnlyWhenAllowed(t *testing.T) {
	clk := &clock{t: t0}
	k := newKey(t)
	n := newNational(t, clk.Now, map[string]ed25519.PublicKey{"33": pub(k)})
	f, err := Open(Config{URL: n.srv.URL, Province: "33", Key: k, Dir: t.TempDir(), Client: n.srv.Client(), Now: clk.Now, ShareEvidence: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := &jagadesa.Incident{ID: "inc-2", Kind: jagadesa.IncidentSecurity, Severity: jagadesa.SeverityCritical, State: jagadesa.StateOpen,
		Village: "33.06.08.2005", OpenedAt: t0, Signals: []jagadesa.Signal{{Kind: "new_listener", Count: 2, FirstSeen: t0, LastSeen: t0}}}
	if err := f.Enqueue(IncidentSummary(in, true)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.SendOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	ins, _ := n.store.Incidents(context.Background(), IncidentFilter{})
	if len(ins) != 1 || !strings.Contains(string(ins[0].Evidence), "new_listener") {
		t.Fatalf("shared evidence not stored: %+v", ins)
	}
}

func TestItemValidation(t *testing.T) {
	now := t0
	at := now.Add(-time.Minute)
	future := now.Add(time.Hour)
	resolvedBeforeOpen := at.Add(-time.Hour)
	inc := func(f func(*Incident)) Item {
		in := &Incident{ID: "i-1", Village: "33.06.08.2005", Kind: jagadesa.IncidentDown, Severity: jagadesa.SeverityWarning, State: jagadesa.StateOpen, OpenedAt: at}
		f(in)
		return Item{Kind: KindIncident, At: at, Incident: in}
	}
	for _, c := range []struct {
		name string
		it   Item
		want string // "" valid
	}{
		{"status", statusItem("33.06.08.2005", jagadesa.StatusUp, at), ""},
		{"village of another province", statusItem("15.01.01.2001", jagadesa.StatusUp, at), "outside province 33"},
		{"bad village code", statusItem("33.06.08", jagadesa.StatusUp, at), "not a code"},
		{"unknown status", statusItem("33.06.08.2005", "sideways", at), "unknown status"},
		{"future", statusItem("33.06.08.2005", jagadesa.StatusUp, future), "future"},
		{"ancient", statusItem("33.06.08.2005", jagadesa.StatusUp, time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)), "before 2020"},
		{"unknown kind", Item{Kind: "gossip", At: at, VillageStatus: &VillageStatus{}}, "unknown kind"},
		{"two payloads", Item{Kind: KindVillageStatus, At: at, VillageStatus: &VillageStatus{}, Month: &Month{}}, "exactly one payload"},
		{"incident", inc(func(*Incident) {}), ""},
		{"incident state", inc(func(in *Incident) { in.State = "closed" }), "unknown incident state"},
		{"incident kind", inc(func(in *Incident) { in.Kind = "bad" }), "unknown incident kind"},
		{"incident id", inc(func(in *Incident) { in.ID = "a b" }), "incident id"},
		{"incident regional village outside", inc(func(in *Incident) { in.Villages = []string{"33.06.08.2005", "15.01.01.2001"} }), "outside province"},
		{"incident long title", inc(func(in *Incident) { in.Title = strings.Repeat("x", MaxText+1) }), "at most"},
		{"incident resolved before opened", inc(func(in *Incident) { in.State = jagadesa.StateResolved; in.ResolvedAt = &resolvedBeforeOpen }), "before opened_at"},
		{"incident resolved without time", inc(func(in *Incident) { in.State = jagadesa.StateResolved }), "needs resolved_at"},
		{"incident evidence not JSON", inc(func(in *Incident) { in.Evidence = json.RawMessage("{") }), "not JSON"},
		{"month", Item{Kind: KindReadinessMonth, At: at, Month: &Month{Village: "33.06.08.2005", Month: "2026-11", Numbers: map[string]float64{"score": 61}}}, ""},
		{"month bad", Item{Kind: KindReadinessMonth, At: at, Month: &Month{Village: "33.06.08.2005", Month: "11/2026"}}, "not YYYY-MM"},
		{"month future", Item{Kind: KindSLAMonth, At: at, Month: &Month{Village: "33.06.08.2005", Month: "2027-03"}}, "future"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.it.check("33", now)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("err = %v, want one saying %q", err, c.want)
			}
		})
	}
}

// A batch signed by province 33 that speaks of a Jambi village: that item
// is refused with its reason, the others are stored, and the stream moves
// on past it.
func TestForeignVillageRefusedInBatch(t *testing.T) {
	clk := &clock{t: t0}
	k := newKey(t)
	n := newNational(t, clk.Now, map[string]ed25519.PublicKey{"33": pub(k)})
	items := []Item{statusItem("33.06.08.2005", jagadesa.StatusUp, t0), statusItem("15.01.01.2001", jagadesa.StatusDown, t0), statusItem("33.06.08.2006", jagadesa.StatusDown, t0)}
	for i := range items {
		items[i].Seq = uint64(i + 1)
	}
	body, _ := json.Marshal(Batch{Version: 1, Province: "33", Stream: "s-1", SentAt: t0, Items: items})
	req, _ := http.NewRequest(http.MethodPost, n.srv.URL+Path, bytes.NewReader(body))
	req.Header.Set(ProvinceHeader, "33")
	req.Header.Set(jagadesa.SignatureHeader, jagadesa.SignReport(k, body))
	resp, err := n.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var a Ack
	_ = json.NewDecoder(resp.Body).Decode(&a)
	resp.Body.Close()
	if resp.StatusCode != 200 || a.AcceptedTo != 3 || a.Stored != 2 || len(a.Rejected) != 1 || a.Rejected[0].Seq != 2 || !strings.Contains(a.Rejected[0].Reason, "outside province 33") {
		t.Fatalf("answer %d %+v", resp.StatusCode, a)
	}
	vs, _ := n.store.Villages(context.Background(), VillageFilter{})
	if len(vs) != 2 || vs[0].Village != "33.06.08.2005" || vs[1].Village != "33.06.08.2006" {
		t.Fatalf("stored %+v", vs)
	}
	// And the forwarder refuses to spool such an item in the first place.
	f := newForwarder(t, n, t.TempDir(), "33", k, clk.Now)
	defer f.Close()
	if err := f.Enqueue(statusItem("15.01.01.2001", jagadesa.StatusDown, t0)); err != ErrOutside {
		t.Fatalf("Enqueue of a Jambi village on the Jawa Tengah forwarder: %v, want ErrOutside", err)
	}
	// A batch whose header lies about the province is refused whole.
	body, _ = json.Marshal(Batch{Version: 1, Province: "15", Stream: "s-1", Items: items[:1]})
	req, _ = http.NewRequest(http.MethodPost, n.srv.URL+Path, bytes.NewReader(body))
	req.Header.Set(ProvinceHeader, "33")
	req.Header.Set(jagadesa.SignatureHeader, jagadesa.SignReport(k, body))
	resp, err = n.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("header naming another province: %d, want 400", resp.StatusCode)
	}
}

func TestSpoolSurvivesRestart(t *testing.T) {
	clk := &clock{t: t0}
	k := newKey(t)
	n := newNational(t, clk.Now, map[string]ed25519.PublicKey{"33": pub(k)})
	dir := t.TempDir()
	n.down.Store(true)
	f := newForwarder(t, n, dir, "33", k, clk.Now)
	for i := range 5 {
		if err := f.Enqueue(statusItem(fmt.Sprintf("33.06.08.%04d", 2001+i), jagadesa.StatusDown, t0)); err != nil {
			t.Fatal(err)
		}
	}
	// Five more in one sync, with a Jambi village and an invalid item
	// skipped among them.
	batch := []Item{statusItem("15.01.01.2001", jagadesa.StatusDown, t0), {Kind: "gossip", At: t0}}
	for i := 5; i < 10; i++ {
		batch = append(batch, statusItem(fmt.Sprintf("33.06.08.%04d", 2001+i), jagadesa.StatusDown, t0))
	}
	if skipped, err := f.EnqueueAll(batch); err != nil || skipped != 2 {
		t.Fatalf("EnqueueAll = %d skipped, %v; want 2 skipped", skipped, err)
	}
	if _, err := f.SendOnce(context.Background()); err == nil {
		t.Fatal("a send to a national server that is down succeeded")
	}
	stream := f.Status().Stream
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	n.down.Store(false)
	f = newForwarder(t, n, dir, "33", k, clk.Now)
	defer f.Close()
	if st := f.Status(); st.Backlog != 10 || st.Stream != stream {
		t.Fatalf("after a restart: %+v; want the 10 items and stream %s", st, stream)
	}
	if sent, err := f.SendOnce(context.Background()); err != nil || sent != 10 {
		t.Fatalf("SendOnce = %d, %v", sent, err)
	}
	if vs, _ := n.store.Villages(context.Background(), VillageFilter{}); len(vs) != 10 {
		t.Fatalf("%d villages stored, want 10", len(vs))
	}
	if b, err := os.ReadFile(filepath.Join(dir, streamFile)); err != nil || strings.TrimSpace(string(b)) != stream {
		t.Fatalf("stream file %q, %v", b, err)
	}
}

// Two provinces forward to one national server over TLS. The national
// server is unreachable for a (simulated) day while both keep changing;
// when it is back, both backlogs drain in bounded batches, in order, with
// no item missing and none twice.
func TestTwoProvincesOfflineForADay(t *testing.T) {
	clk := &clock{t: t0}
	k33, k15 := newKey(t), newKey(t)
	n := newNational(t, clk.Now, map[string]ed25519.PublicKey{"33": pub(k33), "15": pub(k15)})
	f33 := newForwarder(t, n, t.TempDir(), "33", k33, clk.Now)
	defer f33.Close()
	f15 := newForwarder(t, n, t.TempDir(), "15", k15, clk.Now)
	defer f15.Close()
	ctx := context.Background()

	// Both are heard from before the cut.
	for _, f := range []*Forwarder{f33, f15} {
		village := "33.06.08.2005"
		if f == f15 {
			village = "15.01.01.2001"
		}
		if err := f.Enqueue(statusItem(village, jagadesa.StatusUp, clk.Now())); err != nil {
			t.Fatal(err)
		}
		if _, err := f.SendOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	n.down.Store(true)
	statuses := []jagadesa.Status{jagadesa.StatusDown, jagadesa.StatusUp, jagadesa.StatusDegraded}
	const perProvince = 24 * 60 // a change a minute for a day
	want := map[string]jagadesa.Status{}
	for i := range perProvince {
		clk.Add(time.Minute)
		st := statuses[i%len(statuses)]
		v33 := fmt.Sprintf("33.%02d.01.2001", 1+i%35)
		v15 := fmt.Sprintf("15.%02d.01.2001", 1+i%11)
		if err := f33.Enqueue(statusItem(v33, st, clk.Now())); err != nil {
			t.Fatal(err)
		}
		if err := f15.Enqueue(statusItem(v15, st, clk.Now())); err != nil {
			t.Fatal(err)
		}
		want[v33], want[v15] = st, st
		if i%60 == 0 { // the forwarders keep trying, and failing
			if _, err := f33.SendOnce(ctx); err == nil {
				t.Fatal("sent while the national server is down")
			}
		}
	}
	if b := f33.Status().Backlog; b != perProvince {
		t.Fatalf("backlog after a day offline = %d, want %d", b, perProvince)
	}
	n.down.Store(false)
	start := time.Now()
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, f := range []*Forwarder{f33, f15} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = f.Run(rctx) }()
	}
	deadline := time.Now().Add(30 * time.Second)
	for f33.Status().Backlog+f15.Status().Backlog > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("backlog not drained: 33 %+v, 15 %+v", f33.Status(), f15.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	t.Logf("drained 2 × %d items in %v", perProvince, time.Since(start).Round(time.Millisecond))

	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range []string{"33", "15"} {
		var all []uint64
		for _, b := range n.batches[p] {
			if len(b) > 100 {
				t.Fatalf("province %s: a batch of %d items, over the bound of 100", p, len(b))
			}
			all = append(all, b...)
		}
		if len(all) != perProvince+1 {
			t.Fatalf("province %s: %d items delivered, want %d", p, len(all), perProvince+1)
		}
		for i := 1; i < len(all); i++ {
			if all[i] != all[i-1]+1 {
				t.Fatalf("province %s: item %d follows %d: a gap or a reordering", p, all[i], all[i-1])
			}
		}
	}
	vs, err := n.store.Villages(ctx, VillageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]jagadesa.Status{}
	for _, v := range vs {
		got[v.Village] = v.Status
	}
	for v, st := range want {
		if got[v] != st {
			t.Errorf("village %s: %s on the national view, want %s (its last change)", v, got[v], st)
		}
	}
	ps, err := n.store.Provinces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 {
		t.Fatalf("provinces %+v", ps)
	}
	for _, p := range ps {
		if p.Items != perProvince+1 || p.Rejected != 0 || p.Backlog != 0 || p.Missing != 0 || p.Duplicate != 0 || !p.HeardAt.Equal(clk.Now()) {
			t.Errorf("province %s: %+v", p.Province, p)
		}
	}
}

func TestParsePeersAndKey(t *testing.T) {
	k := newKey(t)
	text := "# national peers\n33 " + jagadesa.FormatPublicKey(pub(k)) + "  # Jawa Tengah\n\n15 " + jagadesa.FormatPublicKey(pub(newKey(t))) + "\n"
	peers, err := ParsePeers(text)
	if err != nil || len(peers) != 2 || !peers["33"].Equal(pub(k)) {
		t.Fatalf("ParsePeers = %v, %v", peers, err)
	}
	for _, bad := range []string{"", "3 abc", "33 notbase64!", "33 " + jagadesa.FormatPublicKey(pub(k)) + "\n33 " + jagadesa.FormatPublicKey(pub(k))} {
		if _, err := ParsePeers(bad); err == nil {
			t.Errorf("ParsePeers(%q) accepted", bad)
		}
	}
	path := filepath.Join(t.TempDir(), "keys", "federation.key")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v, %v; want mode 0600", fi, err)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("the key read back differs: %v", err)
	}
}

func TestStatusWatch(t *testing.T) {
	var got []Item
	w := NewStatusWatch(func(its []Item) error { got = append(got, its...); return nil })
	v := func(st jagadesa.Status, cause string) []Observed {
		return []Observed{{Village: "33.06.08.2005", Status: st, Cause: cause}}
	}
	w.Observe(t0, v(jagadesa.StatusUp, ""))
	w.Observe(t0.Add(time.Second), v(jagadesa.StatusUp, ""))
	w.Observe(t0.Add(2*time.Second), v(jagadesa.StatusDown, "silent"))
	w.Observe(t0.Add(3*time.Second), v(jagadesa.StatusDown, "unreachable"))
	if len(got) != 3 {
		t.Fatalf("%d items, want 3 (first view, down, cause changed)", len(got))
	}
	if s := got[2].VillageStatus; s.Cause != "unreachable" || !s.Since.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("cause change: %+v; the status's since must stay", s)
	}
}

// The national server stores a batch but its answer never reaches the
// province: the province sends the batch again, the national server
// acks it as duplicates, and nothing is stored twice.
func TestLostAnswer(t *testing.T) {
	clk := &clock{t: t0}
	k := newKey(t)
	n := newNational(t, clk.Now, map[string]ed25519.PublicKey{"33": pub(k)})
	var lose atomic.Bool
	lose.Store(true)
	inner := n.srv.Config.Handler
	n.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lose.Swap(false) {
			n.recv.ServeHTTP(httptest.NewRecorder(), r) // stored, answer dropped
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				c.Close()
			}
			return
		}
		inner.ServeHTTP(w, r)
	})
	f := newForwarder(t, n, t.TempDir(), "33", k, clk.Now)
	defer f.Close()
	for i := range 5 {
		if err := f.Enqueue(statusItem(fmt.Sprintf("33.06.08.%04d", 2001+i), jagadesa.StatusUp, t0)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.SendOnce(context.Background()); err == nil {
		t.Fatal("a send whose answer was lost succeeded")
	}
	if st := f.Status(); st.Backlog != 5 {
		t.Fatalf("backlog %d after a lost answer, want the 5 items kept", st.Backlog)
	}
	if sent, err := f.SendOnce(context.Background()); err != nil || sent != 5 {
		t.Fatalf("resend: %d, %v", sent, err)
	}
	ps, _ := n.store.Provinces(context.Background())
	if len(ps) != 1 || ps[0].Items != 5 || ps[0].Duplicate != 5 || ps[0].LastSeq != 5 {
		t.Fatalf("province %+v; want 5 items stored once and 5 duplicates acked", ps)
	}
}

func TestReceiverBounds(t *testing.T) {
	clk := &clock{t: t0}
	k := newKey(t)
	n := newNational(t, clk.Now, map[string]ed25519.PublicKey{"33": pub(k)})
	post := func(body []byte, gz bool) int {
		t.Helper()
		var wire []byte = body
		if gz {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(body)
			zw.Close()
			wire = b.Bytes()
		}
		req, _ := http.NewRequest(http.MethodPost, n.srv.URL+Path, bytes.NewReader(wire))
		req.Header.Set(ProvinceHeader, "33")
		req.Header.Set(jagadesa.SignatureHeader, jagadesa.SignReport(k, body))
		if gz {
			req.Header.Set("Content-Encoding", "gzip")
		}
		resp, err := n.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	many := Batch{Version: 1, Province: "33", Stream: "s-1"}
	for i := range MaxItemsPerBatch + 1 {
		many.Items = append(many.Items, statusItem("33.06.08.2005", jagadesa.StatusUp, t0))
		many.Items[i].Seq = uint64(i + 1)
	}
	tooMany, _ := json.Marshal(many)
	huge := append([]byte(`{"v":1,"pad":"`), bytes.Repeat([]byte("a"), MaxBodyBytes)...)
	huge = append(huge, `"}`...)
	for name, c := range map[string]struct {
		body []byte
		gz   bool
		want int
	}{
		"too many items":      {tooMany, true, http.StatusBadRequest},
		"over the JSON limit": {huge, true, http.StatusRequestEntityTooLarge},
		"over the wire limit": {huge, false, http.StatusRequestEntityTooLarge},
		"not JSON":            {[]byte("not json"), false, http.StatusBadRequest},
		"wrong version":       {[]byte(`{"v":2,"province":"33","stream":"s-1","items":[]}`), false, http.StatusBadRequest},
		"numbers going back":  {[]byte(`{"v":1,"province":"33","stream":"s-1","items":[{"seq":2},{"seq":1}]}`), false, http.StatusBadRequest},
	} {
		if got := post(c.body, c.gz); got != c.want {
			t.Errorf("%s: %d, want %d", name, got, c.want)
		}
	}
	// Not gzip although it says so.
	req, _ := http.NewRequest(http.MethodPost, n.srv.URL+Path, strings.NewReader("plain"))
	req.Header.Set(ProvinceHeader, "33")
	req.Header.Set(jagadesa.SignatureHeader, jagadesa.SignReport(k, []byte("plain")))
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := n.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad gzip: %d, want 400", resp.StatusCode)
	}
	if ps, _ := n.store.Provinces(context.Background()); len(ps) != 0 {
		t.Fatalf("refused batches left a trace: %+v", ps)
	}
}

// A province-wide regional incident with more villages than an item lists,
// a long title, and shared evidence: it still fits one spool record, and
// the national server knows how many villages it had.
func TestLargeIncidentFits(t *testing.T) {
	clk := &clock{t: t0}
	k := newKey(t)
	n := newNational(t, clk.Now, map[string]ed25519.PublicKey{"33": pub(k)})
	f, err := Open(Config{URL: n.srv.URL, Province: "33", Key: k, Dir: t.TempDir(), Client: n.srv.Client(), Now: clk.Now, ShareEvidence: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := &jagadesa.Incident{ID: "reg-1", Kind: jagadesa.IncidentRegional, Severity: jagadesa.SeverityCritical, State: jagadesa.StateOpen,
		Title: strings.Repeat("Gangguan wilayah é ", 40), OpenedAt: t0, Evidence: map[string]string{"group": strings.Repeat("x", 8000)}}
	for i := range 2500 {
		in.Villages = append(in.Villages, fmt.Sprintf("33.%02d.01.%04d", 1+i%35, 2001+i))
	}
	if err := f.Enqueue(IncidentSummary(in, true)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.SendOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	ins, _ := n.store.Incidents(context.Background(), IncidentFilter{})
	if len(ins) != 1 || len(ins[0].Villages) != MaxVillages || ins[0].VillagesTotal != 2500 || len(ins[0].Title) > MaxText || ins[0].Evidence == nil {
		t.Fatalf("stored %d villages of %d, title of %d bytes, evidence %d bytes", len(ins[0].Villages), ins[0].VillagesTotal, len(ins[0].Title), len(ins[0].Evidence))
	}
}

// A spool reset under its stream file (restored from an old backup, say):
// its numbers start again below the national mark. The forwarder notices
// from the answer, starts a new stream and sends its items again; none is
// lost as a "duplicate".
func TestSpoolResetStartsNewStream(t *testing.T) {
	clk := &clock{t: t0}
	k := newKey(t)
	n := newNational(t, clk.Now, map[string]ed25519.PublicKey{"33": pub(k)})
	dirA, dirB := t.TempDir(), t.TempDir()
	f := newForwarder(t, n, dirA, "33", k, clk.Now)
	for i := range 5 {
		if err := f.Enqueue(statusItem(fmt.Sprintf("33.06.08.%04d", 2001+i), jagadesa.StatusUp, t0)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.SendOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	old := f.Status().Stream
	f.Close()
	b, _ := os.ReadFile(filepath.Join(dirA, streamFile))
	os.WriteFile(filepath.Join(dirB, streamFile), b, 0o600)
	g := newForwarder(t, n, dirB, "33", k, clk.Now)
	defer g.Close()
	clk.Add(time.Minute)
	for i := range 2 {
		if err := g.Enqueue(statusItem(fmt.Sprintf("33.06.08.%04d", 2001+i), jagadesa.StatusDown, clk.Now())); err != nil {
			t.Fatal(err)
		}
	}
	if sent, err := g.SendOnce(context.Background()); err != nil || sent != 2 {
		t.Fatalf("SendOnce after the reset: %d, %v", sent, err)
	}
	if s := g.Status().Stream; s == old {
		t.Fatal("the stream did not change")
	}
	vs, _ := n.store.Villages(context.Background(), VillageFilter{Status: jagadesa.StatusDown})
	if len(vs) != 2 {
		t.Fatalf("%d villages down on the national view, want the 2 sent after the reset", len(vs))
	}
}
