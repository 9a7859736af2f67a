package spool

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// perm is the permission bits of path.
func perm(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

// The spool holds a village's records: its directory is 0700 and its files
// 0600, also when an older probe made them readable by all.
func TestPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	s := mustOpen(t, dir, Options{MaxBytes: minMaxBytes, SegmentBytes: 2 << 10})
	for i := range 40 { // several segments
		mustAppend(t, s, payloadFor(i))
	}
	mustClose(t, s)
	check := func(when string) {
		t.Helper()
		if p := perm(t, dir); p != 0o700 {
			t.Errorf("%s: directory %o, want 700", when, p)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		segs := 0
		for _, e := range entries {
			if _, ok := parseSegName(e.Name()); ok {
				segs++
			}
			if p := perm(t, filepath.Join(dir, e.Name())); p != 0o600 {
				t.Errorf("%s: %s is %o, want 600", when, e.Name(), p)
			}
		}
		if segs < 2 {
			t.Fatalf("%s: %d segments; the test wants several", when, segs)
		}
	}
	check("new spool")

	// As an older probe left them: world-readable.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if err := os.Chmod(filepath.Join(dir, e.Name()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s = mustOpen(t, dir, Options{MaxBytes: minMaxBytes, SegmentBytes: 2 << 10})
	check("reopened")
	// Nothing was lost by the change.
	recs, err := s.Peek(0, 0)
	if err != nil || len(recs) != 40 || indexOf(recs[39].Payload) != 39 {
		t.Fatalf("after chmod: %d records, %v", len(recs), err)
	}
	mustClose(t, s)
}

// smallDisk mounts a 64 KiB tmpfs and unmounts it at the end of the test,
// after calling closeFirst.
func smallDisk(t *testing.T, closeFirst func()) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v\n%s", err, out)
	}
	t.Cleanup(func() { // runs before TempDir's removal
		closeFirst()
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", mnt, err, out)
		}
	})
	return mnt
}

// A full file system (a 64 KiB tmpfs, far below MaxBytes) loses no record
// silently: every record Append could not store is counted in Dropped,
// which the probe's heartbeat carries, and the records stored before stay
// whole. Delivery still works on the full disk (the state write spends the
// space reserve), frees space, and the count is then persisted.
func TestFullDisk(t *testing.T) {
	var s *Spool
	mnt := smallDisk(t, func() {
		if s != nil {
			s.Close()
		}
	})
	dir := filepath.Join(mnt, "spool")
	opts := Options{SegmentBytes: 8 << 10} // 8 MiB allowed: the disk fills first
	s = mustOpen(t, dir, opts)

	offered, full := 0, 0
	var stored []int
	offer := func(n int) {
		t.Helper()
		for range n {
			i := offered
			offered++
			id, err := s.Append(payloadFor(i))
			switch {
			case err == nil:
				stored = append(stored, i)
			case id != 0:
				t.Fatalf("record %d written but not synced: %v", i, err)
			case errors.Is(err, syscall.ENOSPC):
				full++
			default:
				t.Fatalf("record %d: %v, want ENOSPC", i, err)
			}
		}
	}
	pending := func() []int {
		t.Helper()
		recs, err := s.Peek(0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []int
		for _, r := range recs {
			out = append(out, indexOf(r.Payload))
		}
		return out
	}

	offer(400) // about 100 KB of records
	st := s.Stats()
	t.Logf("offered %d, stored %d, refused for space %d; %d bytes in %d segments", offered, len(stored), full, st.Bytes, st.Segments)
	if full == 0 || len(stored) == 0 {
		t.Fatalf("stored %d, refused %d: the test wants the disk to fill", len(stored), full)
	}
	if st.Records != int64(len(stored)) || st.Dropped != uint64(offered)-uint64(st.Records) {
		t.Fatalf("Records %d, Dropped %d; offered %d, stored %d", st.Records, st.Dropped, offered, len(stored))
	}
	if got := pending(); !slices.Equal(got, stored) {
		t.Fatalf("pending %v, stored %v", got, stored)
	}

	// The uplink returns: half is delivered, on a full disk.
	recs, _ := s.Peek(len(stored)/2, 0)
	if err := s.Ack(recs[len(recs)-1].ID); err != nil {
		t.Fatalf("Ack on a full disk: %v", err)
	}
	stored = stored[len(recs):]
	// Room again: new records are stored, and the count is persisted.
	before := full
	offer(20)
	if full != before {
		t.Fatalf("%d records refused after half was delivered", full-before)
	}
	st = s.Stats()
	if st.Dropped != uint64(full) || st.Records != int64(len(stored)) {
		t.Fatalf("Dropped %d, Records %d; want %d, %d", st.Dropped, st.Records, full, len(stored))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A power cut now loses neither the records nor the count: reopen.
	s = mustOpen(t, dir, opts)
	if st := s.Stats(); st.Dropped != uint64(full) || st.Records != int64(len(stored)) {
		t.Fatalf("reopened: Dropped %d, Records %d; want %d, %d", st.Dropped, st.Records, full, len(stored))
	}
	if got := pending(); !slices.Equal(got, stored) {
		t.Fatalf("reopened: %v, want %v", got, stored)
	}

	// Fill it again, deliver everything: a delivered active segment is
	// no reason to refuse records.
	offer(400)
	recs, _ = s.Peek(0, 0)
	if err := s.Ack(recs[len(recs)-1].ID); err != nil {
		t.Fatalf("Ack all on a full disk: %v", err)
	}
	stored, before = nil, full
	offer(100)
	if full != before || s.Stats().Records != 100 {
		t.Fatalf("after delivering everything: %d refused, %d pending", full-before, s.Stats().Records)
	}
	if st := s.Stats(); st.Dropped != uint64(full) {
		t.Fatalf("Dropped %d, want %d", st.Dropped, full)
	}
	if p := perm(t, dir); p != 0o700 {
		t.Errorf("directory %o on the tmpfs", p)
	}
}

// With the default segment size, larger than the whole file system, the
// one segment fills it. Once everything in it is delivered, it must make
// room for new records rather than be kept for appends it cannot take.
func TestFullDiskOneSegment(t *testing.T) {
	var s *Spool
	mnt := smallDisk(t, func() {
		if s != nil {
			s.Close()
		}
	})
	s = mustOpen(t, filepath.Join(mnt, "spool"), Options{})
	refused := 0
	for i := range 400 {
		if _, err := s.Append(payloadFor(i)); err != nil {
			refused++
		}
	}
	if st := s.Stats(); st.Segments != 1 || refused == 0 || st.Dropped != uint64(refused) {
		t.Fatalf("filled: %d segments, %d refused, Dropped %d", st.Segments, refused, st.Dropped)
	}
	recs, _ := s.Peek(0, 0)
	if err := s.Ack(recs[len(recs)-1].ID); err != nil {
		t.Fatalf("Ack on a full disk: %v", err)
	}
	for i := range 100 {
		if _, err := s.Append(payloadFor(1000 + i)); err != nil {
			t.Fatalf("record %d after delivering everything: %v", i, err)
		}
	}
	if st := s.Stats(); st.Records != 100 || st.Dropped != uint64(refused) {
		t.Fatalf("Records %d, Dropped %d; want 100, %d", st.Records, st.Dropped, refused)
	}
}
