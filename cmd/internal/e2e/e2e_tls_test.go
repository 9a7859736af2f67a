package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/cmd/internal/jagadesacmd"
	"github.com/jagadesa/jagadesa/cmd/internal/probecmd"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/probe"
	"github.com/jagadesa/jagadesa/server/influx/influxtest"
)

// writeCA makes a private CA (as a province's PKI would be) and a server
// certificate for 127.0.0.1 signed by it, and returns the files.
func writeCA(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "JagaDesa test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return caFile, certFile, keyFile
}

// The server speaks HTTPS with --tls-cert/--tls-key, sends HSTS, and a
// probe pinned to the province's CA with --ca-file reports through it
// without the plain-http warning; a probe without the CA is refused by
// its own TLS check.
func TestProbeOverTLS(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the probe pings 127.0.0.1 over a raw socket: run as root (CI does)")
	}
	ifx := influxtest.Get(t)
	bucket := ifx.NewDatabase(t)
	caFile, certFile, keyFile := writeCA(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := freeAddr(t)
	base := "https://" + addr
	var serverLog syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- jagadesacmd.Run(ctx, []string{"serve", "--listen", addr, "--influx-url", ifx.URL, "--influx-bucket", bucket,
			"--data-dir", t.TempDir(), "--grace", "1s", "--tls-cert", certFile, "--tls-key", keyFile}, adminEnv, nil, &serverLog, &serverLog)
	}()
	pemCA, _ := os.ReadFile(caFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCA)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	do := func(method, path, body string) (*http.Response, []byte) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := hc.Do(req)
		if err != nil {
			return nil, []byte(err.Error())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	for i := 0; ; i++ {
		if resp, _ := do("GET", "/healthz", ""); resp != nil && resp.StatusCode == 200 {
			if resp.Header.Get("Strict-Transport-Security") == "" {
				t.Fatal("no HSTS over TLS")
			}
			break
		}
		if i > 100 {
			t.Fatalf("server not healthy over TLS:\n%s", serverLog.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Plain HTTP to the TLS port gets nothing useful.
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("the TLS port answered plain HTTP")
		}
	}

	village := geo.KrandeganCode
	// One spool, so every run below is the same probe with the same key,
	// bound at enrollment.
	spool := t.TempDir()
	key, _, err := probe.LoadOrCreateKey(filepath.Join(spool, "probe.key"))
	if err != nil {
		t.Fatal(err)
	}
	resp, b := do("POST", "/api/v1/probes", fmt.Sprintf(`{"village":%q,"public_key":%q}`, village, jagadesa.FormatPublicKey(key.Public().(ed25519.PublicKey))))
	if resp == nil || resp.StatusCode != 201 {
		t.Fatalf("enroll: %s", b)
	}
	var enr struct{ Token string }
	json.Unmarshal(b, &enr)
	runProbe := func(extra ...string) (*syncBuffer, chan error, context.CancelFunc) {
		pctx, pcancel := context.WithCancel(ctx)
		var log syncBuffer
		d := make(chan error, 1)
		args := append([]string{"--server", base, "--token", enr.Token, "--village", village, "--spool", spool,
			"--interval", "1s", "--target", "127.0.0.1", "--count", "2", "--ping-interval", "100ms",
			"--dns-name", "localhost", "--dns-reference=", "--http-url", base + "/healthz", "--speedtest-budget", "0"}, extra...)
		go func() { d <- probecmd.Run(pctx, args, func(string) string { return "" }, &log, &log) }()
		return &log, d, pcancel
	}
	// Without the CA, the probe's own TLS check refuses the server.
	untrusting, udone, ucancel := runProbe()
	time.Sleep(3 * time.Second)
	ucancel()
	<-udone
	if !strings.Contains(untrusting.String(), "certificate") {
		t.Fatalf("a probe without the CA did not complain about the certificate:\n%s", untrusting.String())
	}
	if resp, b := do("GET", "/api/v1/villages/"+village, ""); resp == nil || strings.Contains(string(b), `"status":"up"`) {
		t.Fatalf("a probe that does not trust the server got through: %s", b)
	}
	probeLog, pdone, pcancel := runProbe("--ca-file", caFile)
	defer func() { pcancel(); <-pdone }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, b := do("GET", "/api/v1/villages/"+village, "")
		var v struct{ Status jagadesa.Status }
		json.Unmarshal(b, &v)
		if v.Status == jagadesa.StatusUp {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("village not up over TLS: %s\nprobe:\n%s", b, probeLog.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if strings.Contains(probeLog.String(), "INSECURE") {
		t.Fatalf("the probe warned about an https server:\n%s", probeLog.String())
	}
}
