package incident

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/route"
)

// Snapshot is one village's live state as the detector reads it each tick.
type Snapshot struct {
	Code     string
	Status   jagadesa.Status // up, degraded, down, unknown (never heard)
	Reason   string          // why degraded or down, from the status engine
	LastSeen time.Time       // zero: never heard from
	RTTMs    *float64        // latest round, mean over targets
	LossPct  *float64
	JitterMs *float64
	// SLABreach is set when the latest throughput test delivered under 80%
	// of the contract; ThroughputAt is when that test ran.
	SLABreach    bool
	DownloadPct  *float64
	ThroughputAt time.Time
}

// Sender delivers notifications to a team's channels. It must not block.
type Sender interface {
	Send(team *route.Team, n jagadesa.Notification)
}

// Registry names villages for incidents and messages.
type Registry interface {
	Village(code string) (jagadesa.Village, bool)
}

// Config tunes detection. Zero values take the defaults in brackets.
type Config struct {
	// DegradedAfter is how long a village must stay degraded before an
	// incident opens [3m]; RecoveredAfter how long it must stay healthy
	// before a degraded incident closes [5m]. Down opens at once: the
	// status engine's deadline (interval + grace) is its hysteresis.
	DegradedAfter, RecoveredAfter time.Duration
	// RegionalWindow and the thresholds: this many villages of one
	// kecamatan [3], regency [5] or ISP [10] going down within the window
	// [10m] make one regional incident.
	RegionalWindow    time.Duration
	DistrictThreshold int
	RegionalThreshold int
	ISPThreshold      int
	// GroupHold is how long a village's down notification is held while
	// other villages of its regency are going down too, waiting to see
	// whether they add up to a regional incident [90s]. The first village
	// of a burst is never held.
	GroupHold time.Duration
	// StartupGrace holds down detection after the server starts, while
	// probes flush what they spooled during its absence [2m].
	StartupGrace time.Duration
	// DashboardURL, when set, makes notifications link to the incident.
	DashboardURL string
}

func (c *Config) defaults() {
	if c.DegradedAfter <= 0 {
		c.DegradedAfter = 3 * time.Minute
	}
	if c.RecoveredAfter <= 0 {
		c.RecoveredAfter = 5 * time.Minute
	}
	if c.RegionalWindow <= 0 {
		c.RegionalWindow = 10 * time.Minute
	}
	if c.RegionalThreshold <= 1 {
		c.RegionalThreshold = 5
	}
	if c.DistrictThreshold <= 1 {
		c.DistrictThreshold = 3
	}
	if c.ISPThreshold <= 1 {
		c.ISPThreshold = 10
	}
	if c.StartupGrace <= 0 {
		c.StartupGrace = 2 * time.Minute
	}
	if c.GroupHold <= 0 {
		c.GroupHold = 90 * time.Second
	}
}

// Manager detects incidents from live status, keeps them and tells teams.
// All methods are safe for concurrent use.
type Manager struct {
	cfg       Config
	log       *slog.Logger
	store     Store
	dir       *route.Directory
	reg       Registry
	programme map[string]jagadesa.Programme
	send      Sender
	baseline  *Baselines

	mu      sync.Mutex
	started time.Time // first Evaluate
	// open incidents by key: "<village>|<kind>" for village incidents,
	// "regency:<code>" / "isp:<name>" for regional ones.
	open map[string]*jagadesa.Incident
	// per-village detector state
	villages map[string]*villageState
	// recent downs per regional key, for correlation
	downs map[string][]down
	// notifications held while a burst might turn regional
	held []heldNote
	// attackers: per source address, the villages it hit and when
	attackers map[string]map[string]time.Time
}

type villageState struct {
	status        jagadesa.Status
	degradedSince time.Time // zero unless degraded
	healthySince  time.Time // zero unless up
	learnedAt     time.Time // LastSeen of the round last fed to the baseline
	slaAt         time.Time // ThroughputAt of the test last judged
}

type down struct {
	village string
	at      time.Time
}

type heldNote struct {
	until    time.Time
	incident string // key into open
}

// New returns a manager. Restore must be called before the first Evaluate
// so that incidents open before a restart are continued, not duplicated.
func New(cfg Config, log *slog.Logger, store Store, dir *route.Directory, reg Registry, programme map[string]jagadesa.Programme, send Sender) *Manager {
	cfg.defaults()
	return &Manager{cfg: cfg, log: log, store: store, dir: dir, reg: reg, programme: programme, send: send,
		baseline: NewBaselines(), open: map[string]*jagadesa.Incident{}, villages: map[string]*villageState{}, downs: map[string][]down{}}
}

// Restore loads the incidents still open from the store.
func (m *Manager) Restore(ctx context.Context) error {
	ins, err := m.store.OpenIncidents(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range ins {
		in := ins[i]
		m.open[openKey(&in)] = &in
	}
	m.log.Info("incidents restored", "open", len(ins))
	return nil
}

func openKey(in *jagadesa.Incident) string {
	if g := in.Evidence["group"]; g != "" {
		return g // regional incidents and attacker campaigns
	}
	return in.Village + "|" + string(in.Kind)
}

func villageKey(code string, kind jagadesa.IncidentKind) string { return code + "|" + string(kind) }

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

// villageDown handles a village that just went silent: attach it to a
// regional incident, or open its own, possibly holding the notification
// while its neighbours go down too.
func (m *Manager) villageDown(ctx context.Context, now time.Time, s *Snapshot) {
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
			m.attach(ctx, now, in, v.Code)
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
					m.grow(ctx, now, key, g, in, recent)
					return
				}
			}
		}
		m.openRegional(ctx, now, g, recent)
		return
	}
	in := m.openVillage(ctx, now, v.Code, jagadesa.IncidentDown, jagadesa.SeverityCritical, started, "Desa putus: tidak ada laporan dari probe",
		map[string]string{"reason": s.Reason, "last_seen": s.LastSeen.UTC().Format(time.RFC3339)}, holdIf(burst, now.Add(m.cfg.GroupHold)))
	_ = in
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
func (m *Manager) grow(ctx context.Context, now time.Time, fromKey, toKey string, in *jagadesa.Incident, burst []down) {
	delete(m.open, fromKey)
	in.Evidence["group"] = toKey
	m.open[toKey] = in
	for _, d := range burst {
		if !slices.Contains(in.Villages, d.village) {
			in.Villages = append(in.Villages, d.village)
		}
		m.mergeVillageIncident(ctx, now, in, d.village)
	}
	sort.Strings(in.Villages)
	in.Title = m.regionalTitle(toKey, in.Villages)
	if err := m.store.UpdateIncident(ctx, in, jagadesa.AuditEntry{IncidentID: in.ID, At: now, By: "system", Action: "grown", Detail: fromKey + " → " + toKey}); err != nil {
		m.log.Error("growing regional incident", "id", in.ID, "err", err)
	}
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

func (m *Manager) newIncident(now time.Time, kind jagadesa.IncidentKind, sev jagadesa.Severity, villages []string, started time.Time, title string, evidence map[string]string) *jagadesa.Incident {
	first, _ := m.reg.Village(villages[0])
	owner, _, err := m.dir.Route(first)
	csirt := "tanpa CSIRT"
	if err == nil {
		csirt = owner.Name
	} else {
		m.log.Error("no CSIRT for village; incident kept without a team", "village", first.Code, "err", err)
	}
	in := &jagadesa.Incident{
		ID: newID(now), Kind: kind, Severity: sev, State: jagadesa.StateOpen, Title: title,
		Villages: slices.Clone(villages), Village: first.Code, Regency: first.RegencyCode, District: first.DistrictCode,
		CSIRT: csirt, Stage: jagadesa.StageIdentification, OpenedAt: now, StartedAt: started, Evidence: evidence,
	}
	if p, ok := m.programme[first.Code]; ok {
		in.ISP = p.ISP
		in.Priority = p.Remote3T || p.ExtremePoor
	}
	if in.Evidence == nil {
		in.Evidence = map[string]string{}
	}
	for k, v := range in.Evidence {
		if v == "" {
			delete(in.Evidence, k)
		}
	}
	return in
}

func newID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "JD-" + now.UTC().Format("20060102-1504") + "-" + strings.ToUpper(hex.EncodeToString(b[:]))
}

// openRegional opens one incident for a burst of downs in one regency or
// ISP, folding in the village incidents already open for them.
func (m *Manager) openRegional(ctx context.Context, now time.Time, group string, burst []down) {
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
	if err := m.store.CreateIncident(ctx, in, jagadesa.AuditEntry{IncidentID: in.ID, At: now, By: "system", Action: "opened", Detail: group}); err != nil {
		m.log.Error("regional incident not stored", "group", group, "err", err)
		return
	}
	m.open[group] = in
	for _, c := range codes {
		m.mergeVillageIncident(ctx, now, in, c)
	}
	m.notify(ctx, now, in, "opened", false)
}

// mergeVillageIncident folds a village's own down incident into a regional
// one: closed as merged, its held notification dropped.
func (m *Manager) mergeVillageIncident(ctx context.Context, now time.Time, into *jagadesa.Incident, code string) {
	key := villageKey(code, jagadesa.IncidentDown)
	vi := m.open[key]
	if vi == nil {
		return
	}
	vi.MergedInto = into.ID
	vi.State = jagadesa.StateResolved
	t := now
	vi.ResolvedAt = &t
	if err := m.store.UpdateIncident(ctx, vi, jagadesa.AuditEntry{IncidentID: vi.ID, At: now, By: "system", Action: "merged", Detail: "digabung ke " + into.ID}); err != nil {
		m.log.Error("merging village incident", "id", vi.ID, "err", err)
	}
	delete(m.open, key)
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

func (m *Manager) attach(ctx context.Context, now time.Time, in *jagadesa.Incident, code string) {
	if slices.Contains(in.Villages, code) {
		return
	}
	in.Villages = append(in.Villages, code)
	sort.Strings(in.Villages)
	in.Title = m.regionalTitle(in.Evidence["group"], in.Villages)
	if err := m.store.UpdateIncident(ctx, in, jagadesa.AuditEntry{IncidentID: in.ID, At: now, By: "system", Action: "village_added", Detail: code}); err != nil {
		m.log.Error("attaching village to regional incident", "id", in.ID, "village", code, "err", err)
	}
}

// releaseHeld sends held notifications whose wait is over.
func (m *Manager) releaseHeld(ctx context.Context, now time.Time) {
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
			m.notify(ctx, now, in, "opened", false)
		}
	}
	m.held = kept
}

// resolveRegional closes regional incidents whose villages all report again.
func (m *Manager) resolveRegional(ctx context.Context, now time.Time, snaps []Snapshot) {
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
			m.resolve(ctx, now, key, in, "system", "semua desa melapor kembali")
		}
	}
}

func (m *Manager) resolveVillage(ctx context.Context, now time.Time, code string, kind jagadesa.IncidentKind, why string) {
	key := villageKey(code, kind)
	if in := m.open[key]; in != nil {
		m.resolve(ctx, now, key, in, "system", why)
	}
}

func (m *Manager) resolve(ctx context.Context, now time.Time, key string, in *jagadesa.Incident, by, why string) {
	t := now
	in.State, in.ResolvedAt, in.Stage = jagadesa.StateResolved, &t, jagadesa.StageRecovery
	if in.EndedAt == nil {
		in.EndedAt = &t
	}
	if err := m.store.UpdateIncident(ctx, in, jagadesa.AuditEntry{IncidentID: in.ID, At: now, By: by, Action: "resolved", Detail: why}); err != nil {
		m.log.Error("resolving incident", "id", in.ID, "err", err)
		return
	}
	delete(m.open, key)
	wasHeld := false
	m.held = slices.DeleteFunc(m.held, func(h heldNote) bool {
		if h.incident == key {
			wasHeld = true
			return true
		}
		return false
	})
	if !wasHeld { // nobody was told it opened; nobody needs to hear it closed
		m.notify(ctx, now, in, "resolved", false)
	}
}

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

// notify sends an incident event to its team (and, on escalation, to the
// province's team), unless a silence or maintenance window mutes it.
func (m *Manager) notify(ctx context.Context, now time.Time, in *jagadesa.Incident, event string, toProvince bool) {
	n := jagadesa.Notification{Event: event, Incident: *in, At: now}
	if m.cfg.DashboardURL != "" {
		n.URL = strings.TrimSuffix(m.cfg.DashboardURL, "/") + "/insiden/" + in.ID
	}
	for _, c := range in.Villages {
		if v, ok := m.reg.Village(c); ok {
			n.Villages = append(n.Villages, v)
		}
	}
	if len(n.Villages) == 0 {
		return
	}
	if muted, why := m.dir.Muted(route.Subject{Village: n.Villages[0], ISP: in.ISP, Kind: in.Kind}, now); muted {
		if in.Muted != why {
			in.Muted = why
			_ = m.store.UpdateIncident(ctx, in, jagadesa.AuditEntry{IncidentID: in.ID, At: now, By: "system", Action: "muted", Detail: why + " (" + event + ")"})
		}
		return
	}
	owner, ok := m.dir.TeamByName(in.CSIRT)
	if !ok {
		m.log.Warn("incident has no team to notify", "id", in.ID, "csirt", in.CSIRT)
		return
	}
	m.send.Send(owner, n)
	if toProvince {
		if _, prov, err := m.dir.Route(n.Villages[0]); err == nil && prov != owner {
			m.send.Send(prov, n)
		}
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
// with its audit entry and, for lifecycle events, notifies the team.
func (m *Manager) change(ctx context.Context, id, by string, apply func(*jagadesa.Incident, time.Time) (string, string, error), event string) (*jagadesa.Incident, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var key string
	in := (*jagadesa.Incident)(nil)
	for k, o := range m.open {
		if o.ID == id {
			key, in = k, o
		}
	}
	if in == nil {
		stored, err := m.store.Incident(ctx, id)
		if err != nil {
			return nil, err
		}
		in = stored
	}
	before := *in
	action, detail, err := apply(in, now)
	if err != nil {
		return nil, err
	}
	if err := m.store.UpdateIncident(ctx, in, jagadesa.AuditEntry{IncidentID: id, At: now, By: by, Action: action, Detail: detail}); err != nil {
		*in = before
		return nil, err
	}
	if in.State == jagadesa.StateResolved && key != "" {
		delete(m.open, key)
	}
	if event != "" {
		m.notify(ctx, now, in, event, false)
	}
	out := *in
	return &out, nil
}

// Clock is the manager's time source for changes made by people; detection
// uses the time Evaluate is given.
var Clock = time.Now

func (m *Manager) now() time.Time { return Clock() }

// Open returns the incidents open now, for the dashboard and the status
// views (a village with an open security incident is compromised).
func (m *Manager) Open() []jagadesa.Incident {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]jagadesa.Incident, 0, len(m.open))
	for _, in := range m.open {
		out = append(out, *in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OpenedAt.After(out[j].OpenedAt) })
	return out
}

// OutageReported takes an outage the probe reported after it ended (from
// its own timeline) and uses it to correct the incident that covered it:
// the true start and end, and the cause — a power cut or a probe fault is
// not the ISP's link going down.
func (m *Manager) OutageReported(ctx context.Context, village, cause string, start, end time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
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
		recent, err := m.store.Incidents(ctx, jagadesa.Filter{Village: village, Since: start.Add(-time.Minute), Limit: 20})
		if err != nil {
			m.log.Error("finding the incident of a reported outage", "village", village, "err", err)
			return
		}
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
	detail := fmt.Sprintf("%s: %s – %s", cause, start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
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
	if err := m.store.UpdateIncident(ctx, target, jagadesa.AuditEntry{IncidentID: target.ID, At: now, By: "probe", Action: "classified", Detail: detail}); err != nil {
		m.log.Error("classifying incident", "id", target.ID, "err", err)
	}
	// The open map is keyed by kind: re-key a village incident whose kind changed.
	for k, in := range m.open {
		if in == target && k != openKey(in) {
			delete(m.open, k)
			m.open[openKey(in)] = in
		}
	}
}

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

// Compromised returns the villages with an open critical security
// incident: the map and the API show them as compromised until a person
// resolves it.
func (m *Manager) Compromised() map[string]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]bool{}
	for _, in := range m.open {
		// A campaign's incident (group set) says who attacked, not who fell.
		if in.Kind == jagadesa.IncidentSecurity && in.Severity == jagadesa.SeverityCritical && in.Evidence["group"] == "" {
			for _, v := range in.Villages {
				out[v] = true
			}
		}
	}
	return out
}
