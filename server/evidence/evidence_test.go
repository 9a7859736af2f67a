package evidence

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
)

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestAppendReadAndTornTail(t *testing.T) {
	a, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(nil)
	day := time.Date(2026, 12, 7, 23, 59, 0, 0, time.UTC)
	bodies := []string{`{"v":1,"n":1}`, "{\"v\":1,\n \"n\":2}\n", `{"v":1,"n":3}`}
	for i, body := range bodies {
		r := &Record{Received: day, Probe: "p-1", Village: "33.06.08.2007", FirstSeq: uint64(i + 1), LastSeq: uint64(i + 1),
			KeyID: jagadesa.KeyID(pub), Signature: jagadesa.SignReport(key, []byte(body)), Body: []byte(body)}
		var wire []byte
		if i != 1 { // as the probe sends it; the second as a plain body
			wire = gz([]byte(body))
		}
		if err := a.Append(r, wire); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Append(&Record{Received: day, Village: "../../etc"}, nil); err == nil {
		t.Fatal("a record with a bad village code was written")
	}
	path := a.Path("33.06.08.2007", day)
	if path != a.Dir+"/2026-12-07/33.06.08.2007.jsonl.gz" {
		t.Fatalf("path %s", path)
	}
	var got []string
	if err := ReadFile(path, func(r *Record) error {
		got = append(got, string(r.Body))
		return r.Verify(pub)
	}); err != nil || len(got) != 3 || got[1] != bodies[1] || got[2] != bodies[2] {
		t.Fatalf("read %q: %v", got, err)
	}
	// A crash in the middle of the last append, wherever it falls: the
	// records before it still read and verify; the torn one is named.
	fi, _ := os.Stat(path)
	full, _ := os.ReadFile(path)
	for _, cut := range []int64{1, 5, 25, 40} {
		os.WriteFile(path, full[:fi.Size()-cut], 0o640)
		n := 0
		err = ReadFile(path, func(r *Record) error {
			n++
			return r.Verify(pub)
		})
		// A cut inside the closing newline's member leaves the third body
		// whole (its signature still proves it); deeper cuts lose it.
		want := 2
		if cut < 21 {
			want = 3
		}
		if !errors.Is(err, ErrTorn) || n != want {
			t.Fatalf("cut %d bytes: %d records, err %v; want %d and ErrTorn", cut, n, err, want)
		}
	}
	files, _ := a.Files("")
	if len(files) != 1 || files[0] != path {
		t.Fatalf("files %v", files)
	}
}

// Any bytes come back exactly, whether the server compressed them or kept
// the probe's gzip.
func TestBodiesComeBackExactly(t *testing.T) {
	a, _ := New(t.TempDir())
	rng := rand.New(rand.NewPCG(1, 2))
	day := time.Now().UTC()
	var want [][]byte
	for i := 0; i < 300; i++ {
		body := make([]byte, rng.IntN(3000))
		for j := range body {
			body[j] = byte(rng.IntN(256))
		}
		want = append(want, body)
		var wire []byte
		if i%2 == 0 {
			wire = gz(body)
		}
		if err := a.Append(&Record{Received: day, Village: "33.06.08.2007", Body: body}, wire); err != nil {
			t.Fatal(err)
		}
	}
	i := 0
	err := ReadFile(a.Path("33.06.08.2007", day), func(r *Record) error {
		if !bytes.Equal(r.Body, want[i]) || r.BodyBytes != len(want[i]) {
			t.Fatalf("record %d: %d bytes back, want %d", i, len(r.Body), len(want[i]))
		}
		i++
		return nil
	})
	if err != nil || i != len(want) {
		t.Fatalf("%d of %d records: %v", i, len(want), err)
	}
}

func TestPruneKeepsRecentDays(t *testing.T) {
	a, _ := New(t.TempDir())
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for _, d := range []int{0, 1, 29, 30, 31, 400} {
		r := &Record{Received: now.AddDate(0, 0, -d), Village: "33.06.08.2007", Body: []byte("{}")}
		if err := a.Append(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(a.Dir+"/not-a-day", 0o750) // someone else's: left alone
	n, err := a.Prune(now, 30*24*time.Hour)
	if err != nil || n != 2 {
		t.Fatalf("pruned %d (%v), want the days 31 and 400 back", n, err)
	}
	entries, _ := os.ReadDir(a.Dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{".journal", ".lock", "2026-11-07", "2026-11-08", "2026-12-06", "2026-12-07", "not-a-day"} // the journal and the lock are the archive's own
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("left %v, want %v", names, want)
	}
}
