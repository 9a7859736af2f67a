// Package routertest runs the router builds of jagadesa-probe (linux/mipsle
// softfloat and linux/arm v7, built as `make probes` builds them) under
// qemu user-mode emulation against a test-local report endpoint: real ICMP
// to 127.0.0.1 from the emulated binary, a gzip report decoded on arrival,
// and a clean exit on SIGTERM. It has only tests; it needs root (raw ICMP)
// and Debian's qemu-user-static, which scripts/test.sh installs.
package routertest
