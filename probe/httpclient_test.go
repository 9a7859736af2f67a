package probe

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawServer answers each connection with script, for answers net/http's
// server would not give.
func rawServer(t *testing.T, script func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second)) // never hang a test
				script(c, bufio.NewReader(c))
			})
		}
	})
	return "http://" + ln.Addr().String()
}

// readHead reads a request head and returns its lines.
func readHead(br *bufio.Reader) []string {
	var lines []string
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return lines
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			return lines
		}
		lines = append(lines, l)
	}
}

func get(t *testing.T, c *HTTPClient, url string) (*http.Response, []byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func TestHTTPClientBodies(t *testing.T) {
	tests := []struct {
		name, answer, body string
		errHas             string
	}{
		{"content length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "hello", ""},
		{"chunked with extension and trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n8\r\n village\r\n0\r\nX-Trailer: 1\r\n\r\n", "hello village", ""},
		{"to the end of the connection", "HTTP/1.0 200 OK\r\n\r\nuntil close", "until close", ""},
		{"skips 1xx", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "ok", ""},
		{"folded header", "HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 0\r\n\r\n", "", ""},
		{"same length twice", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", "ok", ""},
		{"short content length", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", "", "unexpected EOF"},
		{"cut chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", "", "unexpected EOF"},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "", "malformed chunked"},
		{"conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", "", "invalid Content-Length"},
		{"unknown transfer coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "", "unsupported transfer encoding"},
		{"not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", "", "malformed HTTP response"},
		{"bad status", "HTTP/1.1 2x0 OK\r\n\r\n", "", "malformed HTTP status"},
		{"bad header line", "HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "", "malformed HTTP header"},
		{"huge header", "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 70<<10) + "\r\n\r\n", "", "too large"},
		{"no answer", "", "", "without answering"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := rawServer(t, func(c net.Conn, br *bufio.Reader) {
				readHead(br)
				io.WriteString(c, tt.answer)
			})
			resp, body, err := get(t, &HTTPClient{}, url+"/x")
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err = %v, want one containing %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || string(body) != tt.body {
				t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, tt.body)
			}
		})
	}
}

func TestHTTPClientRequest(t *testing.T) {
	got := make(chan []string, 1)
	bodies := make(chan string, 1)
	url := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		head := readHead(br)
		got <- head
		var body []byte
		for _, l := range head {
			if strings.EqualFold(l, "Transfer-Encoding: chunked") {
				// Read it back with net/http's own chunked reader.
				r := bufio.NewReader(br)
				for {
					line, _ := r.ReadString('\n')
					var n int
					fmt.Sscanf(strings.TrimSpace(line), "%x", &n)
					if n == 0 {
						r.ReadString('\n')
						break
					}
					chunk := make([]byte, n+2)
					io.ReadFull(r, chunk)
					body = append(body, chunk[:n]...)
				}
			}
			if v, ok := strings.CutPrefix(l, "Content-Length: "); ok {
				var n int
				fmt.Sscanf(v, "%d", &n)
				body = make([]byte, n)
				io.ReadFull(br, body)
			}
		}
		bodies <- string(body)
		io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
	})

	// Known length.
	req, _ := http.NewRequest(http.MethodPost, url+"/api/v1/reports?a=b", strings.NewReader("payload"))
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := (&HTTPClient{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	head := <-got
	want := []string{"POST /api/v1/reports?a=b HTTP/1.1", "Host: " + strings.TrimPrefix(url, "http://"), "User-Agent: " + HTTPUserAgent,
		"Authorization: Bearer tok", "Content-Encoding: gzip", "Content-Length: 7"}
	if strings.Join(head, "|") != strings.Join(want, "|") {
		t.Errorf("request head\n%q\nwant\n%q", head, want)
	}
	if b := <-bodies; b != "payload" {
		t.Errorf("body %q", b)
	}

	// Unknown length: chunked.
	long := strings.Repeat("0123456789", 10000)
	req, _ = http.NewRequest(http.MethodPost, url+"/up", io.NopCloser(strings.NewReader(long)))
	req.ContentLength = -1
	resp, err = (&HTTPClient{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if head := <-got; !strings.Contains(strings.Join(head, "|"), "Transfer-Encoding: chunked") {
		t.Errorf("request head %q, want chunked", head)
	}
	if b := <-bodies; b != long {
		t.Errorf("chunked body of %d bytes, want %d", len(b), len(long))
	}
}

func TestHTTPClientRefusesInjection(t *testing.T) {
	for _, h := range [][2]string{{"Authorization", "Bearer x\r\nX-Evil: 1"}, {"Bad Name", "v"}, {"X", "a\nb"}} {
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/", nil)
		req.Header[h[0]] = []string{h[1]}
		if _, err := (&HTTPClient{}).Do(req); err == nil || !strings.Contains(err.Error(), "invalid") {
			t.Errorf("header %q: %q: err = %v, want invalid", h[0], h[1], err)
		}
	}
}

// countingListener counts the connections a test server accepts.
type countingListener struct {
	net.Listener
	n atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func TestHTTPClientKeepAlive(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/chunked" {
			w.Write(bytes.Repeat([]byte("x"), 100<<10)) // no length: chunked
			return
		}
		fmt.Fprintf(w, "%s %d", r.Method, len(b))
	}))
	cl := &countingListener{Listener: srv.Listener}
	srv.Listener = cl
	srv.Start()
	defer srv.Close()

	c := &HTTPClient{}
	for i, path := range []string{"/a", "/chunked", "/b"} {
		if _, body, err := get(t, c, srv.URL+path); err != nil || len(body) == 0 {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/post", strings.NewReader("12345"))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "POST 5" {
		t.Errorf("answer %q", b)
	}
	if n := cl.n.Load(); n != 1 {
		t.Errorf("%d connections for four requests, want 1", n)
	}

	// A body closed before its end closes the connection.
	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/chunked", nil)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Read(make([]byte, 10))
	resp.Body.Close()
	if _, _, err := get(t, c, srv.URL+"/a"); err != nil {
		t.Fatal(err)
	}
	if n := cl.n.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (the first closed with its body unread)", n)
	}

	// Without keep-alive every request has its own.
	c = &HTTPClient{DisableKeepAlives: true}
	before := cl.n.Load()
	for range 2 {
		if _, _, err := get(t, c, srv.URL+"/a"); err != nil {
			t.Fatal(err)
		}
	}
	if n := cl.n.Load() - before; n != 2 {
		t.Errorf("%d connections without keep-alive, want 2", n)
	}
}

// A server that closes an idle connection: the request on it is sent
// again on a new one, body and all.
func TestHTTPClientRetriesClosedIdle(t *testing.T) {
	var conns atomic.Int32
	url := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		n := conns.Add(1)
		head := readHead(br)
		var length int
		for _, l := range head {
			if v, ok := strings.CutPrefix(l, "Content-Length: "); ok {
				fmt.Sscanf(v, "%d", &length)
			}
		}
		body := make([]byte, length)
		io.ReadFull(br, body)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		if n == 1 {
			return // close after one request, as a server's idle timeout does
		}
		readHead(br)
	})
	c := &HTTPClient{}
	for i, payload := range []string{"first", "second"} {
		req, _ := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(payload))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != payload {
			t.Errorf("request %d: answer %q", i, b)
		}
		time.Sleep(50 * time.Millisecond) // let the server's close arrive
	}
	c.CloseIdleConnections()
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestHTTPClientTimeouts(t *testing.T) {
	url := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		head := readHead(br)
		switch {
		case strings.Contains(head[0], "/stall-body"):
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
		case strings.Contains(head[0], "/stall-head"):
		}
		time.Sleep(1500 * time.Millisecond)
	})
	for _, tt := range []struct {
		name   string
		c      *HTTPClient
		path   string
		inBody bool
	}{
		{"Timeout covers the body", &HTTPClient{Timeout: 300 * time.Millisecond}, "/stall-body", true},
		{"Timeout before the header", &HTTPClient{Timeout: 300 * time.Millisecond}, "/stall-head", false},
		{"ResponseHeaderTimeout", &HTTPClient{ResponseHeaderTimeout: 300 * time.Millisecond}, "/stall-head", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			req, _ := http.NewRequest(http.MethodGet, url+tt.path, nil)
			resp, err := tt.c.Do(req)
			if tt.inBody {
				if err != nil {
					t.Fatal(err)
				}
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want a deadline", err)
			}
			if d := time.Since(start); d < 250*time.Millisecond || d > 2*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}

	// The request's context, cancelled while the dial waits on a server
	// that never accepts (a full backlog is hard to make; a blackhole
	// address is not routable here, so cancel during the header wait).
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/stall-head", nil)
	if _, err := (&HTTPClient{}).Do(req); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// A server that refuses an upload before reading it is heard: the
// answer, not a broken pipe.
func TestHTTPClientEarlyAnswer(t *testing.T) {
	url := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		readHead(br)
		io.WriteString(c, "HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big\n")
		time.Sleep(500 * time.Millisecond)
	})
	body := &uploadBody{data: uploadData(), left: 1 << 40, until: time.Now().Add(10 * time.Second)}
	req, _ := http.NewRequest(http.MethodPost, url+"/", body)
	req.ContentLength = -1
	resp, err := (&HTTPClient{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || string(b) != "too big\n" {
		t.Errorf("got %d %q", resp.StatusCode, b)
	}
}

func TestHTTPClientRedirects(t *testing.T) {
	var auth atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization") + "|" + r.UserAgent())
		io.WriteString(w, "other")
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/there", http.StatusMovedPermanently)
		case "/a/rel":
			w.Header().Set("Location", "../final?q=1")
			w.WriteHeader(http.StatusSeeOther)
		case "/final":
			io.WriteString(w, "final "+r.URL.RawQuery)
		}
	}))
	defer srv.Close()

	c := &HTTPClient{MaxRedirects: 5}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/away", nil)
	req.Header.Set("Authorization", "Bearer secret")
	req.Header.Set("User-Agent", "ua")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "other" || auth.Load() != "|ua" {
		t.Errorf("got %q; the other host saw %q, want no credentials and the User-Agent", b, auth.Load())
	}
	if _, b, err := get(t, c, srv.URL+"/a/rel"); err != nil || string(b) != "final q=1" {
		t.Errorf("relative redirect: %q, %v", b, err)
	}
	// Without MaxRedirects the redirect is the answer.
	resp, _, err = get(t, &HTTPClient{}, srv.URL+"/away")
	if err != nil || resp.StatusCode != http.StatusMovedPermanently {
		t.Errorf("got %v, %v; want the 301", resp, err)
	}
}

// The --ca-file pin: the server's certificate verifies against the given
// roots only; without them the handshake fails.
func TestHTTPClientTLSRoots(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())

	hc, err := newHTTPClient(&http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}})
	if err != nil {
		t.Fatal(err)
	}
	resp, b, err := get(t, hc, srv.URL+"/")
	if err != nil || string(b) != "HTTP/1.1" {
		t.Fatalf("pinned: %q, %v", b, err)
	}
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		t.Error("no TLS state in the response")
	}
	_, _, err = get(t, &HTTPClient{}, srv.URL+"/")
	var cv *tls.CertificateVerificationError
	if !errors.As(err, &cv) {
		t.Errorf("system roots: err = %v, want a verification error", err)
	}
	// A certificate for another name fails with the right roots too.
	other := &HTTPClient{TLSConfig: &tls.Config{RootCAs: pool, ServerName: "elsewhere.example"}}
	if _, _, err := get(t, other, srv.URL+"/"); !errors.As(err, &cv) {
		t.Errorf("wrong name: err = %v, want a verification error", err)
	}

	if _, err := newHTTPClient(&http.Client{Transport: roundTripFunc(nil)}); err == nil {
		t.Error("a custom RoundTripper was accepted")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A server that closes each connection after its answer (as a national one
// does with idle connections within seconds) sees the probe's later
// connections resume the TLS session, sparing both sides the certificate
// steps; a client without the pin's roots never gets a session to resume.
func TestHTTPClientTLSResumesSessions(t *testing.T) {
	var resumed []bool
	var mu sync.Mutex
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		resumed = append(resumed, r.TLS.DidResume)
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Config.SetKeepAlivesEnabled(false)
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())

	hc := &HTTPClient{TLSConfig: &tls.Config{RootCAs: pool}, Timeout: 5 * time.Second}
	for i := range 3 {
		if _, b, err := get(t, hc, srv.URL+"/"); err != nil || string(b) != "ok" {
			t.Fatalf("request %d: %q, %v", i, b, err)
		}
	}
	mu.Lock()
	got := append([]bool(nil), resumed...)
	mu.Unlock()
	if want := []bool{false, true, true}; !slices.Equal(got, want) {
		t.Errorf("resumed per connection = %v, want %v", got, want)
	}
	// The caller's TLSConfig is left as it was: the cache is the client's.
	if hc.TLSConfig.ClientSessionCache != nil {
		t.Error("the client wrote its session cache into the caller's TLSConfig")
	}
}
