// Package evidence keeps every signed batch the server accepts, byte for
// byte with its signature, so that a measurement stored in InfluxDB can
// later be shown to be exactly what a village's probe sent — in a dispute
// with an ISP, say — by anyone holding the probe's public key.
//
// Batches are kept under the data directory, one file per village per UTC
// day: evidence/<YYYY-MM-DD>/<village>.jsonl.gz. Uncompressed, a file is a
// header line and a body per batch:
//
//	{"received":"…","probe":"p-…",…,"signature":"…","body_bytes":1297}
//	<exactly body_bytes bytes: the report as signed>
//
// each body followed by a newline. On disk these are gzip members: the
// header line in one, the body in the next — the probe's own gzip member
// as it came over the wire, so the server never compresses a batch again —
// and the newline in a third. zcat reads the files as they are. Each batch
// is synced — in a journal shared by all the batches arriving together
// (journal.go) — before the server answers the probe, so a crash loses no
// accepted batch: the next start writes the journalled batches into their
// files. A file cut short outside that protocol (a copy, a full disk) is
// reported as torn, and every batch before the cut still reads.
package evidence

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	kgzip "github.com/klauspost/compress/gzip"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/internal/fsutil"
)

// Record is one accepted batch.
type Record struct {
	Received  time.Time `json:"received"`
	Probe     string    `json:"probe"`
	Village   string    `json:"village"`
	Stream    string    `json:"stream,omitempty"`
	FirstSeq  uint64    `json:"first_seq"`
	LastSeq   uint64    `json:"last_seq"`
	KeyID     string    `json:"key_id"`
	Signature string    `json:"signature"` // base64, over Body
	BodyBytes int       `json:"body_bytes"`
	// Body is the report exactly as the probe signed it (the request body
	// after gzip is undone). It follows the header line in the file.
	Body []byte `json:"-"`
}

// Verify checks the record's signature with a public key.
func (r *Record) Verify(pub ed25519.PublicKey) error {
	if id := jagadesa.KeyID(pub); r.KeyID != "" && r.KeyID != id {
		return fmt.Errorf("record was signed with key %s, not %s", r.KeyID, id)
	}
	return jagadesa.VerifyReport(pub, r.Body, r.Signature)
}

// Report decodes the batch the record holds.
func (r *Record) Report() (*jagadesa.Report, error) {
	var rep jagadesa.Report
	if err := json.Unmarshal(r.Body, &rep); err != nil {
		return nil, fmt.Errorf("evidence body: %w", err)
	}
	return &rep, nil
}

// Archive appends records under Dir. An Archive made with New or Open
// writes; one made as a literal (Archive{Dir: …}) only reads.
type Archive struct {
	Dir string
	// Shared, when set, is a volume that several replicas write under,
	// each into its own Dir, Shared/<replica>: reads (Batches, Files)
	// cover every replica's directory, so a pack holds every batch any
	// replica accepted. Each replica writes and prunes only its own.
	Shared string

	c *committer
}

// OpenShared opens the archive of the replica named name under root, a
// volume the replicas share (see Archive.Shared).
func OpenShared(root, name string, t Tuning) (*Archive, error) {
	if !ValidReplicaName(name) {
		return nil, fmt.Errorf("evidence: replica name %q: want a lower-case letter, then up to 31 lower-case letters, digits or hyphens", name)
	}
	entries, err := os.ReadDir(root)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	for _, e := range entries {
		if _, err := time.Parse("2006-01-02", e.Name()); err == nil || e.Name() == journalDir {
			return nil, fmt.Errorf("evidence: %s holds one server's archive (%s); move its contents into %s before the replicas share it",
				root, e.Name(), filepath.Join(root, name))
		}
	}
	a, err := Open(filepath.Join(root, name), t)
	if err != nil {
		return nil, err
	}
	a.Shared = root
	return a, nil
}

// ValidReplicaName says whether s may name a replica's directory of a
// shared archive: never a day's name, so neither layout is taken for the
// other.
func ValidReplicaName(s string) bool {
	if len(s) == 0 || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// dirs are the directories a read covers: the archive's own, or every
// replica's of a shared one.
func (a *Archive) dirs() ([]string, error) {
	if a.Shared == "" {
		return []string{a.Dir}, nil
	}
	entries, err := os.ReadDir(a.Shared)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && ValidReplicaName(e.Name()) {
			out = append(out, filepath.Join(a.Shared, e.Name()))
		}
	}
	return out, nil
}

// New returns an archive under dir, creating it, with the default group
// commit tuning.
func New(dir string) (*Archive, error) { return Open(dir, Tuning{}) }

// Open returns an archive under dir, creating it. Records journalled but
// not yet in their files when an earlier run stopped (a crash) are written
// into them first.
func Open(dir string, t Tuning) (*Archive, error) {
	if err := fsutil.MkdirAllDurable(dir, 0o750); err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	c, err := startCommitter(dir, t)
	if err != nil {
		return nil, err
	}
	return &Archive{Dir: dir, c: c}, nil
}

// Close answers the appends already queued, makes every record durable in
// its file and stops the archive; later appends fail.
func (a *Archive) Close() error {
	if a.c != nil {
		a.c.close()
	}
	return nil
}

// Path is the file a village's records of a day go to.
func (a *Archive) Path(village string, day time.Time) string {
	return filepath.Join(a.Dir, a.rel(village, day))
}

func (a *Archive) rel(village string, day time.Time) string {
	return filepath.Join(day.UTC().Format("2006-01-02"), village+".jsonl.gz")
}

var writers = sync.Pool{New: func() any {
	zw, _ := kgzip.NewWriterLevel(nil, kgzip.BestSpeed)
	return zw
}}

// newlineMember is the gzip member that ends each record.
var newlineMember = func() []byte {
	var b bytes.Buffer
	zw, _ := kgzip.NewWriterLevel(&b, kgzip.BestSpeed)
	zw.Write([]byte{'\n'})
	zw.Close()
	return b.Bytes()
}()

// Append stores a record durably: it returns once the record is synced
// (in the journal, with the records of every concurrent Append: see
// journal.go).
// wire, when the probe sent gzip, is the request body as it came: gzip
// that inflates to exactly r.Body, kept as it is; nil compresses r.Body.
func (a *Archive) Append(r *Record, wire []byte) error {
	if !jagadesa.ValidVillageCode(r.Village) {
		return fmt.Errorf("evidence: bad village code %q", r.Village)
	}
	r.BodyBytes = len(r.Body)
	head, err := json.Marshal(r)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	member := func(b []byte) {
		// A gzip writer's state is hundreds of KB: made afresh for each
		// member it was a fifth of the ingest CPU.
		zw := writers.Get().(*kgzip.Writer)
		zw.Reset(&out)
		zw.Write(b)
		zw.Close() // into a bytes.Buffer: cannot fail
		writers.Put(zw)
	}
	member(append(head, '\n'))
	if wire != nil {
		out.Write(wire)
	} else {
		member(r.Body)
	}
	out.Write(newlineMember)

	if a.c == nil {
		return errors.New("evidence: archive opened for reading only")
	}
	return a.c.append(a.rel(r.Village, r.Received), out.Bytes())
}

// ErrTorn marks a file whose last member was cut short (a crash while it
// was written); the records before it are intact.
var ErrTorn = errors.New("evidence: file ends in a torn record")

// MaxBody bounds a body ReadFile accepts (the server takes no larger).
const MaxBody = 64 << 20

// ReadFile calls fn for each record of a file, in order.
func ReadFile(path string, fn func(*Record) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return fmt.Errorf("evidence: %s: %w", path, err)
	}
	br := bufio.NewReaderSize(zr, 64<<10) // members read as one stream
	tornAfter := func(n int) error { return fmt.Errorf("%w: %s after %d records", ErrTorn, path, n) }
	for n := 0; ; n++ {
		line, err := br.ReadBytes('\n')
		switch {
		case err == io.EOF && len(line) == 0:
			return nil
		case err == io.EOF || torn(err):
			return tornAfter(n)
		case err != nil:
			return fmt.Errorf("evidence: %s: %w", path, err)
		}
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			return fmt.Errorf("evidence: %s: record %d: %w", path, n+1, err)
		}
		if r.BodyBytes < 0 || r.BodyBytes > MaxBody {
			return fmt.Errorf("evidence: %s: record %d: body of %d bytes", path, n+1, r.BodyBytes)
		}
		r.Body = make([]byte, r.BodyBytes)
		if _, err := io.ReadFull(br, r.Body); err != nil {
			if err == io.EOF || torn(err) {
				return tornAfter(n)
			}
			return fmt.Errorf("evidence: %s: record %d: %w", path, n+1, err)
		}
		if nl, err := br.ReadByte(); err != nil {
			return tornAfter(n)
		} else if nl != '\n' {
			return fmt.Errorf("evidence: %s: record %d: body longer than its body_bytes", path, n+1)
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
}

// Files lists the archive's files, oldest day first, optionally only one
// village's.
func (a *Archive) Files(village string) ([]string, error) {
	dirs, err := a.dirs()
	if err != nil {
		return nil, err
	}
	name := "*.jsonl.gz"
	if village != "" {
		name = village + ".jsonl.gz"
	}
	var all []string
	for _, d := range dirs {
		m, err := filepath.Glob(filepath.Join(d, "*", name))
		if err != nil {
			return nil, err
		}
		all = append(all, m...)
	}
	// By day, then by replica and name.
	day := func(p string) string { return filepath.Base(filepath.Dir(p)) }
	sort.Slice(all, func(i, j int) bool {
		if di, dj := day(all[i]), day(all[j]); di != dj {
			return di < dj
		}
		return all[i] < all[j]
	})
	return all, nil
}

func torn(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, gzip.ErrChecksum)
}

// Prune removes the day directories older than keep before now (by their
// names, UTC days) and returns how many it removed. Stored batches are the
// operator's records: nothing is pruned unless the operator asks
// (jagadesa serve --evidence-days).
func (a *Archive) Prune(now time.Time, keep time.Duration) (int, error) {
	entries, err := os.ReadDir(a.Dir)
	if err != nil {
		return 0, fmt.Errorf("evidence: %w", err)
	}
	cutoff := now.UTC().Add(-keep).Truncate(24 * time.Hour)
	n := 0
	for _, e := range entries {
		day, err := time.Parse("2006-01-02", e.Name())
		if !e.IsDir() || err != nil || !day.Before(cutoff) {
			continue // not ours, or still kept
		}
		if err := os.RemoveAll(filepath.Join(a.Dir, e.Name())); err != nil {
			return n, fmt.Errorf("evidence: prune %s: %w", e.Name(), err)
		}
		n++
	}
	if n > 0 {
		if err := fsutil.SyncDir(a.Dir); err != nil {
			return n, fmt.Errorf("evidence: %w", err)
		}
	}
	return n, nil
}
