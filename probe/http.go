package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
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

// defaultHTTPClient is used when the check is given none. It keeps no
// connections between requests, so every round pays for (and measures) the
// DNS lookup, the TCP connect and the TLS handshake a villager's first
// visit would. It ignores proxy variables: the check measures the link.
var defaultHTTPClient = &http.Client{
	Transport: &http.Transport{
		DialContext:            (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: -1}).DialContext,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  20 * time.Second,
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: 64 << 10,
	},
	Timeout:       httpMaxTime,
	CheckRedirect: limitRedirects,
}

func limitRedirects(_ *http.Request, via []*http.Request) error {
	if len(via) > httpMaxRedirects {
		return fmt.Errorf("stopped after %d redirects", httpMaxRedirects)
	}
	return nil
}

// HTTPCheck fetches target (an http or https URL) with GET, following up to
// five redirects, and reads at most 1 MiB of the body. It uses opts.Client,
// or a client that verifies certificates and reuses no connection.
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
	client := defaultHTTPClient
	if opts.Client != nil {
		c := *opts.Client // a copy, so the caller's client is left as it was
		if c.CheckRedirect == nil {
			c.CheckRedirect = limitRedirects
		}
		client = &c
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
