package probe

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/jagadesa/jagadesa"
)

func dnsPair(name string, sys, ref *jagadesa.DNS) []jagadesa.Sample {
	sys.Resolver, ref.Resolver = ResolverSystem, "8.8.8.8:53"
	return []jagadesa.Sample{{Kind: jagadesa.KindDNS, Target: name, DNS: sys}, {Kind: jagadesa.KindDNS, Target: name, DNS: ref}}
}

func dnsKinds(evs []jagadesa.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Kind+"/"+e.Severity)
	}
	return out
}

func TestDNSHijackRules(t *testing.T) {
	w := &DNSHijackWatcher{Canaries: []string{"jatengprov.go.id"}}
	ok := func(a ...string) *jagadesa.DNS { return &jagadesa.DNS{OK: true, RCode: "NOERROR", Answers: a} }
	nx := &jagadesa.DNS{RCode: "NXDOMAIN"}

	// A public name sent to a LAN address: critical at once, once.
	for round := 0; round < 3; round++ {
		evs := w.Compare(dnsPair("lapor.go.id", ok("192.168.1.250"), ok("103.10.20.30")))
		want := 0
		if round == 0 {
			want = 1
		}
		if len(evs) != want || (want == 1 && (evs[0].Kind != "dns_hijack" || evs[0].Severity != "critical" || evs[0].Attrs["local"] != "192.168.1.250")) {
			t.Fatalf("round %d: %v", round, dnsKinds(evs))
		}
	}
	// It ends, and a new streak raises again.
	w.Compare(dnsPair("lapor.go.id", ok("103.10.20.30"), ok("103.10.20.30")))
	if evs := w.Compare(dnsPair("lapor.go.id", ok("0.0.0.0"), ok("103.10.20.30"))); len(evs) != 1 {
		t.Fatalf("new hijack streak: %v", dnsKinds(evs))
	}

	// NXDOMAIN rewritten: a warning on the third round running.
	for round := 1; round <= 4; round++ {
		evs := w.Compare(dnsPair("no-such-name.jatengprov.go.id", ok("203.0.113.80"), nx))
		if (round == 3) != (len(evs) == 1) || (len(evs) == 1 && evs[0].Kind != "dns_nxdomain_rewrite") {
			t.Fatalf("nxdomain round %d: %v", round, dnsKinds(evs))
		}
	}

	// A canary whose answers share nothing for three rounds: a warning;
	// two rounds and a recovery: nothing.
	for _, r := range []struct {
		sys, ref string
		want     int
	}{{"198.51.100.1", "203.0.113.1", 0}, {"198.51.100.1", "203.0.113.1", 0}, {"203.0.113.1", "203.0.113.1", 0},
		{"198.51.100.1", "203.0.113.1", 0}, {"198.51.100.1", "203.0.113.1", 0}, {"198.51.100.1", "203.0.113.1", 1}} {
		if evs := w.Compare(dnsPair("jatengprov.go.id", ok(r.sys), ok(r.ref))); len(evs) != r.want {
			t.Fatalf("canary %s vs %s: %v, want %d", r.sys, r.ref, dnsKinds(evs), r.want)
		}
	}
	// The same disjoint answers for a name that is not a canary (a CDN):
	// nothing, however long.
	for range 10 {
		if evs := w.Compare(dnsPair("cdn.example", ok("198.51.100.7"), ok("203.0.113.7"))); len(evs) != 0 {
			t.Fatalf("CDN name raised %v", dnsKinds(evs))
		}
	}
	// The JagaDesa server's own name on a private network (split horizon).
	w.Internal = []string{"jagadesa.jatengprov.go.id"}
	if evs := w.Compare(dnsPair("jagadesa.jatengprov.go.id", ok("10.20.0.5"), ok("103.10.20.40"))); len(evs) != 0 {
		t.Fatalf("split-horizon server name raised %v", dnsKinds(evs))
	}
	// A failed local lookup is not a hijack.
	if evs := w.Compare(dnsPair("lapor.go.id", &jagadesa.DNS{RCode: "timeout"}, ok("103.10.20.30"))); len(evs) != 0 {
		t.Fatalf("timeout raised %v", dnsKinds(evs))
	}
}

// A normal day: a canary with a stable address pool answered in rotating
// subsets by both resolvers (always overlapping), CDN names with disjoint
// answers, occasional failures of either resolver, and a name the
// reference sometimes cannot answer. Nothing may be raised.
func TestDNSHijackQuietDay(t *testing.T) {
	w := &DNSHijackWatcher{Canaries: []string{"jatengprov.go.id"}}
	rng := rand.New(rand.NewPCG(7, 7))
	pool := []string{"103.10.20.30", "103.10.20.31", "103.10.20.32"}
	pick := func() []string {
		// Round-robin answers: a rotation of the pool, all of it.
		k := rng.IntN(len(pool))
		return append(append([]string(nil), pool[k:]...), pool[:k]...)
	}
	lookups := 0
	for round := 0; round < 1440; round++ {
		var s []jagadesa.Sample
		sys, ref := &jagadesa.DNS{OK: true, RCode: "NOERROR", Answers: pick()}, &jagadesa.DNS{OK: true, RCode: "NOERROR", Answers: pick()}
		if rng.IntN(50) == 0 {
			sys = &jagadesa.DNS{RCode: "timeout"}
		}
		if rng.IntN(50) == 0 {
			ref = &jagadesa.DNS{RCode: "SERVFAIL"}
		}
		s = append(s, dnsPair("jatengprov.go.id", sys, ref)...)
		cdn := fmt.Sprintf("198.51.100.%d", rng.IntN(200))
		s = append(s, dnsPair("www.lapor.go.id", &jagadesa.DNS{OK: true, Answers: []string{cdn, "2001:db8::1"}}, &jagadesa.DNS{OK: true, Answers: []string{"203.0.113.9"}})...)
		lookups += 4
		if evs := w.Compare(s); len(evs) != 0 {
			t.Fatalf("round %d: false alarm %v", round, dnsKinds(evs))
		}
	}
	t.Logf("quiet day: 1440 rounds, %d lookups compared, 0 events", lookups)
}

// Real lookups over the wire, through the probe's own check, against two
// local resolvers: an honest one, and one standing for a hijacked router
// resolver that sends ok.test to a LAN box and answers a name that does
// not exist. The router's samples are labelled as the system resolver's,
// as the probe's round labels them.
func TestDNSHijackFromRealLookups(t *testing.T) {
	honest, router := startTestDNS(t), startTestDNS(t)
	router.lies = map[string][]netip.Addr{
		"ok.test.":      {netip.MustParseAddr("192.168.1.250")},
		"missing.test.": {netip.MustParseAddr("203.0.113.80")},
	}
	w := &DNSHijackWatcher{}
	var got []string
	for round := 0; round < dnsStreak; round++ {
		var samples []jagadesa.Sample
		for _, name := range []string{"ok.test", "missing.test"} {
			for _, srv := range []*testDNS{router, honest} {
				s, err := DNSCheck(context.Background(), name, CheckOptions{Resolver: srv.addr})
				if err != nil {
					t.Fatal(err)
				}
				if srv == router {
					s.DNS.Resolver = ResolverSystem
				}
				samples = append(samples, s)
			}
		}
		for _, e := range w.Compare(samples) {
			got = append(got, fmt.Sprintf("%d %s/%s %s local=%s reference=%s", round, e.Kind, e.Severity, e.Attrs["name"], e.Attrs["local"], e.Attrs["reference"]))
		}
	}
	want := []string{
		"0 dns_hijack/critical ok.test local=192.168.1.250 reference=192.0.2.1 192.0.2.2 2001:db8::1",
		"2 dns_nxdomain_rewrite/warning missing.test local=203.0.113.80 reference=",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
