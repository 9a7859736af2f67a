package evidence

import (
	"archive/zip"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/probe/sim"
	"github.com/jagadesa/jagadesa/server/sla"
)

const packVillage = "33.06.08.2007"

// November 2026 in WIB: 30 days, 43200 minutes.
var (
	packStart, packEnd = sla.MonthRange(time.Date(2026, 11, 15, 0, 0, 0, 0, sla.WIB))
)

type signer struct {
	probe, stream string
	key           ed25519.PrivateKey
	seq           uint64
	link          *sim.Link
}

func newSigner(t testing.TB, probe, stream string, seed uint64) *signer {
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &signer{probe: probe, stream: stream, key: key, link: sim.NewLink(packVillage, seed)}
}

func (s *signer) pub() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// batch is one round as a probe sends it: a ping to each of three
// targets and a heartbeat, timed at. Extra samples are added as they are.
func (s *signer) batch(t testing.TB, village string, at, received time.Time, extra ...jagadesa.Sample) Record {
	rep := jagadesa.Report{Version: jagadesa.WireVersion, Probe: s.probe, Village: village, SentAt: received.UnixMilli(), Stream: s.stream}
	first := s.seq + 1
	for _, tg := range sim.Targets {
		smp := s.link.Round(at, tg, 10, true)
		s.seq++
		smp.Seq = s.seq
		rep.Samples = append(rep.Samples, smp)
	}
	s.seq++
	rep.Samples = append(rep.Samples, jagadesa.Sample{Seq: s.seq, TimeMs: at.UnixMilli(), Kind: jagadesa.KindHeartbeat,
		Heartbeat: &jagadesa.Heartbeat{BootID: "b-1", UptimeS: 3600, IntervalS: 60, ProbeVersion: "test"}})
	for _, e := range extra {
		s.seq++
		e.Seq = s.seq
		rep.Samples = append(rep.Samples, e)
	}
	body, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	return Record{Received: received.UTC(), Probe: s.probe, Village: village, Stream: s.stream, FirstSeq: first, LastSeq: s.seq,
		KeyID: jagadesa.KeyID(s.pub()), Signature: jagadesa.SignReport(s.key, body), Body: body}
}

type packFixture struct {
	a       *Archive
	keys    []ProbeKey
	want    map[string][]byte // signature → body, of the batches the pack must hold
	n       int               // how many: one batch is archived twice
	res     sla.Result
	signers []*signer
}

// newPackFixture archives a month of a village whose router was re-flashed
// (same probe, new key) and then replaced (new probe), with batches around
// the month that the pack must leave out, and computes the month's SLA.
func newPackFixture(t testing.TB) *packFixture {
	a, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &packFixture{a: a, want: map[string][]byte{}}
	old := newSigner(t, "p-0a0a0a0a0a0a", "s-old", 1)
	reflashed := newSigner(t, "p-0a0a0a0a0a0a", "s-reflashed", 2)
	replaced := newSigner(t, "p-0b0b0b0b0b0b", "s-new", 3)
	f.signers = []*signer{old, reflashed, replaced}
	for _, s := range f.signers {
		f.keys = append(f.keys, ProbeKey{Probe: s.probe, PublicKey: s.pub()})
	}
	add := func(r Record, wanted bool) {
		t.Helper()
		var wire []byte
		if r.FirstSeq%2 == 0 { // as the probe sends it; the others compressed by the server
			wire = gz(r.Body)
		}
		if err := a.Append(&r, wire); err != nil {
			t.Fatal(err)
		}
		if wanted {
			f.want[r.Signature] = r.Body
			f.n++
		}
	}
	// The month, every six hours, by the three keys in turn.
	for at := packStart; at.Before(packEnd); at = at.Add(6 * time.Hour) {
		s := old
		switch {
		case at.Sub(packStart) >= 20*24*time.Hour:
			s = replaced
		case at.Sub(packStart) >= 10*24*time.Hour:
			s = reflashed
		}
		add(s.batch(t, packVillage, at, at.Add(30*time.Second)), true)
	}
	// The same batch archived twice (a replay after a server crash).
	dup := old.batch(t, packVillage, packStart.Add(3*time.Hour), packStart.Add(3*time.Hour+time.Minute))
	add(dup, true)
	dup.Received = dup.Received.Add(2 * time.Second)
	add(dup, true)
	// The outage across the month's end (23:50 to 00:20 WIB): its samples
	// after midnight belong to the pack, the next morning's do not.
	add(replaced.batch(t, packVillage, packEnd.Add(10*time.Minute), packEnd.Add(10*time.Minute+20*time.Second)), true)
	add(replaced.batch(t, packVillage, packEnd.Add(6*time.Hour), packEnd.Add(6*time.Hour+20*time.Second)), false)
	// The backlog sent the day after the month: the 4-hour outage of the
	// 10th, recorded by the probe, and the month's last hour.
	outage := jagadesa.Sample{TimeMs: packStart.Add(9*24*time.Hour + 12*time.Hour).UnixMilli(), Kind: jagadesa.KindOutage,
		Outage: &jagadesa.Outage{Cause: "link", StartMs: packStart.Add(9*24*time.Hour + 8*time.Hour).UnixMilli(), EndMs: packStart.Add(9*24*time.Hour + 12*time.Hour).UnixMilli()}}
	add(replaced.batch(t, packVillage, packEnd.Add(-time.Hour), packEnd.Add(25*time.Hour)), true)
	backlog := replaced.batch(t, packVillage, packEnd.Add(3*24*time.Hour), packEnd.Add(25*time.Hour+time.Second), outage)
	add(backlog, true) // only its outage record is in the month
	// The month before, and another village's month.
	add(old.batch(t, packVillage, packStart.Add(-6*time.Hour), packStart.Add(-6*time.Hour+30*time.Second)), false)
	other := newSigner(t, "p-0c0c0c0c0c0c", "s-other", 4)
	add(other.batch(t, "33.06.08.2008", packStart.Add(time.Hour), packStart.Add(time.Hour)), false)

	res, err := sla.Compute(sla.Input{
		Village: sla.Village{Code: packVillage, ISP: "PT Contoh"},
		Month:   packStart,
		Timeline: []sla.Interval{
			{Start: packStart, End: packEnd.Add(time.Hour), State: sla.StateUp},
			{Start: packStart.Add(9*24*time.Hour + 8*time.Hour), End: packStart.Add(9*24*time.Hour + 12*time.Hour), State: sla.StateLinkDown},
			{Start: packStart.Add(12 * 24 * time.Hour), End: packStart.Add(12*24*time.Hour + 3*time.Minute), State: sla.StateLinkDown},
			{Start: packStart.Add(15 * 24 * time.Hour), End: packStart.Add(15*24*time.Hour + time.Hour), State: sla.StatePowerCut},
			{Start: packStart.Add(16 * 24 * time.Hour), End: packStart.Add(16*24*time.Hour + 30*time.Minute), State: sla.StateProbeFault},
			{Start: packEnd.Add(-10 * time.Minute), End: packEnd.Add(20 * time.Minute), State: sla.StateLinkDown},
		},
		Contract: sla.Contract{TargetPct: 99.5, MonthlyFeeIDR: 5_000_000},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.res = res
	return f
}

func (f *packFixture) pack() Pack {
	from, to := PackSpan(f.res)
	return Pack{Village: packVillage, VillageName: "Sidomulyo", Month: packStart, Keys: f.keys,
		Batches: f.a.Batches(packVillage, from, to, 0), SLA: f.res}
}

func buildPack(t testing.TB, p Pack) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WritePack(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func unpack(t testing.TB, data []byte, dir string) []*zip.File {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		path := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc) // checks the CRC
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if err := os.WriteFile(path, b, f.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return zr.File
}

func run(dir, name string, args ...string) (string, int) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	case err != nil:
		return err.Error(), -1
	}
	return string(out), 0
}

func needOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed")
	}
	if out, _ := run(".", "openssl", "version"); !strings.HasPrefix(out, "OpenSSL 3") {
		t.Skipf("needs OpenSSL 3: %s", out)
	}
}

func TestPackVerifiesWithOpenSSLAlone(t *testing.T) {
	needOpenSSL(t)
	f := newPackFixture(t)
	data := buildPack(t, f.pack())
	dir := t.TempDir()
	files := unpack(t, data, dir)

	// The layout, in its order.
	var names []string
	for _, zf := range files {
		names = append(names, zf.Name)
	}
	head := []string{"VERIFIKASI.txt", "VERIFY.txt", "verify.sh", "pack.json",
		"keys/p-0a0a0a0a0a0a_" + jagadesa.KeyID(f.keys[0].PublicKey) + ".pem",
		"keys/p-0a0a0a0a0a0a_" + jagadesa.KeyID(f.keys[1].PublicKey) + ".pem",
		"keys/p-0b0b0b0b0b0b_" + jagadesa.KeyID(f.keys[2].PublicKey) + ".pem",
		"sla/computation.txt", "sla/outages.csv", "sla/result.json", "batches.csv"}
	slices.Sort(head[4:7])
	if !slices.Equal(names[:len(head)], head) || names[len(names)-1] != "SHA256SUMS" {
		t.Fatalf("members %v", names[:min(len(names), 14)])
	}
	batchNames := names[len(head) : len(names)-1]
	if len(batchNames) != 2*f.n {
		t.Fatalf("%d batch members, want %d", len(batchNames), 2*f.n)
	}
	for i := 0; i < len(batchNames); i += 2 {
		json, sig := batchNames[i], batchNames[i+1]
		if strings.TrimSuffix(json, ".json") != strings.TrimSuffix(sig, ".sig") || !strings.HasPrefix(json, "batches/") {
			t.Fatalf("pair %s %s", json, sig)
		}
		if i > 0 && json < batchNames[i-2] {
			t.Fatalf("%s sorts before %s", json, batchNames[i-2])
		}
	}
	// Every wanted batch, exactly as received, and nothing else.
	got := 0
	for i := 0; i < len(batchNames); i += 2 {
		body, _ := os.ReadFile(filepath.Join(dir, batchNames[i]))
		sig, _ := os.ReadFile(filepath.Join(dir, batchNames[i+1]))
		want, ok := f.want[base64.StdEncoding.EncodeToString(sig)]
		if !ok || !bytes.Equal(body, want) {
			t.Fatalf("%s is not a wanted batch as received", batchNames[i])
		}
		got++
	}
	if got != f.n {
		t.Fatalf("%d batches, want %d", got, f.n)
	}

	out, code := run(dir, "sh", "verify.sh")
	want := fmt.Sprintf("%d batches verified, 0 failed", f.n)
	if code != 0 || !strings.Contains(out, want) {
		t.Fatalf("verify.sh: exit %d\n%s", code, out)
	}
	if _, err := exec.LookPath("sha256sum"); err == nil {
		if out, code := run(dir, "sha256sum", "-c", "--quiet", "SHA256SUMS"); code != 0 {
			t.Fatalf("sha256sum -c: exit %d\n%s", code, out)
		}
		sums, _ := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
		if n := strings.Count(string(sums), "\n"); n != len(names)-1 {
			t.Fatalf("SHA256SUMS has %d lines for %d members", n, len(names)-1)
		}
	}
	if _, err := exec.LookPath("unzip"); err == nil {
		zipPath := filepath.Join(t.TempDir(), "pack.zip")
		os.WriteFile(zipPath, data, 0o644)
		if out, code := run(dir, "unzip", "-tq", zipPath); code != 0 {
			t.Fatalf("unzip -t: exit %d\n%s", code, out)
		}
	}

	// The steps of VERIFY.txt and VERIFIKASI.txt run as they are written.
	for _, doc := range []string{"VERIFY.txt", "VERIFIKASI.txt"} {
		text, _ := os.ReadFile(filepath.Join(dir, doc))
		var ran int
		for _, line := range strings.Split(string(text), "\n") {
			cmd := strings.TrimSpace(line)
			if !strings.HasPrefix(line, "     ") || !(strings.HasPrefix(cmd, "openssl ") || strings.HasPrefix(cmd, "printf ") || strings.HasPrefix(cmd, "cmp ")) {
				continue
			}
			out, code := run(dir, "sh", "-c", cmd)
			if code != 0 {
				t.Fatalf("%s: %s: exit %d\n%s", doc, cmd, code, out)
			}
			switch {
			case strings.Contains(cmd, "pkeyutl") && !strings.Contains(out, "Signature Verified Successfully"):
				t.Fatalf("%s: %s: %s", doc, cmd, out)
			case strings.Contains(cmd, "dgst") && !strings.Contains(out, jagadesa.KeyID(f.keys[0].PublicKey)):
				t.Fatalf("%s: %s: %s, want key ID %s", doc, cmd, out, jagadesa.KeyID(f.keys[0].PublicKey))
			case strings.Contains(cmd, "base64 -A") && !strings.Contains(out, jagadesa.FormatPublicKey(f.keys[0].PublicKey)):
				t.Fatalf("%s: %s: %s", doc, cmd, out)
			}
			ran++
		}
		if ran != 5 {
			t.Fatalf("%s: ran %d commands, want 5", doc, ran)
		}
	}

	// One byte changed in one batch: verify.sh fails and names it.
	victim := batchNames[len(batchNames)/4*2] // a .json
	path := filepath.Join(dir, victim)
	body, _ := os.ReadFile(path)
	body[len(body)/2] ^= 1
	os.WriteFile(path, body, 0o644)
	out, code = run(dir, "sh", "verify.sh")
	if code != 1 || !strings.Contains(out, "FAIL "+victim) || strings.Count(out, "FAIL") != 1 ||
		!strings.Contains(out, fmt.Sprintf("%d batches verified, 1 failed", f.n-1)) {
		t.Fatalf("after tampering with %s: exit %d\n%s", victim, code, out)
	}
	if _, err := exec.LookPath("sha256sum"); err == nil {
		if out, code := run(dir, "sha256sum", "-c", "--quiet", "SHA256SUMS"); code == 0 || !strings.Contains(out, victim) {
			t.Fatalf("sha256sum -c after tampering: exit %d\n%s", code, out)
		}
	}
	body[len(body)/2] ^= 1
	os.WriteFile(path, body, 0o644)
	// A batch slipped in that batches.csv does not list.
	os.WriteFile(filepath.Join(dir, "batches/20261115T000000.000Z_p-0a0a0a0a0a0a_1-1.json"), []byte("{}"), 0o644)
	if out, code := run(dir, "sh", "verify.sh"); code != 1 || !strings.Contains(out, "batches.csv lists") {
		t.Fatalf("with an unlisted batch: exit %d\n%s", code, out)
	}
	// Run from elsewhere, it still finds its files.
	os.Remove(filepath.Join(dir, "batches/20261115T000000.000Z_p-0a0a0a0a0a0a_1-1.json"))
	if out, code := run(t.TempDir(), "sh", filepath.Join(dir, "verify.sh")); code != 0 {
		t.Fatalf("verify.sh from another directory: exit %d\n%s", code, out)
	}
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestPackIsReproducible(t *testing.T) {
	f := newPackFixture(t)
	first := buildPack(t, f.pack())
	if second := buildPack(t, f.pack()); sum(first) != sum(second) {
		t.Fatal("two packs of the same inputs differ")
	}
	// The archive opened afresh, as the next server process would.
	f.a.Close()
	again, err := New(f.a.Dir)
	if err != nil {
		t.Fatal(err)
	}
	p := f.pack()
	from, to := PackSpan(f.res)
	p.Batches = again.Batches(packVillage, from, to, 0)
	// The keys in another order, and the records as a slice in any order.
	slices.Reverse(p.Keys)
	if third := buildPack(t, p); sum(first) != sum(third) {
		t.Fatal("the pack changed after reopening the archive")
	}
	var rs []Record
	if err := p.Batches(func(r *Record) error { rs = append(rs, *r); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Reverse(rs)
	p.Batches = FromRecords(rs)
	if fourth := buildPack(t, p); sum(first) != sum(fourth) {
		t.Fatal("the pack of the same records in memory differs")
	}

	// Every member: the month's end as its time (00:00 WIB on the 1st),
	// no extra field, sizes in the local header unless streamed.
	zr, err := zip.NewReader(bytes.NewReader(first), int64(len(first)))
	if err != nil {
		t.Fatal(err)
	}
	for _, zf := range zr.File {
		if len(zf.Extra) != 0 || zf.Comment != "" {
			t.Fatalf("%s has extra fields %x", zf.Name, zf.Extra)
		}
		if zf.ModifiedDate != uint16(1+12<<5+(2026-1980)<<9) || zf.ModifiedTime != 0 {
			t.Fatalf("%s: modified %s", zf.Name, zf.ModTime())
		}
		streamed := zf.Name == "batches.csv" || zf.Name == "SHA256SUMS"
		if (zf.Flags&0x8 != 0) != streamed {
			t.Fatalf("%s: flags %#x", zf.Name, zf.Flags)
		}
		mode := os.FileMode(0o644)
		if zf.Name == "verify.sh" {
			mode = 0o755
		}
		if zf.Mode() != mode {
			t.Fatalf("%s: mode %v", zf.Name, zf.Mode())
		}
		if strings.HasSuffix(zf.Name, ".sig") && (zf.Method != zip.Store || zf.UncompressedSize64 != 64) {
			t.Fatalf("%s: method %d, %d bytes", zf.Name, zf.Method, zf.UncompressedSize64)
		}
	}

	// A given time is every member's time, and the pack's.
	p.GeneratedAt = time.Date(2026, 12, 3, 9, 30, 10, 0, time.UTC) // 16:30:10 WIB
	dated := buildPack(t, p)
	zr, _ = zip.NewReader(bytes.NewReader(dated), int64(len(dated)))
	if zf := zr.File[0]; zf.ModifiedDate != uint16(3+12<<5+(2026-1980)<<9) || zf.ModifiedTime != uint16(5+30<<5+16<<11) {
		t.Fatalf("modified %s", zf.ModTime())
	}
	if sum(dated) != sum(buildPack(t, p)) {
		t.Fatal("two packs of the same inputs and time differ")
	}
}

func TestPackTexts(t *testing.T) {
	f := newPackFixture(t)
	dir := t.TempDir()
	unpack(t, buildPack(t, f.pack()), dir)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// November: 43200 minutes; 30 unknown (probe fault); 60 excluded (power
	// cut); counted downtime 240 (the 10th) + 10 (the 30th, 23:50 to
	// midnight, of a 30-minute outage); the 3-minute outage not counted.
	r := f.res
	if r.TotalMin != 43170 || r.ExcludedMin != 60 || r.DowntimeMin != 250 || r.RestitutionIDR == nil || *r.RestitutionIDR != 28935 {
		t.Fatalf("fixture's SLA: T %v E %v D %v restitution %v", r.TotalMin, r.ExcludedMin, r.DowntimeMin, r.RestitutionIDR)
	}
	comp := read("sla/computation.txt")
	for _, want := range []string{
		"PERHITUNGAN SLA: desa Sidomulyo (33.06.08.2007), November 2026",
		"1 November 2026 00.00 WIB s.d. 1 Desember 2026 00.00 WIB (43200 menit kalender)",
		"= 43200 − 30 = 43170",
		"(padam listrik 60, pemeliharaan 0, keadaan kahar 0) = 60",
		"A = (43170 − 60 − 250) / (43170 − 60) × 100% = 42860 / 43110 × 100% = 99,4201%",
		"Target kontrak 99,5000%: TIDAK terpenuhi",
		"= Rp 5.000.000 × 250 ÷ 43200 = Rp 28.935",
		"Gangguan terhitung: 2;", "gangguan pendek (≤ 5 menit, tidak dihitung): 1, 3 menit; padam listrik (dikecualikan): 1.",
		"SLA COMPUTATION: village Sidomulyo (33.06.08.2007), November 2026",
		"A = (43170 − 60 − 250) / (43170 − 60) × 100% = 42860 / 43110 × 100% = 99.4201%",
		"Contract target 99.5000%: NOT met",
		"= IDR 5,000,000 × 250 ÷ 43200 = IDR 28,935",
	} {
		if !strings.Contains(comp, want) {
			t.Errorf("computation.txt lacks %q:\n%s", want, comp)
		}
	}
	if strings.Index(comp, "PERHITUNGAN") > strings.Index(comp, "COMPUTATION") {
		t.Error("Bahasa Indonesia must come first")
	}
	outages := read("sla/outages.csv")
	wantCSV := "start,end,minutes,minutes_in_month,cause,counted,time_to_restore\n" +
		"2026-11-10T08:00:00+07:00,2026-11-10T12:00:00+07:00,240,240,link_down,true,4:00:00\n" +
		"2026-11-13T00:00:00+07:00,2026-11-13T00:03:00+07:00,3,3,link_down,false,0:03:00\n" +
		"2026-11-16T00:00:00+07:00,2026-11-16T01:00:00+07:00,60,60,power_cut,false,\n" +
		"2026-11-30T23:50:00+07:00,2026-12-01T00:20:00+07:00,30,10,link_down,true,0:30:00\n"
	if outages != wantCSV {
		t.Errorf("outages.csv:\n%s\nwant\n%s", outages, wantCSV)
	}
	var res sla.Result
	if err := json.Unmarshal([]byte(read("sla/result.json")), &res); err != nil || res.DowntimeMin != 250 || len(res.Outages) != 4 {
		t.Errorf("result.json: %v %+v", err, res)
	}
	var meta packJSON
	if err := json.Unmarshal([]byte(read("pack.json")), &meta); err != nil {
		t.Fatal(err)
	}
	if meta.Format != PackFormat || meta.Batches != f.n || len(meta.Keys) != 3 || meta.Month != "2026-11" ||
		!meta.SpanTo.Equal(packEnd.Add(20*time.Minute)) || !meta.GeneratedAt.Equal(packEnd) {
		t.Errorf("pack.json %+v", meta)
	}
	for _, doc := range []string{"VERIFY.txt", "VERIFIKASI.txt"} {
		text := read(doc)
		if !strings.Contains(text, "jagadesa-evidence-33.06.08.2007-2026-11.zip") || !strings.Contains(text, "sh verify.sh") {
			t.Errorf("%s:\n%s", doc, text)
		}
	}
	csvText := read("batches.csv")
	if lines := strings.Split(strings.TrimSpace(csvText), "\n"); len(lines) != f.n+1 || lines[0] != batchesCSVHeader {
		t.Errorf("batches.csv: %d lines, header %q", len(lines), lines[0])
	}
}

// A month without a single batch still makes a pack that checks out.
func TestPackWithoutBatches(t *testing.T) {
	needOpenSSL(t)
	res, err := sla.Compute(sla.Input{Village: sla.Village{Code: packVillage}, Month: packStart})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := New(t.TempDir())
	from, to := PackSpan(res)
	dir := t.TempDir()
	files := unpack(t, buildPack(t, Pack{Village: packVillage, SLA: res, Batches: a.Batches(packVillage, from, to, 0)}), dir)
	if len(files) != 9 {
		t.Fatalf("%d members", len(files))
	}
	if out, code := run(dir, "sh", "verify.sh"); code != 0 || !strings.Contains(out, "0 batches verified, 0 failed") {
		t.Fatalf("verify.sh: exit %d\n%s", code, out)
	}
	comp, _ := os.ReadFile(filepath.Join(dir, "sla/computation.txt"))
	if !strings.Contains(string(comp), "A cannot be computed: T − E = 0") {
		t.Fatalf("computation.txt:\n%s", comp)
	}
}

// Whatever is wrong with the inputs is said before anything is written.
func TestPackRefusesBeforeWriting(t *testing.T) {
	f := newPackFixture(t)
	var recs []Record
	base := f.pack()
	if err := base.Batches(func(r *Record) error { recs = append(recs, *r); return nil }); err != nil {
		t.Fatal(err)
	}
	tampered := slices.Clone(recs)
	body := tampered[5].Body
	tampered[5].Body = append(slices.Clone(body[:len(body)-1]), ' ', '}') // the same JSON, not the same bytes
	foreign := slices.Clone(recs)
	foreign[0].Village = "33.06.08.2008"
	cases := map[string]func(p *Pack){
		"a key missing":       func(p *Pack) { p.Keys = p.Keys[1:] },
		"a bad signature":     func(p *Pack) { p.Batches = FromRecords(tampered) },
		"too many batches":    func(p *Pack) { p.MaxBatches = 10 },
		"too many bytes":      func(p *Pack) { p.MaxBodyBytes = 10_000 },
		"another village":     func(p *Pack) { p.Batches = FromRecords(foreign) },
		"another month's SLA": func(p *Pack) { p.Month = packEnd },
		"no SLA":              func(p *Pack) { p.SLA = sla.Result{} },
		"a bad village":       func(p *Pack) { p.Village = "../x" },
		"days out of order": func(p *Pack) {
			p.Batches = func(fn func(*Record) error) error {
				for i := len(recs) - 1; i >= 0; i-- {
					if err := fn(&recs[i]); err != nil {
						return err
					}
				}
				return nil
			}
		},
	}
	for name, change := range cases {
		p := f.pack()
		change(&p)
		var b bytes.Buffer
		err := WritePack(&b, p)
		if err == nil || b.Len() != 0 {
			t.Errorf("%s: err %v, %d bytes written", name, err, b.Len())
		}
		if strings.HasPrefix(name, "too many") != errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A batch archived between reading the batches and writing them (the
// current month) is left out; the pack is still whole and consistent.
func TestPackIgnoresBatchesArchivedMeanwhile(t *testing.T) {
	f := newPackFixture(t)
	pl, err := PlanPack(f.pack())
	if err != nil {
		t.Fatal(err)
	}
	s := f.signers[2]
	at := packStart.Add(25*24*time.Hour + time.Minute)
	late := s.batch(t, packVillage, at, at)
	if err := f.a.Append(&late, nil); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := pl.Write(&b); err != nil {
		t.Fatal(err)
	}
	zr, _ := zip.NewReader(bytes.NewReader(b.Bytes()), int64(b.Len()))
	if n := len(zr.File); n != 12+2*f.n || pl.Batches() != f.n {
		t.Fatalf("%d members for %d batches", n, pl.Batches())
	}
	if _, err := PlanPack(f.pack()); err != nil {
		t.Fatal(err)
	}
	if again, _ := PlanPack(f.pack()); again.Batches() != f.n+1 {
		t.Fatalf("the next pack holds %d batches", again.Batches())
	}
}

// TestPackMonth measures a month of one village at one batch a minute
// (docs/evidence-pack.md): JAGADESA_PACK_MONTH=1 go test -run PackMonth -v
// ./server/evidence. With JAGADESA_PACK_MONTH=verify it also times
// verify.sh over the whole pack.
func TestPackMonth(t *testing.T) {
	mode := os.Getenv("JAGADESA_PACK_MONTH")
	if mode == "" {
		t.Skip("set JAGADESA_PACK_MONTH=1 to measure a month's pack")
	}
	dir := os.Getenv("JAGADESA_PACK_DIR") // e.g. /dev/shm: each append is fsynced
	if dir == "" {
		dir = t.TempDir()
	} else {
		var err error
		if dir, err = os.MkdirTemp(dir, "pack"); err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
	}
	a, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := newSigner(t, "p-0a0a0a0a0a0a", "s-month", 1)
	t0 := time.Now()
	var bodies int64
	for at := packStart; at.Before(packEnd); at = at.Add(time.Minute) {
		r := s.batch(t, packVillage, at, at.Add(20*time.Second))
		bodies += int64(len(r.Body))
		if err := a.Append(&r, gz(r.Body)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("archived 43200 batches, %d bytes of bodies (%.0f a batch), in %v", bodies, float64(bodies)/43200, time.Since(t0))
	res, err := sla.Compute(sla.Input{Village: sla.Village{Code: packVillage}, Month: packStart,
		Timeline: []sla.Interval{{Start: packStart, End: packEnd, State: sla.StateUp}}})
	if err != nil {
		t.Fatal(err)
	}
	from, to := PackSpan(res)
	p := Pack{Village: packVillage, Month: packStart, Keys: []ProbeKey{{Probe: s.probe, PublicKey: s.pub()}},
		Batches: a.Batches(packVillage, from, to, 0), SLA: res}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	peak := make(chan uint64)
	stop := make(chan bool)
	go func() { // the heap's high-water mark while the pack is made
		var m runtime.MemStats
		var hi uint64
		for {
			select {
			case <-stop:
				peak <- hi
				return
			case <-time.After(20 * time.Millisecond):
				runtime.ReadMemStats(&m)
				hi = max(hi, m.HeapAlloc)
			}
		}
	}()
	t0 = time.Now()
	pl, err := PlanPack(p)
	if err != nil {
		t.Fatal(err)
	}
	planned := time.Since(t0)
	runtime.GC()
	var afterPlan runtime.MemStats
	runtime.ReadMemStats(&afterPlan)
	t.Logf("the plan holds %.1f MB", float64(afterPlan.HeapAlloc-min(afterPlan.HeapAlloc, base.HeapAlloc))/1e6)
	out, err := os.Create(filepath.Join(dir, "pack.zip"))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	t1 := time.Now()
	if err := pl.Write(io.MultiWriter(out, h)); err != nil {
		t.Fatal(err)
	}
	written := time.Since(t1)
	stop <- true
	hi := <-peak
	fi, _ := out.Stat()
	out.Close()
	t.Logf("pack of %d batches: %d bytes (%.0f a batch), planned in %v, written in %v; heap at most %.1f MB above %.1f MB",
		pl.Batches(), fi.Size(), float64(fi.Size())/float64(pl.Batches()), planned, written, float64(hi-min(hi, base.HeapAlloc))/1e6, float64(base.HeapAlloc)/1e6)
	if mode != "verify" {
		return
	}
	if _, err := exec.LookPath("unzip"); err != nil {
		t.Skip("no unzip")
	}
	x := filepath.Join(dir, "x")
	t0 = time.Now()
	if out, code := run(dir, "unzip", "-q", "pack.zip", "-d", x); code != 0 {
		t.Fatalf("unzip: %s", out)
	}
	t.Logf("unzip: %v", time.Since(t0))
	t0 = time.Now()
	if out, code := run(x, "sha256sum", "-c", "--quiet", "SHA256SUMS"); code != 0 {
		t.Fatalf("sha256sum: %s", out)
	}
	t.Logf("sha256sum -c: %v", time.Since(t0))
	t0 = time.Now()
	vout, code := run(x, "sh", "verify.sh")
	if code != 0 {
		t.Fatalf("verify.sh: %s", vout)
	}
	t.Logf("verify.sh: %v: %s", time.Since(t0), vout[strings.LastIndex(strings.TrimSpace(vout), "\n")+1:])
}
