package incident

import (
	"context"
	"fmt"
	"time"

	"github.com/jagadesa/jagadesa"
)

type villageState struct {
	status        jagadesa.Status
	degradedSince time.Time // zero unless degraded
	healthySince  time.Time // zero unless up
	learnedAt     time.Time // LastSeen of the round last fed to the baseline
	slaAt         time.Time // ThroughputAt of the test last judged
}

// Evaluate runs detection over the fleet's live state at now. It is called
// every second by the server; tests call it with a scripted clock.
func (m *Manager) Evaluate(ctx context.Context, now time.Time, snaps []Snapshot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started.IsZero() {
		m.started = now
	}
	for i := range snaps {
		m.evaluateVillage(ctx, now, &snaps[i])
	}
	m.releaseHeld(ctx, now)
	m.escalate(ctx, now)
	m.resolveRegional(ctx, now, snaps)
}

func (m *Manager) evaluateVillage(ctx context.Context, now time.Time, s *Snapshot) {
	st := m.villages[s.Code]
	if st == nil {
		st = &villageState{}
		m.villages[s.Code] = st
	}
	prev := st.status
	st.status = s.Status

	// Learn the village's normal from each new round while it is up.
	var anomaly string
	if s.Status != jagadesa.StatusDown && !s.LastSeen.IsZero() && s.LastSeen.After(st.learnedAt) && s.RTTMs != nil {
		st.learnedAt = s.LastSeen
		anomaly = m.baseline.Observe(s.Code, s.LastSeen, *s.RTTMs, val(s.LossPct), val(s.JitterMs))
	}

	switch s.Status {
	case jagadesa.StatusDown:
		st.degradedSince, st.healthySince = time.Time{}, time.Time{}
		if now.Before(m.started.Add(m.cfg.StartupGrace)) {
			// Just started: probes are still flushing what they spooled
			// while the server was away. Judge silence after the grace.
			st.status = prev
			return
		}
		if prev != jagadesa.StatusDown {
			m.villageDown(ctx, now, s)
		}
	case jagadesa.StatusDegraded:
		st.healthySince = time.Time{}
		if st.degradedSince.IsZero() {
			st.degradedSince = now
		}
		m.villageBack(ctx, now, s)
		if now.Sub(st.degradedSince) >= m.cfg.DegradedAfter {
			m.openDegraded(ctx, now, s, st.degradedSince, s.Reason)
		}
	case jagadesa.StatusUp:
		st.degradedSince = time.Time{}
		if st.healthySince.IsZero() {
			st.healthySince = now
		}
		m.villageBack(ctx, now, s)
		if anomaly != "" {
			m.openDegraded(ctx, now, s, now, anomaly)
		} else if now.Sub(st.healthySince) >= m.cfg.RecoveredAfter {
			m.resolveVillage(ctx, now, s.Code, jagadesa.IncidentDegraded, "kembali normal")
		}
	}

	// Throughput against the contract, judged once per test.
	if !s.ThroughputAt.IsZero() && s.ThroughputAt.After(st.slaAt) {
		st.slaAt = s.ThroughputAt
		if s.SLABreach {
			ev := map[string]string{}
			if s.DownloadPct != nil {
				ev["download_pct_of_contract"] = fmt.Sprintf("%.1f", *s.DownloadPct)
			}
			m.openVillage(ctx, now, s.Code, jagadesa.IncidentSLABreach, jagadesa.SeverityWarning, s.ThroughputAt, "Kecepatan di bawah 80% kontrak", ev)
		} else {
			m.resolveVillage(ctx, now, s.Code, jagadesa.IncidentSLABreach, "uji kecepatan memenuhi kontrak")
		}
	}
}

func val(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// villageBack closes a village's down incident when it reports again; a
// regional incident closes when its last village is back (resolveRegional).
func (m *Manager) villageBack(ctx context.Context, now time.Time, s *Snapshot) {
	for _, k := range []jagadesa.IncidentKind{jagadesa.IncidentDown, jagadesa.IncidentPowerCut, jagadesa.IncidentProbeFault} {
		m.resolveVillage(ctx, now, s.Code, k, "probe melapor kembali")
	}
}

// openVillage opens an incident about one village unless one of the same
// kind is open; hold (optional) delays its notification until then.
func (m *Manager) openVillage(ctx context.Context, now time.Time, code string, kind jagadesa.IncidentKind, sev jagadesa.Severity, started time.Time, title string, evidence map[string]string, hold ...time.Time) *jagadesa.Incident {
	key := villageKey(code, kind)
	if in := m.open[key]; in != nil {
		return in
	}
	v, ok := m.reg.Village(code)
	if !ok {
		return nil
	}
	in := m.newIncident(now, kind, sev, []string{code}, started, title+" — "+v.Name, evidence)
	if err := m.store.CreateIncident(ctx, in, jagadesa.AuditEntry{IncidentID: in.ID, At: now, By: "system", Action: "opened", Detail: title}); err != nil {
		m.log.Error("incident not stored; will retry on the next tick", "village", code, "kind", kind, "err", err)
		return nil
	}
	m.open[key] = in
	until := now // sent at the end of this tick, unless merged meanwhile
	if len(hold) > 0 && !hold[0].IsZero() {
		until = hold[0]
	}
	m.held = append(m.held, heldNote{until: until, incident: key})
	return in
}

func (m *Manager) openDegraded(ctx context.Context, now time.Time, s *Snapshot, since time.Time, why string) {
	ev := map[string]string{"reason": why}
	if s.RTTMs != nil {
		ev["rtt_ms"] = fmt.Sprintf("%.1f", *s.RTTMs)
	}
	if s.LossPct != nil {
		ev["loss_pct"] = fmt.Sprintf("%.1f", *s.LossPct)
	}
	if b, ok := m.baseline.Normal(s.Code, now); ok {
		ev["normal_rtt_ms"] = fmt.Sprintf("%.1f ± %.1f", b.MedianRTT, b.MADRTT)
	}
	m.openVillage(ctx, now, s.Code, jagadesa.IncidentDegraded, jagadesa.SeverityWarning, since, "Desa terganggu: "+why, ev)
}

func (m *Manager) resolveVillage(ctx context.Context, now time.Time, code string, kind jagadesa.IncidentKind, why string) {
	key := villageKey(code, kind)
	if in := m.open[key]; in != nil {
		m.resolve(ctx, now, key, in, "system", why)
	}
}
