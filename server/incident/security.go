package incident

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/jagadesa/jagadesa"
)

// Security event kinds (jagadesa.SecurityKinds) are taken by how seriously
// the probe sends them: a takeover (critical) makes the village compromised
// at once; a warning opens a security incident too, unless it is the
// ordinary noise of a router coming back from an outage.

// afterOutage is how long after a village's outage ends new listening
// sockets are taken for services starting up, not an intruder.
const afterOutage = 10 * time.Minute

// SecurityEvents takes a batch's events from a village's probe and, for
// each sign of attack, opens a security incident for the village or adds
// to the one open. Evidence is aggregated: one Signal per kind and source,
// with a count and first and last seen, and at most jagadesa.MaxSignals
// per incident. A configuration change is raised even when it happened
// while the village was offline: that is when one would be made unseen.
// Applying the same events twice changes nothing (the outbox worker
// applies at least once): a signal remembers the highest sequence number
// it counted per stream.
func (m *Manager) SecurityEvents(ctx context.Context, village, probe, stream string, events []jagadesa.EventGroup) {
	var evs []jagadesa.EventGroup
	ports := false
	for _, e := range events {
		if jagadesa.IsSecurityKind(e.Kind) && e.Severity != "info" {
			evs = append(evs, e)
			ports = ports || e.Kind == "port_opened"
		}
	}
	if len(evs) == 0 {
		return
	}
	back := false
	if ports { // the store is read before the lock is taken
		back = m.recentlyBackStored(ctx, village, m.now())
	}
	m.mu.Lock()
	now := m.now()
	back = back || m.outageOpen(village)
	added := 0
	for _, e := range evs {
		if e.Kind == "port_opened" && back {
			m.log.Info("new listening socket after an outage, not raised", "village", village)
			continue
		}
		if m.securityEvent(now, village, stream, e) {
			added++
		}
	}
	// One write for the batch, however many events it added.
	if in := m.open[villageKey(village, jagadesa.IncidentSecurity)]; in != nil && added > 0 {
		m.save(in, false, jagadesa.AuditEntry{IncidentID: in.ID, At: now, By: "probe", Action: "evidence", Detail: strconv.Itoa(added)})
	}
	m.applyAttached(now)
	m.releaseHeld(now) // security incidents are not held for regional grouping
	m.mu.Unlock()
	_ = m.flush(ctx)
}

// SecurityEvent takes one event; see SecurityEvents.
func (m *Manager) SecurityEvent(ctx context.Context, village string, e jagadesa.Event) {
	m.SecurityEvents(ctx, village, "", "", jagadesa.GroupEvents([]jagadesa.Event{e}))
}

// securityEvent counts one event into the village's security incident,
// opening it if need be. It reports whether an open incident took new
// evidence, which the caller stores once per batch.
func (m *Manager) securityEvent(now time.Time, village, stream string, e jagadesa.EventGroup) bool {
	at := time.UnixMilli(e.TimeMs).UTC()
	sev := jagadesa.SeverityWarning
	if e.Severity == "critical" {
		sev = jagadesa.SeverityCritical
	}
	key := villageKey(village, jagadesa.IncidentSecurity)
	in := m.open[key]
	if in == nil {
		in = m.openVillage(now, village, jagadesa.IncidentSecurity, sev, at, "Insiden keamanan: "+securityTitle(e.Kind), map[string]string{"event": e.Kind})
		if in == nil {
			return false
		}
		addSignal(in, village, stream, e, sev, at)
		m.journal[len(m.journal)-1].in = snapshot(in) // the opening write carries its first signal
		m.campaigns.saw(m, now, village, e.Event)
		return false
	}
	// One incident per village under attack: new evidence joins it, and a
	// critical sign raises it.
	if !addSignal(in, village, stream, e, sev, at) {
		return false // counted before
	}
	if sev == jagadesa.SeverityCritical && in.Severity != jagadesa.SeverityCritical {
		in.Severity = sev
		m.save(in, false, jagadesa.AuditEntry{IncidentID: in.ID, At: now, By: "probe", Action: "raised", Detail: e.Kind})
		m.notify(now, in, "escalated", false)
	}
	m.campaigns.saw(m, now, village, e.Event)
	return true
}

// addSignal counts e into the incident's signals and reports whether it
// changed anything. The probe's attrs and message stay in the signal, never
// among the server's evidence keys.
func addSignal(in *jagadesa.Incident, village, stream string, e jagadesa.EventGroup, sev jagadesa.Severity, at time.Time) bool {
	src := e.Attrs["source"]
	first := time.UnixMilli(e.FirstMs).UTC()
	for i := range in.Signals {
		g := &in.Signals[i]
		if g.Kind != e.Kind || g.Source != src || g.Village != village {
			continue
		}
		if stream != "" && g.Attrs[seqAttr(stream)] != "" {
			if last, _ := strconv.ParseUint(g.Attrs[seqAttr(stream)], 10, 64); e.Seq <= last {
				return false // applied before
			}
		}
		g.Count += e.Count
		if first.Before(g.FirstSeen) {
			g.FirstSeen = first
		}
		if at.After(g.LastSeen) {
			g.LastSeen, g.Message = at, e.Message
			g.Attrs = signalAttrs(e.Attrs, stream, e.Seq)
		} else if stream != "" {
			g.Attrs = maps.Clone(g.Attrs)
			g.Attrs[seqAttr(stream)] = strconv.FormatUint(e.Seq, 10)
		}
		if sev == jagadesa.SeverityCritical {
			g.Severity = sev
		}
		return true
	}
	if len(in.Signals) >= jagadesa.MaxSignals {
		in.SignalsDropped++
		return true
	}
	in.Signals = append(in.Signals, jagadesa.Signal{Kind: e.Kind, Severity: sev, Source: src, Count: e.Count, FirstSeen: first, LastSeen: at,
		Message: e.Message, Attrs: signalAttrs(e.Attrs, stream, e.Seq), Village: village})
	return true
}

// seqAttr is the attribute, set by the server, in which a signal keeps the
// highest sequence number it counted from a stream. Probe attributes
// cannot take its name: they are copied with a "probe." prefix.
func seqAttr(stream string) string { return "jagadesa.seq." + stream }

func signalAttrs(probe map[string]string, stream string, seq uint64) map[string]string {
	out := make(map[string]string, len(probe)+1)
	for k, v := range probe {
		out["probe."+k] = v
	}
	if stream != "" {
		out[seqAttr(stream)] = strconv.FormatUint(seq, 10)
	}
	return out
}

// Attacker correlation: one address trying several villages' routers is
// a campaign against the province, which its CSIRT should see as one
// incident (a private, provincial version of CrowdSec's crowd signal).
const (
	attackerVillages = 3
	attackerWindow   = time.Hour
	maxAttackers     = 10000 // addresses remembered at once
)

// campaigns remembers, per source address, the villages it hit and when.
// It lives under the manager's lock.
type campaigns struct {
	hits map[string]map[string]time.Time
}

// saw notes that e, from a source address, hit village, and opens or
// grows the campaign's incident when the address has hit enough villages.
func (c *campaigns) saw(m *Manager, now time.Time, village string, e jagadesa.Event) {
	src := e.Attrs["source"]
	if src == "" || len(src) > 64 {
		return
	}
	hit := c.hits[src]
	if hit == nil {
		if len(c.hits) >= maxAttackers {
			c.forget(now)
		}
		hit = map[string]time.Time{}
		c.hits[src] = hit
	}
	hit[village] = now
	for v, t := range hit {
		if now.Sub(t) > attackerWindow {
			delete(hit, v)
		}
	}
	key := "source:" + src
	if in := m.open[key]; in != nil {
		m.attach(now, in, village)
		return
	}
	if len(hit) < attackerVillages {
		return
	}
	codes := slices.Sorted(maps.Keys(hit))
	in := m.newIncident(now, jagadesa.IncidentSecurity, jagadesa.SeverityCritical, codes, now, "", map[string]string{"group": key, "source": src})
	in.Title = m.regionalTitle(key, in.Villages)
	if first, ok := m.reg.Village(codes[0]); ok {
		if _, prov, err := m.dir.Route(first); err == nil {
			in.CSIRT = prov.Name // a campaign across the province is the province's
		}
	}
	m.save(in, true, jagadesa.AuditEntry{IncidentID: in.ID, At: now, By: "system", Action: "opened", Detail: key})
	m.putOpen(key, in)
	m.notify(now, in, "opened", false)
}

// forget drops the addresses not seen within the window.
func (c *campaigns) forget(now time.Time) {
	for src, hit := range c.hits {
		var latest time.Time
		for _, t := range hit {
			if t.After(latest) {
				latest = t
			}
		}
		if now.Sub(latest) > attackerWindow {
			delete(c.hits, src)
		}
	}
}

func securityTitle(kind string) string { return jagadesa.SecurityKindTitle(kind) }

// outageOpen reports whether the village has an outage incident open.
func (m *Manager) outageOpen(village string) bool {
	for _, k := range []jagadesa.IncidentKind{jagadesa.IncidentDown, jagadesa.IncidentPowerCut, jagadesa.IncidentProbeFault} {
		if m.open[villageKey(village, k)] != nil {
			return true
		}
	}
	return false
}

// recentlyBackStored reports whether the village's last outage, as stored,
// ended within afterOutage of now.
func (m *Manager) recentlyBackStored(ctx context.Context, village string, now time.Time) bool {
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
