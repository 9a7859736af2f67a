package rollup

import (
	"slices"
	"sort"
	"time"

	"github.com/jagadesa/jagadesa/server/sla"
)

// Minute states, one letter each in the rollups' minute strings.
const (
	Up         = 'U' // probe alive, some target answered
	LinkDown   = 'D' // probe alive, every target lost every packet (or the probe's own link outage record)
	PowerCut   = 'P' // inside an outage record with cause power
	ProbeFault = 'F' // inside an outage record with cause probe, or a round without any ping result
	NoData     = 'N' // nothing tells
)

// stateRank orders the states when several sources speak for one minute:
// the highest wins, the order of docs/sla.md (unknown > power_cut >
// link_down > up), with "nothing known" below everything.
func stateRank(s byte) int {
	switch s {
	case Up:
		return 1
	case LinkDown:
		return 2
	case PowerCut:
		return 3
	case ProbeFault:
		return 4
	}
	return 0
}

// slaState maps a minute letter to the SLA engine's timeline state.
func slaState(s byte) sla.State {
	switch s {
	case Up:
		return sla.StateUp
	case LinkDown:
		return sla.StateLinkDown
	case PowerCut:
		return sla.StatePowerCut
	case ProbeFault:
		return sla.StateProbeFault
	}
	return sla.StateNoData
}

// Rules are the parameters of the minute classification (docs/rollups.md).
type Rules struct {
	// Grace is added to a probe's round interval to get the deadline after
	// which a silent probe's minutes are no data: the live status engine's
	// --grace (default 15 s).
	Grace time.Duration
	// MaxInterval caps the round interval a heartbeat may claim (default
	// 5 min), which bounds how far before an hour the rollup looks for the
	// round that still speaks for its first minutes.
	MaxInterval time.Duration
	// OutageLookback is how long before an hour an outage record may start
	// and still be found (default 30 days, as the village history page).
	OutageLookback time.Duration
}

func (r Rules) withDefaults() Rules {
	if r.Grace <= 0 {
		r.Grace = 15 * time.Second
	}
	if r.MaxInterval <= 0 {
		r.MaxInterval = 5 * time.Minute
	}
	if r.OutageLookback <= 0 {
		r.OutageLookback = 30 * 24 * time.Hour
	}
	return r
}

// lookback is how far before a minute's end its round's heartbeat may be.
func (r Rules) lookback() time.Duration { return r.MaxInterval + r.Grace }

// Raw data of one village, as the rollup reads it.
type heartbeat struct {
	t        time.Time
	interval time.Duration
}

type ping struct {
	t       time.Time
	target  string
	loss    float64 // loss_pct
	median  float64 // rtt_median_ms, when hasRTT
	hasRTT  bool
	hasLoss bool
}

func (p ping) lost() bool { return p.hasLoss && p.loss >= 100 }

// record is one outage record: [start, end) with its cause (link, power,
// probe). The point is stored at its start; end comes from end_s.
type record struct {
	start, end time.Time
	cause      string
}

type villageRaw struct {
	hbs     []heartbeat
	pings   []ping
	records []record
}

func (v *villageRaw) sort() {
	slices.SortFunc(v.hbs, func(a, b heartbeat) int { return a.t.Compare(b.t) })
	slices.SortFunc(v.pings, func(a, b ping) int { return a.t.Compare(b.t) })
}

// round is one measurement round, known by its heartbeat.
type round struct {
	hb       heartbeat
	deadline time.Duration // interval (capped) + grace
	state    byte
}

// rounds judges every round and says which round each ping belongs to
// (-1: none). A ping belongs to the first heartbeat at or after it, if
// that comes within the heartbeat's deadline: the probe writes a round's
// pings and then its heartbeat. A round is link down when its heartbeat
// lies inside one of the probe's link outage records, or when it has pings
// and every one of them lost every packet; probe fault when it has no
// ping at all; up otherwise. v must be sorted.
func (r Rules) rounds(v *villageRaw) ([]round, []int) {
	rs := make([]round, len(v.hbs))
	for i, h := range v.hbs {
		iv := h.interval
		if iv <= 0 || iv > r.MaxInterval {
			iv = r.MaxInterval
		}
		rs[i] = round{hb: h, deadline: iv + r.Grace, state: ProbeFault}
	}
	owner := make([]int, len(v.pings))
	answered := make([]bool, len(rs))
	for i, p := range v.pings {
		owner[i] = -1
		j := sort.Search(len(rs), func(k int) bool { return !rs[k].hb.t.Before(p.t) })
		if j == len(rs) || rs[j].hb.t.Sub(p.t) > rs[j].deadline {
			continue
		}
		owner[i] = j
		if rs[j].state == ProbeFault {
			rs[j].state = LinkDown
		}
		if !p.lost() {
			answered[j] = true
		}
	}
	for j := range rs {
		if rs[j].state == LinkDown && answered[j] {
			rs[j].state = Up
		}
		for _, rec := range v.records {
			if rec.cause == "link" && !rs[j].hb.t.Before(rec.start) && rs[j].hb.t.Before(rec.end) {
				rs[j].state = LinkDown
			}
		}
	}
	return rs, owner
}

// minutes classifies the n minutes from start. Each minute is judged at
// its last instant (just before its end e):
//
//   - by the latest round whose heartbeat came before e, if e is within
//     that round's deadline (interval + grace) of it; else no data;
//   - then by the outage records covering that instant (start < e ≤ end):
//     power gives power_cut, probe gives probe_fault;
//
// and the highest-ranked of these wins (stateRank). So a minute with a
// heartbeat in it is never no data, a silence shorter than the deadline
// keeps the previous round's state, and an outage record of d minutes
// covers d minutes (rounded by where its ends fall).
func (r Rules) minutes(v *villageRaw, rs []round, start time.Time, n int) []byte {
	out := make([]byte, n)
	for k := range n {
		e := start.Add(time.Duration(k+1) * time.Minute)
		s := byte(NoData)
		j := sort.Search(len(rs), func(i int) bool { return !rs[i].hb.t.Before(e) }) - 1
		if j >= 0 && e.Sub(rs[j].hb.t) <= rs[j].deadline {
			s = rs[j].state
		}
		for _, rec := range v.records {
			var c byte
			switch rec.cause {
			case "power":
				c = PowerCut
			case "probe":
				c = ProbeFault
			default:
				continue
			}
			if rec.start.Before(e) && !rec.end.Before(e) && stateRank(c) > stateRank(s) {
				s = c
			}
		}
		out[k] = s
	}
	return out
}
