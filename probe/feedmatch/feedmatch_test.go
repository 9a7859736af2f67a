package feedmatch

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
)

func mustAddrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func testMatcher(t testing.TB) *Matcher {
	f := jagadesa.NewThreatFeed("t", time.Time{},
		mustAddrs("203.0.113.9", "203.0.113.200", "192.0.2.66", "2001:db8::dead:beef"),
		mustPrefixes("203.0.113.128/25", "203.0.113.192/26", "198.51.100.0/24", "11.0.0.0/8", "2001:db8:bad::/48", "2001:db8:bad:1::/64", "2001:db8:ff00::/40"),
		[]string{"evil.example", "malware-c2.example", "deep.sub.phish.invalid", "0.example"})
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	m, err := Compile(f)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version() != f.Version {
		t.Fatal("matcher version")
	}
	return m
}

func TestThreatMatchIP(t *testing.T) {
	m := testMatcher(t)
	for addr, want := range map[string]string{
		"203.0.113.9":              "203.0.113.9",
		"203.0.113.200":            "203.0.113.200", // the address beats its prefixes
		"203.0.113.201":            "203.0.113.192/26",
		"203.0.113.130":            "203.0.113.128/25",
		"203.0.113.255":            "203.0.113.192/26",
		"203.0.113.127":            "",
		"203.0.113.8":              "",
		"203.0.113.10":             "",
		"198.51.100.0":             "198.51.100.0/24",
		"198.51.100.255":           "198.51.100.0/24",
		"198.51.101.0":             "",
		"198.51.99.255":            "",
		"11.200.3.4":               "11.0.0.0/8",
		"12.0.0.0":                 "",
		"192.0.2.66":               "192.0.2.66",
		"::ffff:192.0.2.66":        "192.0.2.66",
		"192.0.2.67":               "",
		"192.168.1.23":             "",
		"2001:db8::dead:beef":      "2001:db8::dead:beef",
		"2001:db8::dead:bee0":      "",
		"2001:db8:bad:1::5":        "2001:db8:bad:1::/64",
		"2001:db8:bad:2::5":        "2001:db8:bad::/48",
		"2001:db8:bae::":           "",
		"2001:db8:ff12:3456::1":    "2001:db8:ff00::/40",
		"2001:db8:100::1":          "",
		"fe80::1%eth0":             "",
		"2001:db8:bad:1::5%br-lan": "2001:db8:bad:1::/64",
		"fd00:0:0:0:0:0:0:23":      "",
	} {
		got, ok := m.MatchIP(netip.MustParseAddr(addr))
		if got != want || ok != (want != "") {
			t.Errorf("MatchIP(%s) = %q, %v; want %q", addr, got, ok, want)
		}
	}
	if _, ok := m.MatchIP(netip.Addr{}); ok {
		t.Error("zero Addr matched")
	}
	var nilM *Matcher
	if _, ok := nilM.MatchIP(netip.MustParseAddr("203.0.113.9")); ok {
		t.Error("nil matcher matched")
	}
}

func TestThreatMatchDomain(t *testing.T) {
	m := testMatcher(t)
	for name, want := range map[string]string{
		"evil.example":             "evil.example",
		"www.evil.example":         "evil.example",
		"a.b.c.evil.example":       "evil.example",
		"EVIL.Example.":            "evil.example",
		"notevil.example":          "",
		"evil.example.com":         "",
		"evil-example":             "",
		"example":                  "",
		"malware-c2.example":       "malware-c2.example",
		"cdn.malware-c2.example":   "malware-c2.example",
		"malware-c2.example.net":   "",
		"phish.invalid":            "",
		"sub.phish.invalid":        "",
		"deep.sub.phish.invalid":   "deep.sub.phish.invalid",
		"x.deep.sub.phish.invalid": "deep.sub.phish.invalid",
		"0.example":                "0.example",
		"10.example":               "",
		"":                         "",
		".":                        "",
		"a..evil.example":          "",
	} {
		got, ok := m.MatchDomain(name)
		if got != want || ok != (want != "") {
			t.Errorf("MatchDomain(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
}

func TestThreatCompileRejectsUnsorted(t *testing.T) {
	f := &jagadesa.ThreatFeed{IPs: []string{"203.0.113.9", "192.0.2.1"}}
	if _, err := Compile(f); err == nil {
		t.Error("unsorted IPs compiled")
	}
	f = &jagadesa.ThreatFeed{IPs: []string{"2001:db8::1", "192.0.2.1"}}
	if _, err := Compile(f); err == nil {
		t.Error("IPv6 before IPv4 compiled")
	}
	f = &jagadesa.ThreatFeed{Prefixes: []string{"203.0.113.0/24", "198.51.100.0/24"}}
	if _, err := Compile(f); err == nil {
		t.Error("unsorted prefixes compiled")
	}
	f = &jagadesa.ThreatFeed{Domains: []string{"b.example", "a.example"}}
	if _, err := Compile(f); err == nil {
		t.Error("unsorted domains compiled")
	}
}

// bigFeed is a synthetic feed of about n entries, the same for a given seed:
// 40 % IPv4 addresses, 10 % IPv6 addresses, 10 % prefixes, 40 % domains.
// The addresses are random points of the space the policy allows, not
// anybody's real infrastructure.
func bigFeed(tb testing.TB, n int, seed uint64) *jagadesa.ThreatFeed {
	tb.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	var addrs []netip.Addr
	var prefixes []netip.Prefix
	var domains []string
	allowed := func(p netip.Prefix) bool { return jagadesa.CheckThreatPrefix(p) == nil }
	for len(addrs) < n*4/10 {
		a := netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		if allowed(netip.PrefixFrom(a, 32)) {
			addrs = append(addrs, a)
		}
	}
	for i := 0; i < n/10; i++ {
		var b [16]byte
		b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, 0xb8
		for j := 4; j < 16; j++ {
			b[j] = byte(r.IntN(256))
		}
		addrs = append(addrs, netip.AddrFrom16(b))
	}
	for len(prefixes) < n/10 {
		if r.IntN(4) == 0 {
			var b [16]byte
			b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, 0xb8
			for j := 4; j < 8; j++ {
				b[j] = byte(r.IntN(256))
			}
			prefixes = append(prefixes, netip.PrefixFrom(netip.AddrFrom16(b), 33+r.IntN(32)).Masked())
			continue
		}
		a := netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), 0})
		p := netip.PrefixFrom(a, 16+r.IntN(15)).Masked()
		if allowed(p) {
			prefixes = append(prefixes, p)
		}
	}
	tlds := []string{"example", "invalid", "test"}
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	for len(domains) < n*4/10 {
		var sb strings.Builder
		labels := 1 + r.IntN(2)
		for l := 0; l < labels; l++ {
			for k := 0; k < 5+r.IntN(10); k++ {
				sb.WriteByte(letters[r.IntN(26)+r.IntN(2)*r.IntN(10)])
			}
			sb.WriteByte('.')
		}
		sb.WriteString(tlds[r.IntN(len(tlds))])
		domains = append(domains, sb.String())
	}
	f := jagadesa.NewThreatFeed("synthetic", time.Time{}, addrs, prefixes, domains)
	if err := f.Validate(); err != nil {
		tb.Fatal(err)
	}
	return f
}

// TestThreatMatchAgainstLinearScan checks the compiled search against the
// obvious linear scan, over a random feed and random queries near and far
// from its entries.
func TestThreatMatchAgainstLinearScan(t *testing.T) {
	f := bigFeed(t, 3000, 7)
	m, err := Compile(f)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(99, 2))
	linearIP := func(a netip.Addr) string {
		if slices.Contains(f.IPs, a.String()) {
			return a.String()
		}
		best, bestBits := "", -1
		for _, s := range f.Prefixes {
			p := netip.MustParsePrefix(s)
			if p.Contains(a) && p.Bits() > bestBits {
				best, bestBits = s, p.Bits()
			}
		}
		return best
	}
	hits := 0
	for i := 0; i < 4000; i++ {
		var a netip.Addr
		switch r.IntN(4) {
		case 0: // an entry's neighbour
			a = netip.MustParseAddr(f.IPs[r.IntN(len(f.IPs))])
			if r.IntN(2) == 0 {
				a = a.Next()
			}
		case 1: // inside or just outside a prefix
			p := netip.MustParsePrefix(f.Prefixes[r.IntN(len(f.Prefixes))])
			a = p.Addr()
			if r.IntN(2) == 0 {
				a = a.Prev()
			} else {
				b := a.AsSlice()
				b[len(b)-1] = byte(r.IntN(256))
				a, _ = netip.AddrFromSlice(b)
			}
		case 2:
			a = netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		default:
			var b [16]byte
			b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, 0xb8
			b[4] = byte(r.IntN(256))
			a = netip.AddrFrom16(b)
		}
		if !a.IsValid() {
			continue
		}
		want := linearIP(a)
		got, ok := m.MatchIP(a)
		if got != want || ok != (want != "") {
			t.Fatalf("MatchIP(%s) = %q, want %q", a, got, want)
		}
		if ok {
			hits++
		}
	}
	linearDomain := func(name string) string {
		for s := name; ; {
			if slices.Contains(f.Domains, s) {
				return s
			}
			i := strings.IndexByte(s, '.')
			if i < 0 {
				return ""
			}
			s = s[i+1:]
		}
	}
	dhits := 0
	for i := 0; i < 3000; i++ {
		d := f.Domains[r.IntN(len(f.Domains))]
		switch r.IntN(4) {
		case 0:
			d = "www." + d
		case 1:
			d = "x" + d
		case 2:
			d = d + ".com"
		}
		want := linearDomain(d)
		got, ok := m.MatchDomain(d)
		if got != want || ok != (want != "") {
			t.Fatalf("MatchDomain(%s) = %q, want %q", d, got, want)
		}
		if ok {
			dhits++
		}
	}
	if hits < 500 || dhits < 500 {
		t.Fatalf("too few hits to mean anything: %d IP, %d domain", hits, dhits)
	}
}

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestThreatFeedMemory holds the probe's cost of a 50,000-entry feed, as
// received (decoded JSON) and compiled, to a few megabytes.
func TestThreatFeedMemory(t *testing.T) {
	body, err := json.Marshal(bigFeed(t, 50000, 1))
	if err != nil {
		t.Fatal(err)
	}
	base := heapInUse()
	var f jagadesa.ThreatFeed
	if err := json.Unmarshal(body, &f); err != nil {
		t.Fatal(err)
	}
	afterFeed := heapInUse()
	m, err := Compile(&f)
	if err != nil {
		t.Fatal(err)
	}
	afterCompile := heapInUse()
	feedMB := float64(afterFeed-base) / (1 << 20)
	matcherMB := float64(afterCompile-afterFeed) / (1 << 20)
	t.Logf("50,000 entries: JSON %d bytes; decoded feed %.2f MB; matcher %.2f MB more", len(body), feedMB, matcherMB)
	if matcherMB > 1 {
		t.Errorf("matcher costs %.2f MB, want under 1 MB", matcherMB)
	}
	if feedMB+matcherMB > 6 {
		t.Errorf("feed and matcher cost %.2f MB, want under 6 MB", feedMB+matcherMB)
	}
	runtime.KeepAlive(m)
	runtime.KeepAlive(&f)
	runtime.KeepAlive(body)
}

func BenchmarkThreatMatch(b *testing.B) {
	f := bigFeed(b, 50000, 1)
	m, err := Compile(f)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	var v4, v6 []netip.Addr
	for i := 0; i < 1024; i++ {
		if i%2 == 0 {
			v4 = append(v4, netip.MustParseAddr(f.IPs[r.IntN(len(f.IPs)*4/5)])) // a hit
		} else {
			v4 = append(v4, netip.AddrFrom4([4]byte{byte(r.IntN(223) + 1), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))}))
		}
		v6 = append(v6, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(r.IntN(256)), byte(r.IntN(256)), 15: byte(i)}))
	}
	var names []string
	for i := 0; i < 1024; i++ {
		d := f.Domains[r.IntN(len(f.Domains))]
		switch i % 3 {
		case 0:
			names = append(names, "www.cdn."+d) // parent hit
		case 1:
			names = append(names, "x"+d+".com") // miss
		default:
			names = append(names, fmt.Sprintf("host%d.benign.example", i)) // miss
		}
	}
	b.Run("IPv4", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			m.MatchIP(v4[i%len(v4)])
		}
	})
	b.Run("IPv6", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			m.MatchIP(v6[i%len(v6)])
		}
	})
	b.Run("Domain", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			m.MatchDomain(names[i%len(names)])
		}
	})
	b.Run("Compile50k", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Compile(f); err != nil {
				b.Fatal(err)
			}
		}
	})
}
