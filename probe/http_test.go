package probe

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
)

// wait sleeps d or until the client goes away, so a server can be closed
// without waiting out a slow handler.
func wait(r *http.Request, d time.Duration) {
	select {
	case <-time.After(d):
	case <-r.Context().Done():
	}
}

// testSite serves the behaviours an HTTP check meets on real portals.
func testSite(t *testing.T, agent *atomic.Value, loops *atomic.Int32) http.Handler {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		agent.Store(r.UserAgent())
		io.WriteString(w, "hello village\n")
	})
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database down", http.StatusInternalServerError)
	})
	mux.HandleFunc("/slow-first-byte", func(w http.ResponseWriter, r *http.Request) {
		wait(r, 150*time.Millisecond)
		io.WriteString(w, "late\n")
	})
	mux.HandleFunc("/slow-body", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "head\n")
		w.(http.Flusher).Flush()
		wait(r, 200*time.Millisecond)
		io.WriteString(w, "tail\n")
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/slow-first-byte", http.StatusFound)
	})
	mux.HandleFunc("/loop/", func(w http.ResponseWriter, r *http.Request) {
		loops.Add(1)
		http.Redirect(w, r, r.URL.Path+"x", http.StatusFound)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		// More than the check reads, then nothing: a check that read to
		// the end would hang here until its deadline.
		w.Write(make([]byte, httpMaxBody+64<<10))
		w.(http.Flusher).Flush()
		wait(r, 5*time.Second)
	})
	mux.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		wait(r, 5*time.Second)
	})
	return mux
}

func TestHTTPCheckPlain(t *testing.T) {
	var agent atomic.Value
	var loops atomic.Int32
	srv := httptest.NewServer(testSite(t, &agent, &loops))
	defer srv.Close()

	tests := []struct {
		name       string
		path       string
		timeout    time.Duration
		ok         bool
		status     int
		errHas     string
		minTTFB    time.Duration
		maxTTFB    time.Duration
		minTotal   time.Duration
		maxTotal   time.Duration
		checkAfter func(t *testing.T)
	}{
		{name: "200", path: "/ok", ok: true, status: 200, checkAfter: func(t *testing.T) {
			if got := agent.Load(); got != HTTPUserAgent {
				t.Errorf("server saw User-Agent %q, want %q", got, HTTPUserAgent)
			}
		}},
		{name: "404", path: "/missing", status: 404, errHas: "404"},
		{name: "500", path: "/broken", status: 500, errHas: "500"},
		{name: "slow first byte", path: "/slow-first-byte", ok: true, status: 200,
			minTTFB: 150 * time.Millisecond, minTotal: 150 * time.Millisecond},
		{name: "slow body", path: "/slow-body", ok: true, status: 200,
			maxTTFB: 150 * time.Millisecond, minTotal: 200 * time.Millisecond},
		{name: "redirect followed", path: "/redirect", ok: true, status: 200,
			minTTFB: 150 * time.Millisecond, minTotal: 150 * time.Millisecond},
		{name: "redirect loop stopped", path: "/loop/", status: 302, errHas: "stopped after 5 redirects",
			checkAfter: func(t *testing.T) {
				if got := loops.Load(); got != 1+httpMaxRedirects {
					t.Errorf("server saw %d requests, want the first and %d redirects", got, httpMaxRedirects)
				}
			}},
		{name: "body read at most 1 MiB", path: "/big", ok: true, status: 200, maxTotal: 2 * time.Second},
		{name: "deadline honoured", path: "/sleep", timeout: 300 * time.Millisecond, errHas: "timeout",
			minTotal: 250 * time.Millisecond, maxTotal: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			target := srv.URL + tt.path
			start := time.Now()
			s, err := HTTPCheck(ctx, target, CheckOptions{})
			took := time.Since(start)
			if err != nil {
				t.Fatalf("HTTPCheck: %v", err)
			}
			if s.Kind != jagadesa.KindHTTP || s.Target != target || s.HTTP == nil || s.TimeMs == 0 {
				t.Fatalf("sample = %+v", s)
			}
			h := s.HTTP
			t.Logf("%+v in %s", *h, took)
			if h.OK != tt.ok || h.StatusCode != tt.status {
				t.Errorf("OK, StatusCode = %v, %d; want %v, %d", h.OK, h.StatusCode, tt.ok, tt.status)
			}
			if tt.ok != (h.Error == "") || !strings.Contains(h.Error, tt.errHas) {
				t.Errorf("Error = %q, want one containing %q", h.Error, tt.errHas)
			}
			if h.CertExpiresMs != 0 {
				t.Errorf("CertExpiresMs = %d without TLS", h.CertExpiresMs)
			}
			ttfb, total := msDuration(h.TTFBMs), msDuration(h.TotalMs)
			if tt.status != 0 && (ttfb <= 0 || ttfb > total) {
				t.Errorf("TTFB %s, total %s: want 0 < TTFB <= total", ttfb, total)
			}
			if ttfb < tt.minTTFB || (tt.maxTTFB > 0 && ttfb > tt.maxTTFB) {
				t.Errorf("TTFB = %s, want in [%s, %s]", ttfb, tt.minTTFB, tt.maxTTFB)
			}
			if total > took || total < tt.minTotal || (tt.maxTotal > 0 && total > tt.maxTotal) {
				t.Errorf("total = %s (check took %s), want in [%s, %s]", total, took, tt.minTotal, tt.maxTotal)
			}
			if took > timeout+200*time.Millisecond {
				t.Errorf("took %s with a %s deadline", took, timeout)
			}
			if tt.checkAfter != nil {
				tt.checkAfter(t)
			}
			wireValid(t, s)
		})
	}
}

func msDuration(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// expiredCert is a self-signed certificate for 127.0.0.1 that expired a day
// ago.
func expiredCert(t *testing.T) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "expired.test"},
		NotBefore:             time.Now().Add(-48 * time.Hour),
		NotAfter:              time.Now().Add(-24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, cert
}

func TestHTTPCheckTLS(t *testing.T) {
	var agent atomic.Value
	var loops atomic.Int32
	quiet := log.New(io.Discard, "", 0) // handshake failures are the point here

	good := httptest.NewUnstartedServer(testSite(t, &agent, &loops))
	good.Config.ErrorLog = quiet
	good.StartTLS()
	defer good.Close()
	// The probe's own client, trusting the test server's certificate.
	goodClient := &HTTPClient{TLSConfig: good.Client().Transport.(*http.Transport).TLSClientConfig, MaxRedirects: httpMaxRedirects}

	pair, expired := expiredCert(t)
	bad := httptest.NewUnstartedServer(testSite(t, &agent, &loops))
	bad.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	bad.Config.ErrorLog = quiet
	bad.StartTLS()
	defer bad.Close()
	roots := x509.NewCertPool()
	roots.AddCert(expired) // trusted, so expiry is the only fault
	badClient := &HTTPClient{TLSConfig: &tls.Config{RootCAs: roots}, DisableKeepAlives: true}

	goodExpiry := good.Certificate().NotAfter.UnixMilli()
	tests := []struct {
		name    string
		url     string
		client  Doer
		ok      bool
		status  int
		errHas  string
		expires int64
	}{
		{name: "valid certificate", url: good.URL + "/ok", client: goodClient, ok: true, status: 200, expires: goodExpiry},
		{name: "expiry reported with an error status", url: good.URL + "/broken", client: goodClient, status: 500,
			errHas: "500", expires: goodExpiry},
		{name: "expired certificate", url: bad.URL + "/ok", client: badClient, errHas: "expired",
			expires: expired.NotAfter.UnixMilli()},
		{name: "verification on by default", url: good.URL + "/ok", errHas: "certificate", expires: goodExpiry},
		// net/http's client still works as a Doer (tests, the simulator).
		{name: "a *http.Client", url: good.URL + "/ok", client: good.Client(), ok: true, status: 200, expires: goodExpiry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s, err := HTTPCheck(ctx, tt.url, CheckOptions{Client: tt.client})
			if err != nil {
				t.Fatalf("HTTPCheck: %v", err)
			}
			h := s.HTTP
			t.Logf("%+v", *h)
			if h.OK != tt.ok || h.StatusCode != tt.status {
				t.Errorf("OK, StatusCode = %v, %d; want %v, %d", h.OK, h.StatusCode, tt.ok, tt.status)
			}
			if tt.ok != (h.Error == "") || !strings.Contains(h.Error, tt.errHas) {
				t.Errorf("Error = %q, want one containing %q", h.Error, tt.errHas)
			}
			if h.CertExpiresMs != tt.expires {
				t.Errorf("CertExpiresMs = %d (%s), want %d (%s)", h.CertExpiresMs, time.UnixMilli(h.CertExpiresMs).UTC(),
					tt.expires, time.UnixMilli(tt.expires).UTC())
			}
			wireValid(t, s)
		})
	}
}

func TestHTTPCheckUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	tests := []struct {
		name, url, errHas string
	}{
		{"closed port", "http://" + closed + "/", "refused"},
		{"closed port, secret in URL", "http://user:pw@" + closed + "/?token=s3cret", "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s, err := HTTPCheck(ctx, tt.url, CheckOptions{})
			if err != nil {
				t.Fatalf("HTTPCheck: %v", err)
			}
			h := s.HTTP
			t.Logf("%+v", *h)
			if h.OK || h.StatusCode != 0 || !strings.Contains(h.Error, tt.errHas) {
				t.Errorf("got %+v, want a failure mentioning %q", *h, tt.errHas)
			}
			if strings.Contains(h.Error, "s3cret") || strings.Contains(h.Error, "pw@") {
				t.Errorf("Error %q leaks the URL's secrets", h.Error)
			}
			wireValid(t, s)
		})
	}
}

func TestHTTPCheckConfigFaults(t *testing.T) {
	for _, target := range []string{"", "ftp://example.com/", "http:///no-host", "example.com/no-scheme", "http://[::1"} {
		t.Run(fmt.Sprintf("%q", target), func(t *testing.T) {
			if s, err := HTTPCheck(context.Background(), target, CheckOptions{}); err == nil {
				t.Errorf("HTTPCheck(%q) = %+v, want an error", target, s)
			}
		})
	}
}

func TestChecksRegistered(t *testing.T) {
	for _, kind := range []string{jagadesa.KindICMP, jagadesa.KindDNS, jagadesa.KindHTTP} {
		if checks[kind] == nil {
			t.Errorf("no check registered for kind %q", kind)
		}
	}
}
