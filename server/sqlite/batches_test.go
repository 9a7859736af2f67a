package sqlite

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// Many probes committing at once share transactions: every mark ends at
// its stream's highest number, across a restart, and every effect is in
// the outbox once, each stream's in the order it was committed.
func TestConcurrentBatchesShareCommits(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	const probes, per = 300, 20 // more streams than one multi-row statement holds
	ids := make([]string, probes)
	for i := range ids {
		p, _, err := d.CreateProbe(ctx, "33.06.08.2007")
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = p.ID
	}
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for q := 1; q <= per; q++ {
				var eff []byte
				if q%4 == 0 {
					eff = fmt.Appendf(nil, `{"probe":%q,"n":%d}`, id, q)
				}
				seq := uint64(q * 10)
				if q == per && i%2 == 0 {
					seq = 5 // a lower number never moves a mark back
				}
				if err := d.CommitBatch(ctx, id, "s", seq, eff); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for i, id := range ids {
		want := uint64(per * 10)
		if i%2 == 0 {
			want = (per - 1) * 10
		}
		if got := d.StreamSeq(id, "s"); got != want {
			t.Fatalf("probe %d: mark %d, want %d", i, got, want)
		}
	}
	_, bodies, err := d.PendingEffects(ctx, 10*probes*per)
	if err != nil {
		t.Fatal(err)
	}
	if len(bodies) != probes*per/4 {
		t.Fatalf("%d effects in the outbox, want %d", len(bodies), probes*per/4)
	}
	last := map[string]int{}
	for _, b := range bodies {
		var id string
		var n int
		if _, err := fmt.Sscanf(string(b), `{"probe":%q,"n":%d}`, &id, &n); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if n <= last[id] {
			t.Fatalf("%s: effect %d after %d", id, n, last[id])
		}
		last[id] = n
	}
}
