package jagadesacmd

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/evidence"
	"github.com/jagadesa/jagadesa/server/sqlite"
)

// A stored batch verifies with `jagadesa verify` against the key the
// server registered, and — extracted — with OpenSSL alone, which knows
// nothing of JagaDesa: the check docs/evidence.md tells an ISP to run.
func TestVerifyStoredEvidence(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	village := "33.06.08.2007"
	p, _, err := db.CreateProbe(context.Background(), village)
	if err != nil {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(nil)
	if _, err := db.SetProbeKey(context.Background(), p.ID, pub, "admin"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	arch, err := evidence.New(filepath.Join(dir, "evidence"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	add := func(seq uint64, rtt float64, sign []byte) {
		t.Helper()
		rep := jagadesa.Report{Version: 1, Probe: p.ID, Village: village, Stream: "s-1", Samples: []jagadesa.Sample{{Seq: seq, TimeMs: now.UnixMilli(), Kind: "icmp", Target: "gw",
			ICMP: &jagadesa.ICMP{Sent: 1, Received: 1, MinMs: rtt, AvgMs: rtt, MaxMs: rtt}}}}
		body, _ := json.Marshal(rep)
		if sign == nil {
			sign = body
		}
		if err := arch.Append(&evidence.Record{Received: now, Probe: p.ID, Village: village, Stream: "s-1", FirstSeq: seq, LastSeq: seq,
			KeyID: jagadesa.KeyID(pub), Signature: jagadesa.SignReport(key, sign), Body: body}, nil); err != nil {
			t.Fatal(err)
		}
	}
	add(1, 21.5, nil)
	add(2, 22.5, nil)

	var out, errb bytes.Buffer
	xdir := filepath.Join(t.TempDir(), "x")
	if err := Run(context.Background(), []string{"verify", "--data-dir", dir, "-v", "--extract", xdir}, noenv, nil, &out, &errb); err != nil {
		t.Fatalf("verify: %v\n%s%s", err, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "2 batches verified, 0 failed") {
		t.Fatalf("verify output:\n%s", out.String())
	}

	// OpenSSL, on the extracted body, signature and public key.
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl is needed for this test (scripts/test.sh installs it)")
	}
	base := filepath.Join(xdir, p.ID+"_s-1_1-1")
	ossl := func() (string, error) {
		b, err := exec.Command(openssl, "pkeyutl", "-verify", "-pubin", "-inkey", filepath.Join(xdir, p.ID+".pem"),
			"-rawin", "-in", base+".json", "-sigfile", base+".sig").CombinedOutput()
		return string(b), err
	}
	if msg, err := ossl(); err != nil || !strings.Contains(msg, "Signature Verified Successfully") {
		t.Fatalf("openssl on the extracted batch: %v %s", err, msg)
	}
	// The hand route of docs/evidence.md gives the same bytes.
	f := arch.Path(village, now)
	byHand, err := exec.Command("sh", "-c", "zcat "+f+" | sed -n 2p | head -c \"$(zcat "+f+" | sed -n 1p | jq .body_bytes)\"").Output()
	body, _ := os.ReadFile(base + ".json")
	if err != nil || !bytes.Equal(byHand, body) {
		t.Fatalf("zcat | sed | head -c body_bytes gave %q (%v), --extract %q", byHand, err, body)
	}
	os.WriteFile(base+".json", bytes.Replace(body, []byte("21.5"), []byte("12.5"), 1), 0o644)
	if msg, err := ossl(); err == nil {
		t.Fatalf("openssl accepted an altered batch: %s", msg)
	}

	// A record whose body is not what was signed fails, and says which.
	add(3, 30, []byte("something else"))
	out.Reset()
	err = Run(context.Background(), []string{"verify", "--data-dir", dir}, noenv, nil, &out, &errb)
	if err == nil || !strings.Contains(out.String(), "2 batches verified, 1 failed") || !strings.Contains(out.String(), "records 3-3") {
		t.Fatalf("verify with a bad record: %v\n%s", err, out.String())
	}
	// Replicas' directories on a shared volume: verify reads them all.
	shared := t.TempDir()
	for i, name := range []string{"replica-a", "replica-b"} {
		r, err := evidence.OpenShared(shared, name, evidence.Tuning{})
		if err != nil {
			t.Fatal(err)
		}
		seq := uint64(10 + i)
		rep := jagadesa.Report{Version: 1, Probe: p.ID, Village: village, Stream: "s-1", Samples: []jagadesa.Sample{{Seq: seq, TimeMs: now.UnixMilli(), Kind: "icmp", Target: "gw",
			ICMP: &jagadesa.ICMP{Sent: 1, Received: 1, MinMs: 20, AvgMs: 20, MaxMs: 20}}}}
		body, _ := json.Marshal(rep)
		if err := r.Append(&evidence.Record{Received: now, Probe: p.ID, Village: village, Stream: "s-1", FirstSeq: seq, LastSeq: seq,
			KeyID: jagadesa.KeyID(pub), Signature: jagadesa.SignReport(key, body), Body: body}, nil); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	out.Reset()
	if err := Run(context.Background(), []string{"verify", "--data-dir", dir, "--evidence-dir", shared}, noenv, nil, &out, &errb); err != nil ||
		!strings.Contains(out.String(), "2 batches verified, 0 failed, in 2 files") {
		t.Fatalf("verify of a shared archive: %v\n%s", err, out.String())
	}

	// Against another key, nothing verifies.
	other, _, _ := ed25519.GenerateKey(nil)
	out.Reset()
	err = Run(context.Background(), []string{"verify", "--key", jagadesa.FormatPublicKey(other), arch.Path(village, now)}, noenv, nil, &out, &errb)
	if err == nil || !strings.Contains(out.String(), "0 batches verified, 3 failed") {
		t.Fatalf("verify with another key: %v\n%s", err, out.String())
	}
}
