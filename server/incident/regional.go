package incident

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jagadesa/jagadesa"
)

type down struct {
	village string
	at      time.Time
}

type heldNote struct {
	until    time.Time
	incident string // key into open
}

// villageDown handles a village that just went silent: attach it to a
// regional incident, or open its own, possibly holding the notification
// while its neighbours go down too.
func (m *Manager) villageDown(now time.Time, s *Snapshot) {
	v, ok := m.reg.Village(s.Code)
	if !ok {
		return
	}
	started := s.LastSeen
	if started.IsZero() {
		started = now
	}
	groups := m.groups(v)
	for _, g := range groups {
		if in := m.open[g]; in != nil {
			m.attach(now, in, v.Code)
			return
		}
	}
	// Correlate: recent downs in the same kecamatan, regency or ISP.
	burst := false
	for _, g := range groups {
		recent := m.downs[g][:0]
		for _, d := range m.downs[g] {
			if now.Sub(d.at) <= m.cfg.RegionalWindow && d.village != v.Code {
				recent = append(recent, d)
			}
		}
		recent = append(recent, down{village: v.Code, at: now})
		m.downs[g] = recent
		burst = burst || len(recent) > 1
	}
	for _, g := range groups {
		recent := m.downs[g]
		if len(recent) < m.threshold(g) {
			continue
		}
		// A kecamatan's regional incident grows into its regency's when
		// the regency's threshold is reached: still one incident.
		if strings.HasPrefix(g, "regency:") {
			for key, in := range m.open {
				if strings.HasPrefix(key, "district:"+v.RegencyCode+".") {
					m.grow(now, key, g, in, recent)
					return
				}
			}
		}
		m.openRegional(now, g, recent)
		return
	}
	ev := map[string]string{"reason": s.Reason}
	if !s.LastSeen.IsZero() {
		ev["last_seen"] = s.LastSeen.UTC().Format(time.RFC3339)
	}
	if s.SilentS > 0 {
		ev["silent_s"] = strconv.FormatInt(s.SilentS, 10)
	}
	m.openVillage(now, v.Code, jagadesa.IncidentDown, jagadesa.SeverityCritical, started, "Desa putus: tidak ada laporan dari probe", ev, holdIf(burst, now.Add(m.cfg.GroupHold)))
}

func (m *Manager) threshold(group string) int {
	switch {
	case strings.HasPrefix(group, "district:"):
		return m.cfg.DistrictThreshold
	case strings.HasPrefix(group, "isp:"):
		return m.cfg.ISPThreshold
	}
	return m.cfg.RegionalThreshold
}

// grow turns a kecamatan's regional incident into its regency's and
// attaches the villages of the burst.
func (m *Manager) grow(now time.Time, fromKey, toKey string, in *jagadesa.Incident, burst []down) {
	m.dropOpen(fromKey)
	in.Evidence["group"] = toKey
	m.putOpen(toKey, in)
	for _, d := range burst {
		if !slices.Contains(in.Villages, d.village) {
			in.Villages = append(in.Villages, d.village)
		}
		m.mergeVillageIncident(now, in, d.village)
	}
	sort.Strings(in.Villages)
	in.Title = m.regionalTitle(toKey, in.Villages)
	m.save(in, false, jagadesa.AuditEntry{IncidentID: in.ID, At: now, By: "system", Action: "grown", Detail: fromKey + " → " + toKey})
}

func holdIf(hold bool, until time.Time) time.Time {
	if hold {
		return until
	}
	return time.Time{}
}

// groups are the regional keys a village belongs to, smallest area first.
func (m *Manager) groups(v jagadesa.Village) []string {
	g := []string{"district:" + v.DistrictCode, "regency:" + v.RegencyCode}
	if p, ok := m.programme[v.Code]; ok && p.ISP != "" {
		g = append(g, "isp:"+strings.ToLower(p.ISP))
	}
	return g
}

// openRegional opens one incident for a burst of downs in one regency or
// ISP, folding in the village incidents already open for them.
func (m *Manager) openRegional(now time.Time, group string, burst []down) {
	codes := make([]string, 0, len(burst))
	started := now
	for _, d := range burst {
		codes = append(codes, d.village)
		if in := m.open[villageKey(d.village, jagadesa.IncidentDown)]; in != nil && in.StartedAt.Before(started) {
			started = in.StartedAt
		}
	}
	sort.Strings(codes)
	in := m.newIncident(now, jagadesa.IncidentRegional, jagadesa.SeverityCritical, codes, started, "", map[string]string{"group": group})
	in.Title = m.regionalTitle(group, in.Villages)
	if strings.HasPrefix(group, "isp:") {
		// An ISP spans regencies: the province's team owns it.
		if first, ok := m.reg.Village(codes[0]); ok {
			if _, prov, err := m.dir.Route(first); err == nil {
				in.CSIRT = prov.Name
			}
		}
	}
	m.save(in, true, jagadesa.AuditEntry{IncidentID: in.ID, At: now, By: "system", Action: "opened", Detail: group})
	m.putOpen(group, in)
	for _, c := range codes {
		m.mergeVillageIncident(now, in, c)
	}
	m.notify(now, in, "opened", false)
}

// mergeVillageIncident folds a village's own down incident into a regional
// one: closed as merged, its held notification dropped.
func (m *Manager) mergeVillageIncident(now time.Time, into *jagadesa.Incident, code string) {
	key := villageKey(code, jagadesa.IncidentDown)
	vi := m.open[key]
	if vi == nil {
		return
	}
	vi.MergedInto = into.ID
	vi.State = jagadesa.StateResolved
	t := now
	vi.ResolvedAt = &t
	m.save(vi, false, jagadesa.AuditEntry{IncidentID: vi.ID, At: now, By: "system", Action: "merged", Detail: into.ID})
	m.dropOpen(key)
	m.held = slices.DeleteFunc(m.held, func(h heldNote) bool { return h.incident == key })
}

// regionalTitle names a regional incident by its area and size.
func (m *Manager) regionalTitle(group string, villages []string) string {
	if src, ok := strings.CutPrefix(group, "source:"); ok {
		return fmt.Sprintf("Serangan dari %s ke %d desa", src, len(villages))
	}
	what, label := "ISP", strings.TrimPrefix(group, "isp:")
	if v, ok := m.reg.Village(villages[0]); ok {
		switch {
		case strings.HasPrefix(group, "district:"):
			what, label = "kecamatan", v.District+", "+v.Regency
		case strings.HasPrefix(group, "regency:"):
			what, label = "kabupaten/kota", v.Regency
		}
	}
	return fmt.Sprintf("Gangguan wilayah: %d desa putus di %s %s", len(villages), what, label)
}

// attach adds a village to a regional incident. The villages one tick
// adds are stored together (applyAttached): a regional outage of
// thousands of villages was a full copy of the incident per village, and
// a membership scan and a sort each — quadratic, gigabytes at national
// size.
func (m *Manager) attach(now time.Time, in *jagadesa.Incident, code string) {
	b := m.attaching[in.ID]
	if b == nil {
		b = &attachBatch{in: in, have: make(map[string]bool, len(in.Villages)+1)}
		for _, v := range in.Villages {
			b.have[v] = true
		}
		if m.attaching == nil {
			m.attaching = map[string]*attachBatch{}
		}
		m.attaching[in.ID] = b
	}
	if b.have[code] {
		return
	}
	b.have[code] = true
	b.added = append(b.added, code)
}

// attachBatch is what one tick adds to one regional incident.
type attachBatch struct {
	in    *jagadesa.Incident
	have  map[string]bool
	added []string
}

// applyAttached stores the villages attach added, once per incident, with
// one audit entry naming them (up to 20; then how many more).
func (m *Manager) applyAttached(now time.Time) {
	for id, b := range m.attaching {
		delete(m.attaching, id)
		if len(b.added) == 0 {
			continue
		}
		in := b.in
		in.Villages = append(in.Villages, b.added...)
		sort.Strings(in.Villages)
		in.Title = m.regionalTitle(in.Evidence["group"], in.Villages)
		sort.Strings(b.added)
		detail := strings.Join(b.added[:min(len(b.added), 20)], " ")
		if len(b.added) > 20 {
			detail += fmt.Sprintf(" (+%d)", len(b.added)-20)
		}
		m.save(in, false, jagadesa.AuditEntry{IncidentID: in.ID, At: now, By: "system", Action: "village_added", Detail: detail})
	}
}

// releaseHeld sends held notifications whose wait is over.
func (m *Manager) releaseHeld(now time.Time) {
	kept := m.held[:0]
	for _, h := range m.held {
		if now.Before(h.until) {
			kept = append(kept, h)
			continue
		}
		// Sent within the tick that opened it, unless a regional incident
		// absorbed it first: villages cut in the same second make one
		// regional notification and no village ones.
		if in := m.open[h.incident]; in != nil {
			m.notify(now, in, "opened", false)
		}
	}
	m.held = kept
}

// resolveRegional closes regional incidents whose villages all report again.
func (m *Manager) resolveRegional(now time.Time, snaps []Snapshot) {
	for key, in := range m.open {
		if in.Kind != jagadesa.IncidentRegional {
			continue
		}
		back := true
		for _, c := range in.Villages {
			if st := m.villages[c]; st == nil || st.status == jagadesa.StatusDown || st.status == "" {
				back = false
				break
			}
		}
		if back {
			m.resolve(now, key, in, "system", DetailAllBack)
		}
	}
}
