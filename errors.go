package jagadesa

import (
	"errors"
	"fmt"
)

// Error codes. Each becomes one HTTP status in exactly one place, the
// server's error renderer.
const (
	EInvalid      = "invalid"      // the request is malformed or fails validation
	EUnauthorized = "unauthorized" // no or wrong credentials
	EForbidden    = "forbidden"    // credentials valid, action not allowed
	ENotFound     = "not_found"
	EConflict     = "conflict"
	ETooLarge     = "too_large"   // body or decompressed body over the limit
	EUnavailable  = "unavailable" // a dependency (InfluxDB) is down: retry later
	ETooMany      = "too_many"    // the server is busy with others' requests: retry later
	EInternal     = "internal"
)

// Error is an application error a user may see. Anything that is not an
// *Error is logged and shown as "internal error".
type Error struct {
	Code     string
	Message  string
	Problems Problems
	Err      error // cause, for the log only
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of an application error, or EInternal.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}
