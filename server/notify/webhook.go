package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jagadesa/jagadesa"
)

// Webhook headers.
const (
	HeaderEvent     = "X-JagaDesa-Event"
	HeaderTimestamp = "X-JagaDesa-Timestamp"
	HeaderSignature = "X-JagaDesa-Signature"
)

// DefaultTolerance is how old (or how far ahead) a webhook timestamp may be
// when VerifyWebhook is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// Errors of VerifyWebhook.
var (
	ErrBadSignature = errors.New("webhook signature missing or wrong")
	ErrBadTimestamp = errors.New("webhook timestamp missing, malformed or outside the tolerance")
)

// SignWebhook is the X-JagaDesa-Signature value for body sent at
// timestamp (Unix seconds): "sha256=" + hex HMAC-SHA256(secret,
// timestamp + "." + body). The timestamp is inside the signed material so
// a captured request cannot be replayed later with a fresh timestamp.
func SignWebhook(secret string, timestamp int64, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(secret, timestamp, body))
}

func mac(secret string, timestamp int64, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(strconv.FormatInt(timestamp, 10)))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// VerifyWebhook checks a JagaDesa webhook for a receiver: the signature
// over the raw body, and a timestamp within tolerance of now (0 means
// DefaultTolerance). It returns an error wrapping ErrBadTimestamp or
// ErrBadSignature. Receivers should also drop repeated (incident id, event)
// pairs: a retry after a lost answer re-sends the same notification.
func VerifyWebhook(secret string, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	ts, err := strconv.ParseInt(strings.TrimSpace(header.Get(HeaderTimestamp)), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s %q", ErrBadTimestamp, HeaderTimestamp, header.Get(HeaderTimestamp))
	}
	if skew := now.Sub(time.Unix(ts, 0)); skew > tolerance || skew < -tolerance {
		return fmt.Errorf("%w: %s off by %s", ErrBadTimestamp, HeaderTimestamp, skew.Round(time.Second))
	}
	sig, ok := strings.CutPrefix(strings.TrimSpace(header.Get(HeaderSignature)), "sha256=")
	if !ok {
		return fmt.Errorf("%w: no sha256= value in %s", ErrBadSignature, HeaderSignature)
	}
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac(secret, ts, body)) {
		return ErrBadSignature
	}
	return nil
}

func (d *Dispatcher) sendWebhook(ctx context.Context, ds dest, n jagadesa.Notification) error {
	body, err := json.Marshal(n)
	if err != nil {
		return permanent(fmt.Errorf("encode notification: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ds.addr, bytes.NewReader(body))
	if err != nil {
		return permanent(errors.New("invalid webhook url"))
	}
	ts := d.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "jagadesa/"+d.version)
	req.Header.Set(HeaderEvent, n.Event)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	if ds.secret != "" {
		req.Header.Set(HeaderSignature, SignWebhook(ds.secret, ts, body))
	}
	return d.post(req)
}

// post sends req and classifies the answer. Transport errors name the
// host only: a webhook's path or query may be its key.
func (d *Dispatcher) post(req *http.Request) error {
	resp, err := d.client.Do(req)
	if err != nil {
		cause := err
		var ue *url.Error
		if errors.As(err, &ue) {
			cause = ue.Err
		}
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Host, cause)
	}
	defer resp.Body.Close()
	return statusError(resp, d.now())
}
