package probe

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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

// A DNS hijack written the way router malware writes it — a server in the
// dnsmasq section of /etc/config/dhcp, or in /etc/dnsmasq.conf and a file
// of its conf-dir — is an upstream outside --dns-allow: critical (the
// server marks the village compromised), naming the file and the upstream.
// Without an allow-list the first run's upstreams are the reference and a
// new one is a warning, once.
func TestDNSUpstreamHijackEvents(t *testing.T) {
	type ev struct{ kind, resolver, file string }
	got := func(evs []jagadesa.Event) []ev {
		var out []ev
		for _, e := range evs {
			if strings.HasPrefix(e.Kind, "dns_upstream") {
				if !strings.Contains(e.Message, e.Attrs["resolver"]) || !strings.Contains(e.Message, strings.Split(e.Attrs["file"], ",")[0]) {
					t.Errorf("message %q does not name the upstream and the file", e.Message)
				}
				out = append(out, ev{e.Kind + "/" + e.Severity, e.Attrs["resolver"], e.Attrs["file"]})
			}
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		allow     []string
		hijack    string
		want      []ev
		wantAllow []ev
	}{
		{name: "list server in /etc/config/dhcp", hijack: "uci-hijack",
			wantAllow: []ev{
				{"dns_upstream_unexpected/critical", "198.51.100.66", "/etc/config/dhcp"},
				{"dns_upstream_unexpected/critical", "198.51.100.67", "/etc/config/dhcp"},
			},
			want: []ev{
				{"dns_upstream_changed/warning", "198.51.100.66", "/etc/config/dhcp"},
				{"dns_upstream_changed/warning", "198.51.100.67", "/etc/config/dhcp"},
			}},
		{name: "server= in dnsmasq.conf and its conf-dir", hijack: "conf-hijack",
			wantAllow: []ev{
				{"dns_upstream_unexpected/critical", "10.8.0.1", "/etc/dnsmasq.conf"},
				{"dns_upstream_unexpected/critical", "198.51.100.70", "/etc/dnsmasq.conf"},
				{"dns_upstream_unexpected/critical", "198.51.100.71", "/etc/dnsmasq.conf"},
				{"dns_upstream_unexpected/critical", "198.51.100.72", "/etc/dnsmasq.d/10-upstream.conf"},
				{"dns_upstream_unexpected/critical", "198.51.100.73", "/tmp/dnsmasq.d/extra.list"},
				{"dns_upstream_unexpected/critical", "198.51.100.74", "/etc/resolv.dnsmasq"},
				{"dns_upstream_unexpected/critical", "198.51.100.75", "/etc/dnsmasq.conf"},
				{"dns_upstream_unexpected/critical", "2001:db8:66::1", "/etc/dnsmasq.d/10-upstream.conf"},
			},
			want: []ev{
				{"dns_upstream_changed/warning", "10.8.0.1", "/etc/dnsmasq.conf"},
				{"dns_upstream_changed/warning", "198.51.100.70", "/etc/dnsmasq.conf"},
				{"dns_upstream_changed/warning", "198.51.100.71", "/etc/dnsmasq.conf"},
				{"dns_upstream_changed/warning", "198.51.100.72", "/etc/dnsmasq.d/10-upstream.conf"},
				{"dns_upstream_changed/warning", "198.51.100.73", "/tmp/dnsmasq.d/extra.list"},
				{"dns_upstream_changed/warning", "198.51.100.74", "/etc/resolv.dnsmasq"},
				{"dns_upstream_changed/warning", "198.51.100.75", "/etc/dnsmasq.conf"},
				{"dns_upstream_changed/warning", "2001:db8:66::1", "/etc/dnsmasq.d/10-upstream.conf"},
			}},
	} {
		for _, allow := range [][]string{{"203.0.113.0/24", "2001:db8:53::/48"}, nil} {
			name := tc.name + " without an allow-list"
			want := tc.want
			if allow != nil {
				name, want = tc.name+" with --dns-allow", tc.wantAllow
			}
			t.Run(name, func(t *testing.T) {
				root := fixtureRoot(t, "openwrt-stock")
				now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
				c := &SecurityCollector{Root: root, StateFile: filepath.Join(t.TempDir(), "s.json"), DNSAllow: allow, Now: func() time.Time { return now }}
				// The stock router: its ISP's resolvers, all allowed.
				if evs, _ := c.Collect(); len(got(evs)) != 0 {
					t.Fatalf("baseline raised %v", got(evs))
				}
				overlayTree(t, filepath.Join("testdata/dnsupstream", tc.hijack), root)
				evs, _ := c.Collect()
				if g := got(evs); !slices.Equal(g, want) {
					t.Fatalf("after the hijack:\n%v\nwant:\n%v", g, want)
				}
				// Said once, also across a restart of the probe.
				if evs, _ := c.Collect(); len(got(evs)) != 0 {
					t.Fatalf("raised again: %v", got(evs))
				}
				c = &SecurityCollector{Root: root, StateFile: c.StateFile, DNSAllow: allow, Now: func() time.Time { return now }}
				if evs, _ := c.Collect(); len(got(evs)) != 0 {
					t.Fatalf("raised again after a restart: %v", got(evs))
				}
				// Cleaned, then written again: with an allow-list that is a
				// new compromise; without one the upstream is known by now.
				overlayTree(t, "testdata/dnsupstream/openwrt-stock", root)
				os.RemoveAll(filepath.Join(root, "etc/dnsmasq.d"))
				os.RemoveAll(filepath.Join(root, "tmp/dnsmasq.d"))
				os.Remove(filepath.Join(root, "etc/resolv.dnsmasq"))
				if evs, _ := c.Collect(); len(got(evs)) != 0 {
					t.Fatalf("after cleaning: %v", got(evs))
				}
				overlayTree(t, filepath.Join("testdata/dnsupstream", tc.hijack), root)
				evs, _ = c.Collect()
				if allow != nil && !slices.Equal(got(evs), want) {
					t.Fatalf("second infection: %v", got(evs))
				}
				if allow == nil && len(got(evs)) != 0 {
					t.Fatalf("a known upstream raised again: %v", got(evs))
				}
			})
		}
	}
}

// The ISP handing out new resolvers over PPP is a warning without an
// allow-list and nothing with one that covers them; an upstream in two
// files is one event naming both.
func TestDNSUpstreamISPChange(t *testing.T) {
	root := fixtureRoot(t, "openwrt-stock")
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	allow := &SecurityCollector{Root: root, StateFile: filepath.Join(t.TempDir(), "a.json"), DNSAllow: []string{"203.0.113.0/24", "2001:db8:53::/48"}, Now: func() time.Time { return now }}
	free := &SecurityCollector{Root: root, StateFile: filepath.Join(t.TempDir(), "b.json"), Now: func() time.Time { return now }}
	for _, c := range []*SecurityCollector{allow, free} {
		if _, err := c.Collect(); err != nil && !strings.Contains(err.Error(), "/proc/net/tcp") {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "tmp/resolv.conf.d/resolv.conf.auto"), []byte("# Interface wan\nnameserver 203.0.113.60\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/dnsmasq.conf"), []byte("server=203.0.113.60\n"), 0o644)
	if evs, _ := allow.Collect(); len(evs) != 0 {
		t.Fatalf("allowed ISP change raised %v", kinds(evs))
	}
	evs, _ := free.Collect()
	if len(evs) != 1 || evs[0].Kind != "dns_upstream_changed" || evs[0].Severity != "warning" ||
		evs[0].Attrs["resolver"] != "203.0.113.60" || evs[0].Attrs["file"] != "/etc/dnsmasq.conf,/tmp/resolv.conf.d/resolv.conf.auto" ||
		evs[0].Attrs["known"] != "2001:db8:53::1,203.0.113.53,203.0.113.54" {
		t.Fatalf("ISP change without an allow-list: %+v", evs)
	}
}
