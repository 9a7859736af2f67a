package evidence

// Group commit. Each accepted batch used to cost its own fsync of its
// village's file: with thousands of small live reports a second, the
// archive's syncs bounded ingest. Now one goroutine (the committer) takes
// every append waiting at that moment, writes them all to one journal file
// with one fdatasync, writes each record into its village's file at an
// offset it tracks — without a sync — and answers them. The journal
// is the durability point: after a crash, Open writes every journalled
// record again at its offset (idempotent), so an answered batch is never
// lost and the village files never hold a torn record that was answered.
//
// The village files are made durable together, off the request path, by a
// checkpoint: the committer switches to a new journal file every
// CheckpointEvery (or JournalBytes), and a background goroutine syncs the
// filesystem once (syncfs on Linux; each written file elsewhere), then
// removes the old journal. A journal frame is
//
//	u32 length of what follows the checksum · u32 CRC-32C of it ·
//	u16 path length · path (relative to Dir) · u64 offset · record bytes
//
// little-endian; a frame cut short or failing its checksum ends the
// journal (a crash while the group was written: none of it was answered).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jagadesa/jagadesa/internal/fsutil"
)

const (
	journalDir = ".journal"
	// MaxGroupBytes bounds the records one journal write carries.
	maxGroupBytes = 8 << 20
	maxGroup      = 1024
	// openFiles bounds the village files the committer keeps open.
	openFiles = 2048
)

// Tuning of the group commit; the zero values take the defaults.
type Tuning struct {
	// CheckpointEvery is how often the village files are synced and the
	// journal started afresh [15 s].
	CheckpointEvery time.Duration
	// JournalBytes starts a checkpoint early when the journal grows past
	// it [64 MiB].
	JournalBytes int64
	Logger       *slog.Logger
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type appendReq struct {
	rel  string // path relative to Dir
	data []byte
	errc chan error
}

// committer is the archive's single writer.
type committer struct {
	dir    string
	tune   Tuning
	reqs   chan *appendReq
	quit   chan struct{}
	exited chan struct{}
	lock   *os.File // flock on dir/.lock while the archive is open

	// Owned by the committer goroutine.
	gen     uint64   // current journal generation
	journal *os.File // current journal
	jsize   int64
	since   time.Time        // when the current journal began
	sizes   map[string]int64 // village file → its length, as written
	dirs    map[string]bool  // day directories known to exist
	files   map[string]*os.File
	written map[string]bool // files written under the current journal
	failed  []frame         // records whose village-file write failed
	ckpt    chan struct{}   // holds a token while a checkpoint runs
	syncs   atomic.Int64    // journal syncs, one per group
}

// skipFileWrites, set by tests, leaves the village files unwritten after
// the journal sync, as a crash at that moment would.
var skipFileWrites bool

type frame struct {
	rel    string
	offset int64
	data   []byte
}

func journalName(gen uint64) string { return fmt.Sprintf("%016d.wal", gen) }

// startCommitter recovers what an earlier run journalled and starts the
// committer.
func startCommitter(dir string, t Tuning) (*committer, error) {
	if t.CheckpointEvery <= 0 {
		t.CheckpointEvery = 15 * time.Second
	}
	if t.JournalBytes <= 0 {
		t.JournalBytes = 64 << 20
	}
	if t.Logger == nil {
		t.Logger = slog.New(slog.DiscardHandler)
	}
	// Two writers would each append at the offsets they believe are the
	// files' ends and corrupt them: one process per archive directory.
	lock, err := lockDir(dir)
	if err != nil {
		if errors.Is(err, errLocked) {
			return nil, fmt.Errorf("evidence: %s is in use by another process (a second jagadesa serve on the same data or evidence directory?); replicas sharing a volume each need their own --evidence-replica name", dir)
		}
		return nil, fmt.Errorf("evidence: lock: %w", err)
	}
	unlock := func() {
		if lock != nil {
			lock.Close()
		}
	}
	jdir := filepath.Join(dir, journalDir)
	if err := fsutil.MkdirAllDurable(jdir, 0o750); err != nil {
		unlock()
		return nil, err
	}
	last, err := recoverJournals(dir, t.Logger)
	if err != nil {
		unlock()
		return nil, err
	}
	c := &committer{dir: dir, tune: t, reqs: make(chan *appendReq, 4096), quit: make(chan struct{}), exited: make(chan struct{}),
		sizes: map[string]int64{}, dirs: map[string]bool{}, files: map[string]*os.File{}, written: map[string]bool{},
		ckpt: make(chan struct{}, 1), lock: lock}
	if err := c.startJournal(last + 1); err != nil {
		unlock()
		return nil, err
	}
	go c.run()
	return c, nil
}

func (c *committer) startJournal(gen uint64) error {
	path := filepath.Join(c.dir, journalDir, journalName(gen))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("evidence: journal: %w", err)
	}
	if err := fsutil.SyncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return fmt.Errorf("evidence: journal: %w", err)
	}
	c.gen, c.journal, c.jsize, c.since = gen, f, 0, time.Now()
	return nil
}

// append hands a record to the committer and waits until it is durable.
func (c *committer) append(rel string, data []byte) error {
	r := &appendReq{rel: rel, data: data, errc: make(chan error, 1)}
	select {
	case <-c.quit:
		return errClosed
	default:
	}
	select {
	case c.reqs <- r:
	case <-c.quit:
		return errClosed
	}
	select {
	case err := <-r.errc:
		return err
	case <-c.exited:
		// Queued after the committer's last look: never written.
		select {
		case err := <-r.errc:
			return err
		default:
			return errClosed
		}
	}
}

var errClosed = errors.New("evidence: archive closed")

func (c *committer) run() {
	defer close(c.exited)
	group := make([]*appendReq, 0, 64)
	var buf []byte
	tick := time.NewTicker(c.tune.CheckpointEvery / 4)
	defer tick.Stop()
	for {
		var first *appendReq
		select {
		case first = <-c.reqs:
		case <-tick.C:
			c.maybeCheckpoint(false)
			continue
		case <-c.quit:
			// Answer what is queued, then make everything durable.
			for {
				select {
				case r := <-c.reqs:
					group, buf = c.commit(append(group[:0], r), buf)
					continue
				default:
				}
				break
			}
			c.finish()
			return
		}
		group = append(group[:0], first)
		n := len(first.data)
	gather:
		for len(group) < maxGroup && n < maxGroupBytes {
			select {
			case r := <-c.reqs:
				group = append(group, r)
				n += len(r.data)
			default:
				break gather
			}
		}
		group, buf = c.commit(group, buf)
		c.maybeCheckpoint(false)
	}
}

// commit journals the group with one write and one sync, answers it, and
// writes each record into its village file.
func (c *committer) commit(group []*appendReq, buf []byte) ([]*appendReq, []byte) {
	buf = buf[:0]
	frames := make([]frame, 0, len(group))
	ok := group[:0:0]
	for _, r := range group {
		dir := filepath.Dir(r.rel)
		if !c.dirs[dir] {
			// A new day's directory: its name made durable before any
			// record of it is answered.
			if err := fsutil.MkdirAllDurable(filepath.Join(c.dir, dir), 0o750); err != nil {
				r.errc <- fmt.Errorf("evidence: %w", err)
				continue
			}
			c.dirs[dir] = true
		}
		off, err := c.size(r.rel)
		if err != nil {
			r.errc <- err
			continue
		}
		f := frame{rel: r.rel, offset: off, data: r.data}
		buf = appendFrame(buf, f)
		frames = append(frames, f)
		c.sizes[r.rel] = off + int64(len(r.data))
		ok = append(ok, r)
	}
	if len(ok) == 0 {
		return group, buf
	}
	if err := c.writeJournal(buf); err != nil {
		for _, f := range frames { // not written: their offsets are free again
			if c.sizes[f.rel] > f.offset {
				c.sizes[f.rel] = f.offset
			}
		}
		for _, r := range ok {
			r.errc <- err
		}
		return group, buf
	}
	// Into the village files (unsynced: the journal is the durable copy)
	// before the answers, so that a batch once answered can be read back
	// from its file, as jagadesa verify and the evidence packs do.
	for _, f := range frames {
		if skipFileWrites {
			continue
		}
		if err := c.writeRecord(f); err != nil {
			// Journalled, so not lost: the checkpoint writes it again and
			// keeps the journal until that works.
			c.tune.Logger.Error("evidence: writing a journalled record into its file failed; will retry", "file", f.rel, "err", err)
			c.failed = append(c.failed, f)
		}
		c.written[f.rel] = true
	}
	for _, r := range ok {
		r.errc <- nil
	}
	return group, buf
}

func (c *committer) writeJournal(buf []byte) error {
	if c.journal == nil {
		if err := c.startJournal(c.gen + 1); err != nil {
			return err
		}
	}
	_, err := c.journal.Write(buf)
	if err == nil {
		if err = fdatasync(c.journal); err == nil {
			c.syncs.Add(1)
			c.jsize += int64(len(buf))
			return nil
		}
	}
	// Part of the group may be in the journal, and after a failed sync
	// the kernel may have dropped its pages: no later frame may follow
	// that tail. The whole frames before it are kept (replayed at the
	// next start); the next group goes to a new journal.
	c.tune.Logger.Error("evidence: journal write failed; starting a new journal", "journal", journalName(c.gen), "err", err)
	c.journal.Close()
	c.journal = nil
	if serr := c.startJournal(c.gen + 1); serr != nil {
		c.tune.Logger.Error("evidence: cannot start a new journal", "err", serr)
	}
	return fmt.Errorf("evidence: journal: %w", err)
}

// size is how long a village file is, as the committer has written it.
func (c *committer) size(rel string) (int64, error) {
	if n, ok := c.sizes[rel]; ok {
		return n, nil
	}
	fi, err := os.Stat(filepath.Join(c.dir, rel))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("evidence: %w", err)
	}
	return fi.Size(), nil
}

func (c *committer) writeRecord(f frame) error {
	fh := c.files[f.rel]
	if fh == nil {
		if len(c.files) >= openFiles {
			c.closeFiles()
		}
		var err error
		fh, err = os.OpenFile(filepath.Join(c.dir, f.rel), os.O_WRONLY|os.O_CREATE, 0o640)
		if err != nil {
			return err
		}
		c.files[f.rel] = fh
	}
	_, err := fh.WriteAt(f.data, f.offset)
	return err
}

func (c *committer) closeFiles() {
	for k, fh := range c.files {
		fh.Close()
		delete(c.files, k)
	}
}

// maybeCheckpoint starts a checkpoint when the journal is old or large
// enough and none is running; wait makes it synchronous (at close).
func (c *committer) maybeCheckpoint(wait bool) {
	if c.jsize == 0 && len(c.failed) == 0 {
		c.since = time.Now()
		return
	}
	if !wait && time.Since(c.since) < c.tune.CheckpointEvery && c.jsize < c.tune.JournalBytes {
		return
	}
	select {
	case c.ckpt <- struct{}{}:
	default:
		if !wait {
			return // the last one is still running: keep this journal going
		}
		c.ckpt <- struct{}{}
	}
	if c.journal == nil {
		<-c.ckpt
		return
	}
	old, oldGen := c.journal, c.gen
	failed, written := c.failed, c.written
	c.failed, c.written = nil, map[string]bool{}
	if err := c.startJournal(c.gen + 1); err != nil {
		// Keep writing to the old journal; try again later.
		c.tune.Logger.Error("evidence: cannot start a new journal", "err", err)
		c.failed = append(failed, c.failed...)
		for k := range written {
			c.written[k] = true
		}
		<-c.ckpt
		return
	}
	// The committer's open files are closed from time to time so a
	// pruned day is not written through an old descriptor.
	c.closeFiles()
	run := func() {
		defer func() { <-c.ckpt }()
		if err := c.checkpoint(old, oldGen, failed, written); err != nil {
			c.tune.Logger.Error("evidence: checkpoint failed; the journal is kept and replayed at start", "journal", journalName(oldGen), "err", err)
		}
	}
	if wait {
		run()
	} else {
		go run()
	}
}

// checkpoint makes the village files written under an old journal durable
// and removes it.
func (c *committer) checkpoint(old *os.File, gen uint64, failed []frame, written map[string]bool) error {
	defer old.Close()
	for _, f := range failed {
		if err := writeAt(c.dir, f); err != nil {
			return err
		}
	}
	if err := syncWritten(c.dir, old, written); err != nil {
		return err
	}
	return fsutil.RemoveDurable(filepath.Join(c.dir, journalDir, journalName(gen)))
}

func writeAt(dir string, f frame) error {
	fh, err := os.OpenFile(filepath.Join(dir, f.rel), os.O_WRONLY|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	_, err = fh.WriteAt(f.data, f.offset)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncEach syncs each written file and the directories they are in: the
// portable way of syncWritten.
func syncEach(dir string, written map[string]bool) error {
	dirs := map[string]bool{}
	for rel := range written {
		fh, err := os.OpenFile(filepath.Join(dir, rel), os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		err = fh.Sync()
		fh.Close()
		if err != nil {
			return err
		}
		dirs[filepath.Dir(rel)] = true
	}
	for d := range dirs {
		if err := fsutil.SyncDir(filepath.Join(dir, d)); err != nil {
			return err
		}
	}
	return nil
}

// finish checkpoints everything and stops.
func (c *committer) finish() {
	c.maybeCheckpoint(true)
	c.closeFiles()
	// The last, empty journal stays: the next start numbers after it.
	if c.journal != nil {
		c.journal.Close()
	}
	if c.lock != nil {
		c.lock.Close()
	}
}

// errLocked is lockDir's answer when another process holds the archive.
var errLocked = errors.New("locked")

func (c *committer) close() {
	select {
	case <-c.quit:
	default:
		close(c.quit)
	}
	<-c.exited
}

func appendFrame(buf []byte, f frame) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, 8)...)
	buf = binary.LittleEndian.AppendUint16(buf, uint16(len(f.rel)))
	buf = append(buf, f.rel...)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(f.offset))
	buf = append(buf, f.data...)
	body := buf[start+8:]
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(body, castagnoli))
	return buf
}

// readFrames decodes a journal; it stops at the first frame cut short or
// failing its checksum.
func readFrames(b []byte, fn func(frame) error) (torn bool, err error) {
	for len(b) > 0 {
		if len(b) < 8 {
			return true, nil
		}
		n := binary.LittleEndian.Uint32(b)
		sum := binary.LittleEndian.Uint32(b[4:])
		if uint64(n) > uint64(len(b)-8) || n < 10 {
			return true, nil
		}
		body := b[8 : 8+n]
		if crc32.Checksum(body, castagnoli) != sum {
			return true, nil
		}
		pl := int(binary.LittleEndian.Uint16(body))
		if 2+pl+8 > len(body) {
			return true, nil
		}
		rel := string(body[2 : 2+pl])
		off := binary.LittleEndian.Uint64(body[2+pl:])
		if !filepath.IsLocal(rel) || strings.HasPrefix(rel, journalDir) || off > 1<<50 {
			return false, fmt.Errorf("evidence: journal names %q at %d: not an archive file", rel, off)
		}
		if err := fn(frame{rel: rel, offset: int64(off), data: body[2+pl+8:]}); err != nil {
			return false, err
		}
		b = b[8+n:]
	}
	return false, nil
}

// recoverJournals writes every record of the journals left by an earlier
// run into its file, syncs those files and removes the journals. It
// returns the highest generation seen (0: none).
func recoverJournals(dir string, log *slog.Logger) (uint64, error) {
	jdir := filepath.Join(dir, journalDir)
	entries, err := os.ReadDir(jdir)
	if err != nil {
		return 0, fmt.Errorf("evidence: journal: %w", err)
	}
	var gens []uint64
	for _, e := range entries {
		g, err := strconv.ParseUint(strings.TrimSuffix(e.Name(), ".wal"), 10, 64)
		if err == nil && strings.HasSuffix(e.Name(), ".wal") {
			gens = append(gens, g)
		}
	}
	sort.Slice(gens, func(i, j int) bool { return gens[i] < gens[j] })
	var last uint64
	for _, g := range gens {
		last = g
		path := filepath.Join(jdir, journalName(g))
		b, err := os.ReadFile(path)
		if err != nil {
			return 0, fmt.Errorf("evidence: journal: %w", err)
		}
		written := map[string]bool{}
		n := 0
		torn, err := readFrames(b, func(f frame) error {
			if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(f.rel)), 0o750); err != nil {
				return err
			}
			written[f.rel] = true
			n++
			return writeAt(dir, f)
		})
		if err != nil {
			return 0, fmt.Errorf("evidence: recovering %s: %w", path, err)
		}
		if err := syncEach(dir, written); err != nil {
			return 0, fmt.Errorf("evidence: recovering %s: %w", path, err)
		}
		if n > 0 || torn {
			log.Info("evidence: journal replayed", "journal", journalName(g), "records", n, "torn_tail", torn)
		}
		if err := fsutil.RemoveDurable(path); err != nil {
			return 0, fmt.Errorf("evidence: journal: %w", err)
		}
	}
	return last, nil
}
