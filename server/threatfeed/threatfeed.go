// Package threatfeed loads the operator's threat feed file, the list of
// known-bad addresses, prefixes and domain names the server hands to probes
// (GET /api/v1/threatfeed), and encodes it for the wire.
//
// # File format
//
// UTF-8 text, one entry per line. Blank lines are ignored, and so is
// everything from a '#' to the end of a line, so an entry may carry a note:
//
//	# comment line
//	203.0.113.9            # seen brute-forcing dropbear, 2026-11
//	203.0.113.128/25       # a scanning range
//	2001:db8:bad::/48
//	evil.example           # also matches www.evil.example, a.b.evil.example
//	ip:198.51.100.23       # optional type prefix
//	domain:phish.invalid
//
// An entry is an IPv4 or IPv6 address, a CIDR prefix, or a domain name. The
// kind is recognised from its shape; "ip:" (address or prefix) or
// "domain:" in front forces it, so a typo is reported as a bad address
// rather than taken for a name. Addresses and prefixes are normalised
// (IPv4-mapped IPv6 becomes IPv4, a /32 or /128 becomes an address), names
// are lower-cased and lose a trailing dot; duplicates are merged.
//
// The loader rejects the whole file, naming each bad line (up to 20), for:
// a malformed entry; more than one entry on a line (hosts-file lines such
// as "0.0.0.0 evil.example" included: list the name alone); a prefix with
// host bits set; an address or prefix inside or covering private,
// loopback, link-local, carrier-grade NAT, multicast, unspecified or other
// reserved space (it would match the village's own networks and raise
// alarms everywhere); a prefix shorter than /8 (IPv4) or /32 (IPv6); a
// wildcard ("*.evil.example": "evil.example" already covers it), a
// single-label name, or a name under a local top-level name (.lan, .local,
// .arpa ...); more than jagadesa.MaxFeedEntries distinct entries; a line
// over MaxLineBytes; a file over MaxFileBytes. Documentation ranges
// (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) are
// accepted, so examples and tests can use them.
//
// The feed's Version is the SHA-256 of its canonical, sorted content
// (jagadesa.ThreatFeed.ComputeVersion): reordering, re-commenting or
// touching the file keeps it, so probes are not sent an unchanged feed.
package threatfeed

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jagadesa/jagadesa"
)

// Limits of the feed file.
const (
	MaxFileBytes = 32 << 20 // the whole file, comments included
	MaxLineBytes = 4096
	maxProblems  = 20
)

// LineError is a rejected line of the feed file.
type LineError struct {
	Line  int    // 1-based
	Entry string // the entry as written, without its comment
	Msg   string
}

func (e *LineError) Error() string {
	if e.Entry == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("line %d: %q: %s", e.Line, e.Entry, e.Msg)
}

// Load reads and checks the feed file at path. Source is the file's base
// name and Generated its modification time.
func Load(path string) (*jagadesa.ThreatFeed, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("threat feed: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("threat feed: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("threat feed %s: is a directory", path)
	}
	if st.Size() > MaxFileBytes {
		return nil, fmt.Errorf("threat feed %s: %d bytes, at most %d", path, st.Size(), MaxFileBytes)
	}
	f, err := parse(io.LimitReader(fh, MaxFileBytes+1), filepath.Base(path), st.ModTime().UTC().Truncate(time.Second))
	if err != nil {
		return nil, fmt.Errorf("threat feed %s: %w", path, err)
	}
	return f, nil
}

// parse reads the feed text; see the package documentation.
func parse(r io.Reader, source string, generated time.Time) (*jagadesa.ThreatFeed, error) {
	var (
		errs     []error
		addrs    []netip.Addr
		prefixes []netip.Prefix
		domains  []string
		seenA    = map[netip.Addr]struct{}{}
		seenP    = map[netip.Prefix]struct{}{}
		seenD    = map[string]struct{}{}
		size     int64
	)
	fail := func(line int, entry, format string, args ...any) {
		if len(errs) < maxProblems {
			errs = append(errs, &LineError{Line: line, Entry: entry, Msg: fmt.Sprintf(format, args...)})
		} else if len(errs) == maxProblems {
			errs = append(errs, errors.New("more bad lines not listed"))
		}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), MaxLineBytes)
	line := 0
	for sc.Scan() {
		line++
		size += int64(len(sc.Bytes())) + 1
		if size > MaxFileBytes+1 {
			return nil, fmt.Errorf("more than %d bytes", MaxFileBytes)
		}
		text := sc.Text()
		if line == 1 {
			text = strings.TrimPrefix(text, "\uFEFF") // a byte-order mark from a Windows editor
		}
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		entry := fields[0]
		if len(fields) > 1 {
			fail(line, strings.Join(fields, " "), "one entry per line; put notes after '#' (hosts-file lines such as \"0.0.0.0 evil.example\" are not accepted: list the name alone)")
			continue
		}
		a, p, d, err := parseEntry(entry)
		if err != nil {
			fail(line, entry, "%v", err)
			continue
		}
		switch {
		case a.IsValid():
			if _, dup := seenA[a]; dup {
				continue
			}
			seenA[a] = struct{}{}
			addrs = append(addrs, a)
		case p.IsValid():
			if _, dup := seenP[p]; dup {
				continue
			}
			seenP[p] = struct{}{}
			prefixes = append(prefixes, p)
		default:
			if _, dup := seenD[d]; dup {
				continue
			}
			seenD[d] = struct{}{}
			domains = append(domains, d)
		}
		if n := len(addrs) + len(prefixes) + len(domains); n > jagadesa.MaxFeedEntries {
			fail(line, entry, "more than %d distinct entries", jagadesa.MaxFeedEntries)
			break
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			fail(line+1, "", "longer than %d bytes", MaxLineBytes)
		} else {
			return nil, err
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	f := jagadesa.NewThreatFeed(source, generated, addrs, prefixes, domains)
	if err := f.Validate(); err != nil {
		return nil, err // cannot happen for entries that passed the checks above
	}
	return f, nil
}

// parseEntry classifies and checks one entry: exactly one result is set.
func parseEntry(entry string) (netip.Addr, netip.Prefix, string, error) {
	var none netip.Addr
	kind := ""
	lower := strings.ToLower(entry)
	switch {
	case strings.HasPrefix(lower, "ip:"):
		kind, entry = "ip", entry[3:]
	case strings.HasPrefix(lower, "domain:"):
		kind, entry = "domain", entry[7:]
	}
	if entry == "" {
		return none, netip.Prefix{}, "", errors.New("empty entry after the type prefix")
	}
	if strings.Contains(entry, "://") {
		return none, netip.Prefix{}, "", errors.New("URLs are not accepted; list the host name or address")
	}
	isIP := kind == "ip" || (kind == "" && (strings.ContainsAny(entry, ":/") || looksNumeric(entry)))
	if !isIP {
		d := strings.ToLower(strings.TrimSuffix(entry, "."))
		if err := jagadesa.CheckThreatDomain(d); err != nil {
			return none, netip.Prefix{}, "", err
		}
		return none, netip.Prefix{}, d, nil
	}
	if strings.Contains(entry, "/") {
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			return none, netip.Prefix{}, "", fmt.Errorf("not a valid CIDR prefix (%s)", bareError(err))
		}
		if p.Addr().Is4In6() {
			if p.Bits() < 96 {
				return none, netip.Prefix{}, "", errors.New("an IPv4-mapped prefix shorter than /96")
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if err := jagadesa.CheckThreatPrefix(p); err != nil {
			return none, netip.Prefix{}, "", err
		}
		if p.IsSingleIP() {
			return p.Addr(), netip.Prefix{}, "", nil
		}
		return none, p, "", nil
	}
	a, err := netip.ParseAddr(entry)
	if err != nil {
		return none, netip.Prefix{}, "", fmt.Errorf("not a valid IP address (%s)", bareError(err))
	}
	if a.Zone() != "" {
		return none, netip.Prefix{}, "", errors.New("an address with a zone (%...) has no place in a feed")
	}
	a = a.Unmap()
	if err := jagadesa.CheckThreatPrefix(netip.PrefixFrom(a, a.BitLen())); err != nil {
		return none, netip.Prefix{}, "", err
	}
	return a, netip.Prefix{}, "", nil
}

// looksNumeric: only digits and dots, so meant as an IPv4 address.
func looksNumeric(s string) bool {
	return strings.Trim(s, "0123456789.") == ""
}

// bareError is netip's message without the repeated input.
func bareError(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "): "); i >= 0 {
		return msg[i+3:]
	}
	return msg
}

// Encode returns the compact JSON body of GET /api/v1/threatfeed and its
// strong ETag, the quoted Version. The feed is validated first, so a feed
// the server sends is one the probe accepts.
func Encode(f *jagadesa.ThreatFeed) (body []byte, etag string, err error) {
	if f == nil {
		return nil, "", errors.New("threat feed: nil")
	}
	if err := f.Validate(); err != nil {
		return nil, "", err
	}
	body, err = json.Marshal(f)
	if err != nil {
		return nil, "", err
	}
	if len(body) > jagadesa.MaxFeedBytes {
		return nil, "", fmt.Errorf("threat feed: encodes to %d bytes, at most %d", len(body), jagadesa.MaxFeedBytes)
	}
	return body, `"` + f.Version + `"`, nil
}

// NotModified says whether a request's If-None-Match header matches etag,
// so the endpoint can answer 304 Not Modified. It accepts a list of tags,
// "*", and weak tags (If-None-Match compares weakly, RFC 9110 13.1.2).
func NotModified(ifNoneMatch, etag string) bool {
	if ifNoneMatch == "" || etag == "" {
		return false
	}
	etag = strings.TrimPrefix(etag, "W/")
	for _, t := range strings.Split(ifNoneMatch, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}
