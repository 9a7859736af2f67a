package probe

import (
	"cmp"
	"context"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/jagadesa/jagadesa"
)

// testDNS is a tiny authoritative server for the zone test., on a random
// port of 127.0.0.1, over UDP and TCP. It counts the queries it receives, so
// a test can tell the check really asked it.
type testDNS struct {
	addr string
	pc   net.PacketConn
	ln   net.Listener

	mu      sync.Mutex
	queries map[string]int // "name type" → count, e.g. "ok.test. TypeA"
	// lies are answers this server gives in place of the zone's, as a
	// hijacking resolver would (dnshijack_test.go); set before querying.
	lies map[string][]netip.Addr
	tcp  int // queries over TCP
}

func startTestDNS(t *testing.T) *testDNS {
	t.Helper()
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for range 20 { // the random UDP port may be taken for TCP
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	s := &testDNS{addr: pc.LocalAddr().String(), pc: pc, ln: ln, queries: map[string]int{}}
	var wg sync.WaitGroup
	wg.Go(s.serveUDP)
	wg.Go(s.serveTCP)
	t.Cleanup(func() { pc.Close(); ln.Close(); wg.Wait() })
	return s
}

func (s *testDNS) count(name string, typ dnsmessage.Type) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[name+" "+typ.String()]
}

func (s *testDNS) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.queries {
		n += c
	}
	return n
}

func (s *testDNS) tcpCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tcp
}

func (s *testDNS) serveUDP() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if resp, ok := s.handle(buf[:n], false); ok {
			s.pc.WriteTo(resp, from)
		}
	}
}

// serveTCP answers one length-prefixed query a connection, as Go's
// resolver sends them.
func (s *testDNS) serveTCP() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			var l [2]byte
			if _, err := io.ReadFull(c, l[:]); err != nil {
				return
			}
			msg := make([]byte, int(l[0])<<8|int(l[1]))
			if _, err := io.ReadFull(c, msg); err != nil {
				return
			}
			if resp, ok := s.handle(msg, true); ok {
				c.Write(append([]byte{byte(len(resp) >> 8), byte(len(resp))}, resp...))
			}
		}()
	}
}

func (s *testDNS) handle(msg []byte, tcp bool) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	s.mu.Lock()
	s.queries[q.Name.String()+" "+q.Type.String()]++
	if tcp {
		s.tcp++
	}
	s.mu.Unlock()
	return s.answer(h, q, tcp)
}

// answer builds the reply to q, or reports false to stay silent.
func (s *testDNS) answer(qh dnsmessage.Header, q dnsmessage.Question, tcp bool) ([]byte, bool) {
	h := dnsmessage.Header{ID: qh.ID, Response: true, Authoritative: true, RecursionDesired: qh.RecursionDesired}
	var a []netip.Addr
	name := strings.ToLower(q.Name.String())
	if _, ok := s.lies[name]; ok {
		name = "(lie)"
	}
	switch name {
	case "(lie)":
		a = s.lies[strings.ToLower(q.Name.String())]
	case "ok.test.":
		// Out of order, to see the check sort them.
		a = []netip.Addr{netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}
	case "many.test.":
		for i := 40; i > 20; i-- {
			a = append(a, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
		}
	case "nodata.test.":
	case "missing.test.":
		h.RCode = dnsmessage.RCodeNameError
	case "broken.test.":
		h.RCode = dnsmessage.RCodeServerFailure
	case "refused.test.":
		h.RCode = dnsmessage.RCodeRefused
	case "slow.test.":
		return nil, false
	case "truncated.test.", "truncated-nx.test.":
		// Too big for UDP, says the server: the client must retry over TCP.
		switch {
		case !tcp:
			h.Truncated = true
		case strings.HasPrefix(q.Name.String(), "truncated-nx"):
			h.RCode = dnsmessage.RCodeNameError
		default:
			a = []netip.Addr{netip.MustParseAddr("192.0.2.7")}
		}
	default:
		h.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, h)
	b.EnableCompression()
	b.StartQuestions()
	b.Question(q)
	b.StartAnswers()
	for _, ip := range a {
		rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
		switch {
		case q.Type == dnsmessage.TypeA && ip.Is4():
			b.AResource(rh, dnsmessage.AResource{A: ip.As4()})
		case q.Type == dnsmessage.TypeAAAA && ip.Is6():
			b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: ip.As16()})
		}
	}
	out, err := b.Finish()
	return out, err == nil
}

func TestDNSCheckAgainstLocalServer(t *testing.T) {
	srv := startTestDNS(t)
	many := []string{}
	for i := 21; i <= 36; i++ {
		many = append(many, "198.51.100."+strconv.Itoa(i))
	}
	tests := []struct {
		name     string
		target   string
		timeout  time.Duration
		ok       bool
		rcode    string
		answers  []string
		errHas   string
		maxRTT   time.Duration
		minRTT   time.Duration
		askedFor []dnsmessage.Type // the server saw these queries for target
		overTCP  bool              // the client had to retry over TCP
	}{
		{name: "answers sorted", target: "ok.test", ok: true, rcode: "NOERROR",
			answers: []string{"192.0.2.1", "192.0.2.2", "2001:db8::1"}, askedFor: []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA}},
		{name: "absolute name", target: "ok.test.", ok: true, rcode: "NOERROR",
			answers: []string{"192.0.2.1", "192.0.2.2", "2001:db8::1"}},
		{name: "at most 16 answers", target: "many.test", ok: true, rcode: "NOERROR", answers: many},
		{name: "nxdomain", target: "missing.test", rcode: "NXDOMAIN", errHas: "no such host",
			askedFor: []dnsmessage.Type{dnsmessage.TypeA}},
		{name: "servfail", target: "broken.test", rcode: "SERVFAIL", errHas: "server misbehaving"},
		{name: "refused", target: "refused.test", rcode: "REFUSED"},
		{name: "no address records", target: "nodata.test", rcode: "NOERROR", errHas: "no A or AAAA records"},
		{name: "truncated, retried over TCP", target: "truncated.test", ok: true, rcode: "NOERROR",
			answers: []string{"192.0.2.7"}, overTCP: true},
		{name: "rcode read over TCP", target: "truncated-nx.test", rcode: "NXDOMAIN", errHas: "no such host", overTCP: true},
		{name: "timeout within deadline", target: "slow.test", timeout: 500 * time.Millisecond, rcode: "timeout",
			minRTT: 400 * time.Millisecond, maxRTT: 900 * time.Millisecond, askedFor: []dnsmessage.Type{dnsmessage.TypeA}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := cmp.Or(tt.timeout, 5*time.Second)
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			tcpBefore := srv.tcpCount()
			start := time.Now()
			s, err := DNSCheck(ctx, tt.target, CheckOptions{Resolver: srv.addr})
			took := time.Since(start)
			if err != nil {
				t.Fatalf("DNSCheck: %v", err)
			}
			if s.Kind != jagadesa.KindDNS || s.Target != tt.target || s.DNS == nil || s.TimeMs == 0 {
				t.Fatalf("sample = %+v", s)
			}
			d := s.DNS
			t.Logf("%+v in %s", *d, took)
			if d.Resolver != srv.addr {
				t.Errorf("Resolver = %q, want %q", d.Resolver, srv.addr)
			}
			if d.OK != tt.ok || d.RCode != tt.rcode {
				t.Errorf("OK, RCode = %v, %q; want %v, %q", d.OK, d.RCode, tt.ok, tt.rcode)
			}
			if !slices.Equal(d.Answers, tt.answers) {
				t.Errorf("Answers = %q, want %q", d.Answers, tt.answers)
			}
			if tt.ok != (d.Error == "") || !strings.Contains(d.Error, tt.errHas) {
				t.Errorf("Error = %q, want one containing %q", d.Error, tt.errHas)
			}
			rtt := time.Duration(d.RTTMs * float64(time.Millisecond))
			if d.RTTMs <= 0 || rtt > took || rtt < tt.minRTT || (tt.maxRTT > 0 && rtt > tt.maxRTT) {
				t.Errorf("RTT = %s (check took %s), want in [%s, %s]", rtt, took, tt.minRTT, tt.maxRTT)
			}
			if took > timeout+200*time.Millisecond {
				t.Errorf("took %s with a %s deadline", took, timeout)
			}
			if tt.overTCP && srv.tcpCount() == tcpBefore {
				t.Error("no query came over TCP")
			}
			name := strings.TrimSuffix(tt.target, ".") + "."
			for _, typ := range tt.askedFor {
				if srv.count(name, typ) == 0 {
					t.Errorf("the resolver was not asked %s %s", name, typ)
				}
			}
			wireValid(t, s)
		})
	}
}

// wireValid fails the test unless the server would accept s.
func wireValid(t *testing.T, s jagadesa.Sample) {
	t.Helper()
	s.Seq = 1
	r := jagadesa.Report{Version: jagadesa.WireVersion, Probe: "p-test", Village: "33.06.08.2005",
		SentAt: time.Now().UnixMilli(), Samples: []jagadesa.Sample{s}}
	if p := r.Validate(time.Now()); p != nil {
		t.Errorf("server would reject the sample: %v", p)
	}
}

func TestDNSCheckUsesTheGivenResolver(t *testing.T) {
	a, b := startTestDNS(t), startTestDNS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for range 3 {
		if s, err := DNSCheck(ctx, "ok.test", CheckOptions{Resolver: b.addr}); err != nil || !s.DNS.OK {
			t.Fatalf("DNSCheck = %+v, %v", s.DNS, err)
		}
	}
	// One A and one AAAA query a lookup, all to b.
	if got := b.count("ok.test.", dnsmessage.TypeA); got != 3 {
		t.Errorf("resolver b saw %d A queries, want 3", got)
	}
	if got := b.count("ok.test.", dnsmessage.TypeAAAA); got != 3 {
		t.Errorf("resolver b saw %d AAAA queries, want 3", got)
	}
	if got := a.total(); got != 0 {
		t.Errorf("resolver a saw %d queries, want 0", got)
	}
}

func TestDNSCheckFailuresWithoutReply(t *testing.T) {
	// A UDP port with nothing behind it: the kernel answers port unreachable.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := pc.LocalAddr().String()
	pc.Close()

	tests := []struct {
		name, resolver, rcode string
	}{
		{"nothing listening", closed, "unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			s, err := DNSCheck(ctx, "ok.test", CheckOptions{Resolver: tt.resolver})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", *s.DNS)
			if s.DNS.OK || s.DNS.RCode != tt.rcode || s.DNS.Error == "" || len(s.DNS.Answers) != 0 {
				t.Errorf("got %+v, want a failure with RCode %q", *s.DNS, tt.rcode)
			}
			wireValid(t, s)
		})
	}
}

func TestDNSCheckSystemResolver(t *testing.T) {
	// localhost is in /etc/hosts on any system the probe runs on, so this
	// needs no network; it shows the system path is taken and labelled.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := DNSCheck(ctx, "localhost", CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", *s.DNS)
	if s.DNS.Resolver != ResolverSystem || !s.DNS.OK || s.DNS.Error != "" {
		t.Fatalf("got %+v, want an OK lookup through %q", *s.DNS, ResolverSystem)
	}
	if !slices.Contains(s.DNS.Answers, "127.0.0.1") && !slices.Contains(s.DNS.Answers, "::1") {
		t.Errorf("Answers = %q, want a loopback address", s.DNS.Answers)
	}
	wireValid(t, s)
}

func TestDNSCheckConfigFaults(t *testing.T) {
	tests := []struct {
		name, target, resolver string
	}{
		{"empty name", "", ""},
		{"IP literal", "192.0.2.1", ""},
		{"URL not name", "https://example.com/", ""},
		{"resolver not an address", "ok.test", "dns.example:53"},
		{"resolver garbage", "ok.test", "127.0.0.1:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := DNSCheck(context.Background(), tt.target, CheckOptions{Resolver: tt.resolver}); err == nil {
				t.Errorf("DNSCheck(%q, %q) = %+v, want an error", tt.target, tt.resolver, s)
			}
		})
	}
}

func TestResolverAddrDefaultsPort(t *testing.T) {
	for in, want := range map[string]string{"192.0.2.53": "192.0.2.53:53", "192.0.2.53:5353": "192.0.2.53:5353",
		"2001:db8::53": "[2001:db8::53]:53", "[2001:db8::53]:53": "[2001:db8::53]:53", "[2001:db8::53]": "[2001:db8::53]:53"} {
		got, err := resolverAddr(in)
		if err != nil || got.String() != want {
			t.Errorf("resolverAddr(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
}
