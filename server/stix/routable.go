package stix

import "net/netip"

// The special-purpose address blocks, from the IANA IPv4 and IPv6
// Special-Purpose Address Registries (RFC 6890 and later), both as last
// updated 2025-10-09 (read 2026-12-07), one row per registry entry, with
// its "Globally Reachable" column: only True counts as reachable. False,
// N/A (Teredo, 6to4: the block wraps another address and has no owner of
// its own) and the empty cells of a terminated entry (192.88.99.0/24,
// 2001:10::/28) all count as not. Multicast (224.0.0.0/4, ff00::/8) is in
// the multicast registries, not these, and is not a host's address.
//
// Where a more specific entry sits inside a larger one, the most specific
// decides: 192.0.0.9/32 (PCP anycast) and 192.0.0.10/32 (TURN anycast)
// are globally reachable inside 192.0.0.0/24, which is not, and so are
// 2001:1::1-3, 2001:3::/32, 2001:4:112::/48, 2001:20::/28 and 2001:30::/28
// inside 2001::/23. Those follow the registry: they are reachable from
// anywhere, so a receiver can match them, even if few attackers will
// ever come from them.
//
// Two entries are not in the tables because an address in them is read as
// the IPv4 address it carries: ::ffff:0:0/96 (IPv4-mapped; the exporter
// writes such an address as the IPv4 one) and 64:ff9b::/96 (the NAT64
// well-known prefix, globally reachable only as far as the IPv4 address it
// translates is: RFC 6052 forbids it for non-global IPv4 addresses).
type specialBlock struct {
	prefix    netip.Prefix
	reachable bool
	name      string
}

func block(p string, reachable bool, name string) specialBlock {
	return specialBlock{netip.MustParsePrefix(p), reachable, name}
}

var specialV4 = []specialBlock{
	block("0.0.0.0/8", false, "this network"),
	block("0.0.0.0/32", false, "this host on this network"),
	block("10.0.0.0/8", false, "private-use"),
	block("100.64.0.0/10", false, "shared address space (CGNAT)"),
	block("127.0.0.0/8", false, "loopback"),
	block("169.254.0.0/16", false, "link local"),
	block("172.16.0.0/12", false, "private-use"),
	block("192.0.0.0/24", false, "IETF protocol assignments"),
	block("192.0.0.0/29", false, "IPv4 service continuity prefix"),
	block("192.0.0.8/32", false, "IPv4 dummy address"),
	block("192.0.0.9/32", true, "port control protocol anycast"),
	block("192.0.0.10/32", true, "traversal using relays around NAT anycast"),
	block("192.0.0.170/32", false, "NAT64/DNS64 discovery"),
	block("192.0.0.171/32", false, "NAT64/DNS64 discovery"),
	block("192.0.2.0/24", false, "documentation (TEST-NET-1)"),
	block("192.31.196.0/24", true, "AS112-v4"),
	block("192.52.193.0/24", true, "AMT"),
	block("192.88.99.0/24", false, "deprecated 6to4 relay anycast (terminated)"),
	block("192.88.99.2/32", false, "6a44-relay anycast"),
	block("192.168.0.0/16", false, "private-use"),
	block("192.175.48.0/24", true, "direct delegation AS112 service"),
	block("198.18.0.0/15", false, "benchmarking"),
	block("198.51.100.0/24", false, "documentation (TEST-NET-2)"),
	block("203.0.113.0/24", false, "documentation (TEST-NET-3)"),
	block("224.0.0.0/4", false, "multicast"),
	block("240.0.0.0/4", false, "reserved"),
	block("255.255.255.255/32", false, "limited broadcast"),
}

var specialV6 = []specialBlock{
	block("::1/128", false, "loopback"),
	block("::/128", false, "unspecified"),
	block("64:ff9b:1::/48", false, "local-use IPv4-IPv6 translation"),
	block("100::/64", false, "discard-only"),
	block("100:0:0:1::/64", false, "dummy IPv6 prefix"),
	block("2001::/23", false, "IETF protocol assignments"),
	block("2001::/32", false, "Teredo (N/A)"),
	block("2001:1::1/128", true, "port control protocol anycast"),
	block("2001:1::2/128", true, "traversal using relays around NAT anycast"),
	block("2001:1::3/128", true, "DNS-SD service registration protocol anycast"),
	block("2001:2::/48", false, "benchmarking"),
	block("2001:3::/32", true, "AMT"),
	block("2001:4:112::/48", true, "AS112-v6"),
	block("2001:10::/28", false, "deprecated ORCHID (terminated)"),
	block("2001:20::/28", true, "ORCHIDv2"),
	block("2001:30::/28", true, "drone remote ID protocol entity tags"),
	block("2001:db8::/32", false, "documentation"),
	block("2002::/16", false, "6to4 (N/A)"),
	block("2620:4f:8000::/48", true, "direct delegation AS112 service"),
	block("3fff::/20", false, "documentation"),
	block("5f00::/16", false, "segment routing (SRv6) SIDs"),
	block("fc00::/7", false, "unique-local"),
	block("fe80::/10", false, "link-local unicast"),
	block("ff00::/8", false, "multicast"),
}

// globalUnicast is the only IPv6 space IANA hands out for unicast (the
// IPv6 Address Space registry): the rest is reserved by the IETF,
// unique-local, link-local or multicast.
var globalUnicast = netip.MustParsePrefix("2000::/3")

var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// GloballyRoutable reports whether an address is one that means the same
// host from anywhere on the Internet, and so is worth sharing as an
// indicator: it is in no block of the IANA special-purpose registries
// whose "Globally Reachable" is anything but True (see specialV4 and
// specialV6), not multicast, and, for IPv6, inside 2000::/3. An IPv4-mapped
// address (::ffff:a.b.c.d) or one under the NAT64 well-known prefix
// (64:ff9b::a.b.c.d) is judged by the IPv4 address it carries. A zone
// (fe80::1%eth0) is ignored. The zero Addr is not routable.
func GloballyRoutable(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.WithZone("")
	if a.Is4In6() {
		a = a.Unmap()
	}
	if a.Is4() {
		return reachable(specialV4, a, true)
	}
	if nat64.Contains(a) {
		b := a.As16()
		return GloballyRoutable(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	}
	return reachable(specialV6, a, globalUnicast.Contains(a))
}

// reachable is the "Globally Reachable" of the most specific block of
// table holding a, or otherwise when a is in none.
func reachable(table []specialBlock, a netip.Addr, otherwise bool) bool {
	bits, r := -1, otherwise
	for _, b := range table {
		if b.prefix.Bits() > bits && b.prefix.Contains(a) {
			bits, r = b.prefix.Bits(), b.reachable
		}
	}
	return r
}
