package incident

import (
	"fmt"
	"time"

	"github.com/jagadesa/jagadesa"
)

// escalate tells the province's team about incidents its regency team has
// not acknowledged in time: critical ones, and any at a priority (3T or
// miskin ekstrem) village. Warnings such as a slow speed test wait for the
// regency's team.
func (m *Manager) escalate(now time.Time) {
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
		m.save(in, false, jagadesa.AuditEntry{IncidentID: in.ID, At: now, By: "system", Action: "escalated",
			Detail: fmt.Sprintf("%s → %s %s", owner.Name, prov.Name, delay)})
		m.notify(now, in, "escalated", true)
	}
}
