package probe

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Doer sends an HTTP request and returns the response, as *http.Client
// does. The probe's own requests go through *HTTPClient; tests and the
// simulator may give a *http.Client instead.
type Doer interface {
	Do(req *http.Request) (*http.Response, error)
}

var _ Doer = (*HTTPClient)(nil)

// HTTPClient is the probe's HTTP/1.1 client, written over net and
// crypto/tls instead of net/http's Transport: on a MIPS router that
// transport (connection pool, HTTP/2 hooks, proxies, transparent gzip,
// multipart, cookies) is about 0.4 MB of flash the probe has no use for.
// It keeps what the probe needs:
//
//   - TLS with certificate verification, against the system's roots or
//     TLSConfig's RootCAs (the --ca-file pin); the server name is the URL's
//     host;
//   - request bodies of known length (Content-Length) or unknown length
//     (chunked); responses framed by Content-Length, chunked or the end of
//     the connection; 1xx responses skipped;
//   - a deadline from the request's context and from Timeout, covering the
//     whole exchange, response body included, as http.Client.Timeout does;
//   - redirects (GET and HEAD only) when MaxRedirects > 0;
//   - one kept-alive connection, reused while it is idle for less than 4 s
//     (a backlog's batches sent one after another); a request that fails on a
//     reused connection before any answer arrived is sent once more on a
//     new one, as net/http does;
//   - TLS session resumption (not in MIPS builds: session_noresume.go): a
//     national server closes idle connections within seconds to bound its
//     memory, so most rounds open a new connection, and a resumed session
//     spares the router the certificate chain's verification and the
//     server its certificate signature.
//
// It uses no proxy, sends no cookies and does not decompress. The net/http
// Request and Response types are only its data: http.NewRequestWithContext
// builds requests, and the response's Body must be closed.
type HTTPClient struct {
	// TLSConfig is cloned for each connection; nil verifies against the
	// system's roots. ServerName defaults to the URL's host.
	TLSConfig *tls.Config
	// Timeout bounds a whole request, redirects and the reading of the
	// response body included (0: only the request's context).
	Timeout time.Duration
	// MaxRedirects is how many redirects are followed; on one more, Do
	// returns the redirect response (its body closed) with an error. 0
	// returns every redirect response as it is.
	MaxRedirects int
	// DisableKeepAlives closes each connection after its one request.
	DisableKeepAlives bool
	// DialTimeout, TLSHandshakeTimeout and ResponseHeaderTimeout bound the
	// steps of a request within its deadline (0: no bound of their own).
	DialTimeout           time.Duration
	TLSHandshakeTimeout   time.Duration
	ResponseHeaderTimeout time.Duration
	// MaxHeaderBytes bounds a response's status line and header (default
	// 64 KiB).
	MaxHeaderBytes int
	// DialContext makes the TCP connection (nil: a net.Dialer without TCP
	// keep-alive probes).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	mu       sync.Mutex
	idle     *clientConn // at most one idle connection
	sessions tls.ClientSessionCache
}

// idleConnTimeout is how long an idle connection is kept for the next
// request: below the server's default --idle-timeout (5 s), so that the
// probe, not the server, closes it, and a request never goes out on a
// connection the server is closing. Live rounds a minute apart each open
// a connection and resume the TLS session.
const idleConnTimeout = 4 * time.Second

// defaultMaxHeaderBytes bounds a response header when MaxHeaderBytes is 0.
const defaultMaxHeaderBytes = 64 << 10

// clientConn is one connection and what its reuse needs to know.
type clientConn struct {
	key    string // scheme://host:port
	conn   net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	tls    *tls.ConnectionState
	idleAt time.Time
	reused bool
}

// sessionCache is the client's own TLS session cache, made on first use;
// nil where the build leaves resumption out (session_noresume.go).
func (c *HTTPClient) sessionCache() tls.ClientSessionCache {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessions == nil {
		c.sessions = newSessionCache()
	}
	return c.sessions
}

// CloseIdleConnections closes the kept-alive connection, if any.
func (c *HTTPClient) CloseIdleConnections() {
	c.mu.Lock()
	cc := c.idle
	c.idle = nil
	c.mu.Unlock()
	if cc != nil {
		cc.conn.Close()
	}
}

// Do sends req and returns the response. As with http.Client, an error
// answer (4xx, 5xx) is a response, not an error, and the caller must close
// the response's body. Errors never quote the URL.
func (c *HTTPClient) Do(req *http.Request) (*http.Response, error) {
	ctx, cancel := req.Context(), context.CancelFunc(func() {})
	if c.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
	}
	redirects := 0
	for {
		resp, err := c.send(ctx, req)
		if err != nil {
			cancel()
			return nil, err
		}
		loc := resp.Header.Get("Location")
		if c.MaxRedirects <= 0 || loc == "" || !isRedirect(resp.StatusCode) || (req.Method != http.MethodGet && req.Method != http.MethodHead) {
			resp.Body.(*clientBody).done = cancel // the Timeout ends with the body
			return resp, nil
		}
		// Let the connection be reused when the redirect's body is short.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 2<<10))
		resp.Body.Close()
		if redirects == c.MaxRedirects {
			cancel()
			return resp, fmt.Errorf("stopped after %d redirects", c.MaxRedirects)
		}
		redirects++
		next, err := req.URL.Parse(loc)
		if err != nil {
			cancel()
			return resp, fmt.Errorf("redirect to an unreadable location: %s", httpError(err))
		}
		nreq, err := http.NewRequestWithContext(req.Context(), req.Method, next.String(), nil)
		if err != nil {
			cancel()
			return resp, fmt.Errorf("redirect: %s", httpError(err))
		}
		for k, v := range req.Header {
			if next.Host != req.URL.Host && (k == "Authorization" || k == "Cookie") {
				continue // credentials stay with their host, as net/http does
			}
			nreq.Header[k] = slices.Clone(v)
		}
		req = nreq
	}
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// send makes one request on a connection: the idle one when it goes to
// the same place, else a new one.
func (c *HTTPClient) send(ctx context.Context, req *http.Request) (*http.Response, error) {
	u := req.URL
	if u == nil {
		return nil, errors.New("request without a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("unsupported protocol scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("no host in the request URL")
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	key := u.Scheme + "://" + addr
	hasBody := req.Body != nil && req.Body != http.NoBody
	var head strings.Builder
	if err := writeHead(&head, req, hasBody, c.DisableKeepAlives); err != nil {
		if hasBody {
			req.Body.Close()
		}
		return nil, err
	}
	if cc := c.takeIdle(key); cc != nil {
		resp, err, retry := c.exchange(ctx, cc, req, head.String())
		if !retry {
			return resp, err
		}
		// The server closed the idle connection before it read the
		// request: send it again on a new one.
		if hasBody {
			if req.GetBody == nil {
				return nil, err
			}
			body, gerr := req.GetBody()
			if gerr != nil {
				return nil, err
			}
			r2 := *req
			r2.Body = body
			req = &r2
		}
	}
	cc, err := c.dial(ctx, u.Scheme, addr, u.Hostname(), key)
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	resp, err, _ := c.exchange(ctx, cc, req, head.String())
	return resp, err
}

func (c *HTTPClient) takeIdle(key string) *clientConn {
	c.mu.Lock()
	cc := c.idle
	if cc != nil && cc.key == key {
		c.idle = nil
	} else {
		cc = nil
	}
	c.mu.Unlock()
	if cc != nil && time.Since(cc.idleAt) > idleConnTimeout {
		cc.conn.Close()
		return nil
	}
	if cc != nil {
		cc.reused = true
	}
	return cc
}

// putIdle keeps cc for the next request, closing the one it replaces.
func (c *HTTPClient) putIdle(cc *clientConn) {
	if c.DisableKeepAlives {
		cc.conn.Close()
		return
	}
	cc.idleAt = time.Now()
	c.mu.Lock()
	old := c.idle
	c.idle = cc
	c.mu.Unlock()
	if old != nil {
		old.conn.Close()
	}
}

// dial connects, and for https makes the TLS handshake with certificate
// verification.
func (c *HTTPClient) dial(ctx context.Context, scheme, addr, host, key string) (*clientConn, error) {
	dctx := ctx
	if c.DialTimeout > 0 {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, c.DialTimeout)
		defer cancel()
	}
	dial := c.DialContext
	if dial == nil {
		dial = (&net.Dialer{KeepAlive: -1}).DialContext
	}
	conn, err := dial(dctx, "tcp", addr)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	cc := &clientConn{key: key, conn: conn}
	if scheme == "https" {
		var cfg *tls.Config
		if c.TLSConfig != nil {
			cfg = c.TLSConfig.Clone()
		} else {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		if cfg.ClientSessionCache == nil {
			if sc := c.sessionCache(); sc != nil {
				cfg.ClientSessionCache = sc
			}
		}
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(conn, cfg)
		hctx := ctx
		if c.TLSHandshakeTimeout > 0 {
			var cancel context.CancelFunc
			hctx, cancel = context.WithTimeout(ctx, c.TLSHandshakeTimeout)
			defer cancel()
		}
		if err := tc.HandshakeContext(hctx); err != nil {
			conn.Close()
			return nil, ctxErr(ctx, err)
		}
		st := tc.ConnectionState()
		cc.conn, cc.tls = tc, &st
	}
	cc.br = bufio.NewReaderSize(cc.conn, 4<<10)
	cc.bw = bufio.NewWriterSize(cc.conn, 4<<10)
	return cc, nil
}

// ctxErr is the context's error when it ended (a closed connection is how
// its end shows), else err.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(err, cerr) {
			return err
		}
		return cerr
	}
	return err
}

// exchange writes req on cc and reads the response header. retry is true
// when cc was reused and the server closed it before answering: the
// caller may send the request again on a new connection.
func (c *HTTPClient) exchange(ctx context.Context, cc *clientConn, req *http.Request, head string) (resp *http.Response, err error, retry bool) {
	hasBody := req.Body != nil && req.Body != http.NoBody
	// The context's end closes the connection, which ends whatever read or
	// write is waiting on it.
	stop := context.AfterFunc(ctx, func() { cc.conn.Close() })
	// The body is written while the answer is read, so that a server that
	// answers early (a refusal before it read a large upload) is heard.
	wrote := make(chan error, 1)
	write := func() {
		_, err := cc.bw.WriteString(head)
		if err == nil && hasBody {
			err = writeBody(cc.bw, req.Body, req.ContentLength)
		}
		if err == nil {
			err = cc.bw.Flush()
		}
		if hasBody {
			req.Body.Close()
		}
		wrote <- err
	}
	if hasBody {
		go write()
	} else {
		write()
		if err := <-wrote; err != nil {
			stop()
			cc.conn.Close()
			return nil, ctxErr(ctx, err), cc.reused && ctx.Err() == nil
		}
		wrote <- nil
	}

	if c.ResponseHeaderTimeout > 0 {
		cc.conn.SetReadDeadline(time.Now().Add(c.ResponseHeaderTimeout))
	}
	maxHeader := c.MaxHeaderBytes
	if maxHeader <= 0 {
		maxHeader = defaultMaxHeaderBytes
	}
	resp, gotByte, err := readResponseHead(cc.br, maxHeader, httptrace.ContextClientTrace(req.Context()))
	if err == nil {
		if c.ResponseHeaderTimeout > 0 {
			cc.conn.SetReadDeadline(time.Time{})
		}
		resp.Request = req
		resp.TLS = cc.tls
		var body io.Reader
		var reusable bool
		body, reusable, err = bodyReader(resp, req.Method, cc.br)
		if err == nil {
			reusable = reusable && !c.DisableKeepAlives && !req.Close && !headerHas(req.Header, "Connection", "close")
			resp.Body = &clientBody{r: body, cc: cc, client: c, stop: stop, done: func() {}, wrote: wrote, reusable: reusable, ctx: ctx}
			return resp, nil, false
		}
	}
	// No usable answer: close (which ends the writer too) and say why.
	stop()
	cc.conn.Close()
	var werr error
	select {
	case werr = <-wrote:
	case <-time.After(100 * time.Millisecond): // a request body that blocks
	}
	switch {
	case ctx.Err() != nil:
		return nil, ctxErr(ctx, err), false
	case isDeadline(err) && c.ResponseHeaderTimeout > 0:
		return nil, fmt.Errorf("timeout awaiting response headers: %w", context.DeadlineExceeded), false
	case !gotByte && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)):
		if werr != nil && !errors.Is(werr, net.ErrClosed) {
			err = fmt.Errorf("server closed the connection without answering (sending: %w)", werr)
		} else {
			err = errors.New("server closed the connection without answering")
		}
		return nil, err, cc.reused
	}
	return nil, err, false
}

func isDeadline(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// writeHead writes the request line and header fields.
func writeHead(b *strings.Builder, req *http.Request, hasBody, closeConn bool) error {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if !validToken(method) {
		return fmt.Errorf("invalid method %q", method)
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	host = strings.TrimSuffix(host, ":")
	if !validValue(host) || strings.ContainsAny(host, " /?#@") {
		return errors.New("invalid host")
	}
	uri := req.URL.RequestURI()
	if !validValue(uri) || strings.Contains(uri, " ") {
		return errors.New("invalid request URI")
	}
	b.WriteString(method + " " + uri + " HTTP/1.1\r\nHost: " + host + "\r\n")
	if _, ok := req.Header["User-Agent"]; !ok {
		b.WriteString("User-Agent: " + HTTPUserAgent + "\r\n")
	}
	keys := make([]string, 0, len(req.Header))
	for k := range req.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch http.CanonicalHeaderKey(k) {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection", "Trailer":
			continue // this client's own
		}
		if !validToken(k) {
			return fmt.Errorf("invalid header name %q", k)
		}
		for _, v := range req.Header[k] {
			if !validValue(v) {
				return fmt.Errorf("invalid value of header %s", k)
			}
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	switch {
	case hasBody && req.ContentLength > 0:
		b.WriteString("Content-Length: " + strconv.FormatInt(req.ContentLength, 10) + "\r\n")
	case hasBody:
		b.WriteString("Transfer-Encoding: chunked\r\n")
	case method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch:
		b.WriteString("Content-Length: 0\r\n")
	}
	if closeConn || req.Close {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n")
	return nil
}

// validToken: a method or field name (RFC 9110 token).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validValue: no control characters but tab (no header injection).
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// writeBody writes n bytes of body, or all of it chunked when n <= 0.
func writeBody(w *bufio.Writer, body io.Reader, n int64) error {
	if n > 0 {
		m, err := io.Copy(w, io.LimitReader(body, n))
		if err == nil && m < n {
			err = fmt.Errorf("request body shorter than its Content-Length (%d of %d bytes)", m, n)
		}
		return err
	}
	buf := make([]byte, 32<<10)
	for {
		k, err := body.Read(buf)
		if k > 0 {
			w.WriteString(strconv.FormatInt(int64(k), 16) + "\r\n")
			w.Write(buf[:k])
			if _, werr := w.WriteString("\r\n"); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			_, err = w.WriteString("0\r\n\r\n")
			return err
		}
		if err != nil {
			return err
		}
	}
}

// readLine reads one line of a response head, without its CRLF, counting
// it against *budget.
func readLine(br *bufio.Reader, budget *int) (string, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		*budget -= len(frag)
		if *budget < 0 {
			return "", errors.New("response header too large")
		}
		line = append(line, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		break
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return string(line), nil
}

// readResponseHead reads the status line and header of the final response,
// skipping 1xx ones. gotByte tells whether any of the answer arrived.
func readResponseHead(br *bufio.Reader, max int, trace *httptrace.ClientTrace) (resp *http.Response, gotByte bool, err error) {
	for informational := 0; ; informational++ {
		if _, err := br.Peek(1); err != nil {
			return nil, gotByte, err
		}
		gotByte = true
		if trace != nil && trace.GotFirstResponseByte != nil {
			trace.GotFirstResponseByte()
		}
		budget := max
		line, err := readLine(br, &budget)
		if err != nil {
			return nil, true, err
		}
		proto, status, _ := strings.Cut(line, " ")
		code, reason, _ := strings.Cut(status, " ")
		resp = &http.Response{Proto: proto, ProtoMajor: 1, Header: http.Header{}}
		switch proto {
		case "HTTP/1.1":
			resp.ProtoMinor = 1
		case "HTTP/1.0":
		default:
			return nil, true, fmt.Errorf("malformed HTTP response %q", clip(line, 40))
		}
		if len(code) != 3 || code[0] < '1' || code[0] > '5' {
			return nil, true, fmt.Errorf("malformed HTTP status code %q", clip(code, 10))
		}
		resp.StatusCode, err = strconv.Atoi(code)
		if err != nil {
			return nil, true, fmt.Errorf("malformed HTTP status code %q", clip(code, 10))
		}
		resp.Status = code + " " + strings.TrimSpace(reason)
		var last string
		for {
			line, err := readLine(br, &budget)
			if err != nil {
				return nil, true, err
			}
			if line == "" {
				break
			}
			if line[0] == ' ' || line[0] == '\t' { // obsolete line folding
				if last == "" {
					return nil, true, errors.New("malformed HTTP header")
				}
				vs := resp.Header[last]
				vs[len(vs)-1] += " " + strings.TrimSpace(line)
				continue
			}
			name, value, ok := strings.Cut(line, ":")
			if !ok || !validToken(name) {
				return nil, true, fmt.Errorf("malformed HTTP header line %q", clip(line, 40))
			}
			last = http.CanonicalHeaderKey(name)
			resp.Header[last] = append(resp.Header[last], strings.TrimSpace(value))
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, true, nil
		}
		if informational == 5 {
			return nil, true, errors.New("too many 1xx responses")
		}
	}
}

// headerHas reports whether the comma-separated field name lists token.
func headerHas(h http.Header, name, token string) bool {
	for _, v := range h[name] {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// bodyReader frames the response body (RFC 9112, section 6.3) and tells
// whether the connection may carry another request after it.
func bodyReader(resp *http.Response, method string, br *bufio.Reader) (io.Reader, bool, error) {
	keep := resp.ProtoMinor == 1 && !headerHas(resp.Header, "Connection", "close")
	if method == http.MethodHead || resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified {
		resp.ContentLength = 0
		return eofReader{}, keep, nil
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return nil, false, errors.New("unexpected 101 Switching Protocols")
	}
	if te := resp.Header["Transfer-Encoding"]; len(te) > 0 {
		if len(te) != 1 || !strings.EqualFold(strings.TrimSpace(te[0]), "chunked") {
			return nil, false, fmt.Errorf("unsupported transfer encoding %q", clip(strings.Join(te, ","), 40))
		}
		delete(resp.Header, "Content-Length")
		resp.ContentLength = -1
		resp.TransferEncoding = []string{"chunked"}
		return &chunkedReader{br: br}, keep, nil
	}
	if cl := resp.Header["Content-Length"]; len(cl) > 0 {
		var n int64 = -1
		for _, v := range cl {
			for f := range strings.SplitSeq(v, ",") {
				m, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
				if err != nil || m < 0 || (n >= 0 && m != n) {
					return nil, false, fmt.Errorf("invalid Content-Length %q", clip(strings.Join(cl, ","), 40))
				}
				n = m
			}
		}
		resp.ContentLength = n
		return &lengthReader{r: br, left: n}, keep, nil
	}
	resp.ContentLength = -1
	return br, false, nil // to the end of the connection
}

// eofReader is an empty body.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// lengthReader reads a body of known length; an early end is an error.
type lengthReader struct {
	r    io.Reader
	left int64
}

func (l *lengthReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if err == io.EOF {
		if l.left > 0 {
			return n, io.ErrUnexpectedEOF
		}
		err = nil
	}
	if err == nil && l.left == 0 {
		err = io.EOF
	}
	return n, err
}

// chunkedReader decodes a chunked body, trailers skipped.
type chunkedReader struct {
	br   *bufio.Reader
	left int64 // of the current chunk
	data bool  // inside a chunk's data
	done bool
}

// maxChunkLine bounds a chunk-size line (extensions included).
const maxChunkLine = 4 << 10

func (c *chunkedReader) Read(p []byte) (int, error) {
	for !c.done {
		if c.data && c.left > 0 {
			if int64(len(p)) > c.left {
				p = p[:c.left]
			}
			n, err := c.br.Read(p)
			c.left -= int64(n)
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
		budget := maxChunkLine
		if c.data { // the CRLF after a chunk's data
			line, err := readLine(c.br, &budget)
			if err != nil {
				return 0, eofIsUnexpected(err)
			}
			if line != "" {
				return 0, errors.New("malformed chunked encoding")
			}
			c.data = false
		}
		line, err := readLine(c.br, &budget)
		if err != nil {
			return 0, eofIsUnexpected(err)
		}
		size, _, _ := strings.Cut(line, ";")
		n, err := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
		if err != nil || n < 0 || n > 1<<40 {
			return 0, errors.New("malformed chunked encoding")
		}
		if n == 0 {
			for { // trailers, then the empty line
				budget := defaultMaxHeaderBytes
				line, err := readLine(c.br, &budget)
				if err != nil {
					return 0, eofIsUnexpected(err)
				}
				if line == "" {
					break
				}
			}
			c.done = true
			break
		}
		c.left, c.data = n, true
	}
	return 0, io.EOF
}

func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// clientBody is a response body. Read to its end, it gives the connection
// back for reuse; closed early, it closes the connection.
type clientBody struct {
	r        io.Reader
	cc       *clientConn
	client   *HTTPClient
	stop     func() bool        // undoes the context's hold on the connection
	done     context.CancelFunc // the request's Timeout
	wrote    chan error         // the request writer's result (buffered)
	ctx      context.Context
	reusable bool

	mu       sync.Mutex
	finished bool
	err      error
}

func (b *clientBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	finished, ferr := b.finished, b.err
	b.mu.Unlock()
	if finished {
		if ferr != nil {
			return 0, ferr
		}
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	if err == nil {
		return n, nil
	}
	whole := err == io.EOF
	if !whole {
		err = ctxErr(b.ctx, err)
	}
	b.mu.Lock()
	if !b.finished {
		b.err = err
		if whole {
			b.err = nil
		}
		b.finish(whole)
	}
	b.mu.Unlock()
	return n, err
}

// Close ends the body; before its end, that closes the connection.
func (b *clientBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.finished {
		b.err = errors.New("read on a closed response body")
		b.finish(false)
	}
	return nil
}

// finish releases the connection: for reuse after a whole body whose
// request went out whole, else closed.
func (b *clientBody) finish(whole bool) {
	b.finished = true
	keep := whole && b.reusable && b.stop()
	if keep {
		select {
		case werr := <-b.wrote:
			keep = werr == nil
		default:
			keep = false // the server answered before it had the whole request
		}
	}
	if keep {
		b.client.putIdle(b.cc)
	} else {
		b.stop()
		b.cc.conn.Close() // also ends a writer still sending the request
	}
	b.done()
}

// doVia sends req with the probe's HTTPClient set up as c is (see
// newHTTPClient): for the functions that take the command's *http.Client.
// Calling c.Do would link net/http's transport into the router binary.
func doVia(c *http.Client, req *http.Request) (*http.Response, error) {
	hc, err := newHTTPClient(c)
	if err != nil {
		return nil, err
	}
	return hc.Do(req)
}

// newHTTPClient is the client for the JagaDesa server from the one the
// command made (*http.Client with, for --ca-file, an *http.Transport
// holding the roots): its TLS settings and timeout, on the probe's own
// client. A custom RoundTripper cannot be honoured without linking
// net/http's transport into the router binary, so it is refused.
func newHTTPClient(c *http.Client) (*HTTPClient, error) {
	hc := &HTTPClient{Timeout: 30 * time.Second, DialTimeout: 30 * time.Second, TLSHandshakeTimeout: 10 * time.Second}
	if c == nil {
		return hc, nil
	}
	hc.Timeout = c.Timeout
	switch t := c.Transport.(type) {
	case nil:
	case *http.Transport:
		if t.TLSClientConfig != nil {
			hc.TLSConfig = t.TLSClientConfig.Clone()
		}
		if t.DisableKeepAlives {
			hc.DisableKeepAlives = true
		}
	default:
		return nil, errors.New("probe: only an *http.Transport's TLS settings can be used for the server's client")
	}
	return hc, nil
}
