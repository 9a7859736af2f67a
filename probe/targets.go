package probe

import (
	"bufio"
	"encoding/binary"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultTargets are what a probe pings when not told: the village gateway
// (the default route's next hop, from /proc/net/route under root), a
// national target, and the JagaDesa server itself. Three targets on three
// paths tell a LAN fault from an ISP fault from a fault at our end.
func DefaultTargets(root, server string) []string {
	var out []string
	if gw := defaultGateway(root); gw != "" {
		out = append(out, gw)
	}
	out = append(out, "jatengprov.go.id")
	if u, err := url.Parse(server); err == nil && u.Hostname() != "" {
		out = append(out, u.Hostname())
	}
	return out
}

// defaultGateway reads the IPv4 default route's gateway and interface.
func defaultGateway(root string) string {
	gw, _ := defaultRoute(root)
	return gw
}

// defaultRoute returns the IPv4 default route's gateway and interface name.
func defaultRoute(root string) (gateway, iface string) {
	f, err := os.Open(filepath.Join(root, "proc/net/route"))
	if err != nil {
		return "", ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		// Iface Destination Gateway ...: the kernel prints the address's
		// 32 bits in host byte order, so mips and mipsle differ.
		if len(fl) < 3 || fl[1] != "00000000" {
			continue
		}
		v, err := strconv.ParseUint(fl[2], 16, 32)
		if err != nil {
			continue
		}
		var b [4]byte
		binary.NativeEndian.PutUint32(b[:], uint32(v))
		ip := net.IPv4(b[0], b[1], b[2], b[3])
		if ip.IsUnspecified() {
			return "", fl[0]
		}
		return ip.String(), fl[0]
	}
	return "", ""
}
