// Package probe is the measurement agent that runs on a village router: it
// runs checks on an interval, keeps every result in a crash-safe spool on
// disk, and uploads the spool to the JagaDesa server when the link allows.
// It imports only the standard library, pro-bing and the shared domain
// package, so the binary stays small enough for OpenWrt flash.
package probe

import (
	"context"
	"time"

	"github.com/jagadesa/jagadesa"
)

// CheckFunc measures one target once and returns the sample. The caller sets
// the deadline through ctx; a check honours it and returns what it measured
// so far. Seq is filled in later, by the spool.
type CheckFunc func(ctx context.Context, target string, opts CheckOptions) (jagadesa.Sample, error)

// CheckOptions tune a check, like a blackbox_exporter module.
type CheckOptions struct {
	Count      int           // packets per ICMP round
	Interval   time.Duration // between packets
	Privileged bool          // raw ICMP socket rather than unprivileged UDP ping
	Resolver   string        // dns: "" for the system resolver, else host:port
	Client     Doer          // http: the client to use (nil: the probe's, five redirects, no keep-alive)
}

// job is one check the round runs.
type job struct {
	kind, target string
	opts         CheckOptions
}

// checks maps a kind to its implementation, one file per kind.
var checks = map[string]CheckFunc{
	jagadesa.KindICMP: ICMPCheck,
	jagadesa.KindDNS:  DNSCheck,
	jagadesa.KindHTTP: HTTPCheck,
}
