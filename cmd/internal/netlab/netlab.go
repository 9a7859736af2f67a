// Package netlab builds small network laboratories for measurement tests: two
// network namespaces joined by a veth pair, with private addresses that exist
// only inside them, commands run in either namespace, and a userspace ICMP
// echo responder with a configured delay and loss (responder.go). Tests use
// it to hold the probe's measurements against a known ground truth.
//
// Everything here needs root and iproute2 (`ip netns`). Nothing is created
// outside the two namespaces, and Close removes them and ends every process
// left inside.
package netlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Addresses of a lab: a /30 inside the two namespaces only. They are never
// configured in the host's own namespace, so they cannot clash with, or
// reach, any real network.
var (
	NearAddr = netip.MustParseAddr("10.200.0.1")
	FarAddr  = netip.MustParseAddr("10.200.0.2")
)

// Interface names inside the namespaces.
const (
	NearIf = "jdnear0"
	FarIf  = "jdfar0"
)

// RoleEnv names the environment variable that tells a re-executed test
// binary which helper to be (see SelfCommand). A test's TestMain checks it
// before running any test.
const RoleEnv = "JAGADESA_NETLAB_ROLE"

// cmdTimeout bounds every set-up command; none should take a second.
const cmdTimeout = 10 * time.Second

var labSeq atomic.Int64

// Lab is two network namespaces, Near and Far, joined by a veth pair: NearIf
// with NearAddr in Near, FarIf with FarAddr in Far, and loopback up in both.
type Lab struct {
	Near, Far string // namespace names, unique to this process and lab
}

// Check reports why a lab cannot be built here: not root, or no usable
// `ip netns`.
func Check() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("netlab needs root (network namespaces, raw sockets); running as uid %d", os.Geteuid())
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("netlab needs iproute2's ip (apt-get install iproute2): %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ip", "netns", "list").CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns unavailable: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// New creates the two namespaces and the veth pair between them. Names are
// jd-a-<pid>-<n> and jd-b-<pid>-<n>, so parallel test runs do not meet. On
// error nothing is left behind; otherwise the caller must Close the lab
// (t.Cleanup), also when the test fails.
func New(ctx context.Context) (lab *Lab, err error) {
	if err := Check(); err != nil {
		return nil, err
	}
	n := labSeq.Add(1)
	l := &Lab{
		Near: fmt.Sprintf("jd-a-%d-%d", os.Getpid(), n),
		Far:  fmt.Sprintf("jd-b-%d-%d", os.Getpid(), n),
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, l.Close())
		}
	}()
	steps := [][]string{
		{"netns", "add", l.Near},
		{"netns", "add", l.Far},
		// Created inside Near with its peer inside Far: the pair never
		// appears in the host's namespace.
		{"-n", l.Near, "link", "add", NearIf, "type", "veth", "peer", "name", FarIf, "netns", l.Far},
		{"-n", l.Near, "addr", "add", NearAddr.String() + "/30", "dev", NearIf},
		{"-n", l.Far, "addr", "add", FarAddr.String() + "/30", "dev", FarIf},
		{"-n", l.Near, "link", "set", "lo", "up"},
		{"-n", l.Far, "link", "set", "lo", "up"},
		{"-n", l.Near, "link", "set", NearIf, "up"},
		{"-n", l.Far, "link", "set", FarIf, "up"},
	}
	for _, s := range steps {
		if _, err := ip(ctx, s...); err != nil {
			return l, err
		}
	}
	return l, nil
}

// ip runs one iproute2 command, bounded, with its output in the error.
func ip(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// Command is name with args, to run inside namespace ns (ip netns exec). It
// is killed when ctx ends, and its output pipes are given up a second later.
func (l *Lab) Command(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
	cmd.WaitDelay = time.Second
	return cmd
}

// Run runs name with args inside ns and returns its standard output. The
// error carries the standard error.
func (l *Lab) Run(ctx context.Context, ns, name string, args ...string) ([]byte, error) {
	cmd := l.Command(ctx, ns, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s in %s: %v: %s", name, strings.Join(args, " "), ns, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// SelfCommand re-executes the running (test) binary inside ns as helper
// role: RoleEnv=role and env (KEY=VALUE) are added to its environment. The
// binary's TestMain must dispatch on RoleEnv before running tests.
func (l *Lab) SelfCommand(ctx context.Context, ns, role string, env ...string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own binary: %w", err)
	}
	// -test.run matching nothing: should the dispatch be missing, the
	// helper runs no tests rather than the whole suite again.
	cmd := l.Command(ctx, ns, self, "-test.run=^$")
	cmd.Env = append(append(os.Environ(), RoleEnv+"="+role), env...)
	return cmd, nil
}

// Sysctl sets key (dotted, as sysctl(8) spells it) to value inside ns.
func (l *Lab) Sysctl(ctx context.Context, ns, key, value string) error {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	_, err := l.Run(ctx, ns, "sysctl", "-q", "-w", key+"="+value)
	return err
}

// Shape limits what dev in ns sends to rate (tc's syntax, e.g. "100mbit")
// with a token-bucket filter. netem is not needed and often absent; tbf is
// in every kernel. burst is the bucket size (e.g. "64kb"), latency the
// longest a packet may queue (e.g. "50ms").
func (l *Lab) Shape(ctx context.Context, ns, dev, rate, burst, latency string) error {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	_, err := l.Run(ctx, ns, "tc", "qdisc", "replace", "dev", dev, "root", "tbf",
		"rate", rate, "burst", burst, "latency", latency)
	return err
}

// Close ends every process still inside either namespace (only what the
// lab's user started can be there) and deletes both namespaces. It is safe
// to call more than once and on a half-built lab.
func (l *Lab) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*cmdTimeout)
	defer cancel()
	var errs []error
	for _, ns := range []string{l.Near, l.Far} {
		if !l.exists(ctx, ns) {
			continue
		}
		killAll(ctx, ns)
		if _, err := ip(ctx, "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (l *Lab) exists(ctx context.Context, ns string) bool {
	out, err := ip(ctx, "netns", "list")
	if err != nil {
		return true // try to delete it anyway
	}
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) > 0 && f[0] == ns {
			return true
		}
	}
	return false
}

// killAll kills the processes inside ns, by pid, and waits (bounded) until
// they are gone: a process left inside would keep the namespace alive after
// its name is deleted.
func killAll(ctx context.Context, ns string) {
	for range 50 {
		out, err := ip(ctx, "netns", "pids", ns)
		if err != nil {
			return
		}
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			return
		}
		for _, s := range pids {
			if pid, err := strconv.Atoi(s); err == nil && pid > 1 && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}
