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
	root := u.path("")
	iface := u.WAN
	if iface == "" {
		if _, iface = defaultRoute(root); iface == "" {
			return nil, errors.New("usage: no default route in /proc/net/route, so no WAN interface to count")
		}
	}
	counters, err := readNetDev(root)
	if err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	c, ok := counters[iface]
	if !ok {
		return nil, fmt.Errorf("usage: interface %q not in /proc/net/dev", iface)
	}
	out.WANRxBytes, out.WANTxBytes, out.Interface = c.RxBytes, c.TxBytes, iface
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
