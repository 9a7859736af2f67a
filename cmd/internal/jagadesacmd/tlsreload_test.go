package jagadesacmd

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeSelfSigned writes a self-signed certificate for cn and its key.
func writeSelfSigned(t *testing.T, certFile, keyFile, cn string, mod time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{cn}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	os.Chtimes(certFile, mod, mod)
	os.Chtimes(keyFile, mod, mod)
}

// A renewed certificate is served without a restart; a broken renewal
// keeps the last good one.
func TestCertReloader(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	t0 := time.Now().Add(-time.Hour)
	writeSelfSigned(t, cert, key, "a.example", t0)
	r, err := newCertReloader(cert, key, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r.now = func() time.Time { return now }
	name := func() string {
		c, err := r.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(c.Certificate[0])
		return leaf.Subject.CommonName
	}
	if got := name(); got != "a.example" {
		t.Fatalf("serving %s", got)
	}
	writeSelfSigned(t, cert, key, "b.example", t0.Add(time.Minute))
	if got := name(); got != "a.example" {
		t.Fatalf("reloaded before the next look: %s", got)
	}
	now = now.Add(11 * time.Second)
	if got := name(); got != "b.example" {
		t.Fatalf("after a renewal: %s", got)
	}
	os.WriteFile(cert, []byte("not a certificate"), 0o600)
	os.Chtimes(cert, t0.Add(2*time.Minute), t0.Add(2*time.Minute))
	now = now.Add(11 * time.Second)
	if got := name(); got != "b.example" {
		t.Fatalf("a broken renewal replaced the good certificate: %s", got)
	}
	if _, err := newCertReloader(filepath.Join(dir, "missing.pem"), key, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("a missing certificate was accepted at start")
	}
}
