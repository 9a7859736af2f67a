package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jagadesa/jagadesa"
)

// Bounds of a DNS check.
const (
	// dnsMaxTime caps one lookup when the caller's deadline is further away:
	// the resolv.conf defaults (5 s × 2 attempts) give up after 10 s too, and
	// a name that takes longer is broken for every villager.
	dnsMaxTime = 10 * time.Second
	// dnsMaxAnswers keeps a sample small however many records a name has.
	dnsMaxAnswers = 16
)

// ResolverSystem is the DNS sample's Resolver when the lookup went through
// the router's configured resolver (on OpenWrt, dnsmasq via /etc/resolv.conf).
const ResolverSystem = "system"

// DNSCheck resolves target (a host name) for A and AAAA records, through
// opts.Resolver (an IP host:port; port 53 when left out) or, when that is
// empty, through the resolvers of /etc/resolv.conf. Comparing the two tells a
// broken village resolver from a broken upstream.
//
// It records the resolver, whether any address came back, the lookup time,
// the response code, the addresses (sorted, at most 16) and the error. The
// response code is the one the server sent (NOERROR, NXDOMAIN, SERVFAIL,
// REFUSED, ...), read from the replies themselves because Go's resolver
// folds them into "server misbehaving"; when no reply came it is "timeout",
// "unreachable" (nothing listening, no route) or "error". Go's resolver
// reads /etc/hosts before asking any server, whichever resolver is given, so
// a name listed there is answered from it: such a sample has no reply and an
// empty RCode.
//
// A failed lookup is a sample with OK false. Only a target or resolver that
// cannot be looked up at all (a configuration fault) returns an error.
func DNSCheck(ctx context.Context, target string, opts CheckOptions) (jagadesa.Sample, error) {
	name, err := dnsName(target)
	if err != nil {
		return jagadesa.Sample{}, fmt.Errorf("dns %q: %w", target, err)
	}
	label := ResolverSystem
	server := ""
	if opts.Resolver != "" {
		ap, err := resolverAddr(opts.Resolver)
		if err != nil {
			return jagadesa.Sample{}, fmt.Errorf("dns %q: resolver %q: %w", target, opts.Resolver, err)
		}
		server = ap.String()
		label = server
	}

	ctx, cancel := context.WithTimeout(ctx, dnsMaxTime)
	defer cancel()
	var seen rcodeSet
	r := &net.Resolver{
		// The Go resolver is what the static probe binary uses anyway; asking
		// for it explicitly makes the dial below, and so the response codes,
		// apply to the system lookup too.
		PreferGo: true,
		Dial: func(dctx context.Context, network, address string) (net.Conn, error) {
			if server != "" {
				address = server
			}
			var d net.Dialer
			c, err := d.DialContext(dctx, network, address)
			if err != nil {
				return nil, err
			}
			// ctx, not dctx: a read still waiting when the check returns
			// is cut off then.
			return sniff(ctx, c, &seen), nil
		},
	}

	start := time.Now()
	addrs, lerr := r.LookupNetIP(ctx, "ip", name)
	rtt := time.Since(start)

	d := &jagadesa.DNS{Resolver: label, RTTMs: float64(rtt) / float64(time.Millisecond)}
	if lerr == nil && len(addrs) > 0 {
		d.OK = true
		d.Answers = answers(addrs)
		if seen.any() {
			d.RCode = rcodeName(0)
		}
	} else {
		d.RCode, d.Error = dnsFailure(lerr, &seen)
	}
	return jagadesa.Sample{TimeMs: start.UnixMilli(), Kind: jagadesa.KindDNS, Target: target, DNS: d}, nil
}

// dnsName checks target and makes a dotted name absolute, so resolv.conf's
// search domains are not tried and the check measures exactly the configured
// name. A single label (a router's "localhost") only means something through
// /etc/hosts or the search list, so it is left as it is; Go's hosts table
// would not match it with a trailing dot either.
func dnsName(target string) (string, error) {
	name := strings.TrimSuffix(target, ".")
	switch {
	case name == "":
		return "", errors.New("empty name")
	case len(name) > 253:
		return "", errors.New("name longer than 253 characters")
	case strings.ContainsAny(name, " /:@"):
		return "", errors.New("not a host name")
	}
	if _, err := netip.ParseAddr(name); err == nil {
		// The resolver would return the literal without asking anyone.
		return "", errors.New("an IP address, not a name")
	}
	if !strings.Contains(name, ".") {
		return name, nil
	}
	return name + ".", nil
}

// resolverAddr parses a reference resolver. It must be an IP address: a name
// would itself be resolved through the system resolver, mixing the two
// paths the check compares.
func resolverAddr(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.AddrPort{}, errors.New("want an IP address with optional :port")
	}
	return netip.AddrPortFrom(a, 53), nil
}

// answers turns the addresses into sorted, deduplicated strings, sorted
// before truncation so the same set always keeps the same 16.
func answers(addrs []netip.Addr) []string {
	as := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		as = append(as, a.Unmap())
	}
	slices.SortFunc(as, netip.Addr.Compare)
	as = slices.Compact(as)
	out := make([]string, 0, min(len(as), dnsMaxAnswers))
	for _, a := range as[:min(len(as), dnsMaxAnswers)] {
		out = append(out, a.String())
	}
	return out
}

// dnsFailure names a failed lookup: the worst response code a server sent,
// or, when none replied, what the error says.
func dnsFailure(err error, seen *rcodeSet) (rcode, msg string) {
	msg = "no addresses"
	var de *net.DNSError
	if errors.As(err, &de) {
		msg = de.Err // the name and server are in the sample already
	} else if err != nil {
		msg = err.Error()
	}
	switch {
	case seen.has(3):
		return rcodeName(3), msg
	case seen.errorCode() > 0:
		return rcodeName(seen.errorCode()), msg
	case seen.has(0):
		// The server answered, but with no A or AAAA record (or a referral);
		// Go calls that "no such host", which would read as NXDOMAIN.
		return rcodeName(0), "no A or AAAA records"
	case de != nil && de.IsTimeout, errors.Is(err, context.DeadlineExceeded):
		return "timeout", msg
	case de != nil && de.IsNotFound:
		return rcodeName(3), msg
	case strings.Contains(msg, "refused"), strings.Contains(msg, "unreachable"), strings.Contains(msg, "no route"):
		return "unreachable", msg
	}
	return "error", msg
}

// rcodeName is the mnemonic of a DNS response code (RFC 1035, RFC 2136).
func rcodeName(c int) string {
	names := [...]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
		"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"}
	if c >= 0 && c < len(names) {
		return names[c]
	}
	return "RCODE" + strconv.Itoa(c)
}

// rcodeSet collects the response codes of every reply a lookup received
// (one bit per code); the resolver's goroutines write it concurrently.
type rcodeSet struct{ bits atomic.Uint32 }

func (s *rcodeSet) add(c byte)     { s.bits.Or(1 << (c & 0x0f)) }
func (s *rcodeSet) has(c int) bool { return s.bits.Load()&(1<<c) != 0 }
func (s *rcodeSet) any() bool      { return s.bits.Load() != 0 }
func (s *rcodeSet) errorCode() int { // lowest code other than NOERROR and NXDOMAIN, or 0
	b := s.bits.Load() &^ (1 | 1<<3)
	for c := 1; c < 16; c++ {
		if b&(1<<c) != 0 {
			return c
		}
	}
	return 0
}

// sniff wraps a resolver connection so the response code of each reply is
// recorded, and so a read still waiting when the check returns is cut off
// rather than holding a socket until the resolver's own timeout.
func sniff(ctx context.Context, c net.Conn, seen *rcodeSet) net.Conn {
	s := &sniffConn{Conn: c, seen: seen}
	s.stop = context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	if _, ok := c.(net.PacketConn); ok {
		// Go's resolver frames a message by the connection type: keep it a
		// PacketConn.
		return &sniffPacketConn{s}
	}
	s.stream = true
	return s
}

// sniffConn reads the header of DNS replies as they pass. Over UDP every
// read is a whole message; over TCP each message has a two-byte length
// first, and Go's resolver uses a connection for one exchange.
type sniffConn struct {
	net.Conn
	seen   *rcodeSet
	stop   func() bool
	stream bool
	id     [2]byte // the query's ID, to ignore stray datagrams
	hdr    [6]byte // TCP: length and the first four header bytes
	nhdr   int
}

func (s *sniffConn) Write(b []byte) (int, error) {
	off := 0
	if s.stream {
		off = 2
	}
	if len(b) >= off+2 {
		copy(s.id[:], b[off:])
	}
	return s.Conn.Write(b)
}

func (s *sniffConn) Read(b []byte) (int, error) {
	n, err := s.Conn.Read(b)
	if !s.stream {
		s.check(b[:n])
	} else if s.nhdr < len(s.hdr) {
		s.nhdr += copy(s.hdr[s.nhdr:], b[:n])
		if s.nhdr == len(s.hdr) {
			s.check(s.hdr[2:])
		}
	}
	return n, err
}

// check records the code of a reply to our query: the ID matches and the
// QR bit says it is a response.
func (s *sniffConn) check(h []byte) {
	if len(h) >= 4 && h[0] == s.id[0] && h[1] == s.id[1] && h[2]&0x80 != 0 {
		s.seen.add(h[3] & 0x0f)
	}
}

func (s *sniffConn) Close() error {
	s.stop()
	return s.Conn.Close()
}

// sniffPacketConn is a sniffConn over UDP.
type sniffPacketConn struct{ *sniffConn }

func (s *sniffPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, err := s.Read(b)
	return n, s.RemoteAddr(), err
}

func (s *sniffPacketConn) WriteTo(b []byte, _ net.Addr) (int, error) { return s.Write(b) }
