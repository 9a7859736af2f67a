package probe

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/internal/fsutil"
)

// OutageStateFile is the file in the spool directory that carries the
// probe's own timeline from one run to the next.
const OutageStateFile = "outage"

// outageState is what survives a restart: when the probe was last known
// alive, under which boot, and since when the link has been down.
type outageState struct {
	LastAliveMs int64  `json:"last_alive_ms"`          // Unix ms
	BootID      string `json:"boot_id,omitempty"`      // the host's boot at LastAliveMs
	LinkDownMs  int64  `json:"link_down_ms,omitempty"` // start of an ongoing link outage; 0: none
}

// OutageTracker is the probe's own timeline, which lets the server tell a
// power cut from a link cut from a probe fault:
//
//   - At start ([OutageTracker.Start]), an unclean previous stop becomes an
//     outage from the last sign of life: cause power if the host's boot id
//     changed (ending when the host booted again), cause probe if it did not
//     (ending now). A clean stop is a planned restart: no outage. A link
//     outage still open at the previous stop is closed at its last sign of
//     life.
//   - Each round ([OutageTracker.Observe]), a round in which every ICMP
//     target except the gateway (the default route's next hop) lost every
//     packet — every target when there is no gateway, or when the gateway is
//     the only one — opens a link outage at the round's start; the first
//     round after it in which any of them answers closes it at that round's
//     start, as an outage sample with cause link. The transitions are also
//     link_down and link_up events.
//
// Outage samples carry the outage's end as their time. The state lives in
// [OutageStateFile], written atomically by [OutageTracker.Save] at most once
// a round. The caller spools what Start and Observe return, makes it
// durable, and only then calls Save: a crash in between reports the same
// outage again at the next start, with the same start and a later end, which
// the server stores over the first (an outage point's identity is its cause
// and start), rather than losing it.
//
// An OutageTracker is not safe for concurrent use.
type OutageTracker struct {
	dir, root string
	now       func() time.Time

	st    outageState
	dirty bool // st differs from the file
}

// NewOutageTracker returns a tracker keeping its state in dir (the spool
// directory), reading the host's /proc under root, with now as its clock
// (nil: time.Now). Call Start before Observe.
func NewOutageTracker(dir, root string, now func() time.Time) *OutageTracker {
	if now == nil {
		now = time.Now
	}
	return &OutageTracker{dir: dir, root: root, now: now}
}

// Start works out what happened while the probe was not running. prevClean
// says whether the previous run stopped cleanly; prevStartMs is when it
// started (Unix ms, 0 if unknown), a sign of life for when the state file
// holds none as recent. It returns the outage samples to spool, oldest first,
// and an error if the state file could not be read — the outages it could
// still work out are returned with it, and the timeline starts afresh.
func (o *OutageTracker) Start(prevClean bool, prevStartMs int64) ([]jagadesa.Sample, error) {
	prev, err := o.load()
	now := o.now()
	nowMs := now.UnixMilli()
	boot := bootID(o.root)
	var out []jagadesa.Sample
	last := max(prev.LastAliveMs, prevStartMs)
	if prev.LinkDownMs > 0 {
		out = append(out, outageSample(jagadesa.CauseLink, prev.LinkDownMs, max(last, prev.LinkDownMs), nowMs,
			"the link was still down when the probe stopped; closed at the probe's last sign of life"))
	}
	if !prevClean && last > 0 {
		up := uptime(o.root)
		bootMs := now.Add(-time.Duration(up * float64(time.Second))).UnixMilli()
		rebooted, how := false, "boot id and uptime unknown"
		switch {
		case prev.BootID != "" && boot != "":
			rebooted, how = prev.BootID != boot, "boot id unchanged"
			if rebooted {
				how = "boot id changed"
			}
		case up > 0:
			// No boot id (an old state file, or no /proc entry): the
			// host booted after the last sign of life if its uptime says so.
			rebooted, how = bootMs > last, "boot id unknown; uptime says no reboot"
			if rebooted {
				how = "boot id unknown; uptime says it rebooted"
			}
		}
		if rebooted {
			until := "until the host booted"
			if up <= 0 {
				until = "until now (host uptime unknown)"
			}
			out = append(out, outageSample(jagadesa.CausePower, last, bootMs, nowMs,
				"the probe stopped uncleanly and the host rebooted ("+how+"); down from the probe's last sign of life "+until))
		} else {
			out = append(out, outageSample(jagadesa.CauseProbe, last, nowMs, nowMs,
				"the probe stopped uncleanly and the host stayed up ("+how+"); down from the probe's last sign of life until it restarted"))
		}
	}
	o.st = outageState{LastAliveMs: nowMs, BootID: boot}
	o.dirty = true
	return out, err
}

// Observe takes one round's samples, started at roundStart, and returns the
// link outage sample and the link_down or link_up event its transition
// calls for, if any. It also notes the probe alive now. Samples other than
// ICMP are ignored; a round without ICMP samples (every check failed to
// run) changes only the last sign of life.
func (o *OutageTracker) Observe(roundStart time.Time, samples []jagadesa.Sample) ([]jagadesa.Sample, []jagadesa.Event) {
	if o.st.BootID == "" {
		o.st.BootID = bootID(o.root)
	}
	o.st.LastAliveMs = o.now().UnixMilli()
	o.dirty = true
	considered, answered := upstream(samples, defaultGateway(o.root))
	if len(considered) == 0 {
		return nil, nil
	}
	t := roundStart.UnixMilli()
	switch {
	case o.st.LinkDownMs == 0 && !answered:
		o.st.LinkDownMs = t
		return nil, []jagadesa.Event{{TimeMs: t, Kind: "link_down", Severity: "warning",
			Message: "link down: no upstream target answered (" + strings.Join(considered, ", ") + ")",
			Attrs:   map[string]string{"targets": strings.Join(considered, ",")}}}
	case o.st.LinkDownMs != 0 && answered:
		start, end := o.st.LinkDownMs, max(t, o.st.LinkDownMs)
		o.st.LinkDownMs = 0
		dur := strconv.FormatFloat(float64(end-start)/1000, 'f', -1, 64)
		return []jagadesa.Sample{outageSample(jagadesa.CauseLink, start, end, end,
				"every upstream target lost every packet from the first round to the last (probe alive throughout)")},
			[]jagadesa.Event{{TimeMs: end, Kind: "link_up", Severity: "info",
				Message: "link up after " + dur + " s",
				Attrs:   map[string]string{"down_since_ms": strconv.FormatInt(start, 10), "duration_s": dur}}}
	}
	return nil, nil
}

// Save writes the state if it changed since the last Save: to a temporary
// file, fsynced, renamed over the old one, directory fsynced, so a power cut
// leaves either the old state or the new.
func (o *OutageTracker) Save() error {
	if !o.dirty {
		return nil
	}
	b, err := json.Marshal(o.st)
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(o.dir, OutageStateFile), b, 0o600); err != nil {
		return fmt.Errorf("save outage state: %w", err)
	}
	o.dirty = false
	return nil
}

// load reads the state file; a missing one is a new timeline.
func (o *OutageTracker) load() (outageState, error) {
	var st outageState
	b, err := os.ReadFile(filepath.Join(o.dir, OutageStateFile))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read outage state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil || st.LastAliveMs < 0 || st.LinkDownMs < 0 {
		return outageState{}, fmt.Errorf("outage state %s is corrupt (%q)", OutageStateFile, truncate(string(b), 80))
	}
	return st, nil
}

// upstream returns the ICMP targets that say whether the link is up — all
// but the gateway, or all when the gateway is the only one — and whether any
// of them answered.
func upstream(samples []jagadesa.Sample, gateway string) (targets []string, answered bool) {
	var all []*jagadesa.Sample
	for i := range samples {
		if s := &samples[i]; s.Kind == jagadesa.KindICMP && s.ICMP != nil {
			all = append(all, s)
		}
	}
	use := slices.DeleteFunc(slices.Clone(all), func(s *jagadesa.Sample) bool { return gateway != "" && s.Target == gateway })
	if len(use) == 0 {
		use = all
	}
	for _, s := range use {
		targets = append(targets, s.Target)
		answered = answered || s.ICMP.Received > 0
	}
	return targets, answered
}

// outageSample builds the sample for an outage, keeping it one the server
// accepts whatever the clocks did: the end is never before the start, and a
// start too old for the server is moved up (and says so).
func outageSample(cause string, startMs, endMs, nowMs int64, detail string) jagadesa.Sample {
	if endMs < startMs {
		endMs = startMs
		detail += "; the clock went backwards, so its end is unknown"
	}
	if oldest := nowMs - int64(2*jagadesa.MaxPast/time.Millisecond) + int64(time.Hour/time.Millisecond); startMs < oldest {
		detail += "; began before " + time.UnixMilli(oldest).UTC().Format(time.RFC3339)
		startMs = oldest
		endMs = max(endMs, startMs)
	}
	return jagadesa.Sample{TimeMs: endMs, Kind: jagadesa.KindOutage,
		Outage: &jagadesa.Outage{Cause: cause, StartMs: startMs, EndMs: endMs, Detail: truncate(detail, jagadesa.MaxTextLen)}}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// startOutages runs the tracker's start check before New replaces the
// running marker, whose content is the previous run's start, and spools
// what it finds.
func (p *Probe) startOutages() {
	p.outages = NewOutageTracker(p.cfg.Spool, p.cfg.Root, nil)
	var prevStart int64
	if b, err := os.ReadFile(filepath.Join(p.cfg.Spool, runningMarker)); err == nil {
		prevStart, _ = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	}
	outs, err := p.outages.Start(p.clean, prevStart)
	if err != nil {
		p.log.Warn("outage timeline lost; starting a new one", "err", err)
	}
	for _, s := range outs {
		o := s.Outage
		p.log.Warn("outage recorded", "cause", o.Cause, "start", time.UnixMilli(o.StartMs).UTC(), "end", time.UnixMilli(o.EndMs).UTC())
		p.append(EncodeSample(s))
	}
	p.saveOutages(len(outs) > 0)
}

// observeOutages feeds one round's samples, started at began, to the
// tracker, spools the outage and events it returns, and saves the state.
func (p *Probe) observeOutages(began time.Time, samples []jagadesa.Sample) {
	outs, evs := p.outages.Observe(began, samples)
	for _, e := range evs {
		p.log.Warn("link state changed", "event", e.Kind, "msg", e.Message)
		p.append(EncodeEvent(e))
	}
	for _, s := range outs {
		p.append(EncodeSample(s))
	}
	p.saveOutages(len(outs)+len(evs) > 0)
}

// saveOutages saves the tracker's state once what it asked to spool is
// durable, so a crash can repeat an outage but never lose one.
func (p *Probe) saveOutages(spooled bool) {
	if spooled {
		if err := p.spool.Sync(); err != nil {
			p.log.Error("spool sync failed; outage state not saved", "err", err)
			return
		}
	}
	if err := p.outages.Save(); err != nil {
		p.log.Error("outage state not saved", "err", err)
	}
}
