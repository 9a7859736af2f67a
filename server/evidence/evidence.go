// Package evidence keeps every signed batch the server accepts, byte for
// byte with its signature, so that a measurement stored in InfluxDB can
// later be shown to be exactly what a village's probe sent — in a dispute
// with an ISP, say — by anyone holding the probe's public key.
//
// Batches are kept under the data directory, one file per village per UTC
// day: evidence/<YYYY-MM-DD>/<village>.jsonl.gz. Each batch is appended as
// its own gzip member holding one JSON line (a Record), and synced before
// the server answers the probe, so a crash loses no accepted batch and
// never leaves half a line: a torn last member fails its gzip checksum and
// is reported as such, while every member before it still reads. zcat
// reads the files as they are.
package evidence

import (
	"bufio"
	"compress/gzip"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jagadesa/jagadesa"
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
	// Body is the report exactly as the probe signed it (the request body
	// after gzip is undone). On disk it is the JSON string "body" — the
	// report's own JSON, readable with zcat | jq -j .body, and a third
	// smaller after gzip than base64 — or "body_b64" for the rare body that
	// is not valid UTF-8, which a JSON string could not carry exactly.
	Body []byte `json:"-"`
}

// recordFile is a Record as a line of a file.
type recordFile struct {
	record
	Body    *string `json:"body,omitempty"`
	BodyB64 []byte  `json:"body_b64,omitempty"`
}

type record Record // without the methods, so no recursion

// MarshalJSON writes the body as a string when that is exact.
func (r Record) MarshalJSON() ([]byte, error) {
	f := recordFile{record: record(r)}
	if utf8.Valid(r.Body) {
		s := string(r.Body)
		f.Body = &s
	} else {
		f.BodyB64 = r.Body
	}
	return json.Marshal(f)
}

// UnmarshalJSON reads either form of the body.
func (r *Record) UnmarshalJSON(b []byte) error {
	var f recordFile
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*r = Record(f.record)
	switch {
	case f.Body != nil:
		r.Body = []byte(*f.Body)
	default:
		r.Body = f.BodyB64
	}
	return nil
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

// Archive appends records under Dir.
type Archive struct {
	Dir string

	mu    sync.Mutex
	locks map[string]*sync.Mutex // one per file: appends to a file never interleave
}

// New returns an archive under dir, creating it.
func New(dir string) (*Archive, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	return &Archive{Dir: dir, locks: map[string]*sync.Mutex{}}, nil
}

// Path is the file a village's records of a day go to.
func (a *Archive) Path(village string, day time.Time) string {
	return filepath.Join(a.Dir, day.UTC().Format("2006-01-02"), village+".jsonl.gz")
}

func (a *Archive) lock(path string) *sync.Mutex {
	a.mu.Lock()
	defer a.mu.Unlock()
	l := a.locks[path]
	if l == nil {
		l = new(sync.Mutex)
		a.locks[path] = l
	}
	return l
}

// Append stores a record durably: it returns once the record is synced.
func (a *Archive) Append(r *Record) error {
	if !jagadesa.ValidVillageCode(r.Village) {
		return fmt.Errorf("evidence: bad village code %q", r.Village)
	}
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	var member strings.Builder
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestSpeed)
	zw.Write(line)
	zw.Write([]byte{'\n'})
	if err := zw.Close(); err != nil {
		return err
	}
	path := a.Path(r.Village, r.Received)
	l := a.lock(path)
	l.Lock()
	defer l.Unlock()
	dir := filepath.Dir(path)
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	if statErr != nil { // a new day's directory: make its entry durable
		if err := syncDir(a.Dir); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	info, _ := f.Stat()
	fresh := info != nil && info.Size() == 0
	if _, err := f.WriteString(member.String()); err != nil {
		f.Close()
		return fmt.Errorf("evidence: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("evidence: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	if fresh {
		return syncDir(dir)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("evidence: sync %s: %w", dir, err)
	}
	return nil
}

// ErrTorn marks a file whose last member was cut short (a crash while it
// was written); the records before it are intact.
var ErrTorn = errors.New("evidence: file ends in a torn record")

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
	// Members read as one stream; a record never spans members, so lines
	// are records.
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	n := 0
	for sc.Scan() {
		n++
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			if !sc.Scan() && torn(sc.Err()) { // the cut-off last record
				return fmt.Errorf("%w: %s after %d records", ErrTorn, path, n-1)
			}
			return fmt.Errorf("evidence: %s: record %d: %w", path, n, err)
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if torn(err) {
			return fmt.Errorf("%w: %s after %d records", ErrTorn, path, n)
		}
		return fmt.Errorf("evidence: %s: %w", path, err)
	}
	return nil
}

// Files lists the archive's files, oldest day first, optionally only one
// village's.
func (a *Archive) Files(village string) ([]string, error) {
	pattern := filepath.Join(a.Dir, "*", "*.jsonl.gz")
	if village != "" {
		pattern = filepath.Join(a.Dir, "*", village+".jsonl.gz")
	}
	m, err := filepath.Glob(pattern)
	sort.Strings(m)
	return m, err
}

func torn(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, gzip.ErrChecksum)
}
