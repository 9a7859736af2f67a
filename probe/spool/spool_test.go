package spool

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// payloadFor is record i's payload: a few hundred bytes, varying in length
// and content with i, so a record swapped, torn or misread is detected.
func payloadFor(i int) []byte {
	return fmt.Appendf(nil, `{"i":%d,"pad":"%s"}`, i, strings.Repeat(string(rune('a'+i%26)), 20+i*37%300))
}

// indexOf recovers the index a payloadFor payload was made from, or -1 if
// the payload is not exactly what payloadFor(index) would give.
func indexOf(p []byte) int {
	s, ok := strings.CutPrefix(string(p), `{"i":`)
	if !ok {
		return -1
	}
	n, _, _ := strings.Cut(s, ",")
	i, err := strconv.Atoi(n)
	if err != nil || i < 0 || !bytes.Equal(p, payloadFor(i)) {
		return -1
	}
	return i
}

func mustOpen(t testing.TB, dir string, opts Options) *Spool {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func mustAppend(t testing.TB, s *Spool, p []byte) uint64 {
	t.Helper()
	id, err := s.Append(p)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return id
}

func mustClose(t testing.TB, s *Spool) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func peekAll(t testing.TB, s *Spool) []Record {
	t.Helper()
	recs, err := s.Peek(0, 0)
	if err != nil {
		t.Fatalf("Peek: %v", err)
	}
	return recs
}

func ids(recs []Record) []uint64 {
	out := make([]uint64, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func span(lo, hi uint64) []uint64 {
	var out []uint64
	for id := lo; id <= hi; id++ {
		out = append(out, id)
	}
	return out
}

// segFiles lists the segment files on disk and their total size, to check
// the spool's own accounting against the file system.
func segFiles(t testing.TB, dir string) ([]string, int64) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var total int64
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), segSuffix) {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, e.Name())
			total += fi.Size()
		}
	}
	return names, total
}

func TestAppendPeekAck(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Options{})
	defer mustClose(t, s)
	for i := 1; i <= 10; i++ {
		if id := mustAppend(t, s, payloadFor(i)); id != uint64(i) {
			t.Fatalf("Append #%d got id %d", i, id)
		}
	}
	p1, p2 := len(payloadFor(1)), len(payloadFor(2))
	for _, tc := range []struct {
		name                 string
		maxRecords, maxBytes int
		want                 []uint64
	}{
		{"no limits", 0, 0, span(1, 10)},
		{"record limit", 3, 0, span(1, 3)},
		{"byte limit exact", 0, p1 + p2, span(1, 2)},
		{"byte limit just short", 0, p1 + p2 - 1, span(1, 1)},
		{"oversize first record still returned", 0, 1, span(1, 1)},
		{"both limits, records bind", 5, 1 << 20, span(1, 5)},
		{"negative means no limit", -1, -1, span(1, 10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := s.Peek(tc.maxRecords, tc.maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(recs), tc.want) {
				t.Fatalf("ids %v, want %v", ids(recs), tc.want)
			}
			for _, r := range recs {
				if !bytes.Equal(r.Payload, payloadFor(int(r.ID))) {
					t.Fatalf("record %d payload %q", r.ID, r.Payload)
				}
			}
		})
	}
	if got := s.Stats().Records; got != 10 {
		t.Fatalf("Peek removed records: %d pending", got)
	}

	if err := s.Ack(4); err != nil {
		t.Fatal(err)
	}
	if got := ids(peekAll(t, s)); !slices.Equal(got, span(5, 10)) {
		t.Fatalf("after Ack(4): %v", got)
	}
	if err := s.Ack(2); err != nil {
		t.Fatalf("Ack below the ack position: %v", err)
	}
	if err := s.Ack(11); err == nil {
		t.Fatal("Ack beyond the last id succeeded")
	}
	if err := s.Ack(10); err != nil {
		t.Fatal(err)
	}
	if recs := peekAll(t, s); len(recs) != 0 {
		t.Fatalf("all acked, Peek returned %v", ids(recs))
	}
	if st := s.Stats(); st.Records != 0 {
		t.Fatalf("all acked, Stats %+v", st)
	}
	// Appending after the queue drained continues the ids.
	if id := mustAppend(t, s, payloadFor(11)); id != 11 {
		t.Fatalf("id %d after draining, want 11", id)
	}
	if got := ids(peekAll(t, s)); !slices.Equal(got, []uint64{11}) {
		t.Fatalf("after drain and append: %v", got)
	}
}

// TestPeekInChunks walks a queue spread over many segments with small
// batches and partial acks, as an uploader on a flaky link would.
func TestPeekInChunks(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Options{SegmentBytes: 1 << 10})
	defer mustClose(t, s)
	const n = 200
	for i := 1; i <= n; i++ {
		mustAppend(t, s, payloadFor(i))
	}
	next := uint64(1)
	for round := 0; next <= n; round++ {
		recs, err := s.Peek(1+round%7, 900)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			t.Fatalf("round %d: nothing returned, %d pending", round, n-next+1)
		}
		for j, r := range recs {
			if r.ID != next+uint64(j) || !bytes.Equal(r.Payload, payloadFor(int(r.ID))) {
				t.Fatalf("round %d: record %d is %d %q", round, j, r.ID, r.Payload)
			}
		}
		// Every third batch is only partly acknowledged, so the next Peek
		// starts behind where this one stopped.
		k := len(recs)
		if round%3 == 0 {
			k = (k + 1) / 2
		}
		if err := s.Ack(recs[k-1].ID); err != nil {
			t.Fatal(err)
		}
		next = recs[k-1].ID + 1
		if st := s.Stats(); st.Records != int64(n-next+1) {
			t.Fatalf("round %d: Stats %+v, want %d pending", round, st, n-next+1)
		}
	}
}

func TestPersistAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 1 << 10}
	s := mustOpen(t, dir, opts)
	for i := 1; i <= 20; i++ {
		mustAppend(t, s, payloadFor(i))
	}
	if err := s.Ack(7); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)

	s = mustOpen(t, dir, opts)
	recs := peekAll(t, s)
	if !slices.Equal(ids(recs), span(8, 20)) {
		t.Fatalf("after reopen: %v", ids(recs))
	}
	for _, r := range recs {
		if !bytes.Equal(r.Payload, payloadFor(int(r.ID))) {
			t.Fatalf("record %d payload %q", r.ID, r.Payload)
		}
	}
	// A clean Close leaves no gap in the ids.
	if id := mustAppend(t, s, payloadFor(21)); id != 21 {
		t.Fatalf("id after reopen %d, want 21", id)
	}
	if err := s.Ack(15); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)

	s = mustOpen(t, dir, opts)
	defer mustClose(t, s)
	if got := ids(peekAll(t, s)); !slices.Equal(got, span(16, 21)) {
		t.Fatalf("after second reopen: %v", got)
	}
	if st := s.Stats(); st.Records != 6 || st.TruncatedBytes != 0 || st.CorruptBytes != 0 || st.Dropped != 0 {
		t.Fatalf("Stats %+v", st)
	}
}

func TestAckedSegmentsDeleted(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{SegmentBytes: 1 << 10})
	defer mustClose(t, s)
	for i := 1; i <= 60; i++ {
		mustAppend(t, s, payloadFor(i))
	}
	check := func() {
		t.Helper()
		names, total := segFiles(t, dir)
		st := s.Stats()
		if len(names) != st.Segments || total != st.Bytes {
			t.Fatalf("disk has %d segments, %d bytes; Stats %+v", len(names), total, st)
		}
	}
	check()
	before := s.Stats().Segments
	if before < 10 {
		t.Fatalf("only %d segments; the test needs many", before)
	}
	if err := s.Ack(40); err != nil {
		t.Fatal(err)
	}
	check()
	mid := s.Stats().Segments
	if mid >= before {
		t.Fatalf("Ack(40) deleted nothing: %d segments before, %d after", before, mid)
	}
	// Every segment left holds a record above 40, except possibly the
	// one still being appended to.
	names, _ := segFiles(t, dir)
	for _, n := range names[:len(names)-1] {
		first, _ := parseSegName(n)
		next, _ := parseSegName(names[slices.Index(names, n)+1])
		if next-1 <= 40 {
			t.Errorf("segment %s (ids %d..%d) is fully acked but still on disk", n, first, next-1)
		}
	}
	if got := ids(peekAll(t, s)); !slices.Equal(got, span(41, 60)) {
		t.Fatalf("after Ack(40): %v", got)
	}
	if err := s.Ack(60); err != nil {
		t.Fatal(err)
	}
	check()
	if st := s.Stats(); st.Segments > 1 || st.Records != 0 {
		t.Fatalf("all acked, Stats %+v", st)
	}
}

// makeTemplate writes records 1..n with the given options and closes the
// spool, returning its directory.
func makeTemplate(t *testing.T, opts Options, n int) string {
	t.Helper()
	dir := t.TempDir()
	s := mustOpen(t, dir, opts)
	for i := 1; i <= n; i++ {
		mustAppend(t, s, payloadFor(i))
	}
	mustClose(t, s)
	return dir
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}

func TestTornTail(t *testing.T) {
	const n = 5
	tmpl := makeTemplate(t, Options{}, n)
	seg := segName(1)
	full, err := os.ReadFile(filepath.Join(tmpl, seg))
	if err != nil {
		t.Fatal(err)
	}
	lastStart := len(full) - frameOverhead - len(payloadFor(n))

	type tc struct {
		name string
		data []byte // the damaged segment
		cut  int64  // bytes Open must report truncated
	}
	var cases []tc
	for off := lastStart; off < len(full); off++ {
		cases = append(cases, tc{fmt.Sprintf("truncated at %d", off), full[:off], int64(off - lastStart)})
	}
	garbage := func(name string, fill func(b []byte)) {
		b := slices.Clone(full)
		fill(b[lastStart:])
		cases = append(cases, tc{name, b, int64(len(full) - lastStart)})
	}
	garbage("zeros", func(b []byte) { clear(b) })
	garbage("ones", func(b []byte) {
		for i := range b {
			b[i] = 0xff
		}
	})
	garbage("pseudo-random", func(b []byte) {
		x := uint32(2463534242)
		for i := range b {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			b[i] = byte(x)
		}
	})
	// Single bit flips: in every byte of the frame header, and at the start,
	// middle and end of the payload.
	last := len(full) - lastStart
	for _, off := range []int{0, 1, 2, 3, 4, 5, 6, 7, 8, last / 2, last - 1} {
		garbage(fmt.Sprintf("bit flipped at %d", lastStart+off), func(b []byte) { b[off] ^= 0x10 })
	}
	// A power cut can also leave the file longer than what was written.
	cases = append(cases, tc{"zero-filled extension", append(slices.Clone(full), make([]byte, 4096)...), 4096})

	root := t.TempDir()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(root, strconv.Itoa(i))
			copyDir(t, tmpl, dir)
			if err := os.WriteFile(filepath.Join(dir, seg), c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			want := span(1, n-1)
			if len(c.data) > len(full) {
				want = span(1, n)
			}
			s := mustOpen(t, dir, Options{})
			if got := ids(peekAll(t, s)); !slices.Equal(got, want) {
				t.Fatalf("recovered %v, want %v", got, want)
			}
			if st := s.Stats(); st.TruncatedBytes != c.cut || st.CorruptBytes != 0 {
				t.Fatalf("Stats %+v, want TruncatedBytes %d", st, c.cut)
			}
			// The cut record's id is not handed out again.
			if id := mustAppend(t, s, payloadFor(n+1)); id != n+1 {
				t.Fatalf("id after recovery %d, want %d", id, n+1)
			}
			mustClose(t, s)

			s = mustOpen(t, dir, Options{})
			defer mustClose(t, s)
			recs := peekAll(t, s)
			if got := ids(recs); !slices.Equal(got, append(want, n+1)) {
				t.Fatalf("after reopen %v", got)
			}
			for _, r := range recs {
				if !bytes.Equal(r.Payload, payloadFor(int(r.ID))) {
					t.Fatalf("record %d payload %q", r.ID, r.Payload)
				}
			}
			if st := s.Stats(); st.TruncatedBytes != 0 {
				t.Fatalf("second Open truncated again: %+v", st)
			}
		})
	}
}

// TestPowerCut checks what survives a power cut with records not yet
// synced: the synced ones, and no id is handed out twice, since the lost
// records may already have been sent.
func TestPowerCut(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{SyncEvery: 1000})
	defer mustClose(t, s)
	for i := 1; i <= 5; i++ {
		mustAppend(t, s, payloadFor(i))
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	// Every write so far was synced, so the files as they are now are what
	// the disk holds; the next appends live only in the page cache.
	disk := filepath.Join(t.TempDir(), "disk")
	copyDir(t, dir, disk)
	for i := 6; i <= 10; i++ {
		mustAppend(t, s, payloadFor(i))
	}
	if got := ids(peekAll(t, s)); !slices.Equal(got, span(1, 10)) {
		t.Fatalf("before the cut: %v", got)
	}
	// The power comes back with half of record 6 written.
	segPath := filepath.Join(disk, segName(1))
	fi, err := os.Stat(segPath)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(segPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(appendFrame(nil, payloadFor(6))[:40]); err != nil {
		t.Fatal(err)
	}
	f.Close()

	r := mustOpen(t, disk, Options{})
	defer mustClose(t, r)
	if got := ids(peekAll(t, r)); !slices.Equal(got, span(1, 5)) {
		t.Fatalf("after the cut: %v", got)
	}
	if st := r.Stats(); st.TruncatedBytes != 40 || st.Bytes != fi.Size() {
		t.Fatalf("Stats %+v", st)
	}
	if id := mustAppend(t, r, payloadFor(11)); id <= 10 {
		t.Fatalf("id %d handed out again after the cut", id)
	}
}

func TestCorruptOlderSegment(t *testing.T) {
	opts := Options{SegmentBytes: 1 << 10}
	tmpl := makeTemplate(t, opts, 30)
	names, _ := segFiles(t, tmpl)
	if len(names) < 4 {
		t.Fatalf("only %d segments", len(names))
	}
	seg1, _ := parseSegName(names[1])
	seg2, _ := parseSegName(names[2])
	rec1 := hdrSize + frameOverhead + int64(len(payloadFor(int(seg1)))) // seg1's first record ends here

	for _, tc := range []struct {
		name    string
		damage  func(b []byte) []byte
		lost    []uint64 // ids that must be gone
		corrupt func(size int64) int64
	}{
		{
			name:    "bad checksum in second record",
			damage:  func(b []byte) []byte { b[rec1+frameOverhead+3] ^= 1; return b },
			lost:    span(seg1+1, seg2-1),
			corrupt: func(size int64) int64 { return size - rec1 },
		},
		{
			name:    "absurd length in second record",
			damage:  func(b []byte) []byte { binary.LittleEndian.PutUint32(b[rec1:], 1<<30); return b },
			lost:    span(seg1+1, seg2-1),
			corrupt: func(size int64) int64 { return size - rec1 },
		},
		{
			name:    "torn in the middle",
			damage:  func(b []byte) []byte { return b[:rec1+5] },
			lost:    span(seg1+1, seg2-1),
			corrupt: func(size int64) int64 { return 5 },
		},
		{
			name:    "bad header",
			damage:  func(b []byte) []byte { b[9] ^= 1; return b },
			lost:    span(seg1, seg2-1),
			corrupt: func(size int64) int64 { return size },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, tmpl, dir)
			path := filepath.Join(dir, names[1])
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b = tc.damage(b)
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			s := mustOpen(t, dir, opts)
			defer mustClose(t, s)
			var want []uint64
			for id := uint64(1); id <= 30; id++ {
				if !slices.Contains(tc.lost, id) {
					want = append(want, id)
				}
			}
			recs := peekAll(t, s)
			if got := ids(recs); !slices.Equal(got, want) {
				t.Fatalf("recovered %v, want %v", got, want)
			}
			for _, r := range recs {
				if !bytes.Equal(r.Payload, payloadFor(int(r.ID))) {
					t.Fatalf("record %d payload %q", r.ID, r.Payload)
				}
			}
			st := s.Stats()
			if wantC := tc.corrupt(int64(len(b))); st.CorruptBytes != wantC || st.TruncatedBytes != 0 {
				t.Fatalf("Stats %+v, want CorruptBytes %d", st, wantC)
			}
			if id := mustAppend(t, s, payloadFor(31)); id != 31 {
				t.Fatalf("id %d after recovery, want 31", id)
			}
			if err := s.Ack(30); err != nil {
				t.Fatal(err)
			}
			if got := ids(peekAll(t, s)); !slices.Equal(got, []uint64{31}) {
				t.Fatalf("after Ack(30): %v", got)
			}
		})
	}
}

// TestCorruptionAfterOpen checks that a record rotting on disk while the
// spool is open is skipped, not returned and not allowed to block Peek.
func TestCorruptionAfterOpen(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentBytes: 1 << 10}
	s := mustOpen(t, dir, opts)
	defer mustClose(t, s)
	for i := 1; i <= 30; i++ {
		mustAppend(t, s, payloadFor(i))
	}
	names, _ := segFiles(t, dir)
	seg0, _ := parseSegName(names[0])
	seg1, _ := parseSegName(names[1])
	f, err := os.OpenFile(filepath.Join(dir, names[0]), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Flip a payload byte of the first segment's second record.
	off := int64(hdrSize + frameOverhead + len(payloadFor(int(seg0))) + frameOverhead + 2)
	b := make([]byte, 1)
	f.ReadAt(b, off)
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	recs := peekAll(t, s)
	want := append([]uint64{seg0}, span(seg1, 30)...)
	if got := ids(recs); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if st := s.Stats(); st.CorruptBytes == 0 {
		t.Fatalf("corruption not counted: %+v", st)
	}
}

func TestCorruptStateFile(t *testing.T) {
	dir := makeTemplate(t, Options{}, 5)
	s := mustOpen(t, dir, Options{})
	if err := s.Ack(3); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)
	if err := os.WriteFile(filepath.Join(dir, stateName), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir, Options{})
	defer mustClose(t, s)
	// The ack position is lost, so everything still on disk is sent again:
	// duplicates the server absorbs, rather than losses.
	if got := ids(peekAll(t, s)); !slices.Equal(got, span(1, 5)) {
		t.Fatalf("got %v", got)
	}
	if st := s.Stats(); st.CorruptBytes != int64(len("garbage")) {
		t.Fatalf("Stats %+v", st)
	}
	if id := mustAppend(t, s, payloadFor(6)); id <= 5 {
		t.Fatalf("id %d reused", id)
	}
}

func TestSizeBound(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      Options
		ackEvery  int // Ack some records every this many appends (0: never)
		appending int
	}{
		{"smallest spool, never acked", Options{MaxBytes: minMaxBytes, SegmentBytes: 4 << 10, SyncEvery: 256}, 0, 1200},
		{"acked now and then", Options{MaxBytes: 100 << 10, SegmentBytes: 2 << 10, SyncEvery: 16}, 450, 2500},
		{"default segment size", Options{MaxBytes: 200 << 10, SyncEvery: 256}, 0, 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, dir, tc.opts)
			maxBytes := tc.opts.MaxBytes
			acked := 0
			for i := 1; i <= tc.appending; i++ {
				mustAppend(t, s, payloadFor(i))
				st := s.Stats()
				if st.Bytes > maxBytes {
					t.Fatalf("after append %d: %d bytes > MaxBytes %d", i, st.Bytes, maxBytes)
				}
				if i%97 == 0 {
					if _, total := segFiles(t, dir); total != st.Bytes || total > maxBytes {
						t.Fatalf("disk %d bytes, Stats %+v", total, st)
					}
				}
				if tc.ackEvery > 0 && i%tc.ackEvery == 0 {
					recs, err := s.Peek(50, 0)
					if err != nil {
						t.Fatal(err)
					}
					if err := s.Ack(recs[len(recs)-1].ID); err != nil {
						t.Fatal(err)
					}
					acked += len(recs)
				}
			}
			check := func(s *Spool) {
				t.Helper()
				st := s.Stats()
				recs := peekAll(t, s)
				if int64(len(recs)) != st.Records {
					t.Fatalf("Peek %d records, Stats %+v", len(recs), st)
				}
				// What is left is the newest records, with no hole.
				if got := ids(recs); !slices.Equal(got, span(uint64(tc.appending-len(recs)+1), uint64(tc.appending))) {
					t.Fatalf("left %v", got)
				}
				if want := uint64(tc.appending - acked - len(recs)); st.Dropped != want || want == 0 {
					t.Fatalf("Dropped %d, want %d (appended %d, acked %d, pending %d)", st.Dropped, want, tc.appending, acked, len(recs))
				}
				if _, total := segFiles(t, dir); total != st.Bytes || total > maxBytes {
					t.Fatalf("disk %d bytes, Stats %+v", total, st)
				}
			}
			check(s)
			mustClose(t, s)
			s = mustOpen(t, dir, tc.opts)
			defer mustClose(t, s)
			check(s)
		})
	}
}

// TestShrinkMaxBytes checks that reopening with a smaller bound drops the
// oldest records at once, counted.
func TestShrinkMaxBytes(t *testing.T) {
	dir := makeTemplate(t, Options{SegmentBytes: 4 << 10, SyncEvery: 1000}, 1000)
	opts := Options{MaxBytes: minMaxBytes, SegmentBytes: 4 << 10}
	s := mustOpen(t, dir, opts)
	defer mustClose(t, s)
	st := s.Stats()
	if st.Bytes > opts.MaxBytes || st.Dropped == 0 || st.Dropped+uint64(st.Records) != 1000 {
		t.Fatalf("Stats %+v", st)
	}
	if _, total := segFiles(t, dir); total != st.Bytes {
		t.Fatalf("disk %d bytes, Stats %+v", total, st)
	}
}

func TestAppendErrors(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Options{})
	for _, tc := range []struct {
		name    string
		payload []byte
		want    error
	}{
		{"nil", nil, ErrEmpty},
		{"empty", []byte{}, ErrEmpty},
		{"one byte", []byte{'x'}, nil},
		{"largest", bytes.Repeat([]byte{'x'}, MaxRecordSize), nil},
		{"one byte too large", bytes.Repeat([]byte{'x'}, MaxRecordSize+1), ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Append(tc.payload)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Append(%d bytes) = %v, want %v", len(tc.payload), err, tc.want)
			}
		})
	}
	recs := peekAll(t, s)
	if len(recs) != 2 || len(recs[1].Payload) != MaxRecordSize {
		t.Fatalf("got %d records", len(recs))
	}
	mustClose(t, s)
	if _, err := s.Append([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}
	if _, err := s.Peek(1, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Peek after Close: %v", err)
	}
	if err := s.Ack(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Ack after Close: %v", err)
	}
	if err := s.Sync(); !errors.Is(err, ErrClosed) {
		t.Errorf("Sync after Close: %v", err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if st := s.Stats(); st.Records != 2 {
		t.Errorf("Stats after Close: %+v", st)
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    Options
		wantErr bool
		wantSeg int64
	}{
		{"defaults", Options{}, false, DefaultSegmentBytes},
		{"small spool gets small segments", Options{MaxBytes: 400 << 10}, false, 100 << 10},
		{"MaxBytes too small", Options{MaxBytes: minMaxBytes - 1}, true, 0},
		{"negative MaxBytes", Options{MaxBytes: -1}, true, 0},
		{"segment larger than MaxBytes", Options{MaxBytes: 1 << 20, SegmentBytes: 2 << 20}, true, 0},
		{"tiny segment", Options{SegmentBytes: 100}, true, 0},
		{"negative SyncEvery", Options{SyncEvery: -1}, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.TempDir(), tc.opts)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Open: %v, want error %v", err, tc.wantErr)
			}
			if err == nil {
				defer mustClose(t, s)
				if s.opts.SegmentBytes != tc.wantSeg {
					t.Fatalf("SegmentBytes %d, want %d", s.opts.SegmentBytes, tc.wantSeg)
				}
			}
		})
	}
}

func TestCreatesDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "lib", "spool")
	s := mustOpen(t, dir, Options{})
	mustAppend(t, s, []byte("x"))
	mustClose(t, s)
	s = mustOpen(t, dir, Options{})
	defer mustClose(t, s)
	if got := ids(peekAll(t, s)); !slices.Equal(got, []uint64{1}) {
		t.Fatalf("got %v", got)
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	mustClose(t, s)
	mustClose(t, mustOpen(t, dir, Options{}))
}

func TestSegmentHeaderClock(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := mustOpen(t, dir, Options{Now: func() time.Time { return at }})
	mustAppend(t, s, []byte("x"))
	mustClose(t, s)
	b, err := os.ReadFile(filepath.Join(dir, segName(1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := int64(binary.LittleEndian.Uint64(b[16:])); got != at.UnixMilli() {
		t.Fatalf("header time %d, want %d", got, at.UnixMilli())
	}
}

func TestLeftoverTempFiles(t *testing.T) {
	dir := makeTemplate(t, Options{}, 3)
	for _, name := range []string{stateName + tmpSuffix, segName(4) + tmpSuffix} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A file that is not the spool's is left alone (the probe keeps a
	// marker file here).
	if err := os.WriteFile(filepath.Join(dir, "running"), []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, dir, Options{})
	defer mustClose(t, s)
	if got := ids(peekAll(t, s)); !slices.Equal(got, span(1, 3)) {
		t.Fatalf("got %v", got)
	}
	for _, name := range []string{stateName + tmpSuffix, segName(4) + tmpSuffix} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "running")); err != nil {
		t.Errorf("foreign file touched: %v", err)
	}
}

// TestWriterAndReader runs the intended pattern, one goroutine appending and
// one uploading, under the race detector.
func TestWriterAndReader(t *testing.T) {
	const n = 3000
	s := mustOpen(t, t.TempDir(), Options{SegmentBytes: 8 << 10, SyncEvery: 64})
	defer mustClose(t, s)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; i <= n; i++ {
			if _, err := s.Append(payloadFor(i)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	next := 1
	for next <= n && !t.Failed() {
		recs, err := s.Peek(100, 8<<10)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			runtime.Gosched()
			continue
		}
		for _, r := range recs {
			if indexOf(r.Payload) != next || r.ID != uint64(next) {
				t.Fatalf("record %d (payload %d), want %d", r.ID, indexOf(r.Payload), next)
			}
			next++
		}
		if err := s.Ack(recs[len(recs)-1].ID); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if st := s.Stats(); st.Records != 0 || st.Dropped != 0 {
		t.Fatalf("Stats %+v", st)
	}
}

func BenchmarkAppend(b *testing.B) {
	payload := payloadFor(250) // about 300 bytes, like a measurement
	for _, every := range []int{1, 64} {
		b.Run(fmt.Sprintf("SyncEvery=%d", every), func(b *testing.B) {
			s := mustOpen(b, b.TempDir(), Options{SyncEvery: every})
			defer s.Close()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				if _, err := s.Append(payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
