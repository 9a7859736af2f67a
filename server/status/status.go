// Package status keeps the live state of every monitored village in memory,
// fed by the reports the server has stored, and derives each village's
// status from it at read time with an injected clock.
package status

import (
	"math"
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
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Engine holds the live state. It is safe for concurrent use.
type Engine struct {
	cfg Config
	mu  sync.RWMutex
	v   map[string]*village
}

type village struct {
	probe    string
	lastSeen time.Time
	interval time.Duration
	targets  map[string]*Target
	download *speed // latest successful throughput test per direction
	upload   *speed
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
	Status   jagadesa.Status `json:"status"`
	Probe    string          `json:"probe,omitempty"`
	LastSeen *time.Time      `json:"last_seen"`
	RTTMs    *float64        `json:"rtt_ms"`
	LossPct  *float64        `json:"loss_pct"`
	JitterMs *float64        `json:"jitter_ms"` // mean over the targets that answered
	Reason   string          `json:"reason,omitempty"`
	Targets  []Target        `json:"targets,omitempty"`

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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Engine{cfg: cfg, v: map[string]*village{}}
}

func (e *Engine) get(code string) *village {
	v := e.v[code]
	if v == nil {
		v = &village{interval: e.cfg.DefaultInterval, targets: map[string]*Target{}}
		e.v[code] = v
	}
	return v
}

// Observe folds a stored report into the live state. Records older than what
// is known (a backfill after an outage) update nothing they would make stale.
func (e *Engine) Observe(r *jagadesa.Report) {
	now := e.cfg.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.get(r.Village)
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
		case jagadesa.KindICMP:
			tg := v.targets[s.Target]
			if tg == nil {
				if len(v.targets) >= 32 { // bound memory per village
					continue
				}
				tg = &Target{Target: s.Target}
				v.targets[s.Target] = tg
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
}

// Restore seeds the engine from stored data at start-up.
func (e *Engine) Restore(code, probe string, lastSeen time.Time, rttMs, lossPct float64, hasPing bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.get(code)
	v.probe, v.lastSeen = probe, lastSeen
	if hasPing {
		v.targets["(restored)"] = &Target{Target: "(restored)", Time: lastSeen, RTTMs: rttMs, LossPct: lossPct}
	}
}

// Get returns the live view of one village; unknown when never heard from.
func (e *Engine) Get(code string) View {
	now := e.cfg.Now()
	e.mu.RLock()
	defer e.mu.RUnlock()
	v := e.v[code]
	if v == nil {
		return View{Status: jagadesa.StatusUnknown, Reason: "no report received yet"}
	}
	return e.view(v, now)
}

// Counts returns how many of the given villages are in each status.
func (e *Engine) Counts(codes []string) map[jagadesa.Status]int {
	out := map[jagadesa.Status]int{}
	for _, c := range codes {
		out[e.Get(c).Status]++
	}
	return out
}

func (e *Engine) view(v *village, now time.Time) View {
	out := View{Probe: v.probe}
	if !v.lastSeen.IsZero() {
		ls := v.lastSeen
		out.LastSeen = &ls
	}
	// A target's round counts while it is fresh: three intervals covers a
	// late upload without keeping a dead target's last word forever.
	fresh := now.Add(-3*v.interval - e.cfg.Grace)
	var loss, rtt, jitter float64
	var nLoss, nRTT int
	allLost := true
	for _, t := range v.targets {
		out.Targets = append(out.Targets, *t)
		if t.Time.Before(fresh) {
			continue
		}
		loss += t.LossPct
		nLoss++
		if t.LossPct < 100 {
			allLost = false
			rtt += t.RTTMs
			jitter += t.JitterMs
			nRTT++
		}
	}
	sort.Slice(out.Targets, func(i, j int) bool { return out.Targets[i].Target < out.Targets[j].Target })
	if d := v.download; d != nil {
		mbps, other, at := d.mbps, d.other, d.time
		out.DownloadMbps, out.OtherMbps, out.ThroughputAt = &mbps, &other, &at
	}
	if u := v.upload; u != nil {
		mbps, at := u.mbps, u.time
		out.UploadMbps = &mbps
		if out.ThroughputAt == nil || at.After(*out.ThroughputAt) {
			out.ThroughputAt = &at
		}
	}
	if nLoss > 0 {
		l := loss / float64(nLoss)
		out.LossPct = &l
	}
	if nRTT > 0 {
		r, j := rtt/float64(nRTT), jitter/float64(nRTT)
		out.RTTMs, out.JitterMs = &r, &j
	}
	switch {
	case now.Sub(v.lastSeen) > v.interval+e.cfg.Grace:
		out.Status, out.Reason = jagadesa.StatusDown, "no report for "+now.Sub(v.lastSeen).Round(time.Second).String()
	case nLoss > 0 && allLost:
		out.Status, out.Reason = jagadesa.StatusDown, "every target unreachable"
	case out.LossPct != nil && *out.LossPct > DegradedLossPct:
		out.Status, out.Reason = jagadesa.StatusDegraded, "packet loss above 2%"
	case out.RTTMs != nil && *out.RTTMs > DegradedRTTMs:
		out.Status, out.Reason = jagadesa.StatusDegraded, "median RTT above 150 ms"
	default:
		out.Status = jagadesa.StatusUp
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
