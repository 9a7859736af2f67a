package probe

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/probe/spool"
)

// signingServer speaks the server's side of signed batches: key
// registration on first use, signature checks, and refusal of record
// numbers it already holds on a stream (409 with the highest).
type signingServer struct {
	mu        sync.Mutex
	key       ed25519.PublicKey
	registers int
	marks     map[string]uint64 // stream → highest accepted
	got       map[uint64]int    // record number → times accepted
	loseNext  int               // accept the batch but answer 502 (an answer lost)
	badSigs   int
}

func (f *signingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.URL.Path {
	case "/api/v1/probes/key":
		var req struct {
			PublicKey string `json:"public_key"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		pub, err := jagadesa.ParsePublicKey(req.PublicKey)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		f.registers++
		if f.key != nil && !f.key.Equal(pub) {
			http.Error(w, "another key", 409)
			return
		}
		f.key = pub
		w.WriteHeader(201)
	case "/api/v1/reports":
		zr, _ := gzip.NewReader(r.Body)
		body, _ := io.ReadAll(zr)
		if f.key == nil || jagadesa.VerifyReport(f.key, body, r.Header.Get(jagadesa.SignatureHeader)) != nil {
			f.badSigs++
			http.Error(w, "bad signature", 401)
			return
		}
		var rep jagadesa.Report
		json.Unmarshal(body, &rep)
		lo, hi := rep.SeqRange()
		if m := f.marks[rep.Stream]; lo <= m {
			w.Header().Set(jagadesa.MaxSeqHeader, strconv.FormatUint(m, 10))
			http.Error(w, "replayed batch", 409)
			return
		}
		for _, s := range rep.Samples {
			f.got[s.Seq]++
		}
		f.marks[rep.Stream] = hi
		if f.loseNext > 0 {
			f.loseNext--
			w.WriteHeader(502)
			return
		}
		w.WriteHeader(200)
	default:
		http.NotFound(w, r)
	}
}

func newSigningSender(t *testing.T, f *signingServer, n int) (*Sender, ed25519.PublicKey) {
	t.Helper()
	s, _, _ := newSender(t, &fakeServer{}, n)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	s.Server = srv.URL
	key, created, err := LoadOrCreateKey(filepath.Join(t.TempDir(), "probe.key"))
	if err != nil || !created {
		t.Fatalf("key: %v created=%v", err, created)
	}
	s.Key = key
	s.StreamFile = filepath.Join(t.TempDir(), "stream")
	if s.Stream, err = LoadOrCreateStream(s.StreamFile); err != nil {
		t.Fatal(err)
	}
	return s, key.Public().(ed25519.PublicKey)
}

func TestSenderSignsAndRegistersItsKey(t *testing.T) {
	f := &signingServer{marks: map[string]uint64{}, got: map[uint64]int{}}
	s, pub := newSigningSender(t, f, 25)
	if err := s.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !f.key.Equal(pub) || f.registers != 1 || f.badSigs != 0 {
		t.Fatalf("server key %x registered %d times, %d bad signatures", f.key, f.registers, f.badSigs)
	}
	if len(f.got) != 25 {
		t.Fatalf("%d records accepted, want 25", len(f.got))
	}
}

func TestLoadOrCreateKeyKeepsTheKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "probe.key")
	k1, created, err := LoadOrCreateKey(path)
	if err != nil || !created {
		t.Fatal(err)
	}
	k2, created, err := LoadOrCreateKey(path)
	if err != nil || created || !k1.Equal(k2) {
		t.Fatalf("second load: created=%v equal=%v err=%v", created, k1.Equal(k2), err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(path); !bytes.HasPrefix(b, []byte("-----BEGIN PRIVATE KEY-----")) {
		t.Fatalf("key file is not PEM PKCS#8: %q", b[:20])
	}
	// The hand-written PKCS #8 is what crypto/x509 and OpenSSL read.
	blk, _ := pem.Decode(mustRead(t, path))
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if xk, ok := k.(ed25519.PrivateKey); err != nil || !ok || !xk.Equal(k1) {
		t.Fatalf("crypto/x509 reads %T (%v), not our key", k, err)
	}
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl is needed for this test (scripts/test.sh installs it)")
	}
	out, err := exec.Command(openssl, "pkey", "-in", path, "-pubout").CombinedOutput()
	if err != nil || string(out) != jagadesa.PublicKeyPEM(k1.Public().(ed25519.PublicKey)) {
		t.Fatalf("openssl pkey -pubout: %v\n%s", err, out)
	}
	os.WriteFile(path, []byte("garbage"), 0o600)
	if _, _, err := LoadOrCreateKey(path); err == nil || !strings.Contains(err.Error(), "move it away") {
		t.Fatalf("a damaged key file must stop the probe with advice, got %v", err)
	}
}

// An answer lost on the way back: the server has the batch, the probe
// sends it again, the server says 409 with how far it has the stream, and
// the probe drops those records and goes on. Nothing is lost, nothing
// counted twice.
func TestSenderRecoversFromALostAnswer(t *testing.T) {
	f := &signingServer{marks: map[string]uint64{}, got: map[uint64]int{}, loseNext: 1}
	s, _ := newSigningSender(t, f, 25)
	for i := 0; i < 10 && len(f.got) < 25 || i == 0; i++ {
		s.Drain(context.Background())
	}
	if len(f.got) != 25 {
		t.Fatalf("%d records accepted, want 25", len(f.got))
	}
	for seq, n := range f.got {
		if n != 1 {
			t.Fatalf("record %d accepted %d times", seq, n)
		}
	}
	if left := s.Queue.(*spool.Spool).Stats().Records; left != 0 {
		t.Fatalf("%d records left in the spool", left)
	}
}

// The spool was wiped and its numbers began again, while the server holds
// higher ones for the stream: the probe starts a new stream rather than
// drop its records as "already sent".
func TestSenderStartsANewStreamWhenNumbersWentBack(t *testing.T) {
	f := &signingServer{marks: map[string]uint64{}, got: map[uint64]int{}}
	s, _ := newSigningSender(t, f, 5)
	old := s.Stream
	f.marks[old] = 1000
	if err := s.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.Stream == old || len(f.got) != 5 || f.marks[s.Stream] != 5 {
		t.Fatalf("stream %s (was %s), %d records accepted, marks %v", s.Stream, old, len(f.got), f.marks)
	}
	b, _ := os.ReadFile(s.StreamFile)
	if strings.TrimSpace(string(b)) != s.Stream {
		t.Fatalf("stream file holds %q, sender uses %q", b, s.Stream)
	}
}

// The server forgot the probe's key (an admin reset it after a mix-up):
// batches are refused, kept, and the probe registers its key again.
func TestSenderRegistersAgainAfterAKeyReset(t *testing.T) {
	f := &signingServer{marks: map[string]uint64{}, got: map[uint64]int{}}
	s, pub := newSigningSender(t, f, 3)
	if err := s.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.key = nil
	f.mu.Unlock()
	for i := 0; i < 2; i++ {
		b, _ := EncodeSample(jagadesa.Sample{TimeMs: time.Now().UnixMilli(), Kind: jagadesa.KindICMP, Target: "t", ICMP: &jagadesa.ICMP{Sent: 1}})
		if _, err := s.Queue.(*spool.Spool).Append(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Drain(context.Background()); err == nil {
		t.Fatal("batch accepted by a server without the key")
	}
	if err := s.Drain(context.Background()); err != nil {
		t.Fatalf("after registering again: %v", err)
	}
	if !f.key.Equal(pub) || f.registers != 2 || len(f.got) != 5 {
		t.Fatalf("registrations %d, records %d", f.registers, len(f.got))
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
