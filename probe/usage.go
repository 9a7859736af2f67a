package probe

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jagadesa/jagadesa"
)

// UsageCollector reads how the village uses its link, cheaply, from files
// the router already keeps: the devices holding a DHCP lease (dnsmasq's
// lease file) and the WAN interface's byte counters (/proc/net/dev). The
// readiness index's use pillar is made of these (docs/readiness.md).
type UsageCollector struct {
	// Root is the file-system root the files are read under (--root).
	Root string
	// WAN names the WAN interface; empty: the interface of the default
	// route (/proc/net/route).
	WAN string
	// Leases is the lease file (default tmp/dhcp.leases under Root, where
	// OpenWrt's dnsmasq keeps it).
	Leases string
}

// ErrUsageNotVisible says this site cannot give usage: no lease file (the
// probe is not on the router that hands out addresses, e.g. an appliance
// beside an ISP-managed CPE).
var ErrUsageNotVisible = errors.New("usage: no DHCP lease file here (the probe does not run on the router that hands out addresses)")

func (u *UsageCollector) path(rel string) string { return underRoot(u.Root, rel) }

// Collect reads the usage now.
func (u *UsageCollector) Collect(now time.Time) (*jagadesa.Usage, error) {
	leases := u.Leases
	if leases == "" {
		leases = "tmp/dhcp.leases"
	}
	b, err := os.ReadFile(u.path(leases))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrUsageNotVisible
	}
	if err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	out := &jagadesa.Usage{ActiveDevices: countLeases(b, now)}
	iface := u.WAN
	if iface == "" {
		if iface, err = defaultRouteIface(u.path("proc/net/route")); err != nil {
			return nil, err
		}
	}
	rx, tx, err := ifaceBytes(u.path("proc/net/dev"), iface)
	if err != nil {
		return nil, err
	}
	out.WANRxBytes, out.WANTxBytes, out.Interface = rx, tx, iface
	return out, nil
}

// countLeases counts the leases still valid at now: dnsmasq writes
// "<expiry unix> <mac> <ip> <name> <client id>", expiry 0 for an infinite
// lease. Each MAC counts once.
func countLeases(b []byte, now time.Time) int {
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			continue
		}
		exp, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || exp != 0 && exp < now.Unix() {
			continue
		}
		seen[strings.ToLower(f[1])] = true
	}
	return min(len(seen), jagadesa.MaxActiveDevices)
}

// defaultRouteIface finds the interface of the IPv4 default route.
func defaultRouteIface(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("usage: default route: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) >= 8 && f[1] == "00000000" && f[7] == "00000000" {
			return f[0], nil
		}
	}
	return "", errors.New("usage: no default route, so no WAN interface to count")
}

// ifaceBytes reads an interface's received and sent bytes.
func ifaceBytes(path, iface string) (rx, tx uint64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, fmt.Errorf("usage: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) != iface {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 9 {
			break
		}
		rx, err1 := strconv.ParseUint(f[0], 10, 64)
		tx, err2 := strconv.ParseUint(f[8], 10, 64)
		if err1 != nil || err2 != nil {
			break
		}
		return rx, tx, nil
	}
	return 0, 0, fmt.Errorf("usage: interface %q not in %s", iface, path)
}
