package sla

import (
	"slices"
	"time"
)

// State is what the probe's timeline says about a stretch of time.
type State string

// Timeline states. The probe has already decided what "down" means (two or
// more independent targets failed on consecutive rounds) and whether a cut
// was the site's power; this package does not second-guess it.
const (
	StateUp         State = "up"
	StateLinkDown   State = "link_down"
	StatePowerCut   State = "power_cut"   // the site lost power: excluded
	StateProbeFault State = "probe_fault" // the probe failed: unknown
	StateNoData     State = "no_data"     // nothing stored: unknown
)

func (s State) valid() bool {
	switch s {
	case StateUp, StateLinkDown, StatePowerCut, StateProbeFault, StateNoData:
		return true
	}
	return false
}

// Interval is one stretch [Start, End) of the timeline in one state. Per-minute
// steps and longer intervals mix freely; intervals may overlap (the
// precedence of Cause decides), and time no interval covers is no data.
type Interval struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	State State     `json:"state"`
}

// Window is a stretch [Start, End) staff entered: announced maintenance or
// force majeure.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Note  string    `json:"note,omitempty"`
}

// Cause is what a minute finally counts as, once the timeline and the staff
// windows are combined.
type Cause string

// Causes, from the lowest precedence to the highest. When several sources
// cover the same time the highest wins:
//
//	unknown > power_cut > force_majeure > maintenance > link_down > up
//
// Unknown wins everything because a minute nobody observed proves nothing
// either way, and T is defined as the minutes we observed. A measured power
// cut beats the windows staff declare (our probe is the first evidence).
// Both exclusions beat link_down: a link that is down during announced
// maintenance or a declared disaster is not charged to the ISP. link_down
// beats up so that one source saying "down" is never hidden by another.
const (
	CauseUp           Cause = "up"
	CauseLinkDown     Cause = "link_down"
	CauseMaintenance  Cause = "maintenance"
	CauseForceMajeure Cause = "force_majeure"
	CausePowerCut     Cause = "power_cut"
	CauseUnknown      Cause = "unknown"
)

// rank orders causes by precedence; index = rank.
var rank = []Cause{CauseUp, CauseLinkDown, CauseMaintenance, CauseForceMajeure, CausePowerCut, CauseUnknown}

func causeOf(s State) Cause {
	switch s {
	case StateUp:
		return CauseUp
	case StateLinkDown:
		return CauseLinkDown
	case StatePowerCut:
		return CausePowerCut
	}
	return CauseUnknown
}

// run is a maximal stretch of one cause.
type run struct {
	start, end time.Time
	cause      Cause
}

// resolve combines the timeline and the windows into runs of one cause each,
// covering [from, to) without gaps, in time order. Time outside every
// timeline interval is unknown. It sweeps over the boundaries with one
// counter per cause, so a month of per-minute steps costs n log n.
func resolve(from, to time.Time, timeline []Interval, maintenance, forceMajeure []Window) []run {
	type edge struct {
		at    time.Time
		cause int // index into rank
		delta int
		// timeline marks edges of timeline intervals, which decide
		// whether the probe said anything at all.
		timeline bool
	}
	var edges []edge
	add := func(s, e time.Time, c Cause, tl bool) {
		i := slices.Index(rank, c)
		edges = append(edges, edge{s, i, +1, tl}, edge{e, i, -1, tl})
	}
	for _, iv := range timeline {
		add(iv.Start, iv.End, causeOf(iv.State), true)
	}
	for _, w := range maintenance {
		add(w.Start, w.End, CauseMaintenance, false)
	}
	for _, w := range forceMajeure {
		add(w.Start, w.End, CauseForceMajeure, false)
	}
	slices.SortFunc(edges, func(a, b edge) int { return a.at.Compare(b.at) })

	var count [6]int
	covered := 0 // timeline intervals open at the cursor
	current := func() Cause {
		if covered == 0 {
			return CauseUnknown
		}
		for i := len(rank) - 1; i >= 0; i-- {
			if count[i] > 0 {
				return rank[i]
			}
		}
		return CauseUnknown
	}

	var runs []run
	emit := func(s, e time.Time, c Cause) {
		if !s.Before(e) {
			return
		}
		if n := len(runs); n > 0 && runs[n-1].cause == c && runs[n-1].end.Equal(s) {
			runs[n-1].end = e
			return
		}
		runs = append(runs, run{s, e, c})
	}
	cursor := from
	for i := 0; i < len(edges); {
		at := edges[i].at
		if at.After(to) {
			break
		}
		if at.After(cursor) {
			emit(cursor, at, current())
			cursor = at
		}
		for ; i < len(edges) && edges[i].at.Equal(at); i++ {
			count[edges[i].cause] += edges[i].delta
			if edges[i].timeline {
				covered += edges[i].delta
			}
		}
	}
	if cursor.Before(to) {
		emit(cursor, to, current())
	}
	return runs
}

// overlap is the length of [s, e) inside [from, to).
func overlap(s, e, from, to time.Time) time.Duration {
	if s.Before(from) {
		s = from
	}
	if e.After(to) {
		e = to
	}
	if !s.Before(e) {
		return 0
	}
	return e.Sub(s)
}
