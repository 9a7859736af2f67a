package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/jagadesa/jagadesa"
)

// Bounds of an HTTP check.
const (
	// httpMaxTime caps one request, redirects and body included, when the
	// caller's deadline is further away: a portal that takes longer has
	// failed the villager who waits for it.
	httpMaxTime = 30 * time.Second
	// httpMaxBody is how much of the body is read: enough to time a page,
	// not so much that a large download eats a metered village link.
	httpMaxBody = 1 << 20
	// httpMaxRedirects matches what a portal reasonably needs (http to
	// https, to a login or language page) while catching loops early.
	httpMaxRedirects = 5
	// httpMaxError keeps an error message readable on a dashboard.
	httpMaxError = 256
)

// HTTPUserAgent is what the probe sends, so portal operators can recognise
// (and not block) the monitoring traffic in their logs.
const HTTPUserAgent = "jagadesa-probe"

// newCheckClient is the client a check uses when it is given none. It
// keeps no connection between requests, so every round pays for (and
// measures) the DNS lookup, the TCP connect and the TLS handshake a
// villager's first visit would. It verifies certificates against the
// system's roots and uses no proxy: the check measures the link.
func newCheckClient() *HTTPClient {
	return &HTTPClient{
		Timeout:               httpMaxTime,
		MaxRedirects:          httpMaxRedirects,
		DisableKeepAlives:     true,
		DialTimeout:           10 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 20 * time.Second,
		MaxHeaderBytes:        64 << 10,
	}
}

// HTTPCheck fetches target (an http or https URL) with GET, following up to
// five redirects, and reads at most 1 MiB of the body (as it comes over the
// wire: it asks for gzip, as browsers do, and does not inflate). It uses
// opts.Client, or a client that verifies certificates and reuses no
// connection.
//
// It records the final status code, OK (a status below 400 arrived and its
// body could be read), the time to the first byte of the final response and
// to the end of the body (both from the start of the request, redirects
// included), the expiry of the server's leaf certificate (also when
// verification fails, so an expired certificate shows its date) and a short
// error that never contains the URL, which may carry a token.
//
// An unreachable or failing service is a sample with OK false. Only a target
// that is not an http(s) URL returns an error.
func HTTPCheck(ctx context.Context, target string, opts CheckOptions) (jagadesa.Sample, error) {
	u, err := url.Parse(target)
	if err != nil {
		return jagadesa.Sample{}, fmt.Errorf("http: target is not a URL: %s", httpError(err))
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return jagadesa.Sample{}, fmt.Errorf("http %s: want an http:// or https:// URL with a host", u.Redacted())
	}
	client := opts.Client
	if client == nil {
		client = newCheckClient()
	}

	ctx, cancel := context.WithTimeout(ctx, httpMaxTime)
	defer cancel()
	start := time.Now()
	var ttfb atomic.Int64 // set from the transport's goroutine
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		// Called once per response, redirects included: the last call is the
		// final page's first byte.
		GotFirstResponseByte: func() { ttfb.Store(int64(time.Since(start))) },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return jagadesa.Sample{}, fmt.Errorf("http %s: %w", u.Redacted(), err)
	}
	req.Header.Set("User-Agent", HTTPUserAgent)
	req.Header.Set("Accept-Encoding", "gzip")

	h := &jagadesa.HTTP{}
	resp, err := client.Do(req)
	if resp != nil {
		// With a redirect error the client returns the last response too,
		// its body already closed.
		h.StatusCode = resp.StatusCode
		h.CertExpiresMs = leafExpiry(resp.TLS)
		if err == nil {
			_, rerr := io.Copy(io.Discard, io.LimitReader(resp.Body, httpMaxBody))
			resp.Body.Close()
			switch {
			case rerr != nil:
				err = fmt.Errorf("reading body: %w", rerr)
			case resp.StatusCode >= 400:
				h.Error = fmt.Sprintf("HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
			default:
				h.OK = true
			}
		}
	}
	h.TotalMs = float64(time.Since(start)) / float64(time.Millisecond)
	h.TTFBMs = float64(ttfb.Load()) / float64(time.Millisecond)
	if err != nil {
		h.OK = false
		h.Error = httpError(err)
		var cv *tls.CertificateVerificationError
		if h.CertExpiresMs == 0 && errors.As(err, &cv) && len(cv.UnverifiedCertificates) > 0 {
			// The handshake failed on verification: the certificate it
			// rejected is in the error, and its expiry is likely the reason.
			h.CertExpiresMs = cv.UnverifiedCertificates[0].NotAfter.UnixMilli()
		}
	}
	return jagadesa.Sample{TimeMs: start.UnixMilli(), Kind: jagadesa.KindHTTP, Target: target, HTTP: h}, nil
}

// leafExpiry is the server certificate's NotAfter in Unix ms, or 0 without
// TLS.
func leafExpiry(cs *tls.ConnectionState) int64 {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return 0
	}
	return cs.PeerCertificates[0].NotAfter.UnixMilli()
}

// httpError is a short message for err. The client wraps errors in a
// *url.Error that quotes the URL, query string and all; the target is in the
// sample already, so only the cause is kept.
func httpError(err error) string {
	var ue *url.Error
	for errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	if errors.Is(err, context.DeadlineExceeded) {
		msg = "timeout: " + msg
	}
	if len(msg) > httpMaxError {
		msg = msg[:httpMaxError-3] + "..."
	}
	return msg
}
