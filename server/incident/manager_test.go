package incident_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server/incident"
	"github.com/jagadesa/jagadesa/server/route"
)

// memStore keeps incidents in memory for the detector's unit tests; the
// SQLite store has its own tests against a real database, and the restart
// test below uses it.
type memStore struct {
	mu    sync.Mutex
	in    map[string]jagadesa.Incident
	audit []jagadesa.AuditEntry
}

func newMemStore() *memStore { return &memStore{in: map[string]jagadesa.Incident{}} }

func (s *memStore) CreateIncident(_ context.Context, in *jagadesa.Incident, a jagadesa.AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.in[in.ID]; ok {
		return jagadesa.Errorf(jagadesa.EConflict, "exists")
	}
	s.in[in.ID] = clone(*in)
	s.audit = append(s.audit, a)
	return nil
}

func (s *memStore) UpdateIncident(_ context.Context, in *jagadesa.Incident, a jagadesa.AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.in[in.ID]; !ok {
		return jagadesa.Errorf(jagadesa.ENotFound, "missing")
	}
	s.in[in.ID] = clone(*in)
	s.audit = append(s.audit, a)
	return nil
}

func clone(in jagadesa.Incident) jagadesa.Incident {
	in.Villages = slices.Clone(in.Villages)
	ev := map[string]string{}
	for k, v := range in.Evidence {
		ev[k] = v
	}
	in.Evidence = ev
	return in
}

func (s *memStore) Incident(_ context.Context, id string) (*jagadesa.Incident, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.in[id]
	if !ok {
		return nil, jagadesa.Errorf(jagadesa.ENotFound, "missing")
	}
	in = clone(in)
	return &in, nil
}

func (s *memStore) Incidents(_ context.Context, f jagadesa.Filter) ([]jagadesa.Incident, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []jagadesa.Incident
	for _, in := range s.in {
		if (f.State == "" || in.State == f.State) && (f.Kind == "" || in.Kind == f.Kind) &&
			(f.Village == "" || slices.Contains(in.Villages, f.Village)) && !in.OpenedAt.Before(f.Since) {
			out = append(out, clone(in))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OpenedAt.After(out[j].OpenedAt) })
	return out, nil
}

func (s *memStore) OpenIncidents(ctx context.Context) ([]jagadesa.Incident, error) {
	all, _ := s.Incidents(ctx, jagadesa.Filter{})
	return slices.DeleteFunc(all, func(in jagadesa.Incident) bool { return in.State == jagadesa.StateResolved }), nil
}
func (s *memStore) AddNote(_ context.Context, n jagadesa.Note) (jagadesa.Note, error) { return n, nil }
func (s *memStore) Notes(context.Context, string) ([]jagadesa.Note, error)            { return nil, nil }
func (s *memStore) Audit(context.Context, string) ([]jagadesa.AuditEntry, error)      { return nil, nil }

type sent struct {
	team string
	n    jagadesa.Notification
}

type recorder struct {
	mu   sync.Mutex
	sent []sent
}

func (r *recorder) Send(t *route.Team, n jagadesa.Notification) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, sent{t.Name, n})
}

func (r *recorder) take() []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.sent
	r.sent = nil
	return out
}

// fleet is a scripted fleet: each village's snapshot, a clock, a manager.
type fleet struct {
	t     *testing.T
	now   time.Time
	snaps map[string]*incident.Snapshot
	m     *incident.Manager
	store incident.Store
	rec   *recorder
	reg   *geo.Registry
	prog  map[string]jagadesa.Programme
	dir   *route.Directory
}

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func newFleet(t *testing.T, store incident.Store, dirYAML string) *fleet {
	t.Helper()
	reg, err := geo.Jateng()
	if err != nil {
		t.Fatal(err)
	}
	prog := map[string]jagadesa.Programme{}
	for _, p := range geo.DemoProgramme(reg) {
		prog[p.Code] = p
	}
	dir, err := route.Demo()
	if dirYAML != "" {
		dir, err = route.Parse([]byte(dirYAML))
	}
	if err != nil {
		t.Fatal(err)
	}
	f := &fleet{t: t, now: t0, snaps: map[string]*incident.Snapshot{}, store: store, rec: &recorder{}, reg: reg, prog: prog, dir: dir}
	f.m = incident.New(incident.Config{StartupGrace: time.Second, Now: func() time.Time { return f.now }}, slog.New(slog.DiscardHandler), store, dir, reg, prog, f.rec)
	if err := f.m.Restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f
}

func ms(v float64) *float64 { return &v }

func (f *fleet) set(code string, st jagadesa.Status) {
	s := f.snaps[code]
	if s == nil {
		s = &incident.Snapshot{Code: code}
		f.snaps[code] = s
	}
	s.Status = st
	if st != jagadesa.StatusDown {
		s.LastSeen = f.now
	}
	if st == jagadesa.StatusUp && s.RTTMs == nil {
		s.RTTMs, s.LossPct, s.JitterMs = ms(20), ms(0), ms(1)
	}
}

// step advances the clock and evaluates.
func (f *fleet) step(d time.Duration) {
	f.now = f.now.Add(d)
	snaps := make([]incident.Snapshot, 0, len(f.snaps))
	for _, s := range f.snaps {
		snaps = append(snaps, *s)
	}
	f.m.Evaluate(context.Background(), f.now, snaps)
}

// run evaluates every 5 s for d, as the server's ticker would (every second).
func (f *fleet) run(d time.Duration) {
	for end := f.now.Add(d); f.now.Before(end); {
		f.step(5 * time.Second)
	}
}

func (f *fleet) open() []jagadesa.Incident { return f.m.Open() }

// A silent village is one incident, routed to its regency's CSIRT, sent at
// the tick that detects it, and resolved when it reports again.
func TestVillageDownAndBack(t *testing.T) {
	f := newFleet(t, newMemStore(), "")
	f.set(geo.KrandeganCode, jagadesa.StatusUp)
	f.step(2 * time.Second) // past the start-up grace
	f.set(geo.KrandeganCode, jagadesa.StatusDown)
	f.step(time.Second)
	got := f.rec.take()
	if len(got) != 1 || got[0].n.Event != "opened" || got[0].team != "CSIRT Kabupaten Purworejo" {
		t.Fatalf("sent %+v", got)
	}
	n := got[0].n
	if n.Incident.Kind != jagadesa.IncidentDown || n.Incident.Severity != jagadesa.SeverityCritical || len(n.Villages) != 1 || n.Villages[0].Name != "Krandegan" || !n.At.Equal(f.now) {
		t.Fatalf("notification %+v", n)
	}
	// Staying down does not repeat it.
	f.step(time.Minute)
	if got := f.rec.take(); len(got) != 0 {
		t.Fatalf("repeated: %+v", got)
	}
	f.set(geo.KrandeganCode, jagadesa.StatusUp)
	f.step(time.Second)
	got = f.rec.take()
	if len(got) != 1 || got[0].n.Event != "resolved" || got[0].n.Incident.State != jagadesa.StateResolved || got[0].n.Incident.Stage != jagadesa.StageRecovery {
		t.Fatalf("sent %+v", got)
	}
	if len(f.open()) != 0 {
		t.Fatal("still open")
	}
	// A village without a regency CSIRT goes to the province.
	f.set(geo.KemuningCode, jagadesa.StatusUp)
	f.step(time.Second)
	f.set(geo.KemuningCode, jagadesa.StatusDown)
	f.step(time.Second)
	if got := f.rec.take(); len(got) != 1 || got[0].team != "JatengProv-CSIRT" {
		t.Fatalf("Kemuning sent %+v", got)
	}
}

// Thirty villages of one regency losing power over a minute (their probes
// report at different moments of the interval) make one regional incident:
// the first village's own notification, then exactly one regional one.
func TestRegionalPowerCutIsOneIncident(t *testing.T) {
	f := newFleet(t, newMemStore(), "")
	var codes []string
	for _, v := range f.reg.Villages() {
		if v.RegencyCode == "33.06" && v.Kind == "desa" {
			codes = append(codes, v.Code)
		}
		if len(codes) == 30 {
			break
		}
	}
	for _, c := range codes {
		f.set(c, jagadesa.StatusUp)
	}
	f.step(2 * time.Second)
	for i, c := range codes {
		f.set(c, jagadesa.StatusDown)
		f.step(2 * time.Second)
		_ = i
	}
	f.step(3 * time.Minute) // past any hold
	got := f.rec.take()
	var regional, village int
	for _, s := range got {
		switch s.n.Incident.Kind {
		case jagadesa.IncidentRegional:
			regional++
		default:
			village++
		}
	}
	if regional != 1 || village > 1 {
		t.Fatalf("%d regional and %d village notifications, want 1 and at most 1: %+v", regional, village, got)
	}
	open := f.open()
	if len(open) != 1 || open[0].Kind != jagadesa.IncidentRegional || len(open[0].Villages) != 30 || open[0].CSIRT != "CSIRT Kabupaten Purworejo" {
		t.Fatalf("open incidents %+v", open)
	}
	// The probes later report the cause.
	for _, c := range codes[:10] {
		f.m.OutageReported(context.Background(), c, "power", t0.Add(time.Second), f.now)
	}
	if ev := f.open()[0].Evidence; ev["cause:"+codes[0]] != "power" {
		t.Fatalf("evidence %v", ev)
	}
	// All back: resolved, one notification.
	for _, c := range codes[:29] {
		f.set(c, jagadesa.StatusUp)
	}
	f.step(time.Second)
	if len(f.open()) != 1 {
		t.Fatal("resolved with a village still down")
	}
	f.set(codes[29], jagadesa.StatusUp)
	f.step(time.Second)
	got = f.rec.take()
	if len(got) != 1 || got[0].n.Event != "resolved" || got[0].n.Incident.Kind != jagadesa.IncidentRegional || len(f.open()) != 0 {
		t.Fatalf("after recovery: sent %+v, open %d", got, len(f.open()))
	}
}

// Two villages of a regency going down a minute apart are not a region:
// the second is held for the group wait and then sent on its own.
func TestHeldNotificationIsSentWhenNoRegionForms(t *testing.T) {
	f := newFleet(t, newMemStore(), "")
	var codes []string
	for _, v := range f.reg.Villages() {
		if v.RegencyCode == "33.13" {
			codes = append(codes, v.Code)
		}
		if len(codes) == 2 {
			break
		}
	}
	f.set(codes[0], jagadesa.StatusUp)
	f.set(codes[1], jagadesa.StatusUp)
	f.step(2 * time.Second)
	f.set(codes[0], jagadesa.StatusDown)
	f.step(time.Second)
	f.set(codes[1], jagadesa.StatusDown)
	f.step(time.Second)
	if got := f.rec.take(); len(got) != 1 || got[0].n.Villages[0].Code != codes[0] {
		t.Fatalf("first village: %+v", got)
	}
	f.step(80 * time.Second)
	if got := f.rec.take(); len(got) != 0 {
		t.Fatalf("sent before the hold ended: %+v", got)
	}
	f.step(15 * time.Second)
	if got := f.rec.take(); len(got) != 1 || got[0].n.Villages[0].Code != codes[1] {
		t.Fatalf("second village after the hold: %+v", got)
	}
}

func TestEscalationAndAcknowledgement(t *testing.T) {
	f := newFleet(t, newMemStore(), "")
	f.set(geo.KrandeganCode, jagadesa.StatusUp)
	f.step(2 * time.Second)
	f.set(geo.KrandeganCode, jagadesa.StatusDown)
	f.step(time.Second)
	f.rec.take()
	id := f.open()[0].ID
	prio := f.prog[geo.KrandeganCode].Remote3T || f.prog[geo.KrandeganCode].ExtremePoor
	wait := 30 * time.Minute
	if prio {
		wait = 15 * time.Minute
	}
	f.step(wait - 2*time.Second)
	if got := f.rec.take(); len(got) != 0 {
		t.Fatalf("escalated early: %+v", got)
	}
	f.step(3 * time.Second)
	got := f.rec.take()
	teams := []string{}
	for _, s := range got {
		if s.n.Event != "escalated" || !s.n.Incident.Escalated {
			t.Fatalf("sent %+v", s)
		}
		teams = append(teams, s.team)
	}
	sort.Strings(teams)
	if strings.Join(teams, ",") != "CSIRT Kabupaten Purworejo,JatengProv-CSIRT" {
		t.Fatalf("escalation went to %v", teams)
	}
	in, err := f.m.Acknowledge(context.Background(), id, "analis@purworejo")
	if err != nil || in.State != jagadesa.StateAcknowledged || in.AckedBy != "analis@purworejo" || in.Stage != jagadesa.StageContainment {
		t.Fatalf("ack: %+v %v", in, err)
	}
	if _, err := f.m.Acknowledge(context.Background(), id, "x"); jagadesa.ErrorCode(err) != jagadesa.EConflict {
		t.Fatalf("second ack: %v", err)
	}
	if _, err := f.m.Acknowledge(context.Background(), "JD-nope", "x"); jagadesa.ErrorCode(err) != jagadesa.ENotFound {
		t.Fatalf("unknown id: %v", err)
	}
	if got := f.rec.take(); len(got) != 1 || got[0].n.Event != "acknowledged" {
		t.Fatalf("ack notification %+v", got)
	}
	// An incident at the province's own team never escalates.
	f.set(geo.KemuningCode, jagadesa.StatusUp)
	f.step(time.Second)
	f.set(geo.KemuningCode, jagadesa.StatusDown)
	f.step(time.Second)
	f.rec.take()
	f.step(2 * time.Hour)
	for _, s := range f.rec.take() {
		if s.n.Event == "escalated" {
			t.Fatalf("province incident escalated: %+v", s)
		}
	}
}

// Degraded follows the status engine, which applies the hysteresis: the
// incident opens when the engine says degraded, with its reason code, and
// closes when it says up again, so the map and the queue agree.
func TestDegradedFollowsStatus(t *testing.T) {
	f := newFleet(t, newMemStore(), "")
	c := geo.KemuningCode
	f.set(c, jagadesa.StatusUp)
	f.step(2 * time.Second)
	if got := f.rec.take(); len(got) != 0 {
		t.Fatalf("an up village paged: %+v", got)
	}
	f.set(c, jagadesa.StatusDegraded)
	f.snaps[c].Reason = "loss"
	f.step(time.Second)
	got := f.rec.take()
	if len(got) != 1 || got[0].n.Incident.Kind != jagadesa.IncidentDegraded || got[0].n.Incident.Evidence["reason"] != "loss" {
		t.Fatalf("sent %+v", got)
	}
	f.run(10 * time.Minute) // still degraded: one incident, one page
	if got := f.rec.take(); len(got) != 0 || len(f.open()) != 1 {
		t.Fatalf("a lasting degradation paged again: %+v", got)
	}
	f.set(c, jagadesa.StatusUp)
	f.step(time.Second)
	if len(f.open()) != 0 {
		t.Fatal("not closed when the status engine said up")
	}
	if got := f.rec.take(); len(got) != 1 || got[0].n.Event != "resolved" {
		t.Fatalf("resolution sent %+v", got)
	}
}

// The baseline learns a village's normal RTT and flags a lasting rise that
// the fixed 150 ms threshold would never see.
func TestBaselineAnomaly(t *testing.T) {
	f := newFleet(t, newMemStore(), "")
	c := geo.KemuningCode
	f.set(c, jagadesa.StatusUp)
	f.step(2 * time.Second)
	for i := 0; i < 30; i++ {
		f.snaps[c].RTTMs = ms(20 + float64(i%3))
		f.snaps[c].LastSeen = f.now
		f.step(time.Minute)
	}
	if got := f.rec.take(); len(got) != 0 {
		t.Fatalf("normal rounds paged: %+v", got)
	}
	for i := 0; i < 3; i++ {
		f.snaps[c].RTTMs = ms(95)
		f.snaps[c].LastSeen = f.now
		f.step(time.Minute)
	}
	got := f.rec.take()
	if len(got) != 1 || got[0].n.Incident.Kind != jagadesa.IncidentDegraded || got[0].n.Incident.Evidence["normal_rtt_ms"] == "" {
		t.Fatalf("sent %+v", got)
	}
}

// Jitter has a normal too: a link whose RTT holds but whose jitter jumps
// is degraded for voice and video.
func TestBaselineJitterAnomaly(t *testing.T) {
	f := newFleet(t, newMemStore(), "")
	c := geo.KemuningCode
	f.set(c, jagadesa.StatusUp)
	f.step(2 * time.Second)
	for i := 0; i < 30; i++ {
		f.snaps[c].JitterMs = ms(1 + float64(i%2)/2)
		f.snaps[c].LastSeen = f.now
		f.step(time.Minute)
	}
	for i := 0; i < 3; i++ {
		f.snaps[c].JitterMs = ms(25)
		f.snaps[c].LastSeen = f.now
		f.step(time.Minute)
	}
	got := f.rec.take()
	if ev := got[0].n.Incident.Evidence; len(got) != 1 || got[0].n.Incident.Kind != jagadesa.IncidentDegraded || ev["reason"] != "baseline" || ev["anomaly"] != "jitter" || ev["normal_jitter_ms"] != "1.5" {
		t.Fatalf("sent %+v", got)
	}
}

func TestSLABreach(t *testing.T) {
	f := newFleet(t, newMemStore(), "")
	c := geo.KrandeganCode
	f.set(c, jagadesa.StatusUp)
	f.step(2 * time.Second)
	f.snaps[c].SLABreach, f.snaps[c].DownloadPct, f.snaps[c].ThroughputAt = true, ms(55), f.now
	f.step(time.Second)
	got := f.rec.take()
	if len(got) != 1 || got[0].n.Incident.Kind != jagadesa.IncidentSLABreach || got[0].n.Incident.Evidence["download_pct_of_contract"] != "55.0" {
		t.Fatalf("sent %+v", got)
	}
	f.step(time.Hour) // the same test is judged once
	if got := f.rec.take(); len(got) != 0 {
		t.Fatalf("repeated: %+v", got)
	}
	f.snaps[c].SLABreach, f.snaps[c].DownloadPct, f.snaps[c].ThroughputAt = false, ms(92), f.now
	f.step(time.Second)
	if got := f.rec.take(); len(got) != 1 || got[0].n.Event != "resolved" {
		t.Fatalf("sent %+v", got)
	}
}

// A maintenance window records the incident but tells nobody.
func TestMaintenanceMutes(t *testing.T) {
	yaml := string(route.DemoYAML()) // t0 is Sunday 17:00 WIB
	yaml = strings.Replace(yaml, "maintenance:\n", "maintenance:\n  - {name: uji, match: {regencies: [\"33.13\"]}, days: [sun], start: \"16:00\", end: \"18:00\"}\n", 1)
	f := newFleet(t, newMemStore(), yaml)
	f.set(geo.KemuningCode, jagadesa.StatusUp)
	f.step(2 * time.Second)
	f.set(geo.KemuningCode, jagadesa.StatusDown)
	f.step(time.Second)
	if got := f.rec.take(); len(got) != 0 {
		t.Fatalf("notified during maintenance: %+v", got)
	}
	open := f.open()
	if len(open) != 1 || !strings.Contains(open[0].Muted, "uji") {
		t.Fatalf("open %+v", open)
	}
}

// A probe's report of a power cut turns a "down" incident into a power cut
// with the true start.
func TestOutageReportClassifies(t *testing.T) {
	f := newFleet(t, newMemStore(), "")
	c := geo.KemuningCode
	f.set(c, jagadesa.StatusUp)
	f.step(2 * time.Second)
	cutStart := f.now.Add(-50 * time.Second)
	f.set(c, jagadesa.StatusDown)
	f.step(time.Second)
	f.m.OutageReported(context.Background(), c, "power", cutStart, f.now.Add(10*time.Minute))
	open := f.open()
	if len(open) != 1 || open[0].Kind != jagadesa.IncidentPowerCut || !open[0].StartedAt.Equal(cutStart) || open[0].Severity != jagadesa.SeverityWarning {
		t.Fatalf("open %+v", open)
	}
	f.set(c, jagadesa.StatusUp)
	f.step(time.Second)
	if len(f.open()) != 0 {
		t.Fatal("power-cut incident not closed when the village came back")
	}
}

// Right after a start, silence is not yet evidence: the probes are still
// flushing what they spooled while the server was away.
func TestStartupGrace(t *testing.T) {
	reg, _ := geo.Jateng()
	dir, _ := route.Demo()
	rec := &recorder{}
	m := incident.New(incident.Config{}, slog.New(slog.DiscardHandler), newMemStore(), dir, reg, nil, rec)
	snap := []incident.Snapshot{{Code: geo.KemuningCode, Status: jagadesa.StatusDown}}
	m.Evaluate(context.Background(), t0, snap)
	m.Evaluate(context.Background(), t0.Add(time.Minute), snap)
	if len(rec.take()) != 0 || len(m.Open()) != 0 {
		t.Fatal("paged during the start-up grace")
	}
	m.Evaluate(context.Background(), t0.Add(2*time.Minute+time.Second), snap)
	if len(rec.take()) != 1 {
		t.Fatal("no page after the grace")
	}
}

// Villages cut in the same second (a kecamatan losing power) make exactly
// one notification: the regional one.
func TestSimultaneousCutIsOneNotification(t *testing.T) {
	f := newFleet(t, newMemStore(), "")
	var codes []string
	for _, v := range f.reg.Villages() {
		if v.DistrictCode == "33.19.03" {
			codes = append(codes, v.Code)
		}
	}
	if len(codes) < 6 {
		t.Fatalf("%d villages in 33.19.03", len(codes))
	}
	codes = codes[:6]
	for _, c := range codes {
		f.set(c, jagadesa.StatusUp)
	}
	f.step(2 * time.Second)
	for _, c := range codes {
		f.set(c, jagadesa.StatusDown)
	}
	f.step(time.Second)
	f.run(3 * time.Minute)
	got := f.rec.take()
	if len(got) != 1 || got[0].n.Incident.Kind != jagadesa.IncidentRegional || len(got[0].n.Villages) < 3 || got[0].team != "CSIRT Kabupaten Kudus" {
		t.Fatalf("sent %d: %+v", len(got), got)
	}
	if open := f.open(); len(open) != 1 || len(open[0].Villages) != 6 {
		t.Fatalf("open %+v", open)
	}
}

// A changed root password on a router is a security incident, routed like
// any other, that makes the village compromised until a person resolves
// it; more evidence joins it; new sockets right after an outage are the
// router's own services starting, not an alarm.
func TestSecurityEvents(t *testing.T) {
	f := newFleet(t, newMemStore(), "")
	c := geo.KrandeganCode
	f.set(c, jagadesa.StatusUp)
	f.step(2 * time.Second)
	ctx := context.Background()
	f.m.SecurityEvent(ctx, c, jagadesa.Event{TimeMs: f.now.UnixMilli(), Kind: "security_baseline", Severity: "info"})
	f.m.SecurityEvent(ctx, c, jagadesa.Event{TimeMs: f.now.UnixMilli(), Kind: "port_closed", Severity: "info"})
	if len(f.rec.take()) != 0 || len(f.m.Compromised()) != 0 {
		t.Fatal("information raised an incident")
	}
	f.m.SecurityEvent(ctx, c, jagadesa.Event{TimeMs: f.now.UnixMilli(), Kind: "login_bruteforce", Severity: "warning", Message: "5 failed dropbear logins", Attrs: map[string]string{"source": "203.0.113.9"}})
	got := f.rec.take()
	if len(got) != 1 || got[0].n.Incident.Kind != jagadesa.IncidentSecurity || got[0].n.Incident.Severity != jagadesa.SeverityWarning ||
		got[0].team != "CSIRT Kabupaten Purworejo" || len(got[0].n.Incident.Signals) != 1 || got[0].n.Incident.Signals[0].Source != "203.0.113.9" {
		t.Fatalf("sent %+v", got)
	}
	if len(f.m.Compromised()) != 0 {
		t.Fatal("a brute-force attempt alone marked the village compromised")
	}
	f.m.SecurityEvent(ctx, c, jagadesa.Event{TimeMs: f.now.UnixMilli(), Kind: "config_changed", Severity: "critical", Message: "etc/shadow modified", Attrs: map[string]string{"path": "etc/shadow"}})
	got = f.rec.take()
	if len(got) != 1 || got[0].n.Event != "escalated" || got[0].n.Incident.Severity != jagadesa.SeverityCritical ||
		len(got[0].n.Incident.Signals) != 2 || got[0].n.Incident.Signals[1].Attrs["probe.path"] != "etc/shadow" {
		t.Fatalf("sent %+v", got)
	}
	if !f.m.Compromised()[c] {
		t.Fatal("village not compromised")
	}
	// The link recovering does not clear it; a person does.
	f.run(10 * time.Minute)
	if !f.m.Compromised()[c] {
		t.Fatal("compromise cleared itself")
	}
	id := f.open()[0].ID
	if _, err := f.m.Resolve(ctx, id, "analis", "password diganti"); err != nil || len(f.m.Compromised()) != 0 {
		t.Fatalf("resolve: %v", err)
	}

	// After an outage, new sockets are not raised; a config change is.
	k := geo.KemuningCode
	f.set(k, jagadesa.StatusUp)
	f.step(time.Second)
	f.set(k, jagadesa.StatusDown)
	f.step(time.Second)
	f.set(k, jagadesa.StatusUp)
	f.step(time.Second)
	f.rec.take()
	f.m.SecurityEvent(ctx, k, jagadesa.Event{TimeMs: f.now.UnixMilli(), Kind: "port_opened", Severity: "warning", Attrs: map[string]string{"socket": "tcp/0.0.0.0:53"}})
	if got := f.rec.take(); len(got) != 0 {
		t.Fatalf("port after an outage raised: %+v", got)
	}
	f.m.SecurityEvent(ctx, k, jagadesa.Event{TimeMs: f.now.UnixMilli(), Kind: "config_changed", Severity: "warning", Attrs: map[string]string{"path": "etc/config/firewall"}})
	if got := f.rec.take(); len(got) != 1 || got[0].n.Incident.Kind != jagadesa.IncidentSecurity {
		t.Fatalf("config change after an outage: %+v", got)
	}
}

// One address trying the routers of several villages is one province-level
// incident for the provincial CSIRT, besides each village's own.
func TestAttackerAcrossVillages(t *testing.T) {
	f := newFleet(t, newMemStore(), "")
	ctx := context.Background()
	villages := []string{geo.KrandeganCode, geo.KemuningCode, "33.19.03.2001", "33.19.03.2002"}
	for _, v := range villages {
		f.set(v, jagadesa.StatusUp)
	}
	f.step(2 * time.Second)
	hit := func(v string) {
		f.m.SecurityEvent(ctx, v, jagadesa.Event{TimeMs: f.now.UnixMilli(), Kind: "login_bruteforce", Severity: "warning", Attrs: map[string]string{"source": "203.0.113.9", "service": "dropbear"}})
		f.step(5 * time.Minute)
	}
	hit(villages[0])
	hit(villages[1])
	if got := f.rec.take(); len(got) != 2 {
		t.Fatalf("two villages: %d notifications", len(got))
	}
	hit(villages[2])
	got := f.rec.take()
	var campaign *jagadesa.Notification
	for i := range got {
		if got[i].n.Incident.Evidence["group"] == "source:203.0.113.9" {
			campaign = &got[i].n
			if got[i].team != "JatengProv-CSIRT" {
				t.Fatalf("campaign sent to %s", got[i].team)
			}
		}
	}
	if len(got) != 2 || campaign == nil || len(campaign.Villages) != 3 || !strings.Contains(campaign.Incident.Title, "203.0.113.9") {
		t.Fatalf("third village: %+v", got)
	}
	hit(villages[3])
	got = f.rec.take()
	if len(got) != 1 || got[0].n.Incident.Evidence["group"] != "" { // only the village's own
		t.Fatalf("fourth village: %+v", got)
	}
	for _, in := range f.open() {
		if in.Evidence["group"] == "source:203.0.113.9" && len(in.Villages) != 4 {
			t.Fatalf("campaign villages %v", in.Villages)
		}
	}
	if len(f.m.Compromised()) != 0 {
		t.Fatalf("attacked villages marked compromised: %v", f.m.Compromised())
	}
	// After a restart the campaign is the same incident.
	m2 := incident.New(incident.Config{StartupGrace: time.Second, Now: func() time.Time { return f.now }}, slog.New(slog.DiscardHandler), f.store, f.dir, f.reg, f.prog, f.rec)
	if err := m2.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(m2.Open()); n != len(f.open()) {
		t.Fatalf("restored %d open incidents, had %d", n, len(f.open()))
	}
}

// A probe's flood of events is evidence, not work: one batch of 2,000
// brute-force events from one address is one signal counted 2,000 times;
// distinct signals stop at jagadesa.MaxSignals and the rest are counted;
// the same batch applied again (the outbox is at-least-once) counts
// nothing twice; and probe attributes cannot pose as the server's keys.
func TestSecurityEvidenceAggregates(t *testing.T) {
	f := newFleet(t, newMemStore(), "")
	c := geo.KrandeganCode
	f.set(c, jagadesa.StatusUp)
	f.step(2 * time.Second)
	ctx := context.Background()
	var flood []jagadesa.Event
	for i := range 2000 {
		flood = append(flood, jagadesa.Event{Seq: uint64(i + 1), TimeMs: f.now.UnixMilli() + int64(i), Kind: "login_bruteforce", Severity: "warning",
			Attrs: map[string]string{"source": "203.0.113.9", "group": "source:203.0.113.9", "cause": "x"}})
	}
	f.m.SecurityEvents(ctx, c, "p-1", "s-1", jagadesa.GroupEvents(flood))
	f.m.SecurityEvents(ctx, c, "p-1", "s-1", jagadesa.GroupEvents(flood)) // applied again
	open := f.open()
	if len(open) != 1 || len(open[0].Signals) != 1 || open[0].Signals[0].Count != 2000 {
		t.Fatalf("open %+v", open)
	}
	if open[0].Evidence["group"] != "" || open[0].Evidence["cause"] != "" || open[0].Signals[0].Attrs["probe.group"] == "" {
		t.Fatalf("probe attrs reached the server's evidence: %v / %v", open[0].Evidence, open[0].Signals[0].Attrs)
	}
	// A critical event whose attrs try to pass as a campaign still
	// compromises the village.
	f.m.SecurityEvents(ctx, c, "p-1", "s-1", jagadesa.GroupEvents([]jagadesa.Event{{Seq: 3000, TimeMs: f.now.UnixMilli(), Kind: "config_changed", Severity: "critical",
		Attrs: map[string]string{"group": "source:1.2.3.4"}}}))
	if !f.m.Compromised()[c] {
		t.Fatal("attrs hid a critical event")
	}
	var many []jagadesa.Event
	for i := range 300 {
		many = append(many, jagadesa.Event{Seq: uint64(4000 + i), TimeMs: f.now.UnixMilli(), Kind: "login_new_source", Severity: "warning",
			Attrs: map[string]string{"source": fmt.Sprintf("198.51.100.%d", i%250) + fmt.Sprint(i/250)}})
	}
	f.m.SecurityEvents(ctx, c, "p-1", "s-1", jagadesa.GroupEvents(many))
	open = f.open()
	in := open[0]
	for _, o := range open {
		if o.Village == c && o.Kind == jagadesa.IncidentSecurity {
			in = o
		}
	}
	if len(in.Signals) != jagadesa.MaxSignals || in.SignalsDropped != 302-jagadesa.MaxSignals {
		t.Fatalf("%d signals kept, %d dropped; want %d and %d", len(in.Signals), in.SignalsDropped, jagadesa.MaxSignals, 302-jagadesa.MaxSignals)
	}
	stored, err := f.store.Incident(ctx, in.ID)
	if err != nil || len(stored.Signals) != jagadesa.MaxSignals {
		t.Fatalf("store holds %v signals: %v", stored, err)
	}
}

// After a restart, a status restored from stored data may say up for a
// village whose last report is the one before its outage: that is not the
// village coming back, and its incident stays open until a newer report.
func TestRestoredStatusDoesNotResolve(t *testing.T) {
	store := newMemStore()
	f := newFleet(t, store, "")
	c := geo.KrandeganCode
	f.set(c, jagadesa.StatusUp)
	f.step(2 * time.Second)
	last := f.snaps[c].LastSeen
	f.set(c, jagadesa.StatusDown)
	f.step(time.Minute)
	if len(f.open()) != 1 {
		t.Fatalf("open %+v", f.open())
	}
	// A new manager over the same store, fed the restored "up" with the
	// old last report.
	g := newFleet(t, store, "")
	g.now = f.now.Add(time.Second)
	g.set(c, jagadesa.StatusUp)
	g.snaps[c].LastSeen = last
	g.run(time.Minute)
	if len(g.open()) != 1 {
		t.Fatal("the restored status resolved the outage")
	}
	g.snaps[c].LastSeen = g.now // a real report
	g.step(time.Second)
	if len(g.open()) != 0 {
		t.Fatal("a new report did not resolve it")
	}
}

// A chat acts for its team only: Kudus's chat cannot acknowledge
// Purworejo's incident; Purworejo's and the province's can.
func TestAcknowledgeAsTeam(t *testing.T) {
	f := newFleet(t, newMemStore(), "")
	c := geo.KrandeganCode // Kabupaten Purworejo
	f.set(c, jagadesa.StatusUp)
	f.step(2 * time.Second)
	f.set(c, jagadesa.StatusDown)
	f.step(time.Minute)
	open := f.open()
	if len(open) != 1 || open[0].CSIRT != "CSIRT Kabupaten Purworejo" {
		t.Fatalf("open %+v", open)
	}
	ctx := context.Background()
	id := open[0].ID
	for _, team := range []string{"CSIRT Kabupaten Kudus", "", "nobody"} {
		if _, err := f.m.AcknowledgeAsTeam(ctx, id, team, "telegram:@x"); jagadesa.ErrorCode(err) != jagadesa.EForbidden {
			t.Fatalf("team %q: %v, want forbidden", team, err)
		}
	}
	if f.open()[0].State != jagadesa.StateOpen {
		t.Fatal("a refused ack changed the incident")
	}
	in, err := f.m.AcknowledgeAsTeam(ctx, id, "JatengProv-CSIRT", "telegram:@prov")
	if err != nil || in.State != jagadesa.StateAcknowledged || !strings.Contains(in.AckedBy, "JatengProv-CSIRT") {
		t.Fatalf("the province's team: %+v %v", in, err)
	}
}
