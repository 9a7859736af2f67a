package notify

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// permanentError is a failure that retrying cannot fix: a 4xx answer, a
// chat the bot was removed from, a refused recipient.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return permanentError{err} }

func isPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// retryAfterError is a failure whose server said when to come back.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e retryAfterError) Error() string { return e.err.Error() }
func (e retryAfterError) Unwrap() error { return e.err }

func retryAfterOf(err error) time.Duration {
	var r retryAfterError
	if errors.As(err, &r) {
		return r.after
	}
	return 0
}

// statusError turns a non-2xx answer into an error classified for retry:
// 408, 429 and 5xx are worth another try (429 and 503 with the server's
// Retry-After), any other 4xx is permanent. A short excerpt of the body
// helps whoever reads the log.
func statusError(resp *http.Response, now time.Time) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	msg := strings.TrimSpace(string(excerpt))
	err := fmt.Errorf("HTTP %d", resp.StatusCode)
	if msg != "" {
		err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, msg)
	}
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		if d := parseRetryAfter(resp.Header.Get("Retry-After"), now); d > 0 {
			return retryAfterError{err, d}
		}
		return err
	case code == http.StatusRequestTimeout || code >= 500:
		return err
	case code >= 400:
		return permanent(err)
	}
	// 1xx/3xx: a redirect the client did not follow is a misconfigured URL.
	return permanent(err)
}

// parseRetryAfter reads either form of Retry-After: delay-seconds or an
// HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// redact removes every non-empty secret from s. Telegram puts the bot
// token in the request path, so Go's own HTTP errors ("Post
// \"https://api.telegram.org/bot123:ABC/sendMessage\": …") carry it.
func redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return s
}

// redactedError keeps an error's retry class while replacing its text.
// The original is dropped on purpose: unwrapping must not lead back to
// the secret.
func redactErr(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	out := errors.New(redact(err.Error(), secrets...))
	if d := retryAfterOf(err); d > 0 {
		return retryAfterError{out, d}
	}
	if isPermanent(err) {
		return permanent(out)
	}
	return out
}
