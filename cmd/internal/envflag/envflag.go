// Package envflag gives flags their defaults from JAGADESA_* environment
// variables, the same way in both binaries.
package envflag

import (
	"strconv"
	"strings"
	"time"
)

// Getenv is os.Getenv, or a test's stand-in.
type Getenv func(string) string

// String returns the variable, or def when it is unset or empty.
func (g Getenv) String(key, def string) string {
	if v := g(key); v != "" {
		return v
	}
	return def
}

// Duration returns the variable parsed as a duration, or def.
func (g Getenv) Duration(key string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(g(key)); err == nil {
		return d
	}
	return def
}

// Int returns the variable parsed as an integer, or def.
func (g Getenv) Int(key string, def int) int {
	if n, err := strconv.Atoi(g(key)); err == nil {
		return n
	}
	return def
}

// Bool returns the variable parsed as a boolean, or def.
func (g Getenv) Bool(key string, def bool) bool {
	if b, err := strconv.ParseBool(g(key)); err == nil {
		return b
	}
	return def
}

// List is a repeatable flag.
type List []string

func (l *List) String() string { return strings.Join(*l, ",") }

// Set appends one value.
func (l *List) Set(v string) error { *l = append(*l, v); return nil }
