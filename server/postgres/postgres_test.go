package postgres

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa/internal/pgtest"
)

func openT(t *testing.T, url string) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// Replicas starting together on an empty database: one migrates, the
// others wait for it and find the schema made.
func TestOpenTogether(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			d, err := Open(ctx, url)
			if err == nil {
				d.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	d := openT(t, url)
	var n int
	if err := d.pool.QueryRow(context.Background(), `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(migrations) {
		t.Fatalf("%d migrations recorded (%v), want %d", n, err, len(migrations))
	}
}

// A batch committed on one replica wakes the outbox applier on another
// (LISTEN/NOTIFY), whichever replica leads.
func TestEffectsReadyAcrossReplicas(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	a, b := openT(t, url), openT(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Both listeners are connected (each signals once on connecting).
	for {
		var n int
		if err := a.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE query = $1`, "LISTEN "+effectsChannel).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	drain := func(d *DB) {
		for {
			select {
			case <-d.EffectsReady():
			default:
				return
			}
		}
	}
	drain(a)
	drain(b)
	p, _, err := a.CreateProbe(ctx, "33.06.08.2005")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.CommitBatch(ctx, p.ID, "s", 1, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.EffectsReady():
		t.Fatal("signalled for a batch without effects")
	case <-time.After(300 * time.Millisecond):
	}
	if err := a.CommitBatch(ctx, p.ID, "s", 2, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.EffectsReady():
	case <-time.After(5 * time.Second):
		t.Fatal("the other replica was not told of the effects")
	}
}

// A mark StreamSeq could not read refuses the commit that follows, so a
// batch checked against nothing is never taken.
func TestUnknownMarkRefusesCommit(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	d := openT(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, _, err := d.CreateProbe(ctx, "33.06.08.2005")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CommitBatch(ctx, p.ID, "s", 5, nil); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	d.observed[streamKey{p.ID, "s"}] = mark{unknown: true, at: time.Now()}
	d.mu.Unlock()
	if err := d.CommitBatch(ctx, p.ID, "s", 9, []byte(`{}`)); !errors.Is(err, ErrMarkMoved) {
		t.Fatalf("commit after an unread mark: %v", err)
	}
	if got := d.StreamSeq(p.ID, "s"); got != 5 {
		t.Fatalf("mark %d, want 5", got)
	}
	if ids, _, _ := d.PendingEffects(ctx, 10); len(ids) != 0 {
		t.Fatalf("a refused batch left effects %v", ids)
	}
	if err := d.CommitBatch(ctx, p.ID, "s", 9, nil); err != nil {
		t.Fatalf("the retry, checked against the read mark: %v", err)
	}
}
