//go:build linux && !mips && !mipsle

package probe

import "syscall"

// dhcpControl sets the DHCP socket's options (discoverDHCP): SO_REUSEADDR,
// to share udp/68 with a DHCP client that allows it, and SO_BINDTODEVICE
// to the default route's interface, so the DISCOVER leaves by the LAN the
// gateway is on. Binding to the device is best effort: a kernel before 5.7
// wants CAP_NET_RAW for it, and the limited broadcast follows the default
// route anyway.
func dhcpControl(iface string) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
			if iface != "" {
				syscall.SetsockoptString(int(fd), syscall.SOL_SOCKET, syscall.SO_BINDTODEVICE, iface)
			}
		}); cerr != nil {
			return cerr
		}
		return err
	}
}
