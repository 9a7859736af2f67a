package sqlite

import (
	"context"
	"crypto/ed25519"
	"testing"

	"github.com/jagadesa/jagadesa"
)

// Keys and replay marks survive a restart; a reset forgets both, even
// with marks still waiting to be written.
func TestKeysAndMarksPersist(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, _, _ := d.CreateProbe(ctx, "33.06.08.2007")
	q, _, _ := d.CreateProbe(ctx, "33.06.08.2005")
	pub, _, _ := ed25519.GenerateKey(nil)
	if _, err := d.SetProbeKey(ctx, p.ID, pub, "probe"); err != nil {
		t.Fatal(err)
	}
	d.CommitBatch(ctx, p.ID, "s-1", 40, nil)
	d.CommitBatch(ctx, p.ID, "s-1", 30, nil) // never back
	d.CommitBatch(ctx, q.ID, "", 7, nil)
	if got := d.StreamSeq(p.ID, "s-1"); got != 40 {
		t.Fatalf("mark %d, want 40 at once", got)
	}
	d.CommitBatch(ctx, q.ID, "", 9, nil)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	k, ok := d.ProbeKey(p.ID)
	if !ok || !k.PublicKey.Equal(pub) || d.StreamSeq(p.ID, "s-1") != 40 || d.StreamSeq(q.ID, "") != 9 {
		t.Fatalf("after restart: key %v %v, marks %d %d", ok, k.PublicKey.Equal(pub), d.StreamSeq(p.ID, "s-1"), d.StreamSeq(q.ID, ""))
	}
	d.CommitBatch(ctx, p.ID, "s-1", 50, nil) // pending when the reset comes
	if err := d.ResetProbeKey(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, ok := d.ProbeKey(p.ID); ok || d.StreamSeq(p.ID, "s-1") != 0 || d.StreamSeq(q.ID, "") != 9 {
		t.Fatalf("after reset and restart: key %v, marks %d %d", ok, d.StreamSeq(p.ID, "s-1"), d.StreamSeq(q.ID, ""))
	}
}

// An accepted batch's effects are committed with its mark, survive a
// restart until applied, and are gone once marked done.
func TestOutbox(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, _, _ := d.CreateProbe(ctx, "33.06.08.2007")
	if err := d.CommitBatch(ctx, p.ID, "s", 5, []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := d.CommitBatch(ctx, p.ID, "s", 9, nil); err != nil {
		t.Fatal(err)
	}
	if err := d.CommitBatch(ctx, p.ID, "s", 12, []byte(`{"b":2}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.EffectsReady():
	default:
		t.Fatal("no signal after effects were committed")
	}
	if err := d.CommitBatch(ctx, p.ID, "s", jagadesa.MaxSeq+1, nil); err == nil {
		t.Fatal("a record number past 2^53 was taken")
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := d.StreamSeq(p.ID, "s"); got != 12 {
		t.Fatalf("mark %d after restart, want 12", got)
	}
	ids, bodies, err := d.PendingEffects(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || string(bodies[0]) != `{"a":1}` || string(bodies[1]) != `{"b":2}` {
		t.Fatalf("outbox after restart: %v %q", ids, bodies)
	}
	if err := d.DoneEffects(ctx, ids[:1]); err != nil {
		t.Fatal(err)
	}
	ids, bodies, _ = d.PendingEffects(ctx, 10)
	if len(ids) != 1 || string(bodies[0]) != `{"b":2}` {
		t.Fatalf("outbox after one was applied: %v %q", ids, bodies)
	}
}
