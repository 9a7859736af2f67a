//go:build !linux && !mips && !mipsle

package probe

import "syscall"

// dhcpControl sets nothing: the probe runs on Linux (appliance_linux.go);
// this keeps the package building elsewhere.
func dhcpControl(string) func(network, address string, c syscall.RawConn) error { return nil }
