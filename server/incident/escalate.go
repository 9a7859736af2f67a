package incident

import (
	"context"
	"fmt"
	"time"

	"github.com/jagadesa/jagadesa"
)

// escalate tells the province's team about incidents its regency team has
// not acknowledged in time: critical ones, and any at a priority (3T or
// miskin ekstrem) village. Warnings such as a slow speed test wait for the
// regency's team.
func (m *Manager) escalate(ctx context.Context, now time.Time) {
	for _, in := range m.open {
		if in.State != jagadesa.StateOpen || in.Escalated || (in.Severity != jagadesa.SeverityCritical && !in.Priority) {
			continue
		}
		owner, ok := m.dir.TeamByName(in.CSIRT)
		if !ok {
			continue
		}
		v, ok := m.reg.Village(in.Village)
		if !ok {
			continue
		}
		_, prov, err := m.dir.Route(v)
		if err != nil {
			continue
		}
		delay := m.dir.EscalationDelay(owner, prov, in.Priority)
		if delay == 0 || now.Sub(in.OpenedAt) < delay {
			continue
		}
		in.Escalated = true
		if err := m.store.UpdateIncident(ctx, in, jagadesa.AuditEntry{IncidentID: in.ID, At: now, By: "system", Action: "escalated",
			Detail: fmt.Sprintf("tidak ditangani %s dalam %s; diteruskan ke %s", owner.Name, delay, prov.Name)}); err != nil {
			m.log.Error("escalating incident", "id", in.ID, "err", err)
			in.Escalated = false
			continue
		}
		m.notify(ctx, now, in, "escalated", true)
	}
}
