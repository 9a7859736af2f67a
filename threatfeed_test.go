package jagadesa

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
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

func TestNewThreatFeedCanonical(t *testing.T) {
	gen := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	f := NewThreatFeed("feed.txt", gen,
		mustAddrs("203.0.113.9", "2001:DB8::0:1", "::ffff:198.51.100.7", "192.0.2.1", "203.0.113.9"),
		mustPrefixes("203.0.113.128/25", "198.51.100.0/24", "2001:db8:bad::/48", "198.51.100.0/24", "192.0.2.77/32", "2001:db8::beef/128"),
		[]string{"Evil.Example.", "malware-c2.example", "evil.example", "a.phish.invalid"})
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	wantIPs := []string{"192.0.2.1", "192.0.2.77", "198.51.100.7", "203.0.113.9", "2001:db8::1", "2001:db8::beef"}
	wantPfx := []string{"198.51.100.0/24", "203.0.113.128/25", "2001:db8:bad::/48"}
	wantDom := []string{"a.phish.invalid", "evil.example", "malware-c2.example"}
	if !slices.Equal(f.IPs, wantIPs) || !slices.Equal(f.Prefixes, wantPfx) || !slices.Equal(f.Domains, wantDom) {
		t.Fatalf("got\n%q\n%q\n%q", f.IPs, f.Prefixes, f.Domains)
	}
	if len(f.Version) != 64 || f.Version != f.ComputeVersion() {
		t.Fatalf("version %q", f.Version)
	}
	// The same content in another order, from another source at another
	// time, has the same version; one more entry changes it.
	g := NewThreatFeed("other.txt", gen.Add(time.Hour),
		mustAddrs("2001:db8::beef", "203.0.113.9", "192.0.2.77", "2001:db8::1", "198.51.100.7", "192.0.2.1"),
		mustPrefixes("2001:db8:bad::/48", "203.0.113.128/25", "198.51.100.0/24"),
		[]string{"malware-c2.example", "evil.example", "a.phish.invalid"})
	if g.Version != f.Version {
		t.Errorf("same content, versions %s and %s", f.Version, g.Version)
	}
	h := NewThreatFeed("feed.txt", gen, mustAddrs("192.0.2.2"), nil, nil)
	if h.Version == f.Version {
		t.Error("different content, same version")
	}
	// An entry moved between lists is different content.
	a := NewThreatFeed("", gen, nil, nil, []string{"x.example"})
	b := NewThreatFeed("", gen, nil, nil, []string{"y.example"})
	if a.Version == b.Version {
		t.Error("different domains, same version")
	}
	// The wire form round-trips and stays valid.
	body, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var back ThreatFeed
	if err := json.Unmarshal(body, &back); err != nil {
		t.Fatal(err)
	}
	if err := back.Validate(); err != nil {
		t.Fatal(err)
	}
	if !back.Generated.Equal(gen) || back.Source != "feed.txt" {
		t.Errorf("round trip: %v %q", back.Generated, back.Source)
	}
}

func TestThreatFeedValidateRejects(t *testing.T) {
	good := func() *ThreatFeed {
		return NewThreatFeed("t", time.Time{}, mustAddrs("192.0.2.1", "203.0.113.9", "2001:db8::1"),
			mustPrefixes("198.51.100.0/24"), []string{"evil.example", "zz.invalid"})
	}
	if err := good().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(f *ThreatFeed)
		want string
	}{
		{"unsorted ips", func(f *ThreatFeed) { f.IPs[0], f.IPs[1] = f.IPs[1], f.IPs[0] }, "not sorted"},
		{"duplicate domain", func(f *ThreatFeed) { f.Domains[1] = f.Domains[0] }, "not sorted or duplicated"},
		{"non-canonical v6", func(f *ThreatFeed) { f.IPs[2] = "2001:DB8::1" }, "not a canonical IP"},
		{"mapped v4", func(f *ThreatFeed) { f.IPs[2] = "::ffff:203.0.113.10" }, "IPv4-mapped"},
		{"private address", func(f *ThreatFeed) { f.IPs[0] = "10.1.2.3" }, "private"},
		{"host bits", func(f *ThreatFeed) { f.Prefixes[0] = "198.51.100.7/24" }, "host bits set"},
		{"single-ip prefix", func(f *ThreatFeed) { f.Prefixes[0] = "198.51.100.7/32" }, "belongs in ips"},
		{"whole internet", func(f *ThreatFeed) { f.Prefixes[0] = "0.0.0.0/0" }, "shorter than /8"},
		{"wildcard", func(f *ThreatFeed) { f.Domains[0] = "*.evil.example" }, "wildcard"},
		{"single label", func(f *ThreatFeed) { f.Domains[0] = "evil" }, "single-label"},
		{"upper case", func(f *ThreatFeed) { f.Domains[0] = "Evil.example" }, "lower-case"},
		{"version", func(f *ThreatFeed) { f.Version = strings.Repeat("0", 64) }, "does not match the content"},
		{"content changed under version", func(f *ThreatFeed) { f.Domains = f.Domains[:1] }, "does not match the content"},
		{"source", func(f *ThreatFeed) { f.Source = "a\nb" }, "source"},
		{"too many", func(f *ThreatFeed) { f.Domains = make([]string, MaxFeedEntries) }, "at most 200000"},
	} {
		f := good()
		tc.edit(f)
		err := f.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

func TestCheckThreatPrefix(t *testing.T) {
	for _, s := range []string{"192.0.2.1/32", "198.51.100.0/24", "203.0.113.128/25", "203.0.0.0/8", "11.0.0.0/8",
		"2001:db8::1/128", "2001:db8::/32", "2001:db8:bad::/48"} {
		if err := CheckThreatPrefix(netip.MustParsePrefix(s)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for s, want := range map[string]string{
		"10.1.2.3/32":        "private",
		"192.168.1.0/24":     "private",
		"172.20.0.0/16":      "private",
		"192.0.0.0/8":        "covers 192.168.0.0/16",
		"100.0.0.0/8":        "carrier-grade NAT",
		"100.64.1.2/32":      "carrier-grade NAT",
		"127.0.0.1/32":       "loopback",
		"169.254.1.1/32":     "link-local",
		"224.0.0.251/32":     "multicast",
		"255.255.255.255/32": "reserved and broadcast",
		"0.0.0.0/32":         "this network",
		"0.0.0.0/0":          "shorter than /8",
		"8.0.0.0/7":          "shorter than /8",
		"2000::/3":           "shorter than /32",
		"::/128":             "unspecified",
		"::1/128":            "loopback",
		"fe80::1/128":        "link-local",
		"fd00::23/128":       "unique local",
		"ff02::1/128":        "multicast",
		"::ffff:0.0.0.0/96":  "IPv4-mapped",
		"203.0.113.9/24":     "host bits",
	} {
		err := CheckThreatPrefix(netip.MustParsePrefix(s))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", s, err, want)
		}
	}
}

func TestCheckThreatDomain(t *testing.T) {
	for _, s := range []string{"evil.example", "a.b.evil.example", "xn--bcher-kva.example", "_dmarc.evil.example", "c2-1.phish.invalid", "x.y"} {
		if err := CheckThreatDomain(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for s, want := range map[string]string{
		"":                                   "empty",
		"evil":                               "single-label",
		"*.evil.example":                     "wildcard",
		".evil.example":                      "leading dot",
		"evil.example.":                      "trailing dot",
		"Evil.example":                       "lower-case",
		"bücher.example":                     "non-ASCII",
		"evil..example":                      "1 to 63",
		"-evil.example":                      "start or end",
		"evil.example/x":                     "not allowed",
		"203.0.113.09":                       "numeric top-level",
		"router.lan":                         "local",
		"9.113.0.203.in-addr.arpa":           "local",
		strings.Repeat("a", 64) + ".example": "1 to 63",
		strings.Repeat("abcdefghi.", 26) + "example": "longer than 253",
	} {
		err := CheckThreatDomain(s)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", s, err, want)
		}
	}
}
