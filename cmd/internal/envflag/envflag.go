// Package envflag gives flags their defaults from JAGADESA_* environment
// variables, the same way in both binaries.
package envflag

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Env reads flag defaults from the environment. A variable that is set
// but malformed is an error (Err), never a silent fallback to the default:
// JAGADESA_GRACE=15 (no unit) must not quietly become 15 s or the default.
type Env struct {
	get  func(string) string
	errs []error
}

// New reads from get (os.Getenv, or a test's stand-in).
func New(get func(string) string) *Env { return &Env{get: get} }

// Getenv is New, for callers that name the type.
func Getenv(get func(string) string) *Env { return New(get) }

// Err reports every malformed variable read so far.
func (e *Env) Err() error { return errors.Join(e.errs...) }

func (e *Env) bad(key, v, want string) {
	e.errs = append(e.errs, fmt.Errorf("%s=%q is not %s", key, v, want))
}

// String returns the variable, or def when it is unset or empty.
func (e *Env) String(key, def string) string {
	if v := e.get(key); v != "" {
		return v
	}
	return def
}

// Duration returns the variable parsed as a duration, or def when unset.
func (e *Env) Duration(key string, def time.Duration) time.Duration {
	v := e.get(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.bad(key, v, "a duration such as 15s or 2m")
		return def
	}
	return d
}

// Int returns the variable parsed as an integer, or def when unset.
func (e *Env) Int(key string, def int) int {
	v := e.get(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.bad(key, v, "a whole number")
		return def
	}
	return n
}

// Bool returns the variable parsed as a boolean, or def when unset.
func (e *Env) Bool(key string, def bool) bool {
	v := e.get(key)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.bad(key, v, "true or false")
		return def
	}
	return b
}

// List is a repeatable flag.
type List []string

func (l *List) String() string { return strings.Join(*l, ",") }

// Set appends one value.
func (l *List) Set(v string) error { *l = append(*l, v); return nil }
