package evidence

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
)

// Two replicas on one volume each write their own directory; a pack's
// batches read from either hold every batch of both, in the order of
// receipt, the same from both. A second process on a replica's directory,
// a bad name and a single server's archive at the root are refused.
func TestSharedArchiveCoversEveryReplica(t *testing.T) {
	root := t.TempDir()
	a, err := OpenShared(root, "replica-a", Tuning{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenShared(root, "replica-b", Tuning{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pub, key, _ := ed25519.GenerateKey(nil)
	const village = "33.06.08.2005"
	t0 := time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC)
	var want []uint64
	for i := range 40 {
		at := t0.Add(time.Duration(i) * 3 * time.Minute) // across midnight: two days
		body := fmt.Sprintf(`{"v":1,"village":%q,"samples":[{"seq":%d,"t":%d}]}`, village, i+1, at.Add(-time.Minute).UnixMilli())
		r := &Record{Received: at, Probe: "p-1", Village: village, Stream: "s", FirstSeq: uint64(i + 1), LastSeq: uint64(i + 1),
			KeyID: jagadesa.KeyID(pub), Signature: jagadesa.SignReport(key, []byte(body)), Body: []byte(body)}
		to := a // the proxy spreads the probe's batches over both
		if i%3 == 1 {
			to = b
		}
		if err := to.Append(r, nil); err != nil {
			t.Fatal(err)
		}
		want = append(want, uint64(i+1))
	}
	read := func(x *Archive) []uint64 {
		var got []uint64
		err := x.Batches(village, t0.Add(-time.Hour), t0.Add(3*time.Hour), time.Hour)(func(r *Record) error {
			got = append(got, r.FirstSeq)
			return r.Verify(pub)
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := read(a); !slices.Equal(got, want) {
		t.Errorf("replica a's pack batches %v, want %v", got, want)
	}
	if got := read(b); !slices.Equal(got, want) {
		t.Errorf("replica b's pack batches %v, want %v", got, want)
	}
	// One replica alone (an archive without Shared) sees only its own.
	if got := read(&Archive{Dir: a.Dir}); len(got) == 0 || len(got) >= len(want) {
		t.Errorf("replica a's own directory holds %d of %d batches", len(got), len(want))
	}
	files, err := b.Files(village)
	if err != nil || len(files) != 4 {
		t.Fatalf("files %v (%v): want two days of two replicas", files, err)
	}
	if !strings.Contains(files[0], "2026-11-30") || !strings.Contains(files[3], "2026-12-01") {
		t.Errorf("files not by day: %v", files)
	}

	if _, err := OpenShared(root, "replica-a", Tuning{}); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("a second writer on replica-a's directory: %v", err)
	}
	for _, bad := range []string{"", "A", "1a", "a/b", "..", strings.Repeat("a", 33), "2026-12-01"} {
		if _, err := OpenShared(root, bad, Tuning{}); err == nil {
			t.Errorf("replica name %q accepted", bad)
		}
	}
	single := t.TempDir()
	os.MkdirAll(filepath.Join(single, "2026-12-01"), 0o750)
	if _, err := OpenShared(single, "replica-a", Tuning{}); err == nil || !strings.Contains(err.Error(), "move its contents") {
		t.Errorf("a single server's archive taken as a shared root: %v", err)
	}
}
