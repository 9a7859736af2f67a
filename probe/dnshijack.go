package probe

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/jagadesa/jagadesa"
)

// DNS hijack, from the answers of one round: every DNS name is resolved
// through the router's own resolver and through the reference one
// (--dns-reference), and the two are compared.
//
//   - dns_hijack (critical): the router's resolver gives a private,
//     loopback, link-local, shared (CGNAT) or unspecified address for a
//     name the reference resolves to public ones — the classic redirection
//     of a public name to a box inside the network or to nowhere.
//   - dns_nxdomain_rewrite (warning): the reference says the name does not
//     exist, the router's resolver gives addresses for it, three rounds
//     running (an upstream rewriting NXDOMAIN to an advertising page).
//   - dns_answer_mismatch (warning): for a canary name (--dns-canary: one
//     the operator knows has the same few addresses everywhere, like the
//     province's own site) the two answer sets share no address, three
//     rounds running. Names behind a CDN differ by resolver for good
//     reasons and are never compared this way.
//
// Each is raised once per streak: when it starts, not every round.
//
// These judge the answers. The configuration that sends lookups elsewhere
// (a server= in /etc/config/dhcp, /etc/dnsmasq.conf or a conf-dir file) is
// judged by the security collector: DNSUpstreams in dnsupstream.go, and
// dns_upstream_unexpected / dns_upstream_changed in security.go.
type DNSHijackWatcher struct {
	Canaries []string // names whose answers must agree between resolvers
	// Internal lists names that may resolve to internal addresses through
	// the router (split-horizon DNS): the JagaDesa server's own name, for a
	// province whose server sits on a private network.
	Internal []string
	Now      func() time.Time

	streaks map[string]int    // rule+name → consecutive rounds
	raised  map[string]bool   // rule+name → raised in this streak
	seen    map[string]string // rule+name → the last evidence
}

// dnsStreak is how many rounds in a row a soft sign must hold.
const dnsStreak = 3

// Compare takes a round's DNS samples and returns the events it raises.
func (w *DNSHijackWatcher) Compare(samples []jagadesa.Sample) []jagadesa.Event {
	if w.streaks == nil {
		w.streaks, w.raised, w.seen = map[string]int{}, map[string]bool{}, map[string]string{}
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	// Pair the system and reference lookups of each name.
	type pair struct{ sys, ref *jagadesa.DNS }
	pairs := map[string]*pair{}
	var names []string
	for i := range samples {
		s := &samples[i]
		if s.Kind != jagadesa.KindDNS || s.DNS == nil {
			continue
		}
		p := pairs[s.Target]
		if p == nil {
			p = &pair{}
			pairs[s.Target] = p
			names = append(names, s.Target)
		}
		if s.DNS.Resolver == ResolverSystem {
			p.sys = s.DNS
		} else {
			p.ref = s.DNS
		}
	}
	var events []jagadesa.Event
	hit := map[string]bool{}
	for _, name := range names {
		p := pairs[name]
		if p.sys == nil || p.ref == nil || !p.sys.OK {
			continue // a failed local lookup is an outage sign, not a hijack
		}
		attrs := func() map[string]string {
			return map[string]string{"name": name, "local": strings.Join(p.sys.Answers, " "),
				"reference": strings.Join(p.ref.Answers, " "), "reference_resolver": p.ref.Resolver, "reference_rcode": p.ref.RCode}
		}
		switch {
		case p.ref.OK && anyInternal(p.sys.Answers) && !anyInternal(p.ref.Answers) && !slices.Contains(w.Internal, strings.TrimSuffix(name, ".")):
			hit["hijack "+name] = true
			if w.streak("hijack "+name, 1) {
				events = append(events, jagadesa.Event{TimeMs: now().UnixMilli(), Kind: "dns_hijack", Severity: "critical",
					Message: "the router's resolver sends " + name + " to an internal address; the reference resolver does not", Attrs: attrs()})
			}
		case !p.ref.OK && p.ref.RCode == "NXDOMAIN":
			hit["nxdomain "+name] = true
			if w.streak("nxdomain "+name, dnsStreak) {
				events = append(events, jagadesa.Event{TimeMs: now().UnixMilli(), Kind: "dns_nxdomain_rewrite", Severity: "warning",
					Message: "the reference resolver says " + name + " does not exist; the router's resolver answers it", Attrs: attrs()})
			}
		case p.ref.OK && slices.Contains(w.Canaries, name) && disjoint(p.sys.Answers, p.ref.Answers):
			hit["mismatch "+name] = true
			if w.streak("mismatch "+name, dnsStreak) {
				events = append(events, jagadesa.Event{TimeMs: now().UnixMilli(), Kind: "dns_answer_mismatch", Severity: "warning",
					Message: "the router's resolver and the reference resolver share no address for canary " + name, Attrs: attrs()})
			}
		}
	}
	// A sign that did not hold this round ends its streak.
	for k := range w.streaks {
		if !hit[k] {
			delete(w.streaks, k)
			delete(w.raised, k)
		}
	}
	return events
}

// streak counts one more round of a sign and says whether to raise it now.
func (w *DNSHijackWatcher) streak(key string, need int) bool {
	w.streaks[key]++
	if w.streaks[key] >= need && !w.raised[key] {
		w.raised[key] = true
		return true
	}
	return false
}

// anyInternal reports whether an answer is an address no public name
// should have.
func anyInternal(answers []string) bool {
	for _, a := range answers {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			continue
		}
		ip = ip.Unmap()
		if ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() || ip.IsMulticast() || cgnat.Contains(ip) {
			return true
		}
	}
	return false
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func disjoint(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return false
		}
	}
	return true
}
