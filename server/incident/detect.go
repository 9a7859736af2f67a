package incident

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jagadesa/jagadesa"
)

// Reason and detail codes the manager writes (evidence "reason", audit
// details of system actions); pages and notifications translate them.
const (
	ReasonBaseline     = "baseline"      // off the village's usual values for this hour
	DetailRecovered    = "recovered"     // a degraded village is healthy again
	DetailProbeBack    = "probe_back"    // a silent village reports again
	DetailAllBack      = "all_back"      // every village of a regional incident reports again
	DetailThroughputOK = "throughput_ok" // a speed test met the contract again
)

type villageState struct {
	// open counts the village's own incidents in m.open (keyed
	// "<village>|<kind>"), kept by putOpen and dropOpen: at zero, the
	// detector's tick skips looking up every kind for every village.
	open      int
	status    jagadesa.Status
	anomalyAt time.Time // last round off the village's baseline
	learnedAt time.Time // LastSeen of the round last fed to the baseline
	slaAt     time.Time // ThroughputAt of the test last judged
}

// Evaluate runs detection over the fleet's live state at now. It is called
// every second by the server; tests call it with a scripted clock.
func (m *Manager) Evaluate(ctx context.Context, now time.Time, snaps []Snapshot) {
	m.mu.Lock()
	defer func() {
		m.mu.Unlock()
		_ = m.flush(ctx) // a failure is logged and retried at the next tick
	}()
	if m.started.IsZero() {
		m.started = now
	}
	// The detector hands the same villages in the same order tick after
	// tick: their states are found by position, not looked up by code.
	if len(m.tick) != len(snaps) {
		m.tick = make([]tickSlot, len(snaps))
	}
	for i := range snaps {
		s, slot := &snaps[i], &m.tick[i]
		if slot.st == nil || slot.code != s.Code {
			slot.code, slot.st = s.Code, m.state(s.Code)
		}
		m.evaluateVillage(now, s, slot.st)
	}
	m.applyAttached(now)
	m.releaseHeld(now)
	m.escalate(now)
	m.resolveRegional(now, snaps)
}

// tickSlot is what Evaluate found for the village at one position of the
// snapshots: the state of the village of that code.
type tickSlot struct {
	code string
	st   *villageState
}

// state returns the village's detector state, made on first use. States
// are never removed: Evaluate keeps pointers to them between ticks.
func (m *Manager) state(code string) *villageState {
	st := m.villages[code]
	if st == nil {
		st = &villageState{}
		m.villages[code] = st
	}
	return st
}

// hasOpen reports whether the village may have an incident of its own
// open: when not, looking its kinds up in m.open finds nothing.
func (m *Manager) hasOpen(st *villageState) bool { return st.open > 0 || m.slowPath }

func (m *Manager) evaluateVillage(now time.Time, s *Snapshot, st *villageState) {
	prev := st.status
	st.status = s.Status

	// Learn the village's normal from each new round while it is up.
	var anomaly *Anomaly
	if s.Status != jagadesa.StatusDown && !s.LastSeen.IsZero() && s.LastSeen.After(st.learnedAt) && s.RTTMs != nil {
		st.learnedAt = s.LastSeen
		anomaly = m.baseline.Observe(s.Code, s.LastSeen, *s.RTTMs, val(s.LossPct), val(s.JitterMs))
	}

	// The status engine applies the hysteresis (status.Config
	// DegradedAfter, RecoveredAfter): a village is degraded here exactly
	// when the map and the lists show it so, and the server paints a
	// village with an open degraded incident degraded too.
	switch s.Status {
	case jagadesa.StatusDown:
		if now.Before(m.started.Add(m.cfg.StartupGrace)) {
			// Just started: probes are still flushing what they spooled
			// while the server was away. Judge silence after the grace.
			st.status = prev
			return
		}
		if prev != jagadesa.StatusDown {
			m.villageDown(now, s)
		}
	case jagadesa.StatusDegraded:
		if m.hasOpen(st) {
			m.villageBack(now, s)
		}
		m.openDegraded(now, s, now, s.Reason, nil)
	case jagadesa.StatusUp:
		if m.hasOpen(st) {
			m.villageBack(now, s)
		}
		if anomaly != nil {
			st.anomalyAt = now
			m.openDegraded(now, s, now, ReasonBaseline, anomaly)
		} else if now.Sub(st.anomalyAt) >= m.cfg.RecoveredAfter && m.hasOpen(st) {
			m.resolveVillage(now, s.Code, jagadesa.IncidentDegraded, DetailRecovered)
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
			m.openVillage(now, s.Code, jagadesa.IncidentSLABreach, jagadesa.SeverityWarning, s.ThroughputAt, "Kecepatan di bawah 80% kontrak", ev)
		} else if m.hasOpen(st) {
			m.resolveVillage(now, s.Code, jagadesa.IncidentSLABreach, DetailThroughputOK)
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
// Only a report newer than the one the outage began after counts: a
// status restored at start-up from stored data is not the village coming
// back.
func (m *Manager) villageBack(now time.Time, s *Snapshot) {
	for _, k := range []jagadesa.IncidentKind{jagadesa.IncidentDown, jagadesa.IncidentPowerCut, jagadesa.IncidentProbeFault} {
		if in := m.open[villageKey(s.Code, k)]; in != nil && s.LastSeen.After(in.StartedAt) {
			m.resolveVillage(now, s.Code, k, DetailProbeBack)
		}
	}
}

// openVillage opens an incident about one village unless one of the same
// kind is open; hold (optional) delays its notification until then.
func (m *Manager) openVillage(now time.Time, code string, kind jagadesa.IncidentKind, sev jagadesa.Severity, started time.Time, title string, evidence map[string]string, hold ...time.Time) *jagadesa.Incident {
	key := villageKey(code, kind)
	if in := m.open[key]; in != nil {
		return in
	}
	v, ok := m.reg.Village(code)
	if !ok {
		return nil
	}
	in := m.newIncident(now, kind, sev, []string{code}, started, title+" — "+v.Name, evidence)
	m.save(in, true, jagadesa.AuditEntry{IncidentID: in.ID, At: now, By: "system", Action: "opened", Detail: string(kind)})
	m.putOpen(key, in)
	until := now // sent at the end of this tick, unless merged meanwhile
	if len(hold) > 0 && !hold[0].IsZero() {
		until = hold[0]
	}
	m.held = append(m.held, heldNote{until: until, incident: key})
	return in
}

// openDegraded opens a degraded incident; why is a status reason code or
// ReasonBaseline with the anomaly that made it.
func (m *Manager) openDegraded(now time.Time, s *Snapshot, since time.Time, why string, a *Anomaly) {
	if m.open[villageKey(s.Code, jagadesa.IncidentDegraded)] != nil {
		return
	}
	ev := map[string]string{"reason": why}
	if s.RTTMs != nil {
		ev["rtt_ms"] = num(*s.RTTMs)
	}
	if s.LossPct != nil {
		ev["loss_pct"] = num(*s.LossPct)
	}
	if s.JitterMs != nil {
		ev["jitter_ms"] = num(*s.JitterMs)
	}
	if a != nil {
		ev["anomaly"] = a.Codes()
		ev["normal_rtt_ms"], ev["normal_loss_pct"], ev["normal_jitter_ms"] = num(a.UsualRTTMs), num(a.UsualLossPct), num(a.UsualJitterMs)
	} else if b, ok := m.baseline.Normal(s.Code, now); ok {
		ev["normal_rtt_ms"] = num(b.MedianRTT)
	}
	m.openVillage(now, s.Code, jagadesa.IncidentDegraded, jagadesa.SeverityWarning, since, "Desa terganggu", ev)
}

// num writes a measurement for the evidence: one decimal, a dot.
func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func (m *Manager) resolveVillage(now time.Time, code string, kind jagadesa.IncidentKind, why string) {
	key := villageKey(code, kind)
	if in := m.open[key]; in != nil {
		m.resolve(now, key, in, "system", why)
	}
}
