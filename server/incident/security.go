package incident

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jagadesa/jagadesa"
)

// Security event kinds the probe's collectors send, by how seriously they
// are taken: a takeover (critical) makes the village compromised at once; a
// warning opens a security incident too, unless it is the ordinary noise of
// a router coming back from an outage.
var securityKinds = map[string]bool{
	"config_changed": true, "gateway_mac_changed": true, "login_new_source": true,
	"login_bruteforce": true, "port_opened": true, "dns_upstream_unexpected": true, "dns_upstream_changed": true,
	// Threat-feed hits (probe/threatfeed.go): a host at the village talking
	// to, or looking up, something the CSIRT's feed lists as bad.
	"threat_ip": true, "threat_domain": true, "threat_summary": true,
	// The router's resolver against the reference (probe/dnshijack.go).
	"dns_hijack": true, "dns_nxdomain_rewrite": true, "dns_answer_mismatch": true,
}

// afterOutage is how long after a village's outage ends new listening
// sockets are taken for services starting up, not an intruder.
const afterOutage = 10 * time.Minute

// SecurityEvent takes one event from a village's probe and, when it is a
// sign of attack, opens a security incident for the village (or adds the
// evidence to the one open). A configuration change is raised even when it
// happened while the village was offline: that is when one would be made
// unseen.
func (m *Manager) SecurityEvent(ctx context.Context, village string, e jagadesa.Event) {
	if !securityKinds[e.Kind] || e.Severity == "info" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if e.Kind == "port_opened" && m.recentlyBack(ctx, village, now) {
		m.log.Info("new listening socket after an outage, not raised", "village", village, "socket", e.Attrs["socket"])
		return
	}
	ev := map[string]string{"event": e.Kind, "message": e.Message}
	for k, v := range e.Attrs {
		ev[k] = v
	}
	at := time.UnixMilli(e.TimeMs).UTC()
	ev["at"] = at.Format(time.RFC3339)
	sev := jagadesa.SeverityWarning
	if e.Severity == "critical" {
		sev = jagadesa.SeverityCritical
	}
	key := villageKey(village, jagadesa.IncidentSecurity)
	if in := m.open[key]; in != nil {
		// One incident per village under attack: new evidence joins it, and
		// a critical sign raises it.
		n := 1
		for k := range in.Evidence {
			if strings.HasPrefix(k, "event") {
				n++
			}
		}
		suffix := "#" + strconv.Itoa(n)
		for k, v := range ev {
			in.Evidence[k+suffix] = v
		}
		raised := sev == jagadesa.SeverityCritical && in.Severity != jagadesa.SeverityCritical
		if raised {
			in.Severity = sev
		}
		if err := m.store.UpdateIncident(ctx, in, jagadesa.AuditEntry{IncidentID: in.ID, At: now, By: "probe", Action: "evidence", Detail: e.Kind + ": " + e.Message}); err != nil {
			m.log.Error("adding security evidence", "id", in.ID, "err", err)
		}
		if raised {
			m.notify(ctx, now, in, "escalated", false)
		}
		return
	}
	in := m.openVillage(ctx, now, village, jagadesa.IncidentSecurity, sev, at, "Insiden keamanan: "+securityTitle(e.Kind), ev)
	if in != nil {
		m.releaseHeld(ctx, now) // security incidents are not held for regional grouping
	}
	m.correlateAttacker(ctx, now, village, e)
}

// Attacker correlation: one address trying several villages' routers is
// a campaign against the province, which its CSIRT should see as one
// incident (a private, provincial version of CrowdSec's crowd signal).
const (
	attackerVillages = 3
	attackerWindow   = time.Hour
)

func (m *Manager) correlateAttacker(ctx context.Context, now time.Time, village string, e jagadesa.Event) {
	src := e.Attrs["source"]
	if src == "" {
		return
	}
	if m.attackers == nil {
		m.attackers = map[string]map[string]time.Time{}
	}
	hit := m.attackers[src]
	if hit == nil {
		hit = map[string]time.Time{}
		m.attackers[src] = hit
	}
	hit[village] = now
	for v, t := range hit {
		if now.Sub(t) > attackerWindow {
			delete(hit, v)
		}
	}
	key := "source:" + src
	if in := m.open[key]; in != nil {
		m.attach(ctx, now, in, village)
		return
	}
	if len(hit) < attackerVillages {
		return
	}
	codes := make([]string, 0, len(hit))
	for v := range hit {
		codes = append(codes, v)
	}
	sort.Strings(codes)
	in := m.newIncident(now, jagadesa.IncidentSecurity, jagadesa.SeverityCritical, codes, now, "", map[string]string{"group": key, "source": src})
	in.Title = m.regionalTitle(key, in.Villages)
	if first, ok := m.reg.Village(codes[0]); ok {
		if _, prov, err := m.dir.Route(first); err == nil {
			in.CSIRT = prov.Name // a campaign across the province is the province's
		}
	}
	if err := m.store.CreateIncident(ctx, in, jagadesa.AuditEntry{IncidentID: in.ID, At: now, By: "system", Action: "opened", Detail: "attacker " + src}); err != nil {
		m.log.Error("attacker incident not stored", "source", src, "err", err)
		return
	}
	m.open[key] = in
	m.notify(ctx, now, in, "opened", false)
}

func securityTitle(kind string) string {
	switch kind {
	case "config_changed":
		return "konfigurasi atau kredensial router berubah"
	case "gateway_mac_changed":
		return "MAC gateway berubah (kemungkinan ARP spoofing)"
	case "login_new_source":
		return "login dari alamat yang belum pernah terlihat"
	case "login_bruteforce":
		return "percobaan login beruntun"
	case "port_opened":
		return "port baru terbuka di router"
	case "dns_upstream_unexpected":
		return "router memakai resolver DNS yang tidak diizinkan (kemungkinan DNS hijack)"
	case "dns_upstream_changed":
		return "resolver DNS router berubah"
	case "dns_hijack":
		return "resolver router mengarahkan nama publik ke alamat internal (DNS hijack)"
	case "dns_nxdomain_rewrite":
		return "resolver router menjawab nama yang tidak ada (NXDOMAIN diubah)"
	case "dns_answer_mismatch":
		return "jawaban DNS router berbeda dengan resolver pembanding"
	case "threat_ip":
		return "koneksi dengan alamat berbahaya dari threat feed"
	case "threat_domain":
		return "kueri DNS ke domain berbahaya dari threat feed"
	case "threat_summary":
		return "banyak kecocokan threat feed sekaligus"
	}
	return kind
}

// recentlyBack reports whether the village's last outage ended within
// afterOutage of now.
func (m *Manager) recentlyBack(ctx context.Context, village string, now time.Time) bool {
	for _, k := range []jagadesa.IncidentKind{jagadesa.IncidentDown, jagadesa.IncidentPowerCut, jagadesa.IncidentProbeFault} {
		if m.open[villageKey(village, k)] != nil {
			return true
		}
	}
	recent, err := m.store.Incidents(ctx, jagadesa.Filter{Village: village, Since: now.Add(-24 * time.Hour), Limit: 20})
	if err != nil {
		return false
	}
	for _, in := range recent {
		switch in.Kind {
		case jagadesa.IncidentDown, jagadesa.IncidentPowerCut, jagadesa.IncidentProbeFault, jagadesa.IncidentRegional:
			if in.ResolvedAt != nil && now.Sub(*in.ResolvedAt) < afterOutage {
				return true
			}
		}
	}
	return false
}
