// Package storetest is the contract every metastore.Store implementation
// keeps: one suite, run by server/sqlite against SQLite and by
// server/postgres against a real PostgreSQL. It checks behaviour through
// the interface only, so both backends are held to the same answers
// (values and error codes).
package storetest

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/metastore"
)

// Backend makes stores for the suite.
type Backend struct {
	// Fresh makes a new, empty store and returns its opener: every call
	// opens that same store again — a restart, or one more replica. The
	// suite closes what it opens.
	Fresh func(t *testing.T) (open func(t *testing.T) metastore.Store)
	// Replicas says that stores opened side by side share their state at
	// once (PostgreSQL): the suite then also checks that a change made
	// through one is honoured by the other.
	Replicas bool
}

// Run runs the contract suite.
func Run(t *testing.T, b Backend) {
	tests := []struct {
		name string
		f    func(t *testing.T, open func(t *testing.T) metastore.Store)
	}{
		{"ProbesAndRevocation", testProbes},
		{"EnrollWithCode", testEnrollWithCode},
		{"ReplaceProbe", testReplaceProbe},
		{"RotateToken", testRotateToken},
		{"Keys", testKeys},
		{"KeyHistory", testKeyHistory},
		{"MarksAndOutbox", testMarksAndOutbox},
		{"ConcurrentCommits", testConcurrentCommits},
		{"Incidents", testIncidents},
		{"IncidentFilters", testIncidentFilters},
		{"AuditLog", testAuditLog},
		{"Users", testUsers},
		{"LoginState", testLoginState},
		{"Sessions", testSessions},
		{"UserTokens", testUserTokens},
		{"Governance", testGovernance},
		{"Windows", testWindows},
		{"MailAndNotifyMarks", testMarks},
		{"StateBlobs", testState},
	}
	if b.Replicas {
		tests = append(tests, []struct {
			name string
			f    func(t *testing.T, open func(t *testing.T) metastore.Store)
		}{
			{"Replicas/ProbeTokens", testReplicaProbeTokens},
			{"Replicas/Keys", testReplicaKeys},
			{"Replicas/Enroll", testReplicaEnroll},
			{"Replicas/Marks", testReplicaMarks},
			{"Replicas/SameBatch", testReplicaSameBatch},
			{"Replicas/Accounts", testReplicaAccounts},
		}...)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.f(t, b.Fresh(t))
		})
	}
}

const (
	villageA = "33.06.08.2005"
	villageB = "33.06.08.2007"
	villageC = "33.19.01.2001"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// opened opens the store and closes it when t ends (unless closed before
// by reopen).
func opened(t *testing.T, open func(t *testing.T) metastore.Store) *handle {
	h := &handle{Store: open(t)}
	t.Cleanup(func() { h.close(t) })
	return h
}

type handle struct {
	metastore.Store
	closed bool
}

func (h *handle) close(t *testing.T) {
	if h.closed {
		return
	}
	h.closed = true
	if err := h.Store.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

// reopen closes h and opens the store again, as a restart would.
func reopen(t *testing.T, h *handle, open func(t *testing.T) metastore.Store) *handle {
	t.Helper()
	h.close(t)
	return opened(t, open)
}

func code(err error) string { return jagadesa.ErrorCode(err) }

func mustProbe(t *testing.T, s metastore.Store, village string) (jagadesa.Probe, string) {
	t.Helper()
	p, tok, err := s.CreateProbe(ctxT(t), village)
	if err != nil {
		t.Fatal(err)
	}
	return p, tok
}

func newKey(t *testing.T) ed25519.PublicKey {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func testProbes(t *testing.T, open func(t *testing.T) metastore.Store) {
	ctx := ctxT(t)
	s := opened(t, open)
	if _, _, err := s.CreateProbe(ctx, "not-a-village"); code(err) != jagadesa.EInvalid {
		t.Fatalf("bad village code: %v", err)
	}
	p, tok := mustProbe(t, s, villageA)
	q, qtok := mustProbe(t, s, villageB)
	if p.ID == "" || p.ID == q.ID || tok == qtok || p.Village != villageA || p.CreatedAt.IsZero() {
		t.Fatalf("probes %+v %+v", p, q)
	}
	got, ok := s.ProbeByToken(tok)
	if !ok || got.ID != p.ID || got.Village != villageA || !got.CreatedAt.Equal(p.CreatedAt) {
		t.Fatalf("ProbeByToken = %+v %v, want %+v", got, ok, p)
	}
	if _, ok := s.ProbeByToken(tok + "x"); ok {
		t.Fatal("a wrong token authenticates")
	}
	live, err := s.Probes(ctx)
	if err != nil || len(live) != 2 {
		t.Fatalf("live probes %+v %v", live, err)
	}
	if err := s.RevokeProbe(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.ProbeByToken(tok); ok {
		t.Fatal("a revoked probe's token authenticates")
	}
	if err := s.RevokeProbe(ctx, p.ID); code(err) != jagadesa.ENotFound {
		t.Fatalf("revoking twice: %v", err)
	}
	if err := s.RevokeProbe(ctx, "p-nope"); code(err) != jagadesa.ENotFound {
		t.Fatalf("revoking an unknown probe: %v", err)
	}
	s = reopen(t, s, open)
	if _, ok := s.ProbeByToken(tok); ok {
		t.Fatal("a revoked probe's token authenticates after a restart")
	}
	if got, ok := s.ProbeByToken(qtok); !ok || got.ID != q.ID {
		t.Fatal("a live token stopped working after a restart")
	}
	live, _ = s.Probes(ctx)
	if len(live) != 1 || live[0].ID != q.ID {
		t.Fatalf("live probes after revocation %+v", live)
	}
	all, err := s.AllProbes(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("all probes %+v %v", all, err)
	}
	for _, a := range all {
		if (a.ID == p.ID) != (a.RevokedAt != nil) {
			t.Errorf("AllProbes: %+v", a)
		}
	}
}

// An enrollment code is used once, only before it expires, only for its
// village; the key it brings is bound in the same step.
func testEnrollWithCode(t *testing.T, open func(t *testing.T) metastore.Store) {
	ctx := ctxT(t)
	s := opened(t, open)
	c, err := s.CreateEnrollCode(ctx, "h1", villageA, false, "tek.purworejo", 72*time.Hour)
	if err != nil || c.ID == 0 || c.Village != villageA || !c.ExpiresAt.Equal(c.CreatedAt.Add(72*time.Hour)) {
		t.Fatalf("code %+v %v", c, err)
	}
	pub := newKey(t)
	if _, _, err := s.EnrollProbe(ctx, jagadesa.EnrollSpec{CodeHash: "h1", Village: villageC, Key: pub}); code(err) != jagadesa.EInvalid {
		t.Fatalf("code used for another village: %v", err)
	}
	if _, _, err := s.EnrollProbe(ctx, jagadesa.EnrollSpec{Village: villageA, Key: pub[:5]}); code(err) != jagadesa.EInvalid {
		t.Fatalf("short key: %v", err)
	}
	p, tok, err := s.EnrollProbe(ctx, jagadesa.EnrollSpec{CodeHash: "h1", Key: pub})
	if err != nil {
		t.Fatal(err)
	}
	if p.Village != villageA || p.EnrolledBy != "code:tek.purworejo" {
		t.Errorf("probe %+v", p)
	}
	if got, ok := s.ProbeByToken(tok); !ok || got.ID != p.ID {
		t.Error("the new token does not authenticate")
	}
	if k, ok := s.ProbeKey(p.ID); !ok || !k.PublicKey.Equal(pub) || k.RegisteredBy != "enrollment" {
		t.Errorf("key not bound at enrollment: %+v %v", k, ok)
	}
	if _, _, err := s.EnrollProbe(ctx, jagadesa.EnrollSpec{CodeHash: "h1", Key: pub}); code(err) != jagadesa.EUnauthorized {
		t.Errorf("second use: %v", err)
	}
	if _, _, err := s.EnrollProbe(ctx, jagadesa.EnrollSpec{CodeHash: "nope", Key: pub}); code(err) != jagadesa.EUnauthorized {
		t.Errorf("unknown code: %v", err)
	}
	if _, err := s.CreateEnrollCode(ctx, "h2", villageA, false, "tek.purworejo", -time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.EnrollProbe(ctx, jagadesa.EnrollSpec{CodeHash: "h2", Key: pub}); code(err) != jagadesa.EUnauthorized {
		t.Errorf("expired code: %v", err)
	}
	if _, err := s.CreateEnrollCode(ctx, "h3", villageB, true, "tek", time.Hour); err != nil {
		t.Fatal(err)
	}
	live, err := s.EnrollCodes(ctx, true, 10)
	if err != nil || len(live) != 1 || live[0].Village != villageB || !live[0].Replace {
		t.Errorf("live codes %+v %v", live, err)
	}
	all, _ := s.EnrollCodes(ctx, false, 10)
	if len(all) != 3 || all[2].Probe != p.ID || all[2].UsedAt == nil || all[0].UsedAt != nil {
		t.Errorf("codes %+v", all)
	}
	if two, _ := s.EnrollCodes(ctx, false, 2); len(two) != 2 {
		t.Errorf("limit 2: %d codes", len(two))
	}
}

// Replacing a dead router retires the old probe, keeps its record and key,
// and survives a restart.
func testReplaceProbe(t *testing.T, open func(t *testing.T) metastore.Store) {
	ctx := ctxT(t)
	s := opened(t, open)
	old, oldTok := mustProbe(t, s, villageA)
	other, otherTok := mustProbe(t, s, villageB)
	pub := newKey(t)
	if _, err := s.SetProbeKey(ctx, old.ID, pub, "probe"); err != nil {
		t.Fatal(err)
	}
	nu, nuTok, err := s.EnrollProbe(ctx, jagadesa.EnrollSpec{Village: villageA, Replace: true, Key: newKey(t), By: "tek"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.ProbeByToken(oldTok); ok {
		t.Error("the replaced probe's token still works")
	}
	if _, ok := s.ProbeByToken(otherTok); !ok {
		t.Error("another village's probe was revoked")
	}
	if ids, _ := s.ReplacedProbes(ctx, nu.ID); len(ids) != 1 || ids[0] != old.ID {
		t.Errorf("replaced %v", ids)
	}
	s = reopen(t, s, open)
	if _, ok := s.ProbeByToken(oldTok); ok {
		t.Error("the replaced probe's token works after a restart")
	}
	if _, ok := s.ProbeByToken(nuTok); !ok {
		t.Error("the new probe's token fails after a restart")
	}
	if k, ok := s.ProbeKey(old.ID); !ok || !k.PublicKey.Equal(pub) {
		t.Error("the old probe's key is gone: its archived batches could no longer be verified")
	}
	all, _ := s.AllProbes(ctx)
	seen := 0
	for _, p := range all {
		switch p.ID {
		case old.ID:
			seen++
			if p.RevokedAt == nil || p.ReplacedBy != nu.ID {
				t.Errorf("old probe %+v", p)
			}
		case nu.ID, other.ID:
			seen++
			if p.RevokedAt != nil {
				t.Errorf("live probe listed revoked: %+v", p)
			}
		}
	}
	if seen != 3 {
		t.Errorf("AllProbes %+v", all)
	}
}

// Rotation: the token issued works beside the old one until its first use,
// then alone; a restart in between loses neither.
func testRotateToken(t *testing.T, open func(t *testing.T) metastore.Store) {
	ctx := ctxT(t)
	s := opened(t, open)
	p, tok := mustProbe(t, s, villageA)
	if _, err := s.IssueToken(ctx, p.ID); code(err) != jagadesa.EConflict {
		t.Fatalf("token issued without a request: %v", err)
	}
	if err := s.RequestRotation(ctx, "p-nope"); code(err) != jagadesa.ENotFound {
		t.Fatalf("rotation of an unknown probe: %v", err)
	}
	if err := s.RequestRotation(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ProbeByToken(tok); !got.RotateRequested {
		t.Fatal("the probe is not told to rotate")
	}
	first, err := s.IssueToken(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.IssueToken(ctx, p.ID) // the probe lost the first before saving it
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.ProbeByToken(first); ok {
		t.Error("a superseded pending token works")
	}
	s = reopen(t, s, open)
	if _, ok := s.ProbeByToken(tok); !ok {
		t.Fatal("the old token stopped before the new one was used")
	}
	got, ok := s.ProbeByToken(second)
	if !ok || got.ID != p.ID || got.RotateRequested {
		t.Fatalf("new token: %+v %v", got, ok)
	}
	if _, ok := s.ProbeByToken(tok); ok {
		t.Error("the old token works after the new one was used")
	}
	if _, ok := s.ProbeByToken(second); !ok {
		t.Error("the new token stopped working")
	}
	if err := s.RevokeProbe(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.ProbeByToken(second); ok {
		t.Error("a revoked probe's token works")
	}
}

func testKeys(t *testing.T, open func(t *testing.T) metastore.Store) {
	ctx := ctxT(t)
	s := opened(t, open)
	p, _ := mustProbe(t, s, villageA)
	pub, other := newKey(t), newKey(t)
	if _, ok := s.ProbeKey(p.ID); ok {
		t.Fatal("a key before any was set")
	}
	if _, err := s.SetProbeKey(ctx, p.ID, pub[:10], "probe"); code(err) != jagadesa.EInvalid {
		t.Fatalf("short key: %v", err)
	}
	k, err := s.SetProbeKey(ctx, p.ID, pub, "probe")
	if err != nil || !k.PublicKey.Equal(pub) || k.Probe != p.ID || k.RegisteredBy != "probe" {
		t.Fatalf("set key %+v %v", k, err)
	}
	if again, err := s.SetProbeKey(ctx, p.ID, pub, "someone else"); err != nil || !again.RegisteredAt.Equal(k.RegisteredAt) || again.RegisteredBy != "probe" {
		t.Fatalf("the same key again: %+v %v", again, err)
	}
	if _, err := s.SetProbeKey(ctx, p.ID, other, "probe"); code(err) != jagadesa.EConflict {
		t.Fatalf("another key without a reset: %v", err)
	}
	s = reopen(t, s, open)
	if got, ok := s.ProbeKey(p.ID); !ok || !got.PublicKey.Equal(pub) || !got.RegisteredAt.Equal(k.RegisteredAt) {
		t.Fatalf("after a restart: %+v %v", got, ok)
	}
	if err := s.ResetProbeKey(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetProbeKey(ctx, p.ID); code(err) != jagadesa.ENotFound {
		t.Fatalf("reset without a key: %v", err)
	}
	if _, ok := s.ProbeKey(p.ID); ok {
		t.Fatal("key still there after a reset")
	}
	if _, err := s.SetProbeKey(ctx, p.ID, other, "probe"); err != nil {
		t.Fatalf("a new key after the reset: %v", err)
	}
}

// Every key a village's probes ever had stays listed.
func testKeyHistory(t *testing.T, open func(t *testing.T) metastore.Store) {
	ctx := ctxT(t)
	s := opened(t, open)
	p, _ := mustProbe(t, s, villageA)
	k1, k2, k3 := newKey(t), newKey(t), newKey(t)
	if _, err := s.SetProbeKey(ctx, p.ID, k1, "probe"); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetProbeKey(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // registered_at orders the history
	if _, err := s.SetProbeKey(ctx, p.ID, k2, "probe"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	nu, _, err := s.EnrollProbe(ctx, jagadesa.EnrollSpec{Village: villageA, Replace: true, Key: k3, By: "tek"})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := mustProbe(t, s, villageB)
	if _, err := s.SetProbeKey(ctx, other.ID, k1, "probe"); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, open)
	h, err := s.KeyHistory(ctx, villageA)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 || !h[0].PublicKey.Equal(k1) || h[0].Probe != p.ID || !h[1].PublicKey.Equal(k2) || h[2].Probe != nu.ID || !h[2].PublicKey.Equal(k3) {
		t.Errorf("history %+v", h)
	}
}

// Marks never move back, survive a restart and go with a key reset; an
// accepted batch's effects are committed with its mark and stay until
// applied.
func testMarksAndOutbox(t *testing.T, open func(t *testing.T) metastore.Store) {
	ctx := ctxT(t)
	s := opened(t, open)
	p, _ := mustProbe(t, s, villageA)
	q, _ := mustProbe(t, s, villageB)
	if _, err := s.SetProbeKey(ctx, p.ID, newKey(t), "probe"); err != nil {
		t.Fatal(err)
	}
	if got := s.StreamSeq(p.ID, "s-1"); got != 0 {
		t.Fatalf("mark %d before any batch", got)
	}
	for _, c := range []struct {
		probe, stream string
		seq           uint64
		effects       string
	}{{p.ID, "s-1", 40, `{"a":1}`}, {p.ID, "s-1", 30, ""}, {q.ID, "", 7, ""}, {q.ID, "", 9, `{"b":2}`}} {
		var eff []byte
		if c.effects != "" {
			eff = []byte(c.effects)
		}
		if err := s.CommitBatch(ctx, c.probe, c.stream, c.seq, eff); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.StreamSeq(p.ID, "s-1"); got != 40 {
		t.Fatalf("mark %d, want 40 (never back) at once", got)
	}
	if got := s.StreamSeq(q.ID, ""); got != 9 {
		t.Fatalf("mark %d, want 9", got)
	}
	select {
	case <-s.EffectsReady():
	case <-time.After(5 * time.Second):
		t.Fatal("no signal after effects were committed")
	}
	if err := s.CommitBatch(ctx, p.ID, "s-1", jagadesa.MaxSeq+1, nil); code(err) != jagadesa.EInvalid {
		t.Fatalf("a record number past 2^53: %v", err)
	}
	if err := s.CommitBatch(ctx, p.ID, "s-1", jagadesa.MaxSeq, nil); err != nil {
		t.Fatalf("the largest record number: %v", err)
	}
	s = reopen(t, s, open)
	if a, b := s.StreamSeq(p.ID, "s-1"), s.StreamSeq(q.ID, ""); a != jagadesa.MaxSeq || b != 9 {
		t.Fatalf("marks after a restart %d %d", a, b)
	}
	ids, bodies, err := s.PendingEffects(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || string(bodies[0]) != `{"a":1}` || string(bodies[1]) != `{"b":2}` {
		t.Fatalf("outbox after a restart: %v %q", ids, bodies)
	}
	if one, _, _ := s.PendingEffects(ctx, 1); len(one) != 1 || one[0] != ids[0] {
		t.Fatalf("limit 1: %v", one)
	}
	if err := s.DoneEffects(ctx, ids[:1]); err != nil {
		t.Fatal(err)
	}
	ids, bodies, _ = s.PendingEffects(ctx, 10)
	if len(ids) != 1 || string(bodies[0]) != `{"b":2}` {
		t.Fatalf("outbox after one was applied: %v %q", ids, bodies)
	}
	if err := s.ResetProbeKey(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if got := s.StreamSeq(p.ID, "s-1"); got != 0 {
		t.Fatalf("mark %d after a key reset", got)
	}
	s = reopen(t, s, open)
	if a, b := s.StreamSeq(p.ID, "s-1"), s.StreamSeq(q.ID, ""); a != 0 || b != 9 {
		t.Fatalf("marks after reset and restart %d %d", a, b)
	}
}

// Many batches at once (the group commit's case): every one commits, and
// each stream's mark ends at its highest number.
func testConcurrentCommits(t *testing.T, open func(t *testing.T) metastore.Store) {
	ctx := ctxT(t)
	s := opened(t, open)
	const probes, perProbe = 8, 50
	var ids []string
	for i := 0; i < probes; i++ {
		p, _ := mustProbe(t, s, villageA)
		ids = append(ids, p.ID)
	}
	var wg sync.WaitGroup
	errs := make(chan error, probes*perProbe)
	for _, id := range ids {
		for n := 1; n <= perProbe; n++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var eff []byte
				if n%10 == 0 {
					eff = []byte(fmt.Sprintf(`{"probe":%q,"n":%d}`, id, n))
				}
				errs <- s.CommitBatch(ctx, id, "s", uint64(n), eff)
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		if got := s.StreamSeq(id, "s"); got != perProbe {
			t.Errorf("probe %s mark %d, want %d", id, got, perProbe)
		}
	}
	got, _, err := s.PendingEffects(ctx, 1000)
	if err != nil || len(got) != probes*perProbe/10 {
		t.Fatalf("outbox holds %d entries (%v), want %d", len(got), err, probes*perProbe/10)
	}
	if !sort.SliceIsSorted(got, func(i, j int) bool { return got[i] < got[j] }) {
		t.Errorf("outbox not oldest first: %v", got)
	}
}

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 123e6, time.UTC)

func mkIncident(id, csirt string, kind jagadesa.IncidentKind, opened time.Time, villages ...string) *jagadesa.Incident {
	return &jagadesa.Incident{ID: id, Kind: kind, Severity: jagadesa.SeverityCritical, State: jagadesa.StateOpen,
		Title: "Desa putus — " + id, Villages: villages, Village: villages[0], Regency: villages[0][:5], District: villages[0][:8],
		CSIRT: csirt, Stage: jagadesa.StageIdentification, OpenedAt: opened, StartedAt: opened.Add(-time.Minute),
		Evidence: map[string]string{"reason": "no report"}}
}

func testIncidents(t *testing.T, open func(t *testing.T) metastore.Store) {
	ctx := ctxT(t)
	s := opened(t, open)
	a := mkIncident("JD-1", "CSIRT Kabupaten Purworejo", jagadesa.IncidentDown, t0, villageB)
	b := mkIncident("JD-2", "JatengProv-CSIRT", jagadesa.IncidentRegional, t0.Add(time.Hour), "33.13.07.2005", "33.13.07.2001")
	for _, in := range []*jagadesa.Incident{a, b} {
		if err := s.CreateIncident(ctx, in, jagadesa.AuditEntry{At: in.OpenedAt, By: "system", Action: "opened"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateIncident(ctx, a, jagadesa.AuditEntry{By: "system", Action: "opened"}); code(err) != jagadesa.EConflict {
		t.Fatalf("duplicate create: %v", err)
	}
	ghost := mkIncident("JD-404", "x", jagadesa.IncidentDown, t0, villageC)
	if err := s.UpdateIncident(ctx, ghost, jagadesa.AuditEntry{By: "x", Action: "resolved"}); code(err) != jagadesa.ENotFound {
		t.Fatalf("update of a missing incident: %v", err)
	}
	if _, err := s.Incident(ctx, "JD-404"); code(err) != jagadesa.ENotFound {
		t.Fatalf("missing incident: %v", err)
	}
	changed := *a
	changed.State = jagadesa.StateResolved
	if err := s.UpdateIncident(ctx, &changed, jagadesa.AuditEntry{}); err == nil {
		t.Fatal("update without an audit action accepted")
	}
	if got, _ := s.Incident(ctx, "JD-1"); got == nil || got.State != jagadesa.StateOpen {
		t.Fatal("a failed update left a change behind")
	}
	ack := t0.Add(7 * time.Minute)
	a.State, a.AckedAt, a.AckedBy, a.Stage = jagadesa.StateAcknowledged, &ack, "analis", jagadesa.StageContainment
	if err := s.UpdateIncident(ctx, a, jagadesa.AuditEntry{At: ack, By: "analis", Action: "acknowledged"}); err != nil {
		t.Fatal(err)
	}
	n, err := s.AddNote(ctx, jagadesa.Note{IncidentID: "JD-1", At: ack, By: "analis", Text: "ISP dihubungi, tiket #123"})
	if err != nil || n.ID == 0 {
		t.Fatalf("note %+v %v", n, err)
	}
	if _, err := s.AddNote(ctx, jagadesa.Note{IncidentID: "JD-nope", By: "x", Text: "y"}); code(err) != jagadesa.ENotFound {
		t.Fatalf("note on a missing incident: %v", err)
	}
	s = reopen(t, s, open)
	got, err := s.Incident(ctx, "JD-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != jagadesa.StateAcknowledged || got.AckedAt == nil || !got.AckedAt.Equal(ack) || got.AckedBy != "analis" ||
		!got.OpenedAt.Equal(t0) || got.Title != a.Title || got.Evidence["reason"] != "no report" || len(got.Villages) != 1 {
		t.Fatalf("round trip: %+v", got)
	}
	notes, err := s.Notes(ctx, "JD-1")
	if err != nil || len(notes) != 1 || notes[0].Text != n.Text || !notes[0].At.Equal(ack) || notes[0].ID != n.ID {
		t.Fatalf("notes %+v %v", notes, err)
	}
	trail, err := s.Audit(ctx, "JD-1")
	if err != nil || len(trail) != 3 || trail[0].Action != "opened" || trail[1].Action != "acknowledged" || trail[2].Action != "note" || !trail[1].At.Equal(ack) {
		t.Fatalf("audit trail %+v %v", trail, err)
	}
	open1, err := s.OpenIncidents(ctx)
	if err != nil || len(open1) != 2 || open1[0].ID != "JD-1" {
		t.Fatalf("open incidents %+v %v", open1, err)
	}
	a.State = jagadesa.StateResolved
	if err := s.UpdateIncident(ctx, a, jagadesa.AuditEntry{By: "analis", Action: "resolved"}); err != nil {
		t.Fatal(err)
	}
	if open2, _ := s.OpenIncidents(ctx); len(open2) != 1 || open2[0].ID != "JD-2" {
		t.Fatalf("open incidents after a resolution %+v", open2)
	}
	opened, err := s.IncidentsOpened(ctx, t0, t0.Add(time.Hour))
	if err != nil || len(opened) != 1 || opened[0].ID != "JD-1" {
		t.Fatalf("opened in the first hour %+v %v", opened, err)
	}
}

func testIncidentFilters(t *testing.T, open func(t *testing.T) metastore.Store) {
	ctx := ctxT(t)
	s := opened(t, open)
	purworejo := mkIncident("JD-P", "CSIRT Purworejo", jagadesa.IncidentDown, t0, villageA)
	if err := s.CreateIncident(ctx, purworejo, jagadesa.AuditEntry{By: "system", Action: "opened"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		in := mkIncident(fmt.Sprintf("JD-K%02d", i), "CSIRT Kudus", jagadesa.IncidentDown, t0.Add(time.Duration(i+1)*time.Minute), villageC)
		if err := s.CreateIncident(ctx, in, jagadesa.AuditEntry{By: "system", Action: "opened"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		f     jagadesa.Filter
		n     int
		first string
	}{
		{"all, default limit", jagadesa.Filter{}, 31, "JD-K29"},
		{"limit", jagadesa.Filter{Limit: 10}, 10, "JD-K29"},
		{"within a regency", jagadesa.Filter{Within: "33.06", Limit: 10}, 1, "JD-P"},
		{"within a province", jagadesa.Filter{Within: "33", Limit: 100}, 31, "JD-K29"},
		{"within a prefix that is not a code", jagadesa.Filter{Within: "33.0"}, 0, ""},
		{"village", jagadesa.Filter{Village: villageA}, 1, "JD-P"},
		{"regency", jagadesa.Filter{Regency: "33.19"}, 30, "JD-K29"},
		{"csirt", jagadesa.Filter{CSIRT: "CSIRT Purworejo"}, 1, "JD-P"},
		{"state", jagadesa.Filter{State: jagadesa.StateResolved}, 0, ""},
		{"since", jagadesa.Filter{Since: t0.Add(29 * time.Minute)}, 2, "JD-K29"},
		{"until", jagadesa.Filter{Until: t0.Add(time.Minute)}, 1, "JD-P"},
	} {
		got, err := s.Incidents(ctx, tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(got) != tc.n || tc.n > 0 && got[0].ID != tc.first {
			ids := []string{}
			for _, in := range got {
				ids = append(ids, in.ID)
			}
			t.Errorf("%s: %v, want %d starting with %s", tc.name, ids, tc.n, tc.first)
		}
	}
}

func testAuditLog(t *testing.T, open func(t *testing.T) metastore.Store) {
	ctx := ctxT(t)
	s := opened(t, open)
	at := time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC)
	for _, e := range []jagadesa.AuditEvent{
		{At: at, Actor: "ani", Role: jagadesa.RoleRegencyAnalyst, Address: "10.0.0.9", Action: "incident_ack", Object: "inc-1", Area: "33.06.08.2005", Team: "csirt-purworejo"},
		{At: at.Add(time.Hour), Actor: "budi", Role: jagadesa.RoleRegencyAnalyst, Action: "incident_ack", Area: "33.19.01.2001", Team: "csirt-kudus"},
		{At: at.Add(2 * time.Hour), Actor: "admin", Action: "signin_refused", Address: "192.0.2.1", Count: 40},
		{At: at.Add(3 * time.Hour), Actor: "sari", Role: jagadesa.RoleProvinceAdmin, Action: "user_add", Object: "ani", Area: "33.06", Team: "csirt-purworejo"},
		{At: at.Add(4 * time.Hour), Actor: "cli", Action: "user_add", Object: "budi", Area: "33.19"},
	} {
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AppendAudit(ctx, jagadesa.AuditEvent{Actor: "x"}); code(err) != jagadesa.EInvalid {
		t.Errorf("no action: %v", err)
	}
	got, _ := s.AuditLog(ctx, jagadesa.AuditQuery{Within: "33.06"})
	if len(got) != 2 || got[0].Actor != "ani" || got[1].Object != "ani" || got[0].Address != "10.0.0.9" || !got[0].At.Equal(at) || got[0].Count != 1 || got[0].Role != jagadesa.RoleRegencyAnalyst {
		t.Errorf("within 33.06: %+v", got)
	}
	if got, _ = s.AuditLog(ctx, jagadesa.AuditQuery{Within: "33.0"}); len(got) != 0 {
		t.Errorf("within 33.0: %+v", got)
	}
	if got, _ = s.AuditLog(ctx, jagadesa.AuditQuery{Team: "csirt-kudus"}); len(got) != 1 || got[0].Actor != "budi" {
		t.Errorf("team kudus: %+v", got)
	}
	if got, _ = s.AuditLog(ctx, jagadesa.AuditQuery{From: at.Add(time.Hour), Until: at.Add(3 * time.Hour)}); len(got) != 2 || got[1].Count != 40 {
		t.Errorf("window: %+v", got)
	}
	if got, _ = s.AuditLog(ctx, jagadesa.AuditQuery{Limit: 2}); len(got) != 2 || got[0].Actor != "ani" {
		t.Errorf("limit: %+v", got)
	}
	last, ok, err := s.LastAuditEvent(ctx, "user_add")
	if err != nil || !ok || last.Object != "budi" {
		t.Errorf("last user_add: %+v %v %v", last, ok, err)
	}
	if _, ok, err := s.LastAuditEvent(ctx, "never"); ok || err != nil {
		t.Errorf("last of an action never taken: %v %v", ok, err)
	}
	if err := s.FillAuditTeams(ctx, func(area string) string {
		if area == "33.19" {
			return "csirt-kudus"
		}
		return "wrong"
	}); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.AuditLog(ctx, jagadesa.AuditQuery{Team: "csirt-kudus"}); len(got) != 2 || got[1].Actor != "cli" {
		t.Errorf("after FillAuditTeams: %+v", got)
	}
	if got, _ = s.AuditLog(ctx, jagadesa.AuditQuery{Team: "wrong"}); len(got) != 0 {
		t.Errorf("FillAuditTeams overwrote teams: %+v", got)
	}
}

var (
	admin   = jagadesa.User{Username: "admin.jateng", Role: jagadesa.RoleProvinceAdmin, Province: "33"}
	analyst = jagadesa.User{Username: "csirt-purworejo", Role: jagadesa.RoleRegencyAnalyst, Province: "33", Regency: "33.06"}
)

func mustUser(t *testing.T, s metastore.Store, u jagadesa.User) jagadesa.User {
	t.Helper()
	u, err := s.CreateUser(ctxT(t), u, "hash-of-"+u.Username)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func testUsers(t *testing.T, open func(t *testing.T) metastore.Store) {
	ctx := ctxT(t)
	s := opened(t, open)
	for _, tc := range []struct {
		name    string
		u       jagadesa.User
		hash    string
		code    string
		problem string
	}{
		{"admin", admin, "h1", "", ""},
		{"regency analyst", analyst, "h2", "", ""},
		{"duplicate", admin, "h3", jagadesa.EConflict, ""},
		{"bad username", jagadesa.User{Username: "Admin Jateng", Role: jagadesa.RoleViewer, Province: "33"}, "h", jagadesa.EInvalid, "username"},
		{"unknown role", jagadesa.User{Username: "root", Role: "root", Province: "33"}, "h", jagadesa.EInvalid, "role"},
		{"no password hash", jagadesa.User{Username: "viewer", Role: jagadesa.RoleViewer, Province: "33"}, "", jagadesa.EInvalid, "password"},
	} {
		got, err := s.CreateUser(ctx, tc.u, tc.hash)
		if tc.code == "" {
			if err != nil || got.ID == 0 || got.CreatedAt.IsZero() || got.Username != tc.u.Username {
				t.Fatalf("%s: %+v %v", tc.name, got, err)
			}
			continue
		}
		if code(err) != tc.code {
			t.Fatalf("%s: %v, want code %s", tc.name, err, tc.code)
		}
		if e, _ := err.(*jagadesa.Error); tc.problem != "" && (e == nil || e.Problems[tc.problem] == "") {
			t.Fatalf("%s: problems of %v lack %s", tc.name, err, tc.problem)
		}
	}
	s = reopen(t, s, open)
	u, hash, err := s.UserByName(ctx, "csirt-purworejo")
	if err != nil || hash != "h2" || u.Role != jagadesa.RoleRegencyAnalyst || u.Regency != "33.06" || u.Province != "33" || u.Disabled || u.LastLogin != nil {
		t.Fatalf("after a restart: %+v %q %v", u, hash, err)
	}
	if _, _, err := s.UserByName(ctx, "nobody"); code(err) != jagadesa.ENotFound {
		t.Fatalf("unknown user: %v", err)
	}
	list, err := s.Users(ctx)
	if err != nil || len(list) != 2 || list[0].Username != "admin.jateng" || list[1].Username != "csirt-purworejo" {
		t.Fatalf("users %+v %v", list, err)
	}
	if n, err := s.CountUsers(ctx, jagadesa.RoleProvinceAdmin); err != nil || n != 1 {
		t.Fatalf("admins %d %v", n, err)
	}
	// A new password ends the account's sessions, only its own.
	a, _, _ := s.UserByName(ctx, "admin.jateng")
	now := time.Now().UTC()
	for _, c := range []struct {
		id  string
		uid int64
	}{{"sa", a.ID}, {"sb", u.ID}} {
		if err := s.CreateSession(ctx, c.id, c.uid, now, time.Hour, "10.0.0.1", "Firefox"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetPassword(ctx, "csirt-purworejo", ""); code(err) != jagadesa.EInvalid {
		t.Fatalf("empty hash: %v", err)
	}
	if err := s.SetPassword(ctx, "nobody", "h"); code(err) != jagadesa.ENotFound {
		t.Fatalf("password of an unknown user: %v", err)
	}
	if err := s.SetPassword(ctx, "csirt-purworejo", "h9"); err != nil {
		t.Fatal(err)
	}
	if _, h, _ := s.UserByName(ctx, "csirt-purworejo"); h != "h9" {
		t.Fatalf("hash %q after SetPassword", h)
	}
	if _, live, _ := s.Session(ctx, "sb", now, 0); live {
		t.Fatal("a session outlived its account's new password")
	}
	if _, live, _ := s.Session(ctx, "sa", now, 0); !live {
		t.Fatal("another account's session ended")
	}
	// Disabling revokes tokens, ends sessions, keeps the name taken.
	if _, err := s.CreateUserToken(ctx, "admin.jateng", "ci", "tokhash-a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DisableUser(ctx, "admin.jateng"); err != nil {
		t.Fatal(err)
	}
	if err := s.DisableUser(ctx, "nobody"); code(err) != jagadesa.ENotFound {
		t.Fatalf("disable unknown: %v", err)
	}
	if _, ok := s.UserByTokenHash("tokhash-a"); ok {
		t.Fatal("a disabled account's token works")
	}
	if _, live, _ := s.Session(ctx, "sa", now, 0); live {
		t.Fatal("a disabled account's session works")
	}
	if n, _ := s.CountUsers(ctx, jagadesa.RoleProvinceAdmin); n != 0 {
		t.Fatalf("a disabled admin still counts: %d", n)
	}
	if _, err := s.CreateUser(ctx, admin, "h"); code(err) != jagadesa.EConflict {
		t.Fatalf("the name of a disabled user taken again: %v", err)
	}
	if err := s.CreateSession(ctx, "sc", a.ID, now, time.Hour, "", ""); code(err) != jagadesa.EConflict {
		t.Fatalf("a session for a disabled account: %v", err)
	}
	if err := s.CreateSession(ctx, "sd", 999999, now, time.Hour, "", ""); code(err) != jagadesa.ENotFound {
		t.Fatalf("a session for no account: %v", err)
	}
	if _, err := s.CreateUserToken(ctx, "admin.jateng", "ci2", "tokhash-b"); code(err) != jagadesa.EConflict {
		t.Fatalf("a token for a disabled account: %v", err)
	}
}

func testLoginState(t *testing.T, open func(t *testing.T) metastore.Store) {
	ctx := ctxT(t)
	s := opened(t, open)
	mustUser(t, s, analyst)
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	for i := 0; i < 3; i++ {
		if err := s.RecordLogin(ctx, analyst.Username, false, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordLogin(ctx, "nobody", false, now); code(err) != jagadesa.ENotFound {
		t.Fatalf("unknown user: %v", err)
	}
	until := now.Add(15 * time.Minute)
	if err := s.LockUser(ctx, analyst.Username, until); err != nil {
		t.Fatal(err)
	}
	if err := s.LockUser(ctx, "nobody", until); code(err) != jagadesa.ENotFound {
		t.Fatalf("lock unknown: %v", err)
	}
	s = reopen(t, s, open)
	failed, locked, err := s.LoginState(ctx, analyst.Username)
	if err != nil || failed != 3 || !locked.Equal(until) {
		t.Fatalf("state %d %v %v", failed, locked, err)
	}
	if _, _, err := s.LoginState(ctx, "nobody"); code(err) != jagadesa.ENotFound {
		t.Fatalf("state of unknown: %v", err)
	}
	if err := s.LockUser(ctx, analyst.Username, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordLogin(ctx, analyst.Username, true, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	failed, locked, _ = s.LoginState(ctx, analyst.Username)
	u, _, _ := s.UserByName(ctx, analyst.Username)
	if failed != 0 || !locked.IsZero() || u.LastLogin == nil || !u.LastLogin.Equal(now.Add(time.Hour)) {
		t.Fatalf("after success: %d %v %+v", failed, locked, u.LastLogin)
	}
}

func testSessions(t *testing.T, open func(t *testing.T) metastore.Store) {
	ctx := ctxT(t)
	s := opened(t, open)
	u := mustUser(t, s, analyst)
	const idle, absolute = 30 * time.Minute, 2 * time.Hour
	st := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	if err := s.CreateSession(ctx, "", u.ID, st, absolute, "", ""); code(err) != jagadesa.EInvalid {
		t.Fatalf("no id hash: %v", err)
	}
	for _, id := range []string{"s1", "s2", "s3", "s4"} {
		if err := s.CreateSession(ctx, id, u.ID, st, absolute, "10.0.0.1", "Firefox"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateSession(ctx, "s1", u.ID, st, absolute, "", ""); code(err) != jagadesa.EConflict {
		t.Fatalf("duplicate session: %v", err)
	}
	steps := []struct {
		id   string
		at   time.Duration
		live bool
	}{
		{"s1", 0, true},
		{"s1", 20 * time.Minute, true},
		{"s1", 45 * time.Minute, true}, // idle counts from the last touch
		{"s1", absolute - time.Millisecond, false},
		{"s2", idle, true},
		{"s3", idle + time.Millisecond, false},
		{"s3", time.Minute, false}, // gone once expired
		{"nope", 0, false},
	}
	for i, c := range steps {
		got, live, err := s.Session(ctx, c.id, st.Add(c.at), idle)
		if err != nil || live != c.live || live && got.ID != u.ID {
			t.Fatalf("step %d (%s +%v): %v %+v %v, want %v", i, c.id, c.at, live, got, err, c.live)
		}
	}
	if _, live, _ := s.Session(ctx, "s4", st.Add(absolute-time.Minute), 0); !live {
		t.Fatal("idle 0 expired the session")
	}
	if _, live, _ := s.Session(ctx, "s4", st.Add(absolute), 0); live {
		t.Fatal("past its absolute expiry")
	}
	// Sign out one, everywhere, and prune.
	for _, id := range []string{"a", "b", "c"} {
		if err := s.CreateSession(ctx, id, u.ID, st, absolute, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateSession(ctx, "short", u.ID, st, time.Minute, "", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.EndSession(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.EndSession(ctx, "never"); err != nil {
		t.Fatalf("ending an unknown session: %v", err)
	}
	if _, live, _ := s.Session(ctx, "a", st, idle); live {
		t.Fatal("a signed-out session works")
	}
	n, err := s.PruneSessions(ctx, st.Add(2*time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d %v, want 1", n, err)
	}
	s = reopen(t, s, open)
	if _, live, _ := s.Session(ctx, "b", st.Add(time.Minute), idle); !live {
		t.Fatal("a session did not survive a restart")
	}
	if err := s.EndUserSessions(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"b", "c"} {
		if _, live, _ := s.Session(ctx, id, st.Add(time.Minute), idle); live {
			t.Fatalf("session %s survived sign-out everywhere", id)
		}
	}
}

func testUserTokens(t *testing.T, open func(t *testing.T) metastore.Store) {
	ctx := ctxT(t)
	s := opened(t, open)
	u := mustUser(t, s, analyst)
	if _, err := s.CreateUserToken(ctx, analyst.Username, "", "h"); code(err) != jagadesa.EInvalid {
		t.Fatalf("no name: %v", err)
	}
	if _, err := s.CreateUserToken(ctx, "nobody", "ci", "h"); code(err) != jagadesa.ENotFound {
		t.Fatalf("unknown user: %v", err)
	}
	id1, err := s.CreateUserToken(ctx, analyst.Username, "laptop", "th1")
	if err != nil {
		t.Fatal(err)
	}
	id2, err := s.CreateUserToken(ctx, analyst.Username, "grafana", "th2")
	if err != nil || id2 == id1 {
		t.Fatal(id2, err)
	}
	if _, err := s.CreateUserToken(ctx, analyst.Username, "again", "th1"); code(err) != jagadesa.EConflict {
		t.Fatalf("a hash twice: %v", err)
	}
	if got, ok := s.UserByTokenHash("th1"); !ok || got.ID != u.ID || got.Regency != "33.06" {
		t.Fatalf("lookup %+v %v", got, ok)
	}
	if _, ok := s.UserByTokenHash("th-unknown"); ok {
		t.Fatal("an unknown token works")
	}
	if err := s.RevokeUserToken(ctx, analyst.Username, id1); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeUserToken(ctx, analyst.Username, id1); code(err) != jagadesa.ENotFound {
		t.Fatalf("revoking twice: %v", err)
	}
	if _, ok := s.UserByTokenHash("th1"); ok {
		t.Fatal("a revoked token works")
	}
	s = reopen(t, s, open)
	if _, ok := s.UserByTokenHash("th1"); ok {
		t.Fatal("a revoked token works after a restart")
	}
	if _, ok := s.UserByTokenHash("th2"); !ok {
		t.Fatal("a live token fails after a restart")
	}
	list, err := s.UserTokens(ctx, analyst.Username)
	if err != nil || len(list) != 2 || list[0].ID != id2 || list[0].Name != "grafana" || list[0].RevokedAt != nil || list[1].RevokedAt == nil {
		t.Fatalf("tokens %+v %v", list, err)
	}
	if _, err := s.UserTokens(ctx, "nobody"); code(err) != jagadesa.ENotFound {
		t.Fatalf("tokens of unknown: %v", err)
	}
}

func testGovernance(t *testing.T, open func(t *testing.T) metastore.Store) {
	ctx := ctxT(t)
	s := opened(t, open)
	at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	if _, ok, err := s.GovernanceOf(ctx, villageA); ok || err != nil {
		t.Fatalf("an entry before any: %v %v", ok, err)
	}
	g := jagadesa.Governance{Village: villageA, Website: true, OnlineServices: 3, Note: "https://desa.example", UpdatedBy: "sari", UpdatedAt: at}
	if err := s.SetGovernance(ctx, g); err != nil {
		t.Fatal(err)
	}
	if err := s.SetGovernance(ctx, jagadesa.Governance{Village: villageA, OnlineServices: 5000}); code(err) != jagadesa.EInvalid {
		t.Fatalf("bad entry: %v", err)
	}
	g.App = true
	if err := s.SetGovernance(ctx, g); err != nil {
		t.Fatal(err)
	}
	if err := s.SetGovernanceMany(ctx, []jagadesa.Governance{{Village: villageB, OnlineServices: 1, UpdatedBy: "x"}, {Village: villageC, UpdatedBy: "x"}}); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, open)
	got, ok, err := s.GovernanceOf(ctx, villageA)
	if err != nil || !ok || !got.Website || !got.App || got.OnlineServices != 3 || got.Note != g.Note || got.UpdatedBy != "sari" || !got.UpdatedAt.Equal(at) {
		t.Fatalf("entry %+v %v %v", got, ok, err)
	}
	all, err := s.AllGovernance(ctx)
	if err != nil || len(all) != 3 || all[villageB].OnlineServices != 1 || all[villageC].UpdatedAt.IsZero() {
		t.Fatalf("all %+v %v", all, err)
	}
}

func testWindows(t *testing.T, open func(t *testing.T) metastore.Store) {
	ctx := ctxT(t)
	s := opened(t, open)
	st := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.AddWindow(ctx, jagadesa.ExclusionWindow{Kind: "holiday"}); code(err) != jagadesa.EInvalid {
		t.Fatalf("bad window: %v", err)
	}
	w1, err := s.AddWindow(ctx, jagadesa.ExclusionWindow{Kind: jagadesa.WindowMaintenance, Start: st, End: st.Add(4 * time.Hour), Villages: []string{villageA}, Reason: "ISP 123", CreatedBy: "sari"})
	if err != nil || w1.ID == 0 || w1.CreatedAt.IsZero() {
		t.Fatalf("window %+v %v", w1, err)
	}
	w2, err := s.AddWindow(ctx, jagadesa.ExclusionWindow{Kind: jagadesa.WindowForceMajeure, Start: st.Add(24 * time.Hour), End: st.Add(48 * time.Hour), Regencies: []string{"33.06"}, ISP: "Telkom", Reason: "banjir"})
	if err != nil || w2.ID == w1.ID {
		t.Fatalf("window %+v %v", w2, err)
	}
	s = reopen(t, s, open)
	got, err := s.Windows(ctx, st, st.Add(72*time.Hour))
	if err != nil || len(got) != 2 || got[0].ID != w1.ID || !got[0].End.Equal(st.Add(4*time.Hour)) || got[0].Villages[0] != villageA || got[1].ISP != "Telkom" || got[1].Regencies[0] != "33.06" {
		t.Fatalf("windows %+v %v", got, err)
	}
	if got, _ = s.Windows(ctx, st.Add(4*time.Hour), st.Add(24*time.Hour)); len(got) != 0 {
		t.Fatalf("windows touching only the edges: %+v", got)
	}
	if err := s.DeleteWindow(ctx, w1.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteWindow(ctx, w1.ID); code(err) != jagadesa.ENotFound {
		t.Fatalf("deleting twice: %v", err)
	}
	if got, _ = s.Windows(ctx, st, st.Add(72*time.Hour)); len(got) != 1 || got[0].ID != w2.ID {
		t.Fatalf("after a deletion: %+v", got)
	}
}

func testMarks(t *testing.T, open func(t *testing.T) metastore.Store) {
	ctx := ctxT(t)
	s := opened(t, open)
	at := time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)
	if ok, err := s.ReportMailed(ctx, "csirt-kudus", "2026-11"); ok || err != nil {
		t.Fatalf("mailed before: %v %v", ok, err)
	}
	for i := 0; i < 2; i++ {
		if err := s.MarkReportMailed(ctx, "csirt-kudus", "2026-11", at); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.MarkNotified(ctx, []string{"old"}, at.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkNotified(ctx, []string{"k1", "k2"}, at); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkNotified(ctx, []string{"k2"}, at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, open)
	if ok, _ := s.ReportMailed(ctx, "csirt-kudus", "2026-11"); !ok {
		t.Fatal("the mark did not survive a restart")
	}
	if ok, _ := s.ReportMailed(ctx, "csirt-kudus", "2026-12"); ok {
		t.Fatal("another month marked")
	}
	m, err := s.NotifyMarks(ctx, at.Add(-time.Hour))
	if err != nil || len(m) != 2 || !m["k1"].Equal(at) || !m["k2"].Equal(at.Add(time.Minute)) {
		t.Fatalf("notify marks %v %v", m, err)
	}
	if m, _ = s.NotifyMarks(ctx, at.Add(-3*time.Hour)); len(m) != 2 {
		t.Fatalf("an old mark came back: %v", m)
	}
}

func testState(t *testing.T, open func(t *testing.T) metastore.Store) {
	ctx := ctxT(t)
	s := opened(t, open)
	if b, err := s.State(ctx, "baselines"); err != nil || b != nil {
		t.Fatalf("empty: %v %v", b, err)
	}
	if err := s.PutState(ctx, "baselines", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutState(ctx, "baselines", []byte("two")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutState(ctx, "other", []byte{0, 1, 2}); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, open)
	if b, err := s.State(ctx, "baselines"); err != nil || string(b) != "two" {
		t.Errorf("after a restart: %q %v", b, err)
	}
	if b, _ := s.State(ctx, "other"); len(b) != 3 || b[0] != 0 || b[2] != 2 {
		t.Errorf("binary blob %v", b)
	}
}
