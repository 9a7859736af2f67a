package evidence

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/sla"
)

// An evidence pack is one ZIP per village and month for a dispute with an
// ISP: the signed batches behind the month's figures exactly as they were
// received, the probes' public keys, the SLA result with its outages and
// its arithmetic, and the steps (and a script) to check every signature
// with OpenSSL alone. docs/evidence-pack.md describes its layout.
//
// The same inputs give the same bytes: members in a fixed order, a fixed
// modification time (the month's end, or Pack.GeneratedAt), no extra
// fields, Deflate at a fixed level. The ZIP is written as it is made, to
// any io.Writer; only one UTC day of the village's batches is held in
// memory at a time.

// Limits of a pack unless Pack says otherwise. A month of one probe at one
// batch a minute is at most 44,640 batches of about 1.4 KB: a pack of
// about 55 MB, made holding about 0.5 KB of memory per batch (and one UTC
// day of batches). The limits leave room for two probes all month.
const (
	DefaultMaxBatches   = 100_000
	DefaultMaxBodyBytes = 256 << 20
)

// PackLevel is the Deflate level of every compressed member. Part of the
// reproducibility promise: change it and every pack's bytes change.
const PackLevel = flate.BestCompression

// ErrTooLarge is returned, before anything is written, when a pack would
// exceed its limits.
var ErrTooLarge = errors.New("evidence pack: too large")

// Source yields records: one UTC day of Received after another, oldest
// first (within a day in any order). A pack reads it twice, so it must
// yield the same records each time; records appended in between (today's
// batches) are ignored.
type Source func(fn func(*Record) error) error

// FromRecords is a Source over records already in memory, in any order.
func FromRecords(rs []Record) Source {
	sorted := make([]*Record, len(rs))
	for i := range rs {
		sorted[i] = &rs[i]
	}
	sort.SliceStable(sorted, func(i, j int) bool { return recordLess(sorted[i], sorted[j]) })
	return func(fn func(*Record) error) error {
		for _, r := range sorted {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	}
}

// Batches is the Source of the village's batches that hold a measurement
// in [from, to): a sample or an event timed in it, or a probe's outage
// record overlapping it. It reads the day files in which such a batch can
// have been received: from the day of from − jagadesa.MaxFuture (a probe's
// clock may run ahead) to the day of to + late, where late is how old a
// record the server accepts (its --max-record-age; 0 means
// jagadesa.MaxPast): a probe that was cut off sends its backlog when the
// link is back, often in the next month, and those batches are the
// evidence of the outage. A file's torn tail (a record whose write a crash
// cut short, never acknowledged to the probe) is left out.
func (a *Archive) Batches(village string, from, to time.Time, late time.Duration) Source {
	if late <= 0 {
		late = jagadesa.MaxPast
	}
	first := from.Add(-jagadesa.MaxFuture).UTC().Truncate(24 * time.Hour)
	last := to.Add(late).UTC()
	return func(fn func(*Record) error) error {
		if !jagadesa.ValidVillageCode(village) {
			return fmt.Errorf("evidence: bad village code %q", village)
		}
		dirs, err := a.dirs()
		if err != nil {
			return err
		}
		var day1 []*Record // one day's records of several replicas
		for day := first; !day.After(last); day = day.AddDate(0, 0, 1) {
			day1 = day1[:0]
			for _, dir := range dirs {
				path := filepath.Join(dir, a.rel(village, day))
				err := ReadFile(path, func(r *Record) error {
					ok, err := Covers(r, from, to)
					if err != nil {
						return fmt.Errorf("evidence: %s: batch received %s: %w", path, r.Received.Format(time.RFC3339Nano), err)
					}
					if !ok {
						return nil
					}
					if len(dirs) == 1 {
						return fn(r)
					}
					// ReadFile hands out a record it does not reuse.
					day1 = append(day1, r)
					return nil
				})
				if err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, ErrTorn) {
					return err
				}
			}
			// Each replica's file is in the order it received; together
			// in the order of receipt, as one server's would be.
			sort.SliceStable(day1, func(i, j int) bool { return recordLess(day1[i], day1[j]) })
			for _, r := range day1 {
				if err := fn(r); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

// Covers reports whether a record's batch holds a measurement in
// [from, to): a sample or event timed in it, or an outage the probe
// recorded that overlaps it.
func Covers(r *Record, from, to time.Time) (bool, error) {
	var rep struct {
		Samples []struct {
			T      int64 `json:"t"`
			Outage *struct {
				Start int64 `json:"start_ms"`
				End   int64 `json:"end_ms"`
			} `json:"outage"`
		} `json:"samples"`
		Events []struct {
			T int64 `json:"t"`
		} `json:"events"`
	}
	if err := json.Unmarshal(r.Body, &rep); err != nil {
		return false, fmt.Errorf("body is not a report: %w", err)
	}
	lo, hi := from.UnixMilli(), to.UnixMilli()
	in := func(t int64) bool { return lo <= t && t < hi }
	for _, s := range rep.Samples {
		if in(s.T) || s.Outage != nil && s.Outage.Start < hi && s.Outage.End > lo {
			return true, nil
		}
	}
	for _, e := range rep.Events {
		if in(e.T) {
			return true, nil
		}
	}
	return false, nil
}

// PackSpan is the time whose batches a pack of this SLA result holds: the
// result's month, widened to the whole of every outage touching it (an
// outage crossing the month's start or end is judged on its whole length,
// so its evidence belongs to the pack too).
func PackSpan(res sla.Result) (from, to time.Time) {
	from, to = res.From, res.To
	for _, o := range res.Outages {
		if o.Start.Before(from) {
			from = o.Start
		}
		if o.End.After(to) {
			to = o.End
		}
	}
	return from, to
}

// ProbeKey is a public key that signed batches of the pack. A probe whose
// key was reset during the month (a replaced router) appears once per key.
type ProbeKey struct {
	Probe     string
	PublicKey ed25519.PublicKey
}

// Pack is what one village's evidence pack of one month holds.
type Pack struct {
	Village     string // Kemendagri code
	VillageName string
	// Month is any instant of the month, read in WIB; zero takes SLA's.
	Month time.Time
	// Keys must hold the key of every batch (matched by probe and key ID);
	// keys that signed none of them are left out of the pack.
	Keys []ProbeKey
	// Batches are the village's signed batches behind the month's figures:
	// (*Archive).Batches(village, PackSpan(SLA), maxRecordAge).
	Batches Source
	// SLA is the month's result as the server computed it (sla.Compute):
	// the pack shows it and explains it, it does not compute it.
	SLA sla.Result
	// GeneratedAt is written in pack.json and is every member's
	// modification time. Zero means the month's end, so that the pack
	// depends on nothing but its inputs.
	GeneratedAt time.Time
	// MaxBatches and MaxBodyBytes bound the pack; 0 means the defaults.
	MaxBatches   int
	MaxBodyBytes int64
}

// PackPlan is a pack whose batches have been read once and checked: every
// batch is the village's, has its key, and verifies. Writing it fails only
// on write errors, or if the batches changed in between.
type PackPlan struct {
	p          Pack
	month      string // YYYY-MM
	start, end time.Time
	spanFrom   time.Time
	spanTo     time.Time
	modTime    time.Time
	entries    []packEntry
	keys       []packKey
	bodyBytes  int64
}

type packEntry struct {
	received    time.Time
	probe       string
	stream      string
	first, last uint64
	keyID       string
	signature   string // base64, as received
	bodyBytes   int
	name        string // batches/<…>, without extension
	key         int    // index into keys
	sum         [sha256.Size]byte
	ident       string
}

type packKey struct {
	probe   string
	keyID   string
	pub     ed25519.PublicKey
	file    string
	batches int
}

// Batches is how many batches the pack holds.
func (pl *PackPlan) Batches() int { return len(pl.entries) }

// BodyBytes is the size of the batches the pack holds, uncompressed.
func (pl *PackPlan) BodyBytes() int64 { return pl.bodyBytes }

// FileName is a name for the ZIP: jagadesa-evidence-<village>-<YYYY-MM>.zip.
func (pl *PackPlan) FileName() string {
	return "jagadesa-evidence-" + pl.p.Village + "-" + pl.month + ".zip"
}

// WritePack writes a village's evidence pack of a month to w as a ZIP.
// Anything wrong with the inputs (a batch without its key, one that does
// not verify, a pack over its limits) is reported before the first byte
// is written.
func WritePack(w io.Writer, p Pack) error {
	pl, err := PlanPack(p)
	if err != nil {
		return err
	}
	return pl.Write(w)
}

func recordLess(a, b *Record) bool {
	if !a.Received.Equal(b.Received) {
		return a.Received.Before(b.Received)
	}
	if a.Probe != b.Probe {
		return a.Probe < b.Probe
	}
	if a.Stream != b.Stream {
		return a.Stream < b.Stream
	}
	if a.FirstSeq != b.FirstSeq {
		return a.FirstSeq < b.FirstSeq
	}
	if a.LastSeq != b.LastSeq {
		return a.LastSeq < b.LastSeq
	}
	return a.Signature < b.Signature
}

func (e *packEntry) less(f *packEntry) bool {
	a := Record{Received: e.received, Probe: e.probe, Stream: e.stream, FirstSeq: e.first, LastSeq: e.last, Signature: e.signature}
	b := Record{Received: f.received, Probe: f.probe, Stream: f.stream, FirstSeq: f.first, LastSeq: f.last, Signature: f.signature}
	return recordLess(&a, &b)
}

// identity tells a batch from every other: two records with the same one
// are the same batch archived twice at the same instant.
func identity(r *Record) string {
	return strconv.FormatInt(r.Received.UnixNano(), 10) + " " + r.Probe + " " + r.Signature
}

func utcDay(t time.Time) int64 {
	s := t.Unix()
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return d
}

// PlanPack reads the pack's batches once and checks them, and everything
// else the pack needs, without writing anything.
func PlanPack(p Pack) (*PackPlan, error) {
	if !jagadesa.ValidVillageCode(p.Village) {
		return nil, fmt.Errorf("evidence pack: bad village code %q", p.Village)
	}
	if p.SLA.Month == "" || p.SLA.From.IsZero() {
		return nil, errors.New("evidence pack: the month's SLA result is required")
	}
	if p.Month.IsZero() {
		p.Month = p.SLA.From
	}
	pl := &PackPlan{p: p}
	pl.start, pl.end = sla.MonthRange(p.Month)
	pl.month = pl.start.Format("2006-01")
	if p.SLA.Month != pl.month || p.SLA.Code != p.Village {
		return nil, fmt.Errorf("evidence pack: the SLA result is for %s in %s, not %s in %s", p.SLA.Code, p.SLA.Month, p.Village, pl.month)
	}
	if p.Batches == nil {
		return nil, errors.New("evidence pack: no batch source")
	}
	pl.spanFrom, pl.spanTo = PackSpan(p.SLA)
	pl.modTime = p.GeneratedAt
	if pl.modTime.IsZero() {
		pl.modTime = pl.end
	}
	if y := pl.modTime.In(sla.WIB).Year(); y < 1980 || y > 2107 {
		return nil, fmt.Errorf("evidence pack: time %s cannot be a ZIP modification time", pl.modTime)
	}
	maxBatches, maxBytes := p.MaxBatches, p.MaxBodyBytes
	if maxBatches <= 0 {
		maxBatches = DefaultMaxBatches
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBodyBytes
	}

	given := map[string]int{} // probe + " " + key ID → index into p.Keys
	for i, k := range p.Keys {
		if len(k.PublicKey) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("evidence pack: key %d of probe %s has %d bytes", i, k.Probe, len(k.PublicKey))
		}
		if !jagadesa.ValidStream(k.Probe) || k.Probe == "" {
			return nil, fmt.Errorf("evidence pack: bad probe id %q", k.Probe)
		}
		given[k.Probe+" "+jagadesa.KeyID(k.PublicKey)] = i
	}
	used := map[int]int{} // index into p.Keys → index into pl.keys, once used
	keyOf := func(r *Record) (int, error) {
		id := r.KeyID
		if id == "" { // older records: the probe's only key given
			n := 0
			for _, k := range p.Keys {
				if k.Probe == r.Probe {
					id, n = jagadesa.KeyID(k.PublicKey), n+1
				}
			}
			if n != 1 {
				return 0, fmt.Errorf("batch names no key ID, and %d keys of probe %s were given", n, r.Probe)
			}
		}
		i, ok := given[r.Probe+" "+id]
		if !ok {
			return 0, fmt.Errorf("no public key given for probe %s, key %s", r.Probe, id)
		}
		if j, ok := used[i]; ok {
			return j, nil
		}
		k := p.Keys[i]
		pl.keys = append(pl.keys, packKey{probe: k.Probe, keyID: id, pub: k.PublicKey})
		used[i] = len(pl.keys) - 1
		return len(pl.keys) - 1, nil
	}

	lastDay := int64(-1 << 62)
	err := p.Batches(func(r *Record) error {
		where := func(err error) error {
			return fmt.Errorf("evidence pack: batch of probe %s received %s: %w", r.Probe, r.Received.UTC().Format(time.RFC3339Nano), err)
		}
		if r.Village != p.Village {
			return where(fmt.Errorf("it is village %s's", r.Village))
		}
		d := utcDay(r.Received)
		if d < lastDay {
			return where(errors.New("the source is not in day order"))
		}
		lastDay = d
		if r.Probe == "" || !jagadesa.ValidStream(r.Probe) || !jagadesa.ValidStream(r.Stream) {
			return where(errors.New("bad probe or stream id"))
		}
		if len(pl.entries) >= maxBatches {
			return fmt.Errorf("%w: more than %d batches", ErrTooLarge, maxBatches)
		}
		if pl.bodyBytes += int64(len(r.Body)); pl.bodyBytes > maxBytes {
			return fmt.Errorf("%w: more than %d bytes of batches", ErrTooLarge, maxBytes)
		}
		k, err := keyOf(r)
		if err != nil {
			return where(err)
		}
		if err := jagadesa.VerifyReport(pl.keys[k].pub, r.Body, r.Signature); err != nil {
			return where(err)
		}
		pl.keys[k].batches++
		pl.entries = append(pl.entries, packEntry{received: r.Received.UTC(), probe: r.Probe, stream: r.Stream,
			first: r.FirstSeq, last: r.LastSeq, keyID: pl.keys[k].keyID, signature: strings.TrimSpace(r.Signature),
			bodyBytes: len(r.Body), key: k, sum: sha256.Sum256(r.Body), ident: identity(r)})
		return nil
	})
	if err != nil {
		return nil, err
	}

	// Key files, named by probe and key ID, in name order; entries point
	// at them by their new index.
	order := make([]int, len(pl.keys))
	for i := range order {
		order[i] = i
	}
	for i := range pl.keys {
		pl.keys[i].file = "keys/" + pl.keys[i].probe + "_" + pl.keys[i].keyID + ".pem"
	}
	sort.Slice(order, func(a, b int) bool { return pl.keys[order[a]].file < pl.keys[order[b]].file })
	newIndex := make([]int, len(pl.keys))
	keys := make([]packKey, len(pl.keys))
	for n, old := range order {
		keys[n] = pl.keys[old]
		newIndex[old] = n
	}
	pl.keys = keys

	sort.SliceStable(pl.entries, func(i, j int) bool { return pl.entries[i].less(&pl.entries[j]) })
	names := map[string]bool{}
	for i := range pl.entries {
		e := &pl.entries[i]
		e.key = newIndex[e.key]
		base := "batches/" + e.received.Format("20060102T150405.000Z") + "_" + e.probe + "_" +
			strconv.FormatUint(e.first, 10) + "-" + strconv.FormatUint(e.last, 10)
		e.name = base
		for n := 2; names[e.name]; n++ {
			e.name = base + "_" + strconv.Itoa(n)
		}
		names[e.name] = true
	}
	return pl, nil
}

// Write writes the pack as a ZIP. Its batches are read again, one UTC day
// at a time; each must be the one the plan checked, byte for byte.
func (pl *PackPlan) Write(w io.Writer) error {
	pw := &packWriter{zw: zip.NewWriter(w), mod: pl.modTime}
	pw.zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, PackLevel)
	})
	var err error
	if pw.fl, err = flate.NewWriter(io.Discard, PackLevel); err != nil {
		return err
	}

	steps := []struct {
		name string
		mode fs.FileMode
		data func() ([]byte, error)
	}{
		{"VERIFIKASI.txt", 0o644, func() ([]byte, error) { return pl.verifyText(true), nil }},
		{"VERIFY.txt", 0o644, func() ([]byte, error) { return pl.verifyText(false), nil }},
		{"verify.sh", 0o755, func() ([]byte, error) { return []byte(verifyScript), nil }},
		{"pack.json", 0o644, pl.packJSON},
	}
	for _, s := range steps {
		b, err := s.data()
		if err != nil {
			return err
		}
		if err := pw.put(s.name, s.mode, b); err != nil {
			return err
		}
	}
	for _, k := range pl.keys {
		if err := pw.put(k.file, 0o644, []byte(jagadesa.PublicKeyPEM(k.pub))); err != nil {
			return err
		}
	}
	result, err := json.MarshalIndent(pl.p.SLA, "", "  ")
	if err != nil {
		return fmt.Errorf("evidence pack: SLA result: %w", err)
	}
	for _, m := range []struct {
		name string
		data []byte
	}{
		{"sla/computation.txt", pl.computationText()},
		{"sla/outages.csv", pl.outagesCSV()},
		{"sla/result.json", append(result, '\n')},
	} {
		if err := pw.put(m.name, 0o644, m.data); err != nil {
			return err
		}
	}
	if err := pw.stream("batches.csv", 0o644, pl.writeBatchesCSV); err != nil {
		return err
	}
	if err := pl.writeBatches(pw); err != nil {
		return err
	}
	if err := pw.stream("SHA256SUMS", 0o644, func(out io.Writer) error {
		_, err := out.Write(pw.sums.Bytes())
		return err
	}); err != nil {
		return err
	}
	return pw.zw.Close()
}

// writeBatches reads the batches again, a UTC day at a time, puts each
// day in the plan's order and writes its members.
func (pl *PackPlan) writeBatches(pw *packWriter) error {
	index := make(map[string][]int, len(pl.entries))
	for i := range pl.entries {
		id := pl.entries[i].ident
		index[id] = append(index[id], i)
	}
	next := 0 // the next entry to write
	var day []*Record
	dayNo := int64(-1 << 62)
	flush := func() error {
		sort.SliceStable(day, func(i, j int) bool { return recordLess(day[i], day[j]) })
		for _, r := range day {
			e := &pl.entries[next]
			if identity(r) != e.ident || sha256.Sum256(r.Body) != e.sum {
				return fmt.Errorf("evidence pack: the batches changed while the pack was written (at %s)", e.name)
			}
			sig, err := base64.StdEncoding.DecodeString(e.signature)
			if err != nil {
				return err
			}
			if err := pw.put(e.name+".json", 0o644, r.Body); err != nil {
				return err
			}
			if err := pw.put(e.name+".sig", 0o644, sig); err != nil {
				return err
			}
			next++
		}
		day = day[:0]
		return nil
	}
	err := pl.p.Batches(func(r *Record) error {
		id := identity(r)
		if len(index[id]) == 0 {
			return nil // appended after the plan was made
		}
		index[id] = index[id][1:]
		if d := utcDay(r.Received); d != dayNo {
			if d < dayNo {
				return errors.New("evidence pack: the source is not in day order")
			}
			if err := flush(); err != nil {
				return err
			}
			dayNo = d
		}
		c := *r
		c.Body = append([]byte(nil), r.Body...)
		day = append(day, &c)
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil && next != len(pl.entries) {
		err = fmt.Errorf("evidence pack: %d of %d batches are gone since the pack was planned", len(pl.entries)-next, len(pl.entries))
	}
	return err
}

func (pl *PackPlan) writeBatchesCSV(out io.Writer) error {
	var b bytes.Buffer
	b.WriteString(batchesCSVHeader + "\n")
	for i := range pl.entries {
		e := &pl.entries[i]
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%d,%d,%s,%d,%s\n", e.name, pl.keys[e.key].file,
			e.received.Format(time.RFC3339Nano), e.probe, e.stream, e.first, e.last, e.keyID, e.bodyBytes, e.signature)
		if b.Len() > 64<<10 {
			if _, err := out.Write(b.Bytes()); err != nil {
				return err
			}
			b.Reset()
		}
	}
	_, err := out.Write(b.Bytes())
	return err
}

const batchesCSVHeader = "batch,key_file,received_utc,probe,stream,first_seq,last_seq,key_id,body_bytes,signature_base64"

type packJSON struct {
	Format      string    `json:"format"`
	Village     string    `json:"village"`
	VillageName string    `json:"village_name,omitempty"`
	Month       string    `json:"month"`
	MonthFrom   time.Time `json:"month_from"`
	MonthTo     time.Time `json:"month_to"`
	// The batches are those with a measurement in [SpanFrom, SpanTo).
	SpanFrom      time.Time     `json:"span_from"`
	SpanTo        time.Time     `json:"span_to"`
	GeneratedAt   time.Time     `json:"generated_at"`
	Batches       int           `json:"batches"`
	BodyBytes     int64         `json:"body_bytes"`
	FirstReceived *time.Time    `json:"first_received,omitempty"`
	LastReceived  *time.Time    `json:"last_received,omitempty"`
	Keys          []packKeyJSON `json:"keys"`
}

type packKeyJSON struct {
	Probe     string `json:"probe"`
	KeyID     string `json:"key_id"`
	PublicKey string `json:"public_key"` // base64, as jagadesa-probe keygen prints it
	File      string `json:"file"`
	Batches   int    `json:"batches"`
}

// PackFormat names the layout; a change to it gets a new number.
const PackFormat = "jagadesa-evidence-pack/1"

func (pl *PackPlan) packJSON() ([]byte, error) {
	j := packJSON{Format: PackFormat, Village: pl.p.Village, VillageName: pl.p.VillageName, Month: pl.month,
		MonthFrom: pl.start, MonthTo: pl.end, SpanFrom: pl.spanFrom.In(sla.WIB), SpanTo: pl.spanTo.In(sla.WIB),
		GeneratedAt: pl.modTime.In(sla.WIB), Batches: len(pl.entries), BodyBytes: pl.bodyBytes, Keys: []packKeyJSON{}}
	if n := len(pl.entries); n > 0 {
		j.FirstReceived, j.LastReceived = &pl.entries[0].received, &pl.entries[n-1].received
	}
	for _, k := range pl.keys {
		j.Keys = append(j.Keys, packKeyJSON{Probe: k.probe, KeyID: k.keyID, PublicKey: jagadesa.FormatPublicKey(k.pub), File: k.file, Batches: k.batches})
	}
	b, err := json.MarshalIndent(j, "", "  ")
	return append(b, '\n'), err
}

// packWriter adds members to the ZIP and keeps their SHA-256 sums.
type packWriter struct {
	zw   *zip.Writer
	mod  time.Time
	fl   *flate.Writer
	buf  bytes.Buffer
	sums bytes.Buffer // SHA256SUMS, as sha256sum -c reads it
}

func (pw *packWriter) header(name string, mode fs.FileMode) *zip.FileHeader {
	fh := &zip.FileHeader{Name: name}
	fh.SetMode(mode) // Unix permissions: verify.sh executable
	// The MS-DOS time alone (WIB wall clock, two-second steps): setting
	// Modified would add an extended-timestamp extra field.
	t := pw.mod.In(sla.WIB)
	fh.ModifiedDate = uint16(t.Day() + int(t.Month())<<5 + (t.Year()-1980)<<9)
	fh.ModifiedTime = uint16(t.Second()/2 + t.Minute()<<5 + t.Hour()<<11)
	return fh
}

func (pw *packWriter) sum(name string, s []byte) {
	pw.sums.WriteString(hex.EncodeToString(s))
	pw.sums.WriteString("  ")
	pw.sums.WriteString(name)
	pw.sums.WriteByte('\n')
}

// put adds a member whose bytes are at hand, with its sizes and CRC in
// its local header (no data descriptor): deflated, or stored when Deflate
// would not make it smaller.
func (pw *packWriter) put(name string, mode fs.FileMode, data []byte) error {
	fh := pw.header(name, mode)
	fh.CRC32 = crc32.ChecksumIEEE(data)
	fh.UncompressedSize64 = uint64(len(data))
	fh.CreatorVersion |= 20
	fh.ReaderVersion = 20
	pw.buf.Reset()
	pw.fl.Reset(&pw.buf)
	if _, err := pw.fl.Write(data); err != nil {
		return err
	}
	if err := pw.fl.Close(); err != nil {
		return err
	}
	raw := pw.buf.Bytes()
	fh.Method = zip.Deflate
	if len(raw) >= len(data) {
		fh.Method, raw = zip.Store, data
	}
	fh.CompressedSize64 = uint64(len(raw))
	if fh.UncompressedSize64 >= 1<<32-1 || fh.CompressedSize64 >= 1<<32-1 {
		fh.ReaderVersion = 45
	}
	out, err := pw.zw.CreateRaw(fh)
	if err != nil {
		return fmt.Errorf("evidence pack: %w", err)
	}
	if _, err := out.Write(raw); err != nil {
		return err
	}
	s := sha256.Sum256(data)
	pw.sum(name, s[:])
	return nil
}

// stream adds a member written as it is made (Deflate, sizes in a data
// descriptor after it).
func (pw *packWriter) stream(name string, mode fs.FileMode, fn func(io.Writer) error) error {
	fh := pw.header(name, mode)
	fh.Method = zip.Deflate
	out, err := pw.zw.CreateHeader(fh)
	if err != nil {
		return fmt.Errorf("evidence pack: %w", err)
	}
	h := sha256.New()
	if err := fn(io.MultiWriter(out, h)); err != nil {
		return err
	}
	if name != "SHA256SUMS" {
		pw.sum(name, h.Sum(nil))
	}
	return nil
}
