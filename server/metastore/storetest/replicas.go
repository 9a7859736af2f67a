package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/metastore"
)

// Replicas: what one does is honoured by the other at once.

func testReplicaProbeTokens(t *testing.T, open func(t *testing.T) metastore.Store) {
	ctx := ctxT(t)
	a, b := opened(t, open), opened(t, open)
	p, tok := mustProbe(t, a, villageA)
	if got, ok := b.ProbeByToken(tok); !ok || got.ID != p.ID {
		t.Fatal("a probe enrolled on one replica is unknown to the other")
	}
	if err := a.RequestRotation(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.ProbeByToken(tok); !got.RotateRequested {
		t.Fatal("the other replica does not tell the probe to rotate")
	}
	nu, err := b.IssueToken(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := a.ProbeByToken(nu); !ok || got.ID != p.ID {
		t.Fatal("a token issued by one replica fails on the other")
	}
	if _, ok := b.ProbeByToken(tok); ok {
		t.Fatal("the old token works on the other replica after the new one was used")
	}
	if err := b.RevokeProbe(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.ProbeByToken(nu); ok {
		t.Fatal("a probe revoked on one replica still authenticates on the other")
	}
	q, qtok := mustProbe(t, a, villageB)
	if _, _, err := b.EnrollProbe(ctx, jagadesa.EnrollSpec{Village: villageB, Replace: true, By: "tek"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.ProbeByToken(qtok); ok {
		t.Fatalf("probe %s replaced on one replica still authenticates on the other", q.ID)
	}
}

// Enrollments racing on two replicas: a code is spent once, and replacing
// a village's probe leaves one live probe there.
func testReplicaEnroll(t *testing.T, open func(t *testing.T) metastore.Store) {
	ctx := ctxT(t)
	a, b := opened(t, open), opened(t, open)
	for round := 0; round < 10; round++ {
		hash := fmt.Sprintf("code-%d", round)
		if _, err := a.CreateEnrollCode(ctx, hash, villageA, true, "tek", time.Hour); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var ok, bad int
		for _, s := range []metastore.Store{a, b, a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, err := s.EnrollProbe(ctx, jagadesa.EnrollSpec{CodeHash: hash})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case code(err) == jagadesa.EUnauthorized:
					bad++
				default:
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if ok != 1 || bad != 3 {
			t.Fatalf("round %d: code spent %d times, refused %d times", round, ok, bad)
		}
	}
	var wg sync.WaitGroup
	for i, s := range []metastore.Store{a, b, a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := s.EnrollProbe(ctx, jagadesa.EnrollSpec{Village: villageB, Replace: true, By: fmt.Sprint("tek", i)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	live, err := b.Probes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, p := range live {
		per[p.Village]++
	}
	if per[villageA] != 1 || per[villageB] != 1 {
		t.Fatalf("live probes per village %v, want one each", per)
	}
}

func testReplicaKeys(t *testing.T, open func(t *testing.T) metastore.Store) {
	ctx := ctxT(t)
	a, b := opened(t, open), opened(t, open)
	p, _ := mustProbe(t, a, villageA)
	k1, k2 := newKey(t), newKey(t)
	if _, err := a.SetProbeKey(ctx, p.ID, k1, "probe"); err != nil {
		t.Fatal(err)
	}
	if got, ok := b.ProbeKey(p.ID); !ok || !got.PublicKey.Equal(k1) {
		t.Fatal("a key bound on one replica is unknown to the other")
	}
	if _, err := b.SetProbeKey(ctx, p.ID, k2, "probe"); code(err) != jagadesa.EConflict {
		t.Fatalf("another key bound on the other replica: %v", err)
	}
	if err := b.ResetProbeKey(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.ProbeKey(p.ID); ok {
		t.Fatal("a key reset on one replica is still used by the other")
	}
}

// Batches of one probe reaching both replicas: the mark is the highest
// number committed anywhere, and each replica reads it. (StreamSeq is read
// last: in the ingest it precedes the CommitBatch of its batch, see
// testReplicaSameBatch.)
func testReplicaMarks(t *testing.T, open func(t *testing.T) metastore.Store) {
	ctx := ctxT(t)
	a, b := opened(t, open), opened(t, open)
	p, _ := mustProbe(t, a, villageA)
	if err := a.CommitBatch(ctx, p.ID, "s", 10, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.CommitBatch(ctx, p.ID, "s", 5, nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i, s := range []metastore.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 11 + i; n <= 200; n += 2 {
				if err := s.CommitBatch(ctx, p.ID, "s", uint64(n), nil); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := a.CommitBatch(ctx, p.ID, "s", 201, []byte(`{"x":1}`)); err != nil {
		t.Fatal(err)
	}
	if x, y := a.StreamSeq(p.ID, "s"), b.StreamSeq(p.ID, "s"); x != 201 || y != 201 {
		t.Fatalf("marks %d and %d after racing commits, want 201", x, y)
	}
	if ids, _, err := b.PendingEffects(ctx, 10); err != nil || len(ids) != 1 {
		t.Fatalf("the other replica sees outbox %v %v", ids, err)
	}
}

// The same batch offered to two replicas at once (a probe's retry while
// its first attempt is still in flight elsewhere), each doing what the
// ingest does: check the mark, then commit. Exactly one commits it; the
// other finds it a replay or is refused (and the probe's retry then finds
// it a replay).
func testReplicaSameBatch(t *testing.T, open func(t *testing.T) metastore.Store) {
	ctx := ctxT(t)
	a, b := opened(t, open), opened(t, open)
	p, _ := mustProbe(t, a, villageA)
	for round := 0; round < 30; round++ {
		lo, hi := uint64(round*10+1), uint64(round*10+10)
		var commits, replays, refused int
		var mu sync.Mutex
		var checked, wg sync.WaitGroup
		checked.Add(2)
		for _, s := range []metastore.Store{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				mark := s.StreamSeq(p.ID, "s")
				checked.Done()
				if round%2 == 0 {
					checked.Wait() // both checked before either commits
				}
				mu.Lock()
				defer mu.Unlock()
				if lo <= mark {
					replays++
					return
				}
				mu.Unlock()
				err := s.CommitBatch(ctx, p.ID, "s", hi, []byte(fmt.Sprintf(`{"round":%d}`, round)))
				mu.Lock()
				if err == nil {
					commits++
				} else {
					refused++
				}
			}()
		}
		wg.Wait()
		if commits != 1 {
			t.Fatalf("round %d: %d commits (%d replays, %d refused), want exactly 1", round, commits, replays, refused)
		}
	}
	ids, _, err := a.PendingEffects(ctx, 100)
	if err != nil || len(ids) != 30 {
		t.Fatalf("outbox holds %d entries (%v), want one per batch: 30", len(ids), err)
	}
}

func testReplicaAccounts(t *testing.T, open func(t *testing.T) metastore.Store) {
	ctx := ctxT(t)
	a, b := opened(t, open), opened(t, open)
	u := mustUser(t, a, analyst)
	now := time.Now().UTC()
	if err := a.CreateSession(ctx, "s", u.ID, now, time.Hour, "", ""); err != nil {
		t.Fatal(err)
	}
	if got, live, err := b.Session(ctx, "s", now, time.Hour); err != nil || !live || got.ID != u.ID {
		t.Fatalf("a session made on one replica: %v %v", live, err)
	}
	if err := b.EndSession(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if _, live, _ := a.Session(ctx, "s", now, time.Hour); live {
		t.Fatal("a session ended on one replica still works on the other")
	}
	id, err := a.CreateUserToken(ctx, analyst.Username, "ci", "th")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.UserByTokenHash("th"); !ok {
		t.Fatal("a token made on one replica fails on the other")
	}
	if err := a.RevokeUserToken(ctx, analyst.Username, id); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.UserByTokenHash("th"); ok {
		t.Fatal("a token revoked on one replica still works on the other")
	}
	if _, err := a.CreateUserToken(ctx, analyst.Username, "ci2", "th2"); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.UserByTokenHash("th2"); !ok {
		t.Fatal("token th2 unknown to the other replica")
	}
	if err := a.DisableUser(ctx, analyst.Username); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.UserByTokenHash("th2"); ok {
		t.Fatal("a disabled account's token still works on the other replica")
	}
	if _, err := b.CreateUser(ctx, analyst, "h"); code(err) != jagadesa.EConflict {
		t.Fatalf("the same username on the other replica: %v", err)
	}
}
