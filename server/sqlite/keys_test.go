package sqlite

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"
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
	d.AdvanceStream(ctx, p.ID, "s-1", 40)
	d.AdvanceStream(ctx, p.ID, "s-1", 30) // never back
	d.AdvanceStream(ctx, q.ID, "", 7)
	if got := d.StreamSeq(p.ID, "s-1"); got != 40 {
		t.Fatalf("mark %d, want 40 at once", got)
	}
	time.Sleep(2 * markDelay)         // written in the background
	d.AdvanceStream(ctx, q.ID, "", 9) // pending at Close: Close writes it
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
	d.AdvanceStream(ctx, p.ID, "s-1", 50) // pending when the reset comes
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
