package jagadesa

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Threat feed limits. The server refuses to load a feed beyond them and the
// probe refuses to accept one.
const (
	// MaxFeedEntries bounds IPs + Prefixes + Domains together.
	MaxFeedEntries = 200000
	// MaxFeedBytes bounds the feed's JSON encoding, the body of
	// GET /api/v1/threatfeed and the copy the probe keeps in its spool.
	MaxFeedBytes = 16 << 20
	// MaxFeedSourceLen bounds ThreatFeed.Source.
	MaxFeedSourceLen = 256
)

// Minimum prefix lengths of a feed entry: anything wider is an operator
// mistake that would match a large part of the Internet.
const (
	MinFeedPrefix4 = 8
	MinFeedPrefix6 = 32
)

// ThreatFeed is the list of known-bad addresses and names the server hands
// to probes (GET /api/v1/threatfeed). Every list is canonical, sorted and
// free of duplicates, so equal content has one encoding and one Version:
//
//   - IPs: single addresses in netip's canonical text (IPv4 dotted quad,
//     IPv6 compressed lower-case, never IPv4-mapped, no zone), IPv4 before
//     IPv6, each family in numeric order (netip.Addr.Compare);
//   - Prefixes: CIDR prefixes with no host bits set, shorter than a single
//     address (a /32 or /128 is listed in IPs), ordered by address, then by
//     length;
//   - Domains: lower-case names without a trailing dot, in byte order. An
//     entry matches the name itself and every name under it.
//
// No entry may touch private, loopback, link-local, carrier-grade NAT,
// multicast or otherwise reserved space (CheckThreatPrefix): such an entry
// would match the village's own LAN or WAN and raise alarms everywhere.
type ThreatFeed struct {
	// Version is the hex SHA-256 of the canonical content (ComputeVersion):
	// the lists only, so reloading an unchanged feed keeps it.
	Version string `json:"version"`
	// Generated is when the feed's content was last produced (the
	// operator's file modification time); informational only.
	Generated time.Time `json:"generated"`
	// Source names where the feed came from (e.g. the file's base name).
	Source   string   `json:"source,omitempty"`
	IPs      []string `json:"ips"`
	Prefixes []string `json:"prefixes"`
	Domains  []string `json:"domains"`
}

// Len is the number of entries.
func (f *ThreatFeed) Len() int { return len(f.IPs) + len(f.Prefixes) + len(f.Domains) }

// NewThreatFeed builds a canonical feed: addresses unmapped and without
// zones, single-address prefixes moved to IPs, prefixes masked, domains
// lower-cased without a trailing dot, every list sorted and deduplicated,
// and Version computed. It does not apply the policy: call Validate.
func NewThreatFeed(source string, generated time.Time, addrs []netip.Addr, prefixes []netip.Prefix, domains []string) *ThreatFeed {
	as := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		as = append(as, a.Unmap().WithZone(""))
	}
	ps := make([]netip.Prefix, 0, len(prefixes))
	for _, p := range prefixes {
		a := p.Addr().WithZone("")
		bits := p.Bits()
		if a.Is4In6() {
			a, bits = a.Unmap(), max(bits-96, 0)
		}
		p = netip.PrefixFrom(a, bits).Masked()
		if p.IsSingleIP() {
			as = append(as, p.Addr())
			continue
		}
		ps = append(ps, p)
	}
	slices.SortFunc(as, netip.Addr.Compare)
	as = slices.Compact(as)
	slices.SortFunc(ps, ComparePrefix)
	ps = slices.Compact(ps)
	ds := make([]string, 0, len(domains))
	for _, d := range domains {
		ds = append(ds, strings.ToLower(strings.TrimSuffix(d, ".")))
	}
	slices.Sort(ds)
	ds = slices.Compact(ds)
	f := &ThreatFeed{Source: source, Generated: generated.UTC(),
		IPs: make([]string, len(as)), Prefixes: make([]string, len(ps)), Domains: ds}
	for i, a := range as {
		f.IPs[i] = a.String()
	}
	for i, p := range ps {
		f.Prefixes[i] = p.String()
	}
	f.Version = f.ComputeVersion()
	return f
}

// ComputeVersion returns the hex SHA-256 over the canonical content: a
// header line, then one line per entry, "ip ", "net " or "dns " followed by
// the entry, in list order. Generated and Source are not part of it.
func (f *ThreatFeed) ComputeVersion() string {
	h := sha256.New()
	buf := make([]byte, 0, 300)
	h.Write([]byte("jagadesa-threatfeed-v1\n"))
	for _, l := range [...]struct {
		tag     string
		entries []string
	}{{"ip ", f.IPs}, {"net ", f.Prefixes}, {"dns ", f.Domains}} {
		for _, e := range l.entries {
			buf = append(append(append(buf[:0], l.tag...), e...), '\n')
			h.Write(buf)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Validate checks a feed as the probe receives it: limits, canonical and
// sorted entries, the reserved-space policy, and that Version matches the
// content. It lists up to ten problems.
func (f *ThreatFeed) Validate() error {
	var errs []error
	add := func(format string, args ...any) bool {
		if len(errs) == 10 {
			errs = append(errs, errors.New("more problems not listed"))
		}
		if len(errs) > 10 {
			return false
		}
		errs = append(errs, fmt.Errorf(format, args...))
		return true
	}
	if n := f.Len(); n > MaxFeedEntries {
		return fmt.Errorf("threat feed: %d entries, at most %d", n, MaxFeedEntries)
	}
	if len(f.Source) > MaxFeedSourceLen || !printable(f.Source) {
		add("source: at most %d printable characters", MaxFeedSourceLen)
	}
	var prevA netip.Addr
	for i, s := range f.IPs {
		a, err := netip.ParseAddr(s)
		if err != nil || a.String() != s {
			if !add("ips[%d] %q: not a canonical IP address", i, s) {
				break
			}
			continue
		}
		if err := CheckThreatPrefix(netip.PrefixFrom(a, a.BitLen())); err != nil {
			add("ips[%d]: %v", i, err)
		}
		if i > 0 && prevA.Compare(a) >= 0 {
			add("ips[%d] %q: not sorted or duplicated", i, s)
		}
		prevA = a
	}
	var prevP netip.Prefix
	for i, s := range f.Prefixes {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.String() != s {
			if !add("prefixes[%d] %q: not a canonical CIDR prefix", i, s) {
				break
			}
			continue
		}
		if p.IsSingleIP() {
			add("prefixes[%d] %q: a single address belongs in ips", i, s)
		}
		if err := CheckThreatPrefix(p); err != nil {
			add("prefixes[%d]: %v", i, err)
		}
		if i > 0 && ComparePrefix(prevP, p) >= 0 {
			add("prefixes[%d] %q: not sorted or duplicated", i, s)
		}
		prevP = p
	}
	for i, s := range f.Domains {
		if err := CheckThreatDomain(s); err != nil {
			if !add("domains[%d]: %v", i, err) {
				break
			}
		}
		if i > 0 && f.Domains[i-1] >= s {
			add("domains[%d] %q: not sorted or duplicated", i, s)
		}
	}
	if len(errs) == 0 {
		if v := f.ComputeVersion(); f.Version != v {
			add("version %q does not match the content (%s)", f.Version, v)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("threat feed: %w", errors.Join(errs...))
}

// ComparePrefix orders prefixes as ThreatFeed.Prefixes are sorted: by
// address (netip.Addr.Compare), then by length.
func ComparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// reservedRanges are the address ranges no feed entry may touch, with the
// reason shown to the operator. Documentation ranges (RFC 5737, RFC 3849)
// are deliberately allowed: examples and tests use them.
var reservedRanges = []struct {
	p   netip.Prefix
	why string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), `"this network" (RFC 791)`},
	{netip.MustParsePrefix("10.0.0.0/8"), "private (RFC 1918)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT, where village WAN addresses live (RFC 6598)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private (RFC 1918)"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private (RFC 1918)"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved and broadcast"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("::ffff:0:0/96"), "IPv4-mapped (write the IPv4 address)"},
	{netip.MustParsePrefix("fc00::/7"), "unique local, private (RFC 4193)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local (deprecated)"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// CheckThreatPrefix says whether p may be a feed entry (a single address is
// the prefix of its full length): a valid, masked prefix, IPv4 not written
// as IPv4-mapped IPv6, at least /8 (IPv4) or /32 (IPv6) long, and neither
// inside nor covering any private, loopback, link-local, carrier-grade NAT,
// multicast, unspecified or reserved range.
func CheckThreatPrefix(p netip.Prefix) error {
	if !p.IsValid() {
		return errors.New("invalid prefix")
	}
	if p.Addr().Zone() != "" {
		return fmt.Errorf("%s: a zone (%%%s) has no place in a feed", p, p.Addr().Zone())
	}
	if p.Masked() != p {
		return fmt.Errorf("%s has host bits set (did you mean %s?)", p, p.Masked())
	}
	if p.Addr().Is4() && p.Bits() < MinFeedPrefix4 {
		return fmt.Errorf("prefix %s is shorter than /%d: it would match a large part of the Internet", p, MinFeedPrefix4)
	}
	if p.Addr().Is6() && p.Bits() < MinFeedPrefix6 {
		return fmt.Errorf("prefix %s is shorter than /%d: it would match a large part of the Internet", p, MinFeedPrefix6)
	}
	for _, r := range reservedRanges {
		if !p.Overlaps(r.p) {
			continue
		}
		what := "prefix " + p.String()
		if p.IsSingleIP() {
			what = "address " + p.Addr().String()
		}
		verb := "is in"
		if p.Bits() < r.p.Bits() {
			verb = "covers"
		}
		return fmt.Errorf("%s %s %s, %s: it would match village networks and flood alarms", what, verb, r.p, r.why)
	}
	return nil
}

// localTLDs are top-level names of the village's own networks.
var localTLDs = map[string]bool{"arpa": true, "local": true, "localhost": true, "lan": true, "home": true, "internal": true, "localdomain": true}

// CheckThreatDomain says whether name may be a feed entry: canonical
// (lower-case ASCII, no trailing dot, letters, digits, '-' and '_'), at
// least two labels, no wildcard (an entry already covers every name under
// it), not numeric at the top (an IP address is not a name), and not under
// a local or reverse-lookup top-level name.
func CheckThreatDomain(name string) error {
	switch {
	case name == "":
		return errors.New("empty domain")
	case len(name) > 253:
		return fmt.Errorf("domain %.40q...: longer than 253 characters", name)
	case strings.ContainsRune(name, '*'):
		return fmt.Errorf("domain %q: wildcards are not accepted; list the parent name, it matches every name under it", name)
	case strings.HasSuffix(name, "."):
		return fmt.Errorf("domain %q: trailing dot", name)
	case strings.HasPrefix(name, "."):
		return fmt.Errorf("domain %q: leading dot; list the parent name, it matches every name under it", name)
	case !strings.Contains(name, "."):
		return fmt.Errorf("domain %q: a single-label name would match local names or a whole top-level domain", name)
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("domain %q: every label must be 1 to 63 characters", name)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("domain %q: a label may not start or end with '-'", name)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			switch {
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			case c >= 'A' && c <= 'Z':
				return fmt.Errorf("domain %q: not lower-case", name)
			case c >= 0x80:
				return fmt.Errorf("domain %q: non-ASCII; write internationalised names in their xn-- form", name)
			default:
				return fmt.Errorf("domain %q: character %q is not allowed in a name", name, c)
			}
		}
	}
	tld := labels[len(labels)-1]
	if strings.Trim(tld, "0123456789") == "" {
		return fmt.Errorf("domain %q: numeric top-level label; is it a malformed IP address?", name)
	}
	if localTLDs[tld] {
		return fmt.Errorf("domain %q: .%s names are local to the village network", name, tld)
	}
	return nil
}
