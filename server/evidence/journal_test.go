package evidence

import (
	"bufio"
	"crypto/ed25519"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
)

// record i of village v, signed with key.
func journalRecord(key ed25519.PrivateKey, v, i int, day time.Time) *Record {
	body := fmt.Sprintf(`{"v":1,"village":%d,"n":%d,"pad":%q}`, v, i, strings.Repeat("x", i%97))
	return &Record{Received: day, Probe: fmt.Sprintf("p-%d", v), Village: fmt.Sprintf("33.06.08.%04d", 2001+v),
		FirstSeq: uint64(i + 1), LastSeq: uint64(i + 1), KeyID: jagadesa.KeyID(key.Public().(ed25519.PublicKey)),
		Signature: jagadesa.SignReport(key, []byte(body)), Body: []byte(body)}
}

// readAll returns, per village file, the sequence numbers it holds, and
// checks every record's signature.
func readAll(t *testing.T, a *Archive, pub ed25519.PublicKey) map[string][]uint64 {
	t.Helper()
	files, err := a.Files("")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]uint64{}
	for _, f := range files {
		if err := ReadFile(f, func(r *Record) error {
			got[r.Village] = append(got[r.Village], r.FirstSeq)
			return r.Verify(pub)
		}); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	return got
}

func TestGroupCommitSharesSyncs(t *testing.T) {
	a, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(nil)
	day := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	const villages, per = 40, 25
	var wg sync.WaitGroup
	for v := range villages {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per { // one batch of a probe at a time, as ingest does
				r := journalRecord(key, v, i, day)
				if err := a.Append(r, gz(r.Body)); err != nil { // the probe's gzip member, as it came
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	syncs := a.c.syncs.Load()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, a, pub)
	if len(got) != villages {
		t.Fatalf("%d village files, want %d", len(got), villages)
	}
	for v, seqs := range got {
		if len(seqs) != per {
			t.Fatalf("%s: %d records, want %d", v, len(seqs), per)
		}
		for i, q := range seqs {
			if q != uint64(i+1) {
				t.Fatalf("%s: record %d is %d: out of order", v, i, q)
			}
		}
	}
	// 1,000 appends from 40 writers: groups share the syncs.
	if syncs >= villages*per/2 {
		t.Fatalf("%d journal syncs for %d appends: no group commit", syncs, villages*per)
	}
	t.Logf("%d appends, %d journal syncs", villages*per, syncs)
	// Closed: the journal is checkpointed, and later appends fail.
	if m, _ := filepath.Glob(filepath.Join(a.Dir, journalDir, "*.wal")); len(m) != 1 {
		t.Fatalf("journals after close: %v, want the one empty journal", m)
	} else if fi, _ := os.Stat(m[0]); fi.Size() != 0 {
		t.Fatalf("the journal left at close holds %d bytes", fi.Size())
	}
	if err := a.Append(journalRecord(key, 0, 99, day), nil); err == nil {
		t.Fatal("append after close succeeded")
	}
	// A reading archive (jagadesa verify's) writes nothing.
	if err := (&Archive{Dir: a.Dir}).Append(journalRecord(key, 0, 99, day), nil); err == nil {
		t.Fatal("append through a reading archive succeeded")
	}
}

func TestCheckpointRemovesJournal(t *testing.T) {
	a, err := Open(t.TempDir(), Tuning{CheckpointEvery: 40 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	pub, key, _ := ed25519.GenerateKey(nil)
	day := time.Now().UTC()
	for i := range 5 {
		if err := a.Append(journalRecord(key, 1, i, day), nil); err != nil {
			t.Fatal(err)
		}
	}
	// Within a few checkpoint periods the journal holding them is gone
	// and a fresh, empty one is current.
	deadline := time.Now().Add(5 * time.Second)
	for {
		m, _ := filepath.Glob(filepath.Join(a.Dir, journalDir, "*.wal"))
		if len(m) == 1 && !strings.HasSuffix(m[0], journalName(1)) {
			if fi, _ := os.Stat(m[0]); fi.Size() == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("journals still %v", m)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := readAll(t, a, pub); len(got["33.06.08.2002"]) != 5 {
		t.Fatalf("after checkpoint: %v", got)
	}
}

// The process dies after the group's journal sync and before its records
// reach their files: the next Open writes them there.
func TestRecoveryWritesJournalledRecords(t *testing.T) {
	dir := t.TempDir()
	a, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(nil)
	day := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for i := range 3 {
		if err := a.Append(journalRecord(key, 1, i, day), nil); err != nil {
			t.Fatal(err)
		}
	}
	skipFileWrites = true
	for i := 3; i < 6; i++ {
		if err := a.Append(journalRecord(key, 1, i, day), nil); err != nil {
			t.Fatal(err)
		}
		if err := a.Append(journalRecord(key, 2, i, day), nil); err != nil {
			t.Fatal(err)
		}
	}
	skipFileWrites = false
	// Abandon the archive as a crash would: no close, no checkpoint.
	if got := readAll(t, &Archive{Dir: dir}, pub); len(got["33.06.08.2002"]) != 3 || len(got["33.06.08.2003"]) != 0 {
		t.Fatalf("before recovery the files hold %v", got)
	}
	// A torn frame after the whole ones (the crash hit a group being
	// written): ignored, nothing of it was answered.
	m, _ := filepath.Glob(filepath.Join(dir, journalDir, "*.wal"))
	if len(m) != 1 {
		t.Fatalf("journals %v", m)
	}
	torn := appendFrame(nil, frame{rel: "2026-12-07/33.06.08.2002.jsonl.gz", offset: 1 << 20, data: []byte("never answered")})
	f, _ := os.OpenFile(m[0], os.O_WRONLY|os.O_APPEND, 0)
	f.Write(torn[:len(torn)-3])
	f.Close()

	// The dead process's lock went with it.
	a.c.lock.Close()
	b, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got := readAll(t, b, pub)
	if len(got["33.06.08.2002"]) != 6 || len(got["33.06.08.2003"]) != 3 {
		t.Fatalf("after recovery: %v", got)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, journalDir, "*.wal")); len(left) != 1 || left[0] == m[0] {
		t.Fatalf("journals after recovery: %v (old %s)", left, m[0])
	}
	// And appends go on after the recovered records.
	if err := b.Append(journalRecord(key, 1, 6, day), nil); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, b, pub); len(got["33.06.08.2002"]) != 7 {
		t.Fatalf("after a new append: %v", got["33.06.08.2002"])
	}
}

func TestRecoveryRefusesForeignPaths(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, journalDir), 0o750)
	bad := appendFrame(nil, frame{rel: "../outside.jsonl.gz", data: []byte("x")})
	os.WriteFile(filepath.Join(dir, journalDir, journalName(7)), bad, 0o640)
	if _, err := New(dir); err == nil || !strings.Contains(err.Error(), "not an archive file") {
		t.Fatalf("a journal naming a file outside the archive: %v", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "outside.jsonl.gz")); err == nil {
		t.Fatal("recovery wrote outside the archive")
	}
}

// A real crash: a child process appends from many goroutines and prints
// each record it got an answer for; it is killed with SIGKILL mid-stream.
// Every answered record must be in its file after the next Open, whole and
// verifiable.
func TestKilledWriterLosesNoAnsweredRecord(t *testing.T) {
	if dir := os.Getenv("JAGADESA_EVIDENCE_CHILD"); dir != "" {
		journalChild(dir)
		return
	}
	for round, skip := range []string{"", "skip"} { // files written, or only the journal
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriterLosesNoAnsweredRecord$")
		cmd.Env = append(os.Environ(), "JAGADESA_EVIDENCE_CHILD="+dir, "JAGADESA_EVIDENCE_SKIP="+skip)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		answered := map[string]int{}
		var pub ed25519.PublicKey
		sc := bufio.NewScanner(out)
		n := 0
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 2 && f[0] == "key" {
				pub, _ = hexDecode(f[1])
				continue
			}
			if len(f) != 2 {
				continue
			}
			q, _ := strconv.Atoi(f[1])
			answered[f[0]] = max(answered[f[0]], q)
			if n++; n == 600+round*300 {
				cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		cmd.Wait()
		if n < 600 {
			t.Fatalf("the child answered only %d appends", n)
		}
		a, err := New(dir)
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, a, pub)
		a.Close()
		for v, q := range answered {
			if len(got[v]) < q {
				t.Fatalf("round %d: %s had %d records answered, %d in its file", round, v, q, len(got[v]))
			}
		}
		t.Logf("round %d (%q): %d answers before the kill, all in the files after recovery", round, skip, n)
	}
}

func journalChild(dir string) {
	skipFileWrites = os.Getenv("JAGADESA_EVIDENCE_SKIP") != ""
	a, err := New(dir)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	pub, key, _ := ed25519.GenerateKey(nil)
	fmt.Printf("key %x\n", []byte(pub))
	day := time.Now().UTC()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for v := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				r := journalRecord(key, v, i, day)
				if err := a.Append(r, nil); err != nil {
					return
				}
				mu.Lock()
				fmt.Printf("%s %d\n", r.Village, i+1)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	os.Exit(0)
}

func hexDecode(s string) ([]byte, error) {
	b := make([]byte, len(s)/2)
	_, err := fmt.Sscanf(s, "%x", &b)
	return b, err
}
