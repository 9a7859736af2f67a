package probe

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// lanHTTPServer is the smallest HTTP/1.1 server the LAN speed-test page
// needs, written over net: net/http's Server and ServeMux cost 320 KiB of
// the mipsle binary (measured), more than the flash budget has left. It
// runs an http.Handler, so the handlers are tested with net/http/httptest
// like any other, and keeps only this:
//
//   - HTTP/1.1 and 1.0 requests with a Content-Length body or none (a
//     chunked request is refused with 501: browsers send a Blob or a string
//     with its length; nor is Expect: 100-continue answered, which browsers
//     do not send);
//   - keep-alive, so the page's latency pings reuse one connection;
//   - responses framed by the Content-Length the handler sets, else by the
//     end of the connection;
//   - bounds: MaxConns connections (more are closed at once), a header of
//     at most MaxHeaderBytes read within HeaderTimeout, IOTimeout for the
//     body and the answer, IdleTimeout between requests.
//
// It never logs a client's address.
type lanHTTPServer struct {
	_              noEq
	Handler        http.Handler
	MaxConns       int
	MaxHeaderBytes int
	HeaderTimeout  time.Duration
	IdleTimeout    time.Duration
	IOTimeout      time.Duration
}

// serve accepts connections on ln until ctx ends, then closes ln and every
// connection and returns when their goroutines have.
func (s *lanHTTPServer) serve(ctx context.Context, ln net.Listener) error {
	var (
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		wg    sync.WaitGroup
		done  bool
	)
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		done = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	slots := make(chan struct{}, max(s.MaxConns, 1))
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				wg.Wait()
				return ctx.Err()
			}
			// Out of file descriptors and the like: wait, do not spin.
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			c.Close() // full: a phone retries, a flood does not pile up
			continue
		}
		mu.Lock()
		if done {
			mu.Unlock()
			c.Close()
			<-slots
			continue
		}
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Go(func() {
			defer func() {
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
				c.Close()
				<-slots
			}()
			s.conn(ctx, c)
		})
	}
}

// conn serves one connection's requests in turn.
func (s *lanHTTPServer) conn(ctx context.Context, c net.Conn) {
	br := bufio.NewReaderSize(c, 4<<10)
	bw := bufio.NewWriterSize(c, 32<<10)
	wait := s.HeaderTimeout
	for {
		_ = c.SetReadDeadline(time.Now().Add(wait))
		if _, err := br.Peek(1); err != nil {
			return // closed, or idle too long
		}
		_ = c.SetReadDeadline(time.Now().Add(s.HeaderTimeout))
		req, status, err := readLANRequest(br, s.MaxHeaderBytes)
		if err != nil {
			w := &lanResponse{bw: bw, header: http.Header{}} // a few bytes: the socket buffer takes them
			lanError(w, status, "bad_request", err.Error())
			w.finish()
			return
		}
		keepAlive := req.ProtoAtLeast(1, 1) && !headerHas(req.Header, "Connection", "close")
		_ = c.SetDeadline(time.Now().Add(s.IOTimeout))
		req.RemoteAddr = c.RemoteAddr().String()
		w := &lanResponse{bw: bw, header: http.Header{}, keepAlive: keepAlive}
		s.Handler.ServeHTTP(w, req.WithContext(ctx))
		w.finish()
		if w.err != nil || !w.keepAlive {
			return
		}
		// A body the handler left unread ends the connection: the next
		// request would start inside it.
		var one [1]byte
		if n, _ := req.Body.Read(one[:]); n > 0 {
			return
		}
		wait = s.IdleTimeout
	}
}

// Errors of a request the server refuses before its handler.
var (
	errHeaderTooLarge = errors.New("header too large")  // 431
	errBadRequest     = errors.New("malformed request") // 400
	errChunked        = errors.New("no chunked bodies") // 501
)

// readLANRequest reads a request head and frames its body. On an error it
// returns the status to answer with.
func readLANRequest(br *bufio.Reader, maxHeader int) (*http.Request, int, error) {
	budget := max(maxHeader, 1024)
	line, err := readLine(br, &budget)
	if budget < 0 {
		return nil, http.StatusRequestHeaderFieldsTooLarge, errHeaderTooLarge
	}
	if err != nil {
		return nil, http.StatusBadRequest, errBadRequest
	}
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !validToken(method) || !strings.HasPrefix(target, "/") {
		return nil, http.StatusBadRequest, errBadRequest
	}
	req := &http.Request{Method: method, RequestURI: target, Proto: proto, Header: http.Header{}, Body: http.NoBody}
	switch proto {
	case "HTTP/1.1":
		req.ProtoMajor, req.ProtoMinor = 1, 1
	case "HTTP/1.0":
		req.ProtoMajor, req.ProtoMinor = 1, 0
	default:
		return nil, http.StatusHTTPVersionNotSupported, errBadRequest
	}
	// The page's paths are plain ASCII: no unescaping is needed.
	path, query, _ := strings.Cut(target, "?")
	req.URL = &url.URL{Path: path, RawQuery: query}
	for {
		line, err := readLine(br, &budget)
		if budget < 0 {
			return nil, http.StatusRequestHeaderFieldsTooLarge, errHeaderTooLarge
		}
		if err != nil {
			return nil, http.StatusBadRequest, errBadRequest
		}
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || !validToken(k) || !validValue(v) {
			return nil, http.StatusBadRequest, errBadRequest
		}
		req.Header.Add(http.CanonicalHeaderKey(k), strings.TrimSpace(v))
	}
	hosts := req.Header["Host"]
	if len(hosts) > 1 || (len(hosts) == 0 && req.ProtoAtLeast(1, 1)) {
		return nil, http.StatusBadRequest, errBadRequest
	}
	req.Host = req.Header.Get("Host")
	req.Header.Del("Host")
	if _, ok := req.Header["Transfer-Encoding"]; ok {
		return nil, http.StatusNotImplemented, errChunked
	}
	if cls := req.Header["Content-Length"]; len(cls) > 0 {
		n, err := strconv.ParseInt(cls[0], 10, 64)
		if err != nil || n < 0 || len(cls) > 1 {
			return nil, http.StatusBadRequest, errBadRequest
		}
		req.ContentLength = n
		if n > 0 {
			req.Body = io.NopCloser(io.LimitReader(br, n))
		}
	}
	return req, 0, nil
}

// lanResponse is the http.ResponseWriter of lanHTTPServer.
type lanResponse struct {
	bw          *bufio.Writer
	header      http.Header
	keepAlive   bool
	wroteHeader bool
	left        int64 // body bytes the Content-Length still allows; -1: until the connection ends
	noBody      bool
	err         error
}

var _ http.ResponseWriter = (*lanResponse)(nil)

func (w *lanResponse) Header() http.Header { return w.header }

// WriteHeader sends the status line and the header. Without a
// Content-Length the body ends with the connection.
func (w *lanResponse) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	w.left = -1
	w.noBody = code == http.StatusNoContent || code == http.StatusNotModified || code < 200
	if w.noBody {
		w.header.Del("Content-Length")
		w.left = 0
	} else if n, err := strconv.ParseInt(w.header.Get("Content-Length"), 10, 64); err == nil && n >= 0 {
		w.left = n
	} else {
		w.header.Del("Content-Length")
		w.keepAlive = false
	}
	if !w.keepAlive {
		w.header.Set("Connection", "close")
	}
	b := w.bw
	b.WriteString("HTTP/1.1 " + strconv.Itoa(code) + " " + http.StatusText(code) + "\r\n")
	for k, vs := range w.header {
		for _, v := range vs {
			if validToken(k) && validValue(v) {
				b.WriteString(k + ": " + v + "\r\n")
			}
		}
	}
	_, w.err = b.WriteString("\r\n")
}

// Write sends body bytes, never more than the Content-Length.
func (w *lanResponse) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.noBody {
		return 0, http.ErrBodyNotAllowed
	}
	short := false
	if w.left >= 0 && int64(len(p)) > w.left {
		p, short = p[:w.left], true
	}
	n, err := w.bw.Write(p)
	if w.left >= 0 {
		w.left -= int64(n)
	}
	if err != nil {
		w.err = err
		return n, err
	}
	if short {
		return n, http.ErrContentLength
	}
	return n, nil
}

// finish completes the answer: an empty one when the handler wrote
// nothing, and the connection closed when the body fell short of its
// Content-Length.
func (w *lanResponse) finish() {
	if !w.wroteHeader {
		w.header.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	}
	if w.left > 0 {
		w.keepAlive = false
	}
	if w.err == nil {
		w.err = w.bw.Flush()
	}
}
