// Package spool is a crash-safe, size-bounded FIFO queue of opaque records
// on disk. The probe keeps its measurements here while the uplink is down
// and sends them later, so a link cut loses nothing; a kill -9 at any
// instant loses nothing Append returned, and a power cut at most the
// records not yet synced (see Options.SyncEvery).
//
// Records live in append-only segment files; a small state file, always
// replaced atomically, holds how far the queue has been consumed, how many
// records were dropped for space, and how far ids have been handed out.
// Delivery is at least once: a record is returned by Peek until an Ack
// covering it has been made durable.
package spool

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jagadesa/jagadesa/internal/fsutil"
)

const (
	// MaxRecordSize is the largest payload Append accepts. A measurement is
	// a few hundred bytes; the cap keeps one bad caller from filling the
	// spool, and lets a reader reject a garbage length without allocating it.
	MaxRecordSize = 64 << 10

	// DefaultMaxBytes is the size bound when Options.MaxBytes is zero.
	DefaultMaxBytes = 8 << 20

	// DefaultSegmentBytes is the segment size when Options.SegmentBytes is
	// zero (lowered to MaxBytes/4 for small spools, so that dropping the
	// oldest segment never throws away most of the queue at once).
	DefaultSegmentBytes = 256 << 10

	// reserveAhead is how many ids one state write reserves. An id is only
	// handed out once a state file saying so is on disk, so ids lost with an
	// unsynced tail are never handed out again; reserving in blocks keeps
	// that to one state write per reserveAhead appends.
	reserveAhead = 4096

	minSegmentBytes = 1 << 10
	minMaxBytes     = hdrSize + frameOverhead + MaxRecordSize
)

var (
	// ErrEmpty is returned by Append for an empty payload: a zero length is
	// what an unwritten tail looks like on disk, so it cannot be a record.
	ErrEmpty = errors.New("spool: empty record")
	// ErrTooLarge is returned (wrapped, with the sizes) by Append for a
	// payload over MaxRecordSize.
	ErrTooLarge = errors.New("spool: record too large")
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("spool: closed")
	// ErrLocked is returned by Open when another Spool, in this process or
	// another, has the directory open.
	ErrLocked = errors.New("spool: directory in use by another spool")
)

// Options tune a Spool. The zero value is usable.
type Options struct {
	// MaxBytes bounds the total size of the segment files (default
	// DefaultMaxBytes; at least 65,576 bytes, so one largest record fits).
	// Reaching it drops the oldest whole segments, delivered or not.
	MaxBytes int64
	// SegmentBytes is the size at which a new segment is started (default
	// DefaultSegmentBytes, or MaxBytes/4 if smaller; at least 1 KiB and at
	// most MaxBytes). Space is reclaimed a whole segment at a time.
	SegmentBytes int64
	// SyncEvery is how many appends may go between fsyncs (default 1: every
	// append). A larger value spares flash at the price of losing up to
	// SyncEvery-1 records to a power cut; call Sync at points that matter.
	SyncEvery int
	// Now stamps new segment headers, which helps when reading a spool by
	// hand (default time.Now).
	Now func() time.Time
}

func (o Options) withDefaults() (Options, error) {
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxBytes < minMaxBytes {
		return o, fmt.Errorf("spool: MaxBytes %d is below the minimum %d (one largest record must fit)", o.MaxBytes, minMaxBytes)
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = min(DefaultSegmentBytes, o.MaxBytes/4)
	}
	if o.SegmentBytes < minSegmentBytes || o.SegmentBytes > o.MaxBytes {
		return o, fmt.Errorf("spool: SegmentBytes %d must be between %d and MaxBytes (%d)", o.SegmentBytes, minSegmentBytes, o.MaxBytes)
	}
	if o.SyncEvery == 0 {
		o.SyncEvery = 1
	}
	if o.SyncEvery < 0 {
		return o, fmt.Errorf("spool: SyncEvery %d must not be negative", o.SyncEvery)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// Record is one queued record.
type Record struct {
	// ID is unique for the life of the spool directory and increases with
	// every Append, so the server can use it to drop duplicates.
	ID uint64
	// Payload is the appended bytes; the caller owns it.
	Payload []byte
}

// Stats describe a spool at one moment.
type Stats struct {
	Records int64 // records not yet acknowledged (or dropped)
	// Bytes is the size of the segment files, at most MaxBytes; the state
	// and lock files add under 100 bytes, and the space reserve reserveSize.
	Bytes int64
	// Dropped counts the records lost without being delivered: the
	// unacknowledged records ever deleted to stay within MaxBytes, and the
	// records Append could not store (a full disk, a write error). It is
	// persisted, so the server can be told about every loss: a deletion
	// before it happens, a failed Append with the next state the spool
	// writes (the next Append that succeeds, or the next Ack).
	Dropped uint64

	// TruncatedBytes were cut from the end of the newest segment by the last
	// Open: a torn or corrupt tail, as a crash or power cut leaves it.
	TruncatedBytes int64
	// CorruptBytes were found failing their checksums, other than the torn
	// tail, since the last Open: the skipped rest of an older segment,
	// a segment with an unreadable header, an unreadable state file. The
	// records in them are lost; the bytes stay on disk until consumed.
	CorruptBytes int64

	Segments int // segment files on disk
}

// segment is the in-memory index of one segment file: just its extent,
// never per-record offsets, so memory stays flat however small the records.
type segment struct {
	first uint64 // id of its first record
	count uint64 // good records
	size  int64  // file size
	end   int64  // offset past the last good record; < size only if corrupt
}

func (g *segment) last() uint64 { return g.first + g.count - 1 } // only if count > 0

// Spool is an on-disk FIFO queue of records. It is safe for concurrent use;
// the intended pattern is one goroutine appending and one uploading.
type Spool struct {
	mu   sync.Mutex
	dir  string
	opts Options
	lock *os.File

	segs   []*segment // oldest first
	total  int64      // sum of segs' sizes
	st     state      // exactly as on disk
	next   uint64     // id of the next Append
	closed bool

	active   *segment // segs' last, open for appends; nil: next Append starts a segment
	af       *os.File // active's file
	unsynced int      // appends to af since its last fsync

	// The reader's place, so that Peek after Ack(last peeked) does not
	// re-walk the segment from its start.
	rseg *segment
	rf   *os.File
	rid  uint64 // id of the record at roff in rseg
	roff int64

	truncated, corrupt int64
	wbuf               []byte

	// failed counts the Appends that stored nothing since the state file
	// last said so; Stats adds it to Dropped, and saveState persists it.
	failed uint64
	// reserveGone: the space reserve was spent on a state write and is to
	// be made again once there is room.
	reserveGone bool
}

// The space reserve: a file of reserveSize random (so incompressible, as
// JFFS2 and UBIFS compress) bytes, deleted when the file system is too
// full to write the state file. Without it a full disk would deadlock the
// spool: no Ack could be saved, so no delivered segment could be freed.
const (
	reserveName = "reserve"
	reserveSize = 8 << 10
)

// Permissions: the records are a village's measurements and events, and
// the directory also holds the probe's state; only the probe's user may
// read them.
const (
	dirPerm  = 0o700
	filePerm = 0o600
)

// Open opens the spool in dir, creating dir if needed. It checks every
// record, cuts a torn tail off the newest segment, and skips (and counts)
// corruption elsewhere rather than failing, because a probe that cannot
// open its spool cannot measure at all. It fails only for I/O errors, bad
// options, or a spool already open (ErrLocked).
func Open(dir string, opts Options) (*Spool, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := fsutil.MkdirAllDurable(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	// A directory made by an older probe, or by hand, is made private too.
	if err := restrict(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	lock, err := lockFile(filepath.Join(dir, lockName))
	if err != nil {
		if errors.Is(err, ErrLocked) {
			return nil, err
		}
		return nil, fmt.Errorf("spool: lock: %w", err)
	}
	s := &Spool{dir: dir, opts: opts, lock: lock}
	if err := restrict(filepath.Join(dir, lockName), filePerm); err != nil {
		s.closeFiles()
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := s.load(); err != nil {
		s.closeFiles()
		return nil, fmt.Errorf("spool: open %s: %w", dir, err)
	}
	return s, nil
}

func (s *Spool) path(g *segment) string { return filepath.Join(s.dir, segName(g.first)) }

func (s *Spool) load() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	removed := false
	for _, e := range entries {
		name := e.Name()
		if base, ok := strings.CutSuffix(name, tmpSuffix); ok {
			// A write interrupted before its rename: the old file is the
			// valid one, and the temp file is only in the way.
			if _, isSeg := parseSegName(base); isSeg || base == stateName || base == reserveName {
				if err := os.Remove(filepath.Join(s.dir, name)); err != nil {
					return err
				}
				removed = true
			}
			continue
		}
		if id, ok := parseSegName(name); ok && e.Type().IsRegular() {
			s.segs = append(s.segs, &segment{first: id})
		}
		if _, isSeg := parseSegName(name); (isSeg || name == stateName || name == reserveName) && e.Type().IsRegular() {
			if err := restrict(filepath.Join(s.dir, name), filePerm); err != nil {
				return err
			}
		}
	}
	if removed {
		if err := fsutil.SyncDir(s.dir); err != nil {
			return err
		}
	}
	slices.SortFunc(s.segs, func(a, b *segment) int {
		if a.first < b.first {
			return -1
		}
		return 1
	})

	// stateOK says the reservation can be trusted to cover every id ever
	// handed out. A missing state file is only normal for a new spool.
	stateOK := true
	b, err := os.ReadFile(filepath.Join(s.dir, stateName))
	switch {
	case errors.Is(err, os.ErrNotExist):
		stateOK = len(s.segs) == 0
	case err != nil:
		return err
	default:
		if s.st, stateOK = decodeState(b); !stateOK {
			// Only bit rot gets here (the file is only ever renamed into
			// place). Starting over at ack 0 re-sends what is still on disk,
			// which the server's de-duplication absorbs.
			s.corrupt += int64(len(b))
		}
	}

	s.next = max(1, s.st.ack+1, s.st.reserved+1)
	for i, g := range s.segs {
		limit := ^uint64(0)
		isLast := i == len(s.segs)-1
		if !isLast {
			limit = s.segs[i+1].first - g.first
		}
		res, err := scanSegment(s.path(g), g.first, limit)
		if err != nil {
			return err
		}
		g.count, g.end, g.size = res.count, res.end, res.size
		if !res.headerOK {
			g.end = 0
		}
		if bad := g.size - g.end; bad > 0 {
			if isLast && res.headerOK {
				if err := s.truncateTail(g); err != nil {
					return err
				}
				s.truncated += bad
			} else {
				s.corrupt += bad
			}
			if !stateOK {
				// Without a trusted reservation, assume the unreadable bytes
				// held as many records as could fit, so no id in them is
				// handed out again.
				s.next = max(s.next, g.first+g.count+uint64(bad/(frameOverhead+1)))
			}
		}
		s.next = max(s.next, g.first+g.count)
	}
	if n := len(s.segs); n > 0 {
		g := s.segs[n-1]
		if g.end == g.size && g.end >= hdrSize && g.first+g.count == s.next && g.size < s.opts.SegmentBytes {
			f, err := os.OpenFile(s.path(g), os.O_RDWR, 0)
			if err != nil {
				return err
			}
			s.active, s.af = g, f
		}
	}
	for _, g := range s.segs {
		s.total += g.size
	}
	if err := s.removeConsumed(); err != nil {
		return err
	}
	// A lowered MaxBytes takes effect now rather than at the next Append.
	ns, victims := s.planDrops(0)
	if !stateOK {
		// Persist what was derived, so the next Open need not guess again.
		ns.reserved = max(ns.reserved, s.next-1)
	}
	if ns != s.st || !stateOK {
		if err := s.saveState(ns); err != nil {
			return err
		}
	}
	if err := s.removeSegments(victims); err != nil {
		return err
	}
	s.makeReserve() // on a full file system, the next Append tries again
	return nil
}

// makeReserve writes the space reserve if it is not there.
func (s *Spool) makeReserve() error {
	path := filepath.Join(s.dir, reserveName)
	if st, err := os.Stat(path); err == nil && st.Size() == reserveSize {
		s.reserveGone = false
		return nil
	}
	b := make([]byte, reserveSize)
	rand.Read(b)
	err := fsutil.WriteFileAtomic(path, b, filePerm)
	s.reserveGone = err != nil
	return err
}

// truncateTail cuts the newest segment back to its last good record, so
// appends continue on a record boundary.
func (s *Spool) truncateTail(g *segment) error {
	f, err := os.OpenFile(s.path(g), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(g.end)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		g.size = g.end
	}
	return err
}

// saveState replaces the state file with ns, adding the failed Appends
// not yet counted there to its dropped count.
func (s *Spool) saveState(ns state) error { return s.writeState(ns, true) }

// writeState is saveState; spend says whether a full file system may have
// the space reserve for it.
func (s *Spool) writeState(ns state, spend bool) error {
	ns.dropped += s.failed
	path := filepath.Join(s.dir, stateName)
	err := fsutil.WriteFileAtomic(path, ns.encode(), filePerm)
	if spend && errors.Is(err, syscall.ENOSPC) {
		// A full file system: spend the reserve on this write.
		if rerr := os.Remove(filepath.Join(s.dir, reserveName)); rerr == nil || errors.Is(rerr, os.ErrNotExist) {
			s.reserveGone = true
			if err = fsutil.SyncDir(s.dir); err == nil {
				err = fsutil.WriteFileAtomic(path, ns.encode(), filePerm)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("spool: save state: %w", err)
	}
	s.st, s.failed = ns, 0
	return nil
}

// restrict takes away the permissions beyond perm from an existing file or
// directory. Only a mode that needs it is changed: a chmod is a metadata
// write to flash.
func restrict(path string, perm os.FileMode) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Mode().Perm()&^perm == 0 {
		return nil
	}
	return os.Chmod(path, st.Mode().Perm()&perm)
}

// planDrops works out which oldest segments must go to make room for need
// more bytes, and the state that records their loss. Nothing changes until
// the caller has saved that state: a crash in between must neither lose the
// count nor count the same records twice.
func (s *Spool) planDrops(need int64) (state, []*segment) {
	ns := s.st
	total := s.total
	var victims []*segment
	for total+need > s.opts.MaxBytes && len(victims) < len(s.segs) {
		g := s.segs[len(victims)]
		if g.count > 0 && g.last() > ns.ack {
			ns.dropped += g.last() - max(ns.ack+1, g.first) + 1
			ns.ack = g.last()
		}
		victims = append(victims, g)
		total -= g.size
	}
	return ns, victims
}

// removeConsumed deletes segments with nothing left to deliver. The active
// segment is kept while it has room, since recreating it after every
// upload would cost flash writes for nothing.
func (s *Spool) removeConsumed() error {
	var victims []*segment
	for _, g := range s.segs {
		if (g.count == 0 || g.last() <= s.st.ack) && (g != s.active || g.size >= s.opts.SegmentBytes) {
			victims = append(victims, g)
		}
	}
	return s.removeSegments(victims)
}

func (s *Spool) removeSegments(victims []*segment) error {
	if len(victims) == 0 {
		return nil
	}
	var errs []error
	for _, g := range victims {
		if g == s.active {
			s.retire()
		}
		if g == s.rseg {
			s.dropReader()
		}
		// Even if the file will not go, the segment is consumed: forget it,
		// and the next Open, seeing only consumed ids, will try again.
		if err := os.Remove(s.path(g)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		s.total -= g.size
	}
	s.segs = slices.DeleteFunc(s.segs, func(g *segment) bool { return slices.Contains(victims, g) })
	errs = append(errs, fsutil.SyncDir(s.dir))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("spool: remove segments: %w", err)
	}
	if s.reserveGone {
		s.makeReserve() // space was freed: the reserve comes first
	}
	return nil
}

// retire stops appending to the active segment. Its data is synced first
// so that an older segment is always fully on disk before a newer one
// exists: only the newest segment can ever have a torn tail.
func (s *Spool) retire() error {
	if s.active == nil {
		return nil
	}
	var err error
	if s.unsynced > 0 {
		err = s.af.Sync()
	}
	if cerr := s.af.Close(); err == nil {
		err = cerr
	}
	s.active, s.af, s.unsynced = nil, nil, 0
	return err
}

func (s *Spool) dropReader() {
	if s.rf != nil {
		s.rf.Close()
	}
	s.rseg, s.rf = nil, nil
}

// newSegment starts the segment whose first record will be id. The header
// is written under a temporary name and renamed into place once synced, so
// a segment file with its final name always has a whole header.
func (s *Spool) newSegment(id uint64) error {
	g := &segment{first: id, size: hdrSize, end: hdrSize}
	final := s.path(g)
	tmp := final + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, filePerm)
	if err != nil {
		return fmt.Errorf("spool: new segment: %w", err)
	}
	_, err = f.Write(encodeHeader(id, s.opts.Now().UnixMilli()))
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err == nil {
		err = fsutil.SyncDir(s.dir)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("spool: new segment: %w", err)
	}
	s.segs = append(s.segs, g)
	s.total += g.size
	s.active, s.af, s.unsynced = g, f, 0
	return nil
}

// Append adds one record and returns its id. With SyncEvery 1 the record
// is on disk when Append returns; otherwise it is once SyncEvery appends
// have passed or Sync is called. If the spool is full the oldest segments
// are dropped, delivered or not, and counted in Stats.Dropped. If the
// record was written but could not be synced, Append returns its id with
// the error: the record is queued but may not survive a power cut.
//
// If the record could not be stored at all (the file system is full, a
// write failed), Append returns 0 and the error, and counts the record in
// Stats.Dropped: the records already stored stay as they are, and the loss
// reaches the server with the next heartbeat.
func (s *Spool) Append(payload []byte) (uint64, error) {
	if len(payload) == 0 {
		return 0, ErrEmpty
	}
	if len(payload) > MaxRecordSize {
		return 0, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(payload), MaxRecordSize)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	id, err := s.append(payload)
	if id == 0 && errors.Is(err, syscall.ENOSPC) && s.freeActive() {
		id, err = s.append(payload) // a delivered active segment was in the way
	}
	if id == 0 {
		s.failed++
		return 0, err
	}
	if err == nil && s.failed > 0 {
		// Space again after failures: persist their count now rather than
		// at the next Ack (not with the reserve: that is for Acks). If
		// this fails too, Stats still counts them.
		s.writeState(s.st, false)
	}
	return id, err
}

// freeActive deletes the active segment if everything in it has been
// delivered, and reports whether it did. removeConsumed keeps such a
// segment while it is under SegmentBytes, to spare flash; on a full file
// system it is what holds the space.
func (s *Spool) freeActive() bool {
	g := s.active
	if g == nil || (g.count > 0 && g.last() > s.st.ack) {
		return false
	}
	return s.removeSegments([]*segment{g}) == nil
}

func (s *Spool) append(payload []byte) (uint64, error) {
	frame := int64(frameOverhead + len(payload))
	id := s.next
	rotate := s.active == nil || (s.active.count > 0 && s.active.size+frame > s.opts.SegmentBytes)
	need := frame
	if rotate {
		need += hdrSize
		if err := s.retire(); err != nil {
			return 0, fmt.Errorf("spool: sync segment: %w", err)
		}
		// The segment just finished may be fully delivered already; free it
		// before working out whether anything must be dropped for space.
		if err := s.removeConsumed(); err != nil {
			return 0, err
		}
	}
	// Options guarantee a header and a largest record fit in MaxBytes and a
	// segment is no larger than MaxBytes, so the active segment is never
	// among these victims unless we are leaving it anyway.
	ns, victims := s.planDrops(need)
	if id > ns.reserved {
		ns.reserved = id + reserveAhead - 1
	}
	if ns != s.st {
		if err := s.saveState(ns); err != nil {
			return 0, err
		}
	}
	if err := s.removeSegments(victims); err != nil {
		return 0, err
	}
	if s.reserveGone {
		// Records never take the reserve's room: without it a full file
		// system could not record an Ack, and so never be freed.
		if err := s.makeReserve(); errors.Is(err, syscall.ENOSPC) {
			return 0, fmt.Errorf("spool: append: no room for the space reserve: %w", err)
		}
	}
	if s.active == nil {
		if err := s.newSegment(id); err != nil {
			return 0, err
		}
	}
	g := s.active
	s.wbuf = appendFrame(s.wbuf[:0], payload)
	if _, err := s.af.WriteAt(s.wbuf, g.size); err != nil {
		// Cut a partial write off, or the next record would follow garbage
		// and be lost with it at the next Open. If even that fails, leave
		// this segment for a fresh one; Open will trim the garbage.
		if terr := s.af.Truncate(g.size); terr != nil {
			s.retire()
		}
		return 0, fmt.Errorf("spool: append: %w", err)
	}
	g.size += frame
	g.end = g.size
	g.count++
	s.total += frame
	s.next++
	s.unsynced++
	if s.unsynced >= s.opts.SyncEvery {
		if err := s.af.Sync(); err != nil {
			return id, fmt.Errorf("spool: sync: %w", err)
		}
		s.unsynced = 0
	}
	return id, nil
}

// Sync makes every appended record durable. With SyncEvery above 1, call
// it where losing the latest records would matter, such as at the end of a
// measurement round, so flash is written once per round, not per record.
func (s *Spool) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return s.sync()
}

func (s *Spool) sync() error {
	if s.active == nil || s.unsynced == 0 {
		return nil
	}
	if err := s.af.Sync(); err != nil {
		return fmt.Errorf("spool: sync: %w", err)
	}
	s.unsynced = 0
	return nil
}

// Peek returns the oldest unacknowledged records, oldest first, without
// removing them, so an upload that fails loses nothing: at most maxRecords
// records and maxBytes payload bytes (either <= 0 means no limit), but
// always at least one record if any is pending, so a record larger than
// maxBytes cannot stall the queue. It returns no records, and no error,
// when nothing is pending. A record found corrupt since Open is skipped
// with the rest of its segment and counted in Stats.CorruptBytes, rather
// than blocking delivery forever.
func (s *Spool) Peek(maxRecords int, maxBytes int) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	var out []Record
	nbytes := 0
	id := s.st.ack + 1
	for i := 0; i < len(s.segs); i++ {
		if maxRecords > 0 && len(out) >= maxRecords {
			break
		}
		g := s.segs[i]
		if g.count == 0 || g.last() < id {
			continue
		}
		id = max(id, g.first)
		f, off, err := s.seek(g, id)
		if errors.Is(err, errBadFrame) {
			continue // seek recorded the corruption; the segment now ends before id
		}
		if err != nil {
			return out, err
		}
		br := bufio.NewReaderSize(io.NewSectionReader(f, off, g.end-off), 16<<10)
		var h [frameOverhead]byte
		for ; id <= g.last(); id++ {
			if maxRecords > 0 && len(out) >= maxRecords {
				return out, nil
			}
			if _, err := io.ReadFull(br, h[:]); err != nil {
				// The index says a record is here: a short read is a file
				// changed behind our back.
				s.corruptFrom(g, id, off)
				break
			}
			n, crc, ok := frameLen(h[:])
			if !ok {
				s.corruptFrom(g, id, off)
				break
			}
			if len(out) > 0 && maxBytes > 0 && nbytes+n > maxBytes {
				return out, nil
			}
			p := make([]byte, n)
			if _, err := io.ReadFull(br, p); err != nil || frameCRC(h[:], p) != crc {
				s.corruptFrom(g, id, off)
				break
			}
			out = append(out, Record{ID: id, Payload: p})
			nbytes += n
			off += int64(frameOverhead + n)
			s.rid, s.roff = id+1, off
		}
	}
	return out, nil
}

// seek returns g's file and the offset of record id in it, starting from
// the reader's last place when that is at or before id.
func (s *Spool) seek(g *segment, id uint64) (*os.File, int64, error) {
	if g != s.rseg {
		s.dropReader()
		s.rseg, s.rid, s.roff = g, g.first, hdrSize
	}
	if s.rid > id {
		s.rid, s.roff = g.first, hdrSize
	}
	var f *os.File
	if g == s.active {
		f = s.af
	} else {
		if s.rf == nil {
			rf, err := os.Open(s.path(g))
			if err != nil {
				return nil, 0, fmt.Errorf("spool: read: %w", err)
			}
			s.rf = rf
		}
		f = s.rf
	}
	var h [frameOverhead]byte
	for s.rid < id {
		// Only lengths are needed to skip; checksums were verified by Open.
		if _, err := f.ReadAt(h[:], s.roff); err != nil {
			if err == io.EOF {
				s.corruptFrom(g, s.rid, s.roff)
				return nil, 0, errBadFrame
			}
			return nil, 0, fmt.Errorf("spool: read: %w", err)
		}
		n, _, ok := frameLen(h[:])
		if !ok || s.roff+int64(frameOverhead+n) > g.end {
			s.corruptFrom(g, s.rid, s.roff)
			return nil, 0, errBadFrame
		}
		s.roff += int64(frameOverhead + n)
		s.rid++
	}
	return f, s.roff, nil
}

// corruptFrom gives up on g's records from id (at off) on: the file no
// longer matches what Open verified. The segment stops taking appends,
// since new records behind the damage would get the wrong ids.
func (s *Spool) corruptFrom(g *segment, id uint64, off int64) {
	s.corrupt += g.end - off
	g.count = id - g.first
	g.end = off
	if g == s.active {
		s.retire()
	}
	if g == s.rseg {
		s.dropReader()
	}
}

// Ack marks every record with id <= upTo as delivered. The new position is
// on disk before Ack returns, so after a crash those records are never
// returned again; segments holding nothing else are then deleted. Acking
// ids already acknowledged is a no-op; acking an id not yet handed out by
// Append is an error, since it would silently swallow future records.
func (s *Spool) Ack(upTo uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if upTo <= s.st.ack {
		return nil
	}
	if upTo >= s.next {
		return fmt.Errorf("spool: ack %d is beyond the last id handed out (%d)", upTo, s.next-1)
	}
	ns := s.st
	ns.ack = upTo
	if err := s.saveState(ns); err != nil {
		return err
	}
	return s.removeConsumed()
}

// Stats returns the spool's counters. It works after Close, to report the
// final numbers.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		Bytes:          s.total,
		Dropped:        s.st.dropped + s.failed,
		TruncatedBytes: s.truncated,
		CorruptBytes:   s.corrupt,
		Segments:       len(s.segs),
	}
	for _, g := range s.segs {
		if g.count > 0 && g.last() > s.st.ack {
			st.Records += int64(g.last() - max(s.st.ack+1, g.first) + 1)
		}
	}
	return st
}

// Close syncs and closes the spool. After a clean Close the next Open
// continues the ids without a gap; after a crash they skip ahead (by up to
// a few thousand), so an id handed out for a record lost with an unsynced
// tail is never handed out again.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	err := s.retire()
	if err == nil && s.st.reserved >= s.next {
		// Everything handed out is on disk, so the reservation can shrink
		// to exactly what was used.
		ns := s.st
		ns.reserved = s.next - 1
		err = s.saveState(ns)
	}
	s.closeFiles()
	return err
}

func (s *Spool) closeFiles() {
	s.retire()
	s.dropReader()
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
}
