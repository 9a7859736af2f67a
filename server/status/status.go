// Package status keeps the live state of every monitored village in memory,
// fed by the reports the server has stored, and derives each village's
// status from it at read time with an injected clock.
package status

import (
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/jagadesa/jagadesa"
)

// Thresholds, from the SLA definitions (docs/sla.md): a link losing more than
// 2% or slower than 150 ms median is degraded.
const (
	DegradedLossPct = 2.0
	DegradedRTTMs   = 150.0
)

// ThroughputBreachPct is the SLA's floor for throughput: a village link
// delivering less than 80% of its contracted speed is in breach.
const ThroughputBreachPct = 80.0

// Config tunes the engine.
type Config struct {
	// Grace is added to a village's report interval before its silence
	// makes it down (default 15 s).
	Grace time.Duration
	// DefaultInterval is assumed until a heartbeat says otherwise (60 s).
	DefaultInterval time.Duration
	// DegradedAfter is how long a village's rounds must be degraded without
	// a break before its status says so (3 min); RecoveredAfter how long
	// they must then be healthy before it says up again (5 min). One lossy
	// round is weather, not a fault; the incident manager opens and closes
	// degraded incidents on this same status, so map and queue agree.
	DegradedAfter  time.Duration
	RecoveredAfter time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Reasons, as language-neutral codes: the dashboard and the notifications
// put them in words.
const (
	ReasonNoReportYet = "no_report_yet" // never heard from
	ReasonSilent      = "silent"        // no report past interval + grace; see View.SilentS
	ReasonUnreachable = "unreachable"   // every target lost every ping
	ReasonLoss        = "loss"          // loss above DegradedLossPct
	ReasonRTT         = "rtt"           // median RTT above DegradedRTTMs
)

// Engine holds the live state. It is safe for concurrent use.
type Engine struct {
	cfg Config
	mu  sync.RWMutex
	// v holds every village the engine has heard of or been asked to
	// follow (Roster). A village's *village is never replaced or removed:
	// a Roster keeps the pointers, so that reading every village each
	// tick indexes a slice instead of looking up a map. A village never
	// heard from reads as if it were absent.
	v map[string]*village
}

type village struct {
	probe    string
	lastSeen time.Time
	interval time.Duration
	// targets are the latest rounds per target, in the order the targets
	// were first heard (at most maxTargets): a slice, not a map, because
	// the detector reads every village's every second.
	targets  []Target
	download *speed // latest successful throughput test per direction
	upload   *speed
	site     *Site // what the latest heartbeat said of the site
	h        hysteresis
}

// Site is what a village's probe says it can see: where it runs, what it
// cannot collect there, and its version (the latest heartbeat's).
type Site struct {
	Mode         string    `json:"mode,omitempty"`
	Cannot       []string  `json:"cannot,omitempty"`
	ProbeVersion string    `json:"probe_version,omitempty"`
	At           time.Time `json:"at"`
}

// hysteresis is what turns per-round verdicts into a status people can
// trust. It changes only when a report arrives; between reports, view
// works out on a copy where the same rules have taken it by now.
type hysteresis struct {
	raw    jagadesa.Status // the verdict when the latest report arrived
	reason string          // and its reason
	// The current unbroken run of degraded, or of healthy, verdicts began
	// at: zero when not in one. A down verdict breaks both.
	degradedSince, healthySince time.Time
	// shown is set while the status says degraded: since shownSince (the
	// start of the run that lasted DegradedAfter), lately for shownReason.
	// It outlives an outage: a link that was degraded before it went down
	// is degraded when it comes back, until healthy for RecoveredAfter.
	shown       bool
	shownSince  time.Time
	shownReason string
}

// settle applies the thresholds at t, the verdict h.raw having held since
// the run began.
func (h *hysteresis) settle(t time.Time, cfg *Config) {
	switch {
	case h.raw == jagadesa.StatusDegraded && !h.shown && !h.degradedSince.IsZero() && t.Sub(h.degradedSince) >= cfg.DegradedAfter:
		h.shown, h.shownSince, h.shownReason = true, h.degradedSince, h.reason
	case h.raw == jagadesa.StatusUp && h.shown && !h.healthySince.IsZero() && t.Sub(h.healthySince) >= cfg.RecoveredAfter:
		h.shown, h.shownSince, h.shownReason = false, time.Time{}, ""
	}
}

// round records the verdict of a report that arrived at now.
func (h *hysteresis) round(now time.Time, raw jagadesa.Status, reason string, cfg *Config) {
	h.raw, h.reason = raw, reason
	switch raw {
	case jagadesa.StatusDegraded:
		h.healthySince = time.Time{}
		if h.degradedSince.IsZero() {
			h.degradedSince = now
		}
		if h.shown {
			h.shownReason = reason
		}
	case jagadesa.StatusUp:
		h.degradedSince = time.Time{}
		if h.healthySince.IsZero() {
			h.healthySince = now
		}
	default: // down or unknown: neither run goes on
		h.degradedSince, h.healthySince = time.Time{}, time.Time{}
	}
	h.settle(now, cfg)
}

// speed is one direction of a throughput test.
type speed struct {
	time  time.Time
	mbps  float64
	other float64 // the WAN's other traffic in that direction meanwhile
}

// Target is the latest ping round to one target.
type Target struct {
	Target  string    `json:"target"`
	Time    time.Time `json:"time"`
	RTTMs   float64   `json:"rtt_ms"` // median of the round; 0 when nothing came back
	LossPct float64   `json:"loss_pct"`
	// JitterMs is the round's RFC 3550 jitter; 0 when fewer than two
	// replies came back.
	JitterMs float64 `json:"jitter_ms"`
}

// View is a village's live state as the API shows it.
type View struct {
	// Status is the village's status after hysteresis: what maps, lists
	// and the incident manager go by.
	Status   jagadesa.Status `json:"status"`
	Probe    string          `json:"probe,omitempty"`
	LastSeen *time.Time      `json:"last_seen"`
	RTTMs    *float64        `json:"rtt_ms"`
	LossPct  *float64        `json:"loss_pct"`
	JitterMs *float64        `json:"jitter_ms"` // mean over the targets that answered
	// Reason says why Status is not up, as one of the Reason* codes.
	Reason string `json:"reason,omitempty"`
	// SilentS is how many whole seconds the village has been silent, when
	// Reason is silent.
	SilentS int64 `json:"silent_s,omitempty"`
	// DegradedSince is when the run of degraded rounds that made Status
	// degraded began; set only while Status is degraded.
	DegradedSince *time.Time `json:"degraded_since,omitempty"`
	// RawStatus and RawReason are the latest rounds' own verdict, before
	// hysteresis: a degradation too young to show, or a recovery too young
	// to trust.
	RawStatus jagadesa.Status `json:"raw_status"`
	RawReason string          `json:"raw_reason,omitempty"`
	Targets   []Target        `json:"targets,omitempty"`
	// Site is what the probe says it can and cannot see there.
	Site *Site `json:"site,omitempty"`

	// The latest throughput tests, null until the probe has run one.
	// OtherMbps is the village's own traffic during the latest download,
	// which the test had to share the link with.
	DownloadMbps *float64   `json:"download_mbps"`
	UploadMbps   *float64   `json:"upload_mbps"`
	OtherMbps    *float64   `json:"other_mbps"`
	ThroughputAt *time.Time `json:"throughput_at,omitempty"` // when the latest of them ran
}

// New returns an empty engine.
func New(cfg Config) *Engine {
	if cfg.Grace <= 0 {
		cfg.Grace = 15 * time.Second
	}
	if cfg.DefaultInterval <= 0 {
		cfg.DefaultInterval = 60 * time.Second
	}
	if cfg.DegradedAfter <= 0 {
		cfg.DegradedAfter = 3 * time.Minute
	}
	if cfg.RecoveredAfter <= 0 {
		cfg.RecoveredAfter = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Engine{cfg: cfg, v: map[string]*village{}}
}

// maxTargets bounds the targets kept per village.
const maxTargets = 32

func (e *Engine) get(code string) *village {
	v := e.v[code]
	if v == nil {
		v = &village{interval: e.cfg.DefaultInterval}
		e.v[code] = v
	}
	return v
}

// target returns the village's round for the named target, nil if none.
func (v *village) target(name string) *Target {
	for i := range v.targets {
		if v.targets[i].Target == name {
			return &v.targets[i]
		}
	}
	return nil
}

// Observe folds a stored report into the live state. Records older than what
// is known (a backfill after an outage) update nothing they would make stale.
func (e *Engine) Observe(r *jagadesa.Report) {
	now := e.cfg.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.get(r.Village)
	e.catchUp(v, now)
	v.probe = r.Probe
	for i := range r.Samples {
		s := &r.Samples[i]
		t := s.Time()
		if t.After(now) {
			t = now // a fast probe clock must not keep a village alive
		}
		if t.After(v.lastSeen) {
			v.lastSeen = t
		}
		switch s.Kind {
		case jagadesa.KindHeartbeat:
			if iv := time.Duration(s.Heartbeat.IntervalS * float64(time.Second)); iv > 0 {
				v.interval = iv
			}
			if hb := s.Heartbeat; v.site == nil || t.After(v.site.At) {
				v.site = &Site{Mode: hb.Mode, Cannot: slices.Clone(hb.Cannot), ProbeVersion: hb.ProbeVersion, At: t}
			}
		case jagadesa.KindICMP:
			tg := v.target(s.Target)
			if tg == nil {
				if len(v.targets) >= maxTargets { // bound memory per village
					continue
				}
				v.targets = append(v.targets, Target{Target: s.Target})
				tg = &v.targets[len(v.targets)-1]
			}
			if !t.After(tg.Time) {
				continue
			}
			tg.Time, tg.LossPct, tg.RTTMs, tg.JitterMs = t, s.ICMP.LossPct(), 0, 0
			if s.ICMP.Received > 0 {
				tg.RTTMs, tg.JitterMs = s.ICMP.MedianMs(), s.ICMP.JitterMs
			}
		case jagadesa.KindThroughput:
			x := s.Throughput
			if x.Error != "" {
				continue // a transfer that broke off measured the failure, not the speed
			}
			dst := &v.download
			if x.Direction == "upload" {
				dst = &v.upload
			}
			if *dst != nil && !t.After((*dst).time) {
				continue // a backfilled older test
			}
			*dst = &speed{time: t, mbps: x.Mbps, other: x.OtherMbps}
		}
	}
	e.record(v, now)
}

// catchUp brings a village's hysteresis to now under the verdict it last
// recorded. If the village fell silent meanwhile, that verdict held only
// until the deadline, and the silence broke every run.
func (e *Engine) catchUp(v *village, now time.Time) {
	if v.lastSeen.IsZero() {
		return
	}
	if deadline := v.lastSeen.Add(v.interval + e.cfg.Grace); now.After(deadline) {
		v.h.settle(deadline, &e.cfg)
		v.h.round(deadline, jagadesa.StatusDown, ReasonSilent, &e.cfg)
		return
	}
	v.h.settle(now, &e.cfg)
}

// record judges the village as it stands at now and adds the verdict to
// its hysteresis.
func (e *Engine) record(v *village, now time.Time) {
	st, reason, _ := e.judge(v, e.measure(v, now), now)
	v.h.round(now, st, reason, &e.cfg)
}

// Restore seeds the engine from stored data at start-up. The hysteresis
// starts afresh: a village degraded before the restart shows degraded
// again once it has been so for DegradedAfter.
func (e *Engine) Restore(code, probe string, lastSeen time.Time, interval time.Duration, rttMs, lossPct float64, hasPing bool) {
	now := e.cfg.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.get(code)
	v.probe, v.lastSeen = probe, lastSeen
	if interval > 0 { // judged on its own deadline, not the default's
		v.interval = interval
	}
	if hasPing {
		// Newer than any round the engine had (a snapshot's): the stored
		// figures stand for all of them.
		v.targets = []Target{{Target: "(restored)", Time: lastSeen, RTTMs: rttMs, LossPct: lossPct}}
	}
	e.record(v, now)
}

// Get returns the live view of one village; unknown when never heard from.
func (e *Engine) Get(code string) View {
	now := e.cfg.Now()
	e.mu.RLock()
	defer e.mu.RUnlock()
	v := e.v[code]
	if v == nil {
		return unknownReading.View()
	}
	return e.view(v, now, false)
}

// Brief calls fn with the view of each of codes, read at one moment under
// one lock, without the per-target rounds and the site. The detector reads
// every village every second through a Roster (Read) instead.
func (e *Engine) Brief(codes []string, fn func(i int, v View)) {
	now := e.cfg.Now()
	e.mu.RLock()
	defer e.mu.RUnlock()
	for i, c := range codes {
		v := e.v[c]
		if v == nil {
			fn(i, unknownReading.View())
			continue
		}
		fn(i, e.view(v, now, true))
	}
}

// Reading is what Brief's View says of a village, without pointers, so
// that a slice of them can be filled every tick without allocating: a
// pointer of View that is nil is here a zero value with its Has flag
// false.
type Reading struct {
	Status    jagadesa.Status
	Reason    string
	SilentS   int64
	RawStatus jagadesa.Status
	RawReason string
	Probe     string
	LastSeen  time.Time // zero: never heard from (View.LastSeen nil)
	// RTTMs and JitterMs are set when HasRTT, LossPct when HasLoss.
	RTTMs, LossPct, JitterMs float64
	HasRTT, HasLoss          bool
	// DegradedSince is set while Status is degraded.
	DegradedSince time.Time
	// DownloadMbps and OtherMbps are set when HasDownload, UploadMbps when
	// HasUpload, ThroughputAt when either is.
	DownloadMbps, OtherMbps, UploadMbps float64
	HasDownload, HasUpload              bool
	ThroughputAt                        time.Time
}

// unknownReading is a village never heard from.
var unknownReading = Reading{Status: jagadesa.StatusUnknown, Reason: ReasonNoReportYet, RawStatus: jagadesa.StatusUnknown, RawReason: ReasonNoReportYet}

// View returns the brief View the reading stands for: what Brief hands
// its callback.
func (r *Reading) View() View {
	out := View{Status: r.Status, Reason: r.Reason, SilentS: r.SilentS, RawStatus: r.RawStatus, RawReason: r.RawReason, Probe: r.Probe}
	if !r.LastSeen.IsZero() {
		ls := r.LastSeen
		out.LastSeen = &ls
	}
	if r.HasLoss {
		l := r.LossPct
		out.LossPct = &l
	}
	if r.HasRTT {
		rtt, j := r.RTTMs, r.JitterMs
		out.RTTMs, out.JitterMs = &rtt, &j
	}
	if r.Status == jagadesa.StatusDegraded {
		since := r.DegradedSince
		out.DegradedSince = &since
	}
	if r.HasDownload {
		mbps, other := r.DownloadMbps, r.OtherMbps
		out.DownloadMbps, out.OtherMbps = &mbps, &other
	}
	if r.HasUpload {
		mbps := r.UploadMbps
		out.UploadMbps = &mbps
	}
	if r.HasDownload || r.HasUpload {
		at := r.ThroughputAt
		out.ThroughputAt = &at
	}
	return out
}

// Roster is a fixed list of villages resolved once, so that reading all of
// them every tick (Read) indexes a slice instead of looking each code up.
// It stays valid for the engine's lifetime: a village of the list never
// heard from yet reads unknown until its first report, then its state.
type Roster struct {
	e     *Engine
	codes []string
	v     []*village
}

// Roster resolves codes for Read. Codes the engine has not heard from are
// held as villages never heard from, which read (and snapshot) as absent.
func (e *Engine) Roster(codes []string) *Roster {
	r := &Roster{e: e, codes: slices.Clone(codes), v: make([]*village, len(codes))}
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, c := range r.codes {
		r.v[i] = e.get(c)
	}
	return r
}

// Codes returns the roster's villages, in the order Read fills readings.
// The slice must not be changed.
func (r *Roster) Codes() []string { return r.codes }

// Read fills out with the reading of every village of the roster, in its
// order, read at one moment under one lock, and returns it; out is reused
// when it has the capacity. It reads what Brief would of the same codes.
func (r *Roster) Read(out []Reading) []Reading {
	e := r.e
	now := e.cfg.Now()
	if cap(out) < len(r.v) {
		out = make([]Reading, len(r.v))
	}
	out = out[:len(r.v)]
	e.mu.RLock()
	defer e.mu.RUnlock()
	for i, v := range r.v {
		e.read(v, now, &out[i])
	}
	return out
}

// Counts returns how many of the given villages are in each status.
func (e *Engine) Counts(codes []string) map[jagadesa.Status]int {
	out := map[jagadesa.Status]int{}
	for _, c := range codes {
		out[e.Get(c).Status]++
	}
	return out
}

// measures are a village's latest rounds over the targets still fresh.
type measures struct {
	lossPct, rttMs, jitterMs float64 // means over the fresh targets
	hasLoss                  bool    // lossPct is set: some target is fresh
	hasRTT                   bool    // rttMs and jitterMs are set: some fresh target answered
	allLost                  bool    // at least one fresh target, and every one lost every ping
}

func (e *Engine) measure(v *village, now time.Time) measures {
	// A target's round counts while it is fresh: three intervals covers a
	// late upload without keeping a dead target's last word forever.
	fresh := now.Add(-3*v.interval - e.cfg.Grace)
	var loss, rtt, jitter float64
	var nLoss, nRTT int
	for i := range v.targets {
		t := &v.targets[i]
		if t.Time.Before(fresh) {
			continue
		}
		loss += t.LossPct
		nLoss++
		if t.LossPct < 100 {
			rtt += t.RTTMs
			jitter += t.JitterMs
			nRTT++
		}
	}
	var m measures
	if nLoss > 0 {
		m.lossPct, m.hasLoss = loss/float64(nLoss), true
	}
	if nRTT > 0 {
		m.rttMs, m.jitterMs, m.hasRTT = rtt/float64(nRTT), jitter/float64(nRTT), true
	}
	m.allLost = nLoss > 0 && nRTT == 0
	return m
}

// judge is the verdict of the latest rounds alone, before hysteresis.
func (e *Engine) judge(v *village, m measures, now time.Time) (st jagadesa.Status, reason string, silentS int64) {
	switch {
	case v.lastSeen.IsZero():
		return jagadesa.StatusUnknown, ReasonNoReportYet, 0
	case now.Sub(v.lastSeen) > v.interval+e.cfg.Grace:
		return jagadesa.StatusDown, ReasonSilent, int64(now.Sub(v.lastSeen) / time.Second)
	case m.allLost:
		return jagadesa.StatusDown, ReasonUnreachable, 0
	case m.hasLoss && m.lossPct > DegradedLossPct:
		return jagadesa.StatusDegraded, ReasonLoss, 0
	case m.hasRTT && m.rttMs > DegradedRTTMs:
		return jagadesa.StatusDegraded, ReasonRTT, 0
	}
	return jagadesa.StatusUp, "", 0
}

// read works out the village's brief state at now into r, every field of
// which it sets. It allocates nothing.
func (e *Engine) read(v *village, now time.Time, r *Reading) {
	if v == nil {
		*r = unknownReading
		return
	}
	*r = Reading{Probe: v.probe, LastSeen: v.lastSeen}
	if d := v.download; d != nil {
		r.HasDownload, r.DownloadMbps, r.OtherMbps, r.ThroughputAt = true, d.mbps, d.other, d.time
	}
	if u := v.upload; u != nil {
		r.HasUpload, r.UploadMbps = true, u.mbps
		if !r.HasDownload || u.time.After(r.ThroughputAt) {
			r.ThroughputAt = u.time
		}
	}
	m := e.measure(v, now)
	if m.hasLoss {
		r.HasLoss, r.LossPct = true, m.lossPct
	}
	if m.hasRTT {
		r.HasRTT, r.RTTMs, r.JitterMs = true, m.rttMs, m.jitterMs
	}

	var silentS int64
	r.RawStatus, r.RawReason, silentS = e.judge(v, m, now)
	switch r.RawStatus {
	case jagadesa.StatusDown, jagadesa.StatusUnknown:
		// Down needs no hysteresis: its deadline is one.
		r.Status, r.Reason = r.RawStatus, r.RawReason
		if r.Reason == ReasonSilent {
			r.SilentS = silentS
		}
		return
	}
	h := v.h // a copy: readers do not move the state on
	h.settle(now, &e.cfg)
	if !h.shown {
		r.Status = jagadesa.StatusUp
		return
	}
	r.Status, r.Reason = jagadesa.StatusDegraded, h.shownReason
	if r.RawStatus == jagadesa.StatusDegraded {
		r.Reason = r.RawReason
	}
	r.DegradedSince = h.shownSince
}

func (e *Engine) view(v *village, now time.Time, brief bool) View {
	var r Reading
	e.read(v, now, &r)
	out := r.View()
	if !brief {
		out.Site = v.site
		if len(v.targets) > 0 {
			out.Targets = slices.Clone(v.targets)
			sort.Slice(out.Targets, func(i, j int) bool { return out.Targets[i].Target < out.Targets[j].Target })
		}
	}
	return out
}

// ContractShare compares a download test with the contracted speed: pct is
// the download as a percentage of the contract, and breach says the link
// delivered less than ThroughputBreachPct of it. The link is judged on the
// test plus the village's other traffic meanwhile (otherMbps), because a
// test that shared the link with a busy village measured the village, not
// the ISP. A contract of 0 or less cannot be judged: ok is false.
func ContractShare(downloadMbps, otherMbps float64, contractMbps int) (pct float64, breach, ok bool) {
	if contractMbps <= 0 {
		return 0, false, false
	}
	c := float64(contractMbps)
	pct = math.Round(downloadMbps/c*1000) / 10 // one decimal is all a percentage needs
	delivered := 100 * (downloadMbps + max(otherMbps, 0)) / c
	return pct, delivered < ThroughputBreachPct, true
}
