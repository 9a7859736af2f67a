package stix

import (
	"net/netip"
	"testing"
)

// TestGloballyRoutable takes every block of the IANA IPv4 and IPv6
// special-purpose registries (and multicast), with addresses at its edges
// and just outside them, so a block that is too wide or too narrow, or a
// missing globally reachable exception, shows.
func TestGloballyRoutable(t *testing.T) {
	cases := []struct {
		addr string
		want bool
		why  string
	}{
		// IPv4: ordinary allocations.
		{"1.0.0.0", true, "after 0.0.0.0/8"},
		{"36.64.0.1", true, "an APNIC allocation"},
		{"223.255.255.255", true, "before multicast"},

		{"0.0.0.0", false, "this host"},
		{"0.255.255.255", false, "this network, last"},
		{"9.255.255.255", true, "before 10/8"},
		{"10.0.0.0", false, "10/8, first"},
		{"10.255.255.255", false, "10/8, last"},
		{"11.0.0.0", true, "after 10/8"},
		{"100.63.255.255", true, "before CGNAT"},
		{"100.64.0.0", false, "CGNAT, first"},
		{"100.88.12.34", false, "CGNAT"},
		{"100.127.255.255", false, "CGNAT, last"},
		{"100.128.0.0", true, "after CGNAT"},
		{"126.255.255.255", true, "before loopback"},
		{"127.0.0.1", false, "loopback"},
		{"127.255.255.255", false, "loopback, last"},
		{"128.0.0.0", true, "after loopback"},
		{"169.253.255.255", true, "before link local"},
		{"169.254.0.0", false, "link local, first"},
		{"169.254.169.254", false, "link local (cloud metadata)"},
		{"169.254.255.255", false, "link local, last"},
		{"169.255.0.0", true, "after link local"},
		{"172.15.255.255", true, "before 172.16/12"},
		{"172.16.0.0", false, "172.16/12, first"},
		{"172.31.255.255", false, "172.16/12, last"},
		{"172.32.0.0", true, "after 172.16/12"},
		{"191.255.255.255", true, "before 192.0.0.0/24"},
		{"192.0.0.0", false, "IETF protocol assignments, first"},
		{"192.0.0.7", false, "IPv4 service continuity prefix, last"},
		{"192.0.0.8", false, "IPv4 dummy address"},
		{"192.0.0.9", true, "PCP anycast: globally reachable inside 192.0.0.0/24"},
		{"192.0.0.10", true, "TURN anycast: globally reachable inside 192.0.0.0/24"},
		{"192.0.0.11", false, "IETF protocol assignments after the anycast pair"},
		{"192.0.0.170", false, "NAT64/DNS64 discovery"},
		{"192.0.0.171", false, "NAT64/DNS64 discovery"},
		{"192.0.0.255", false, "IETF protocol assignments, last"},
		{"192.0.1.0", true, "between 192.0.0.0/24 and TEST-NET-1"},
		{"192.0.1.255", true, "before TEST-NET-1"},
		{"192.0.2.0", false, "TEST-NET-1, first"},
		{"192.0.2.255", false, "TEST-NET-1, last"},
		{"192.0.3.0", true, "after TEST-NET-1"},
		{"192.31.196.1", true, "AS112-v4 (globally reachable)"},
		{"192.52.193.1", true, "AMT (globally reachable)"},
		{"192.88.98.255", true, "before the 6to4 relay block"},
		{"192.88.99.0", false, "deprecated 6to4 relay anycast, first"},
		{"192.88.99.1", false, "deprecated 6to4 relay anycast"},
		{"192.88.99.2", false, "6a44 relay anycast"},
		{"192.88.99.255", false, "deprecated 6to4 relay anycast, last"},
		{"192.88.100.0", true, "after the 6to4 relay block"},
		{"192.167.255.255", true, "before 192.168/16"},
		{"192.168.0.0", false, "192.168/16, first"},
		{"192.168.88.10", false, "192.168/16 (a MikroTik LAN)"},
		{"192.168.255.255", false, "192.168/16, last"},
		{"192.169.0.0", true, "after 192.168/16"},
		{"192.175.48.1", true, "direct delegation AS112 (globally reachable)"},
		{"198.17.255.255", true, "before benchmarking"},
		{"198.18.0.0", false, "benchmarking, first"},
		{"198.19.255.255", false, "benchmarking, last"},
		{"198.20.0.0", true, "after benchmarking"},
		{"198.51.99.255", true, "before TEST-NET-2"},
		{"198.51.100.0", false, "TEST-NET-2, first"},
		{"198.51.100.255", false, "TEST-NET-2, last"},
		{"198.51.101.0", true, "after TEST-NET-2"},
		{"203.0.112.255", true, "before TEST-NET-3"},
		{"203.0.113.0", false, "TEST-NET-3, first"},
		{"203.0.113.255", false, "TEST-NET-3, last"},
		{"203.0.114.0", true, "after TEST-NET-3"},
		{"224.0.0.0", false, "multicast, first"},
		{"239.255.255.255", false, "multicast, last"},
		{"240.0.0.0", false, "reserved, first"},
		{"255.255.255.254", false, "reserved"},
		{"255.255.255.255", false, "limited broadcast"},

		// IPv6.
		{"::", false, "unspecified"},
		{"::1", false, "loopback"},
		{"::2", false, "after loopback: reserved by the IETF"},
		{"::ffff:1.0.0.0", true, "IPv4-mapped, judged as 1.0.0.0"},
		{"::ffff:100.64.0.1", false, "IPv4-mapped CGNAT"},
		{"::ffff:10.0.0.1", false, "IPv4-mapped private"},
		{"::fffe:ffff:ffff", false, "before IPv4-mapped: reserved"},
		{"::1:0:0:0", false, "after IPv4-mapped: reserved"},
		{"64:ff9b::100:0", true, "NAT64 of 1.0.0.0"},
		{"64:ff9b::6440:1", false, "NAT64 of CGNAT 100.64.0.1"},
		{"64:ff9b::a00:1", false, "NAT64 of private 10.0.0.1"},
		{"64:ff9b::ffff:ffff", false, "NAT64 of limited broadcast"},
		{"64:ff9b::1:0:0", false, "after the NAT64 /96: reserved"},
		{"64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", false, "before NAT64: reserved"},
		{"64:ff9b:1::", false, "local-use NAT64, first"},
		{"64:ff9b:1:ffff:ffff:ffff:ffff:ffff", false, "local-use NAT64, last"},
		{"100::", false, "discard-only, first"},
		{"100::ffff:ffff:ffff:ffff", false, "discard-only, last"},
		{"100:0:0:1::", false, "dummy prefix"},
		{"100:0:0:2::", false, "after the dummy prefix: reserved"},
		{"1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, "before 2000::/3"},
		{"2000::", true, "global unicast, first"},
		{"2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, "before 2001::/23"},
		{"2001::", false, "Teredo, first"},
		{"2001:0:ffff:ffff:ffff:ffff:ffff:ffff", false, "Teredo, last"},
		{"2001:1::", false, "IETF protocol assignments"},
		{"2001:1::1", true, "PCP anycast"},
		{"2001:1::2", true, "TURN anycast"},
		{"2001:1::3", true, "DNS-SD SRP anycast"},
		{"2001:1::4", false, "after the anycast addresses"},
		{"2001:2::", false, "benchmarking, first"},
		{"2001:2:0:ffff:ffff:ffff:ffff:ffff", false, "benchmarking, last"},
		{"2001:2:1::", false, "after benchmarking: still IETF protocol assignments"},
		{"2001:2:ffff:ffff:ffff:ffff:ffff:ffff", false, "before AMT"},
		{"2001:3::", true, "AMT, first"},
		{"2001:3:ffff:ffff:ffff:ffff:ffff:ffff", true, "AMT, last"},
		{"2001:4::", false, "after AMT"},
		{"2001:4:111:ffff:ffff:ffff:ffff:ffff", false, "before AS112-v6"},
		{"2001:4:112::", true, "AS112-v6, first"},
		{"2001:4:112:ffff:ffff:ffff:ffff:ffff", true, "AS112-v6, last"},
		{"2001:4:113::", false, "after AS112-v6"},
		{"2001:10::", false, "deprecated ORCHID, first"},
		{"2001:1f:ffff:ffff:ffff:ffff:ffff:ffff", false, "deprecated ORCHID, last"},
		{"2001:20::", true, "ORCHIDv2, first"},
		{"2001:2f:ffff:ffff:ffff:ffff:ffff:ffff", true, "ORCHIDv2, last"},
		{"2001:30::", true, "DET prefix, first"},
		{"2001:3f:ffff:ffff:ffff:ffff:ffff:ffff", true, "DET prefix, last"},
		{"2001:40::", false, "after the DET prefix"},
		{"2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", false, "IETF protocol assignments, last"},
		{"2001:200::", true, "after 2001::/23 (APNIC)"},
		{"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", true, "before documentation"},
		{"2001:db8::", false, "documentation, first"},
		{"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", false, "documentation, last"},
		{"2001:db9::", true, "after documentation"},
		{"2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, "before 6to4"},
		{"2002::", false, "6to4, first"},
		{"2002:c000:204::1", false, "6to4"},
		{"2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, "6to4, last"},
		{"2003::", true, "after 6to4"},
		{"2400:9800::1", true, "an APNIC allocation"},
		{"2620:4f:8000::1", true, "direct delegation AS112"},
		{"3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, "before 3fff::/20"},
		{"3fff::", false, "documentation (RFC 9637), first"},
		{"3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", false, "documentation (RFC 9637), last"},
		{"3fff:1000::", true, "after 3fff::/20"},
		{"3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true, "global unicast, last"},
		{"4000::", false, "after 2000::/3: reserved"},
		{"5eff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, "before SRv6 SIDs: reserved"},
		{"5f00::", false, "SRv6 SIDs, first"},
		{"5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, "SRv6 SIDs, last"},
		{"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, "before unique-local: reserved"},
		{"fc00::", false, "unique-local, first"},
		{"fd12:3456:789a::1", false, "unique-local"},
		{"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, "unique-local, last"},
		{"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, "before link-local: reserved"},
		{"fe80::", false, "link-local, first"},
		{"fe80::1%br-lan", false, "link-local with a zone"},
		{"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, "link-local, last"},
		{"fec0::1", false, "deprecated site-local"},
		{"ff00::", false, "multicast, first"},
		{"ff02::1", false, "multicast"},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false, "multicast, last"},
		{"2400:9800::1%eth0", true, "a zone does not change a global address"},
	}
	for _, tc := range cases {
		a, err := netip.ParseAddr(tc.addr)
		if err != nil {
			t.Fatalf("%s: %v", tc.addr, err)
		}
		if got := GloballyRoutable(a); got != tc.want {
			t.Errorf("GloballyRoutable(%s) = %v, want %v (%s)", tc.addr, got, tc.want, tc.why)
		}
	}
	if GloballyRoutable(netip.Addr{}) {
		t.Error("the zero Addr is routable")
	}

	// Every block of the tables is exercised above: its first and its
	// last address are among the cases, or one inside it is.
	inside := func(p netip.Prefix) bool {
		for _, tc := range cases {
			if a, _ := netip.ParseAddr(tc.addr); p.Contains(a.WithZone("")) {
				return true
			}
		}
		return false
	}
	for _, b := range append(append([]specialBlock{}, specialV4...), specialV6...) {
		if !inside(b.prefix) {
			t.Errorf("no case inside %s (%s)", b.prefix, b.name)
		}
	}
}

// TestGloballyRoutableCoversTheStandardLibrary: whatever Go itself calls
// private, loopback, link-local, multicast or unspecified is not routable.
func TestGloballyRoutableCoversTheStandardLibrary(t *testing.T) {
	for _, s := range []string{"10.1.2.3", "172.20.0.1", "192.168.1.1", "127.0.0.53", "169.254.1.1", "224.0.0.251",
		"0.0.0.0", "fd00::1", "::1", "fe80::1", "ff05::2", "::", "ff02::1:ff00:1"} {
		a := netip.MustParseAddr(s)
		std := a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsUnspecified() || !a.IsGlobalUnicast()
		if !std {
			t.Fatalf("%s: the standard library calls it global", s)
		}
		if GloballyRoutable(a) {
			t.Errorf("GloballyRoutable(%s) = true", s)
		}
	}
}
