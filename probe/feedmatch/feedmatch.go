// Package feedmatch is the probe's search of the threat feed: Compile
// turns a jagadesa.ThreatFeed as received into sorted integer indexes, and
// MatchIP and MatchDomain tell, without allocating, whether an address seen
// in conntrack or a name seen in the DNS log is listed. Only the probe
// matches, so the search lives here; the root package keeps the feed's
// wire format, which the server builds and the probe validates. The
// package is pure (no I/O, no clock): ThreatWatcher in package probe does
// the reading, de-duplicating and reporting.
package feedmatch

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/jagadesa/jagadesa"
)

// Matcher answers whether an address or a name is in a feed. It is
// read-only once compiled and safe for concurrent use. It shares the
// feed's strings (the feed must not be modified afterwards) and adds about
// 4 bytes per IPv4 address, 16 per IPv6 address and 8 or 20 per prefix;
// domains are searched in the feed's own sorted slice.
type Matcher struct {
	ips     []string // feed.IPs: v4 addresses first, then v6
	v4      []uint32
	v6      []u128
	pfx     []string // feed.Prefixes
	v4nets  []group4 // longest first
	v6nets  []group6 // longest first
	domains []string
	version string
}

type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) int {
	switch {
	case a.hi < b.hi:
		return -1
	case a.hi > b.hi:
		return 1
	case a.lo < b.lo:
		return -1
	case a.lo > b.lo:
		return 1
	}
	return 0
}

func (a u128) mask(bits int) u128 {
	switch {
	case bits >= 128:
		return a
	case bits > 64:
		return u128{a.hi, a.lo &^ (^uint64(0) >> (bits - 64))}
	case bits == 64:
		return u128{a.hi, 0}
	default:
		return u128{a.hi &^ (^uint64(0) >> bits), 0}
	}
}

func toU128(a netip.Addr) u128 {
	b := a.As16()
	return u128{be64(b[:8]), be64(b[8:])}
}

func be64(b []byte) uint64 {
	var v uint64
	for _, c := range b[:8] {
		v = v<<8 | uint64(c)
	}
	return v
}

func toU32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

type group4 struct {
	bits int
	nets []uint32
	idx  []int32 // into pfx
}

type group6 struct {
	bits int
	nets []u128
	idx  []int32
}

// Compile builds the matcher of f. It checks that the entries parse and
// are sorted (the search depends on it); jagadesa.ThreatFeed.Validate is
// the full check.
func Compile(f *jagadesa.ThreatFeed) (*Matcher, error) {
	if f.Len() > jagadesa.MaxFeedEntries {
		return nil, fmt.Errorf("threat feed: %d entries, at most %d", f.Len(), jagadesa.MaxFeedEntries)
	}
	m := &Matcher{ips: f.IPs, pfx: f.Prefixes, domains: f.Domains, version: f.Version}
	n4 := 0
	for n4 < len(f.IPs) && !strings.Contains(f.IPs[n4], ":") {
		n4++
	}
	m.v4 = make([]uint32, 0, n4)
	m.v6 = make([]u128, 0, len(f.IPs)-n4)
	for i, s := range f.IPs {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" || a.Is4In6() {
			return nil, fmt.Errorf("threat feed: ips[%d] %q: not a plain IP address", i, s)
		}
		if a.Is4() != (i < n4) {
			return nil, fmt.Errorf("threat feed: ips[%d] %q: IPv4 addresses must come before IPv6", i, s)
		}
		if a.Is4() {
			v := toU32(a)
			if len(m.v4) > 0 && m.v4[len(m.v4)-1] >= v {
				return nil, fmt.Errorf("threat feed: ips[%d] %q: not sorted or duplicated", i, s)
			}
			m.v4 = append(m.v4, v)
		} else {
			v := toU128(a)
			if len(m.v6) > 0 && m.v6[len(m.v6)-1].less(v) >= 0 {
				return nil, fmt.Errorf("threat feed: ips[%d] %q: not sorted or duplicated", i, s)
			}
			m.v6 = append(m.v6, v)
		}
	}
	// Count per length first so every group is allocated once, exactly.
	var count4 [33]int
	var count6 [129]int
	var prev netip.Prefix
	for i, s := range f.Prefixes {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Masked() != p || p.Addr().Zone() != "" || p.Addr().Is4In6() {
			return nil, fmt.Errorf("threat feed: prefixes[%d] %q: not a canonical CIDR prefix", i, s)
		}
		if i > 0 && jagadesa.ComparePrefix(prev, p) >= 0 {
			return nil, fmt.Errorf("threat feed: prefixes[%d] %q: not sorted or duplicated", i, s)
		}
		prev = p
		if p.Addr().Is4() {
			count4[p.Bits()]++
		} else {
			count6[p.Bits()]++
		}
	}
	var slot4 [33]int
	for bits := 32; bits >= 0; bits-- {
		if count4[bits] > 0 {
			slot4[bits] = len(m.v4nets)
			m.v4nets = append(m.v4nets, group4{bits: bits, nets: make([]uint32, 0, count4[bits]), idx: make([]int32, 0, count4[bits])})
		}
	}
	var slot6 [129]int
	for bits := 128; bits >= 0; bits-- {
		if count6[bits] > 0 {
			slot6[bits] = len(m.v6nets)
			m.v6nets = append(m.v6nets, group6{bits: bits, nets: make([]u128, 0, count6[bits]), idx: make([]int32, 0, count6[bits])})
		}
	}
	// The feed is sorted by address, so each group fills in address order.
	for i, s := range f.Prefixes {
		p, _ := netip.ParsePrefix(s)
		if p.Addr().Is4() {
			g := &m.v4nets[slot4[p.Bits()]]
			g.nets = append(g.nets, toU32(p.Addr()))
			g.idx = append(g.idx, int32(i))
		} else {
			g := &m.v6nets[slot6[p.Bits()]]
			g.nets = append(g.nets, toU128(p.Addr()))
			g.idx = append(g.idx, int32(i))
		}
	}
	for i, d := range f.Domains {
		if i > 0 && f.Domains[i-1] >= d {
			return nil, fmt.Errorf("threat feed: domains[%d] %q: not sorted or duplicated", i, d)
		}
	}
	return m, nil
}

// Version is the version of the feed the matcher was compiled from.
func (m *Matcher) Version() string { return m.version }

// MatchIP reports the feed entry that matches a: the address itself, or
// else the longest prefix covering it. IPv4-mapped IPv6 addresses match as
// IPv4; zones are ignored. It does not allocate.
func (m *Matcher) MatchIP(a netip.Addr) (entry string, ok bool) {
	if m == nil || !a.IsValid() {
		return "", false
	}
	a = a.Unmap()
	if a.Is4() {
		v := toU32(a)
		if i, found := slices.BinarySearch(m.v4, v); found {
			return m.ips[i], true
		}
		for gi := range m.v4nets {
			g := &m.v4nets[gi]
			key := v
			if g.bits < 32 {
				key = v &^ (^uint32(0) >> g.bits)
			}
			if i, found := slices.BinarySearch(g.nets, key); found {
				return m.pfx[g.idx[i]], true
			}
		}
		return "", false
	}
	v := toU128(a)
	if i, found := slices.BinarySearchFunc(m.v6, v, u128.less); found {
		return m.ips[len(m.v4)+i], true
	}
	for gi := range m.v6nets {
		g := &m.v6nets[gi]
		if i, found := slices.BinarySearchFunc(g.nets, v.mask(g.bits), u128.less); found {
			return m.pfx[g.idx[i]], true
		}
	}
	return "", false
}

// MatchDomain reports the feed entry that matches name: the name itself,
// or else its nearest parent in the feed ("evil.example" matches
// "a.b.evil.example", never "notevil.example"). Case and one trailing dot
// are ignored. It allocates only for a name with upper-case letters.
func (m *Matcher) MatchDomain(name string) (entry string, ok bool) {
	if m == nil || len(m.domains) == 0 {
		return "", false
	}
	name = strings.TrimSuffix(name, ".")
	if len(name) == 0 || len(name) > 253 {
		return "", false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= 'A' && c <= 'Z' {
			name = strings.ToLower(name)
			break
		}
	}
	for s := name; strings.IndexByte(s, '.') > 0; s = s[strings.IndexByte(s, '.')+1:] {
		if i, found := slices.BinarySearch(m.domains, s); found {
			return m.domains[i], true
		}
	}
	return "", false
}
