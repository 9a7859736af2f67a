package incident

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/route"
)

// Snapshot is one village's live state as the detector reads it each tick.
type Snapshot struct {
	Code     string
	Status   jagadesa.Status // up, degraded, down, unknown (never heard), with the engine's hysteresis
	Reason   string          // why degraded or down: the status engine's reason code
	SilentS  int64           // when silent: for how many seconds
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
	// RecoveredAfter is how long a village must go without an anomaly off
	// its baseline before the degraded incident it opened closes [5m].
	// Degraded and down come from the status engine, whose hysteresis
	// (status.Config) they follow.
	RecoveredAfter time.Duration
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
	// Now is the clock for changes made by people and probes [time.Now];
	// detection uses the time Evaluate is given.
	Now func() time.Time
}

func (c *Config) defaults() {
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
	if c.Now == nil {
		c.Now = time.Now
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
	// "regency:<code>" / "isp:<name>" for regional ones. Only putOpen,
	// dropOpen and setOpen change it: they keep villageState.open.
	open map[string]*jagadesa.Incident
	// per-village detector state; never removed (tick points into it)
	villages map[string]*villageState
	// tick is, per position of the latest snapshots, its village's state.
	tick []tickSlot
	// slowPath makes the detector look every village's incidents up as it
	// did before villageState.open: for tests comparing the two.
	slowPath bool
	// recent downs per regional key, for correlation
	downs map[string][]down
	// notifications held while a burst might turn regional
	held []heldNote
	// attaching is what this tick adds to regional incidents (attach).
	attaching map[string]*attachBatch
	// campaigns correlates attackers across villages (security.go).
	campaigns campaigns
	// journal holds, in order, the changes to store and the notifications
	// to send once what came before them is stored. It is filled under mu
	// and emptied by flush outside it: no disk or network I/O happens
	// under the manager's lock.
	journal []pending
	flushMu sync.Mutex // one flush at a time, so the journal stays in order
}

// pending is one entry of the journal: an incident's state and its audit
// entry to store, or a notification to send.
type pending struct {
	in     *jagadesa.Incident // a copy taken when the change was made
	audit  jagadesa.AuditEntry
	create bool
	team   *route.Team // with note: a notification
	note   *jagadesa.Notification
	tries  int
}

// maxTries is how often a failing write is retried (at each flush) before
// it is given up and logged: a store that refuses the same write ten
// times will not take it the eleventh.
const maxTries = 10

// save journals the incident's current state with its audit entry.
func (m *Manager) save(in *jagadesa.Incident, create bool, a jagadesa.AuditEntry) {
	m.journal = append(m.journal, pending{in: snapshot(in), audit: a, create: create})
}

// snapshot copies what later changes to in would otherwise share.
func snapshot(in *jagadesa.Incident) *jagadesa.Incident {
	c := *in
	c.Villages = slices.Clone(in.Villages)
	c.Evidence = maps.Clone(in.Evidence)
	c.Signals = slices.Clone(in.Signals)
	return &c
}

// flush stores the journal in order and sends each notification once what
// came before it is stored. A failed write stays at the head of the
// journal, with what follows it, for the next flush.
func (m *Manager) flush(ctx context.Context) error {
	m.flushMu.Lock()
	defer m.flushMu.Unlock()
	m.mu.Lock()
	work := m.journal
	m.journal = nil
	m.mu.Unlock()
	for i := range work {
		p := &work[i]
		if p.note != nil {
			m.send.Send(p.team, *p.note)
			continue
		}
		var err error
		if p.create {
			err = m.store.CreateIncident(ctx, p.in, p.audit)
		} else {
			err = m.store.UpdateIncident(ctx, p.in, p.audit)
		}
		if err == nil {
			continue
		}
		p.tries++
		if p.tries >= maxTries {
			m.log.Error("incident change given up after repeated store failures", "id", p.in.ID, "action", p.audit.Action, "err", err)
			continue
		}
		m.log.Error("incident change not stored; will retry", "id", p.in.ID, "action", p.audit.Action, "err", err)
		m.mu.Lock()
		m.journal = append(slices.Clone(work[i:]), m.journal...)
		m.mu.Unlock()
		return jagadesa.Errorf(jagadesa.EUnavailable, "the incident store is unavailable; the change is kept and stored when it is back")
	}
	return nil
}

// Flush stores what is pending; the server calls it at shutdown.
func (m *Manager) Flush(ctx context.Context) error { return m.flush(ctx) }

// New returns a manager. Restore must be called before the first Evaluate
// so that incidents open before a restart are continued, not duplicated.
func New(cfg Config, log *slog.Logger, store Store, dir *route.Directory, reg Registry, programme map[string]jagadesa.Programme, send Sender) *Manager {
	cfg.defaults()
	return &Manager{cfg: cfg, log: log, store: store, dir: dir, reg: reg, programme: programme, send: send,
		baseline: NewBaselines(), open: map[string]*jagadesa.Incident{}, villages: map[string]*villageState{}, downs: map[string][]down{},
		campaigns: campaigns{hits: map[string]map[string]time.Time{}}}
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
		m.putOpen(openKey(&in), &in)
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

// keyVillage returns the village of a village incident's key; ok is false
// for a group's key ("district:…", "regency:…", "isp:…", "source:…").
func keyVillage(key string) (code string, ok bool) {
	code, _, ok = strings.Cut(key, "|")
	return code, ok && !strings.Contains(code, ":")
}

// putOpen sets an open incident, counting a village's own.
func (m *Manager) putOpen(key string, in *jagadesa.Incident) {
	if _, had := m.open[key]; !had {
		if code, ok := keyVillage(key); ok {
			m.state(code).open++
		}
	}
	m.open[key] = in
}

// dropOpen removes an open incident, uncounting a village's own.
func (m *Manager) dropOpen(key string) {
	if _, had := m.open[key]; !had {
		return
	}
	delete(m.open, key)
	if code, ok := keyVillage(key); ok {
		m.state(code).open--
	}
}

// setOpen replaces the open incidents, and recounts the villages'.
func (m *Manager) setOpen(open map[string]*jagadesa.Incident) {
	for _, st := range m.villages {
		st.open = 0
	}
	m.open = make(map[string]*jagadesa.Incident, len(open))
	for k, in := range open {
		m.putOpen(k, in)
	}
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

// notify sends an incident event to its team (and, on escalation, to the
// province's team), unless a silence or maintenance window mutes it.
func (m *Manager) notify(now time.Time, in *jagadesa.Incident, event string, toProvince bool) {
	n := jagadesa.Notification{Event: event, Incident: *snapshot(in), At: now}
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
			m.save(in, false, jagadesa.AuditEntry{IncidentID: in.ID, At: now, By: "system", Action: "muted", Detail: why + " (" + event + ")"})
		}
		return
	}
	owner, ok := m.dir.TeamByName(in.CSIRT)
	if !ok {
		m.log.Warn("incident has no team to notify", "id", in.ID, "csirt", in.CSIRT)
		return
	}
	m.journal = append(m.journal, pending{team: owner, note: &n})
	if toProvince {
		if _, prov, err := m.dir.Route(n.Villages[0]); err == nil && prov != owner {
			m.journal = append(m.journal, pending{team: prov, note: &n})
		}
	}
}

func (m *Manager) now() time.Time { return m.cfg.Now() }

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

// Compromised returns the villages with an open critical security
// incident: the map and the API show them as compromised until a person
// resolves it.
func (m *Manager) Compromised() map[string]bool {
	out := map[string]bool{}
	for v, st := range m.Overlay() {
		if st == jagadesa.StatusCompromised {
			out[v] = true
		}
	}
	return out
}

// Overlay is what open incidents add to the live status of villages:
// compromised where a critical security incident is open, degraded where a
// degraded incident is open (the baseline detector opens them while the
// status engine still says up). Maps and lists so agree with the queue.
func (m *Manager) Overlay() map[string]jagadesa.Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]jagadesa.Status{}
	for _, in := range m.open {
		switch {
		// A campaign's incident (group set) says who attacked, not who fell.
		case in.Kind == jagadesa.IncidentSecurity && in.Severity == jagadesa.SeverityCritical && in.Evidence["group"] == "":
			for _, v := range in.Villages {
				out[v] = jagadesa.StatusCompromised
			}
		case in.Kind == jagadesa.IncidentDegraded:
			if out[in.Village] == "" {
				out[in.Village] = jagadesa.StatusDegraded
			}
		}
	}
	return out
}

// Baselines are the villages' learnt normals, to save and restore across
// restarts (Baselines.MarshalBinary).
func (m *Manager) Baselines() *Baselines { return m.baseline }

// Reload replaces the open incidents held in memory with the store's: a
// replica that has just become the leader takes over what the last one
// left, without the incidents it closed meanwhile.
func (m *Manager) Reload(ctx context.Context) error {
	ins, err := m.store.OpenIncidents(ctx)
	if err != nil {
		return err
	}
	open := make(map[string]*jagadesa.Incident, len(ins))
	for i := range ins {
		in := ins[i]
		open[openKey(&in)] = &in
	}
	m.mu.Lock()
	m.setOpen(open)
	m.mu.Unlock()
	m.log.Info("incidents reloaded", "open", len(ins))
	return nil
}

// ReloadIncident takes one incident as the store has it: another replica
// changed it (a person acknowledged it there, say), and this one must not
// go on from its older copy.
func (m *Manager) ReloadIncident(ctx context.Context, id string) error {
	in, err := m.store.Incident(ctx, id)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, o := range m.open {
		if o.ID == id {
			m.dropOpen(k)
		}
	}
	if in.State != jagadesa.StateResolved {
		m.putOpen(openKey(in), in)
	}
	return nil
}
