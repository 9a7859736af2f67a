package incident

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jagadesa/jagadesa"
)

func (m *Manager) resolve(now time.Time, key string, in *jagadesa.Incident, by, why string) {
	t := now
	in.State, in.ResolvedAt, in.Stage = jagadesa.StateResolved, &t, jagadesa.StageRecovery
	if in.EndedAt == nil {
		in.EndedAt = &t
	}
	m.save(in, false, jagadesa.AuditEntry{IncidentID: in.ID, At: now, By: by, Action: "resolved", Detail: why})
	m.dropOpen(key)
	wasHeld := false
	m.held = slices.DeleteFunc(m.held, func(h heldNote) bool {
		if h.incident == key {
			wasHeld = true
			return true
		}
		return false
	})
	if !wasHeld { // nobody was told it opened; nobody needs to hear it closed
		m.notify(now, in, "resolved", false)
	}
}

// Acknowledge records that a person is handling the incident.
func (m *Manager) Acknowledge(ctx context.Context, id, by string) (*jagadesa.Incident, error) {
	return m.change(ctx, id, by, func(in *jagadesa.Incident, now time.Time) (string, string, error) {
		if in.State != jagadesa.StateOpen {
			return "", "", jagadesa.Errorf(jagadesa.EConflict, "incident %s is %s, not open", id, in.State)
		}
		in.State, in.AckedAt, in.AckedBy, in.Stage = jagadesa.StateAcknowledged, &now, by, jagadesa.StageContainment
		return "acknowledged", "", nil
	}, "acknowledged")
}

// AcknowledgeAsTeam acknowledges for a team reached outside the dashboard
// (a Telegram chat): only an incident routed to that team, or one in the
// province of the team's own CSIRT, may be acknowledged. The check is
// here, beside the routing, so no inbound channel can skip it.
func (m *Manager) AcknowledgeAsTeam(ctx context.Context, id, team, by string) (*jagadesa.Incident, error) {
	in, err := m.store.Incident(ctx, id)
	if err != nil {
		return nil, err
	}
	if !m.teamMayAct(in, team) {
		return nil, jagadesa.Errorf(jagadesa.EForbidden, "incident %s belongs to %s, not to %s", id, in.CSIRT, team)
	}
	return m.Acknowledge(ctx, id, by+" ("+team+")")
}

// teamMayAct reports whether team owns the incident or is the province's
// team above its owner.
func (m *Manager) teamMayAct(in *jagadesa.Incident, team string) bool {
	if team == "" {
		return false
	}
	if in.CSIRT == team {
		return true
	}
	v, ok := m.reg.Village(in.Village)
	if !ok {
		return false
	}
	_, prov, err := m.dir.Route(v)
	return err == nil && prov != nil && prov.Name == team
}

// Resolve closes the incident by hand.
func (m *Manager) Resolve(ctx context.Context, id, by, why string) (*jagadesa.Incident, error) {
	return m.change(ctx, id, by, func(in *jagadesa.Incident, now time.Time) (string, string, error) {
		if in.State == jagadesa.StateResolved {
			return "", "", jagadesa.Errorf(jagadesa.EConflict, "incident %s is already resolved", id)
		}
		in.State, in.ResolvedAt, in.Stage = jagadesa.StateResolved, &now, jagadesa.StageRecovery
		return "resolved", why, nil
	}, "resolved")
}

// Assign names who handles the incident.
func (m *Manager) Assign(ctx context.Context, id, by, assignee string) (*jagadesa.Incident, error) {
	return m.change(ctx, id, by, func(in *jagadesa.Incident, now time.Time) (string, string, error) {
		if in.State == jagadesa.StateResolved {
			return "", "", jagadesa.Errorf(jagadesa.EConflict, "incident %s is resolved", id)
		}
		in.Assignee = assignee
		return "assigned", assignee, nil
	}, "")
}

// SetStage moves the incident through identification, containment and
// recovery.
func (m *Manager) SetStage(ctx context.Context, id, by, stage string) (*jagadesa.Incident, error) {
	switch stage {
	case jagadesa.StageIdentification, jagadesa.StageContainment, jagadesa.StageRecovery:
	default:
		return nil, jagadesa.Errorf(jagadesa.EInvalid, "stage must be identification, containment or recovery")
	}
	return m.change(ctx, id, by, func(in *jagadesa.Incident, now time.Time) (string, string, error) {
		in.Stage = stage
		return "stage", stage, nil
	}, "")
}

// change applies a person's change to an incident, open or not, stores it
// with its audit entry and, for lifecycle events, notifies the team. A
// closed incident is read from the store before the lock is taken.
func (m *Manager) change(ctx context.Context, id, by string, apply func(*jagadesa.Incident, time.Time) (string, string, error), event string) (*jagadesa.Incident, error) {
	var stored *jagadesa.Incident
	if !m.isOpen(id) {
		var err error
		if stored, err = m.store.Incident(ctx, id); err != nil {
			return nil, err
		}
	}
	m.mu.Lock()
	now := m.now()
	var key string
	in := stored
	for k, o := range m.open {
		if o.ID == id {
			key, in = k, o
		}
	}
	if in == nil { // resolved by detection meanwhile
		m.mu.Unlock()
		return m.change(ctx, id, by, apply, event)
	}
	action, detail, err := apply(in, now)
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	m.save(in, false, jagadesa.AuditEntry{IncidentID: id, At: now, By: by, Action: action, Detail: detail})
	if in.State == jagadesa.StateResolved && key != "" {
		m.dropOpen(key)
	}
	if event != "" {
		m.notify(now, in, event, false)
	}
	out := snapshot(in)
	m.mu.Unlock()
	return out, m.flush(ctx)
}

func (m *Manager) isOpen(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.open {
		if o.ID == id {
			return true
		}
	}
	return false
}

// OutageReported takes an outage the probe reported after it ended (from
// its own timeline) and uses it to correct the incident that covered it:
// the true start and end, and the cause — a power cut or a probe fault is
// not the ISP's link going down.
func (m *Manager) OutageReported(ctx context.Context, village, cause string, start, end time.Time) {
	// The incident may be closed already: look it up in the store first,
	// outside the lock.
	recent, err := m.store.Incidents(ctx, jagadesa.Filter{Village: village, Since: start.Add(-time.Minute), Limit: 20})
	if err != nil {
		m.log.Error("finding the incident of a reported outage", "village", village, "err", err)
	}
	m.mu.Lock()
	now := m.now()
	defer func() {
		m.mu.Unlock()
		_ = m.flush(ctx)
	}()
	overlaps := func(in *jagadesa.Incident) bool {
		if in.Kind != jagadesa.IncidentDown && in.Kind != jagadesa.IncidentPowerCut && in.Kind != jagadesa.IncidentProbeFault && in.Kind != jagadesa.IncidentRegional {
			return false
		}
		if !slices.Contains(in.Villages, village) {
			return false
		}
		// The incident opened during the outage (detection lags its start).
		return !in.OpenedAt.Before(start.Add(-time.Minute)) && !in.OpenedAt.After(end.Add(time.Minute))
	}
	var target *jagadesa.Incident
	for _, in := range m.open {
		if overlaps(in) {
			target = in
		}
	}
	if target == nil {
		for i := range recent {
			if recent[i].MergedInto == "" && overlaps(&recent[i]) {
				target = &recent[i]
				break
			}
		}
	}
	if target == nil {
		return // too short to have been detected, or no incident: the SLA still counts it
	}
	detail := fmt.Sprintf("%s %s %s", cause, start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
	if target.Kind == jagadesa.IncidentRegional {
		if target.Evidence == nil {
			target.Evidence = map[string]string{}
		}
		target.Evidence["cause:"+village] = cause
	} else {
		switch cause {
		case "power":
			target.Kind, target.Severity = jagadesa.IncidentPowerCut, jagadesa.SeverityWarning
		case "probe":
			target.Kind, target.Severity = jagadesa.IncidentProbeFault, jagadesa.SeverityWarning
		}
		if target.Evidence == nil {
			target.Evidence = map[string]string{}
		}
		target.Evidence["cause"] = cause
		if start.Before(target.StartedAt) || target.StartedAt.IsZero() {
			target.StartedAt = start
		}
		e := end
		target.EndedAt = &e
	}
	m.save(target, false, jagadesa.AuditEntry{IncidentID: target.ID, At: now, By: "probe", Action: "classified", Detail: detail})
	// The open map is keyed by kind: re-key a village incident whose kind changed.
	for k, in := range m.open {
		if in == target && k != openKey(in) {
			m.dropOpen(k)
			m.putOpen(openKey(in), in)
		}
	}
}
