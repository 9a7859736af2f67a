package rollup

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// rttSummary describes the rounds to one target in one window: the
// distribution of the round medians, and the loss.
type rttSummary struct {
	medians []float64 // round medians, rounds with a reply only
	rounds  int       // every round (ICMP point)
	lost    int       // rounds that lost every packet
	lossSum float64   // Σ loss_pct over every round
	// Rounds of an up round (see Rules.rounds), for the SLA's packet loss:
	// loss while the link was up, so an outage is not counted twice.
	upRounds  int
	upLossSum float64
}

func (s *rttSummary) add(p ping, state byte) {
	s.rounds++
	if p.hasLoss {
		s.lossSum += p.loss
	}
	if p.lost() {
		s.lost++
	}
	if p.hasRTT {
		s.medians = append(s.medians, p.median)
	}
	if state == Up && p.hasLoss {
		s.upRounds++
		s.upLossSum += p.loss
	}
}

// quantile is the q-quantile of sorted xs with linear interpolation
// between closest ranks (type 7, as server/sla and the probe use).
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 1 {
		return sorted[0]
	}
	h := q * float64(len(sorted)-1)
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (h-lo)*(sorted[i+1]-sorted[i])
}

// weighted is a value with a weight (a number of rounds).
type weighted struct {
	v float64
	w float64
}

// weightedMedian is the median of values each standing for w rounds: the
// smallest value whose cumulative weight reaches half the total, or the
// mean of it and the next when it reaches exactly half (so equal weights
// give the ordinary median). ok is false without weight.
func weightedMedian(xs []weighted) (m float64, ok bool) {
	xs = slices.DeleteFunc(slices.Clone(xs), func(x weighted) bool { return x.w <= 0 })
	if len(xs) == 0 {
		return 0, false
	}
	slices.SortFunc(xs, func(a, b weighted) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	var total float64
	for _, x := range xs {
		total += x.w
	}
	half, cum := total/2, 0.0
	for i, x := range xs {
		cum += x.w
		if cum == half && i+1 < len(xs) {
			return (x.v + xs[i+1].v) / 2, true
		}
		if cum >= half {
			return x.v, true
		}
	}
	return xs[len(xs)-1].v, true
}

// targetQuality is one target's figures for the SLA in an hour or a day,
// as stored in the "rtt" field of avail_1h and avail_1d (formatQuality).
type targetQuality struct {
	Target string
	// P50 is the median of the round medians (hour: exact; day: the
	// weighted median of the hours' P50), weighted by N.
	P50 float64
	N   int // rounds with a median
	// Up rounds and their summed loss_pct: the SLA's loss is ΣLoss ÷ ΣUp.
	Up   int
	Loss float64
}

// encodeQuality writes the targets' figures as "target p50 n up loss"
// entries joined by ";", the target query-escaped (so it holds no space or
// ";"), numbers in Go's shortest form: compact, and cheap to read for ten
// thousand villages a month (docs/rollups.md).
func encodeQuality(qs []targetQuality) string {
	slices.SortFunc(qs, func(a, b targetQuality) int { return strings.Compare(a.Target, b.Target) })
	var b strings.Builder
	for i, q := range qs {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(url.QueryEscape(q.Target))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatFloat(q.P50, 'g', -1, 64))
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(q.N))
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(q.Up))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatFloat(q.Loss, 'g', -1, 64))
	}
	return b.String()
}

// eachQuality calls fn for every entry of an encoded rtt field whose
// escaped target keep accepts (nil: all), parsing only those.
func eachQuality(s string, keep func(escaped string) bool, fn func(q targetQuality)) error {
	for s != "" {
		entry, rest, _ := strings.Cut(s, ";")
		s = rest
		target, nums, ok := strings.Cut(entry, " ")
		if !ok {
			return fmt.Errorf("rollup: rtt entry %.40q", entry)
		}
		if keep != nil && !keep(target) {
			continue
		}
		f := strings.Fields(nums)
		if len(f) != 4 {
			return fmt.Errorf("rollup: rtt entry %.40q", entry)
		}
		q := targetQuality{Target: target}
		var e1, e2, e3, e4 error
		q.P50, e1 = strconv.ParseFloat(f[0], 64)
		q.N, e2 = strconv.Atoi(f[1])
		q.Up, e3 = strconv.Atoi(f[2])
		q.Loss, e4 = strconv.ParseFloat(f[3], 64)
		if err := errors.Join(e1, e2, e3, e4); err != nil {
			return fmt.Errorf("rollup: rtt entry %.40q: %w", entry, err)
		}
		fn(q)
	}
	return nil
}

// decodeQuality reads every entry of an encoded rtt field.
func decodeQuality(s string) ([]targetQuality, error) {
	var qs []targetQuality
	err := eachQuality(s, nil, func(q targetQuality) {
		if t, err := url.QueryUnescape(q.Target); err == nil {
			q.Target = t
		}
		qs = append(qs, q)
	})
	return qs, err
}

// mergeQuality combines the figures of consecutive periods per target.
func mergeQuality(parts [][]targetQuality) []targetQuality {
	type acc struct {
		p50s []weighted
		q    targetQuality
	}
	by := map[string]*acc{}
	for _, qs := range parts {
		for _, q := range qs {
			a := by[q.Target]
			if a == nil {
				a = &acc{q: targetQuality{Target: q.Target}}
				by[q.Target] = a
			}
			a.q.N += q.N
			a.q.Up += q.Up
			a.q.Loss += q.Loss
			a.p50s = append(a.p50s, weighted{q.P50, float64(q.N)})
		}
	}
	out := make([]targetQuality, 0, len(by))
	for _, a := range by {
		a.q.P50, _ = weightedMedian(a.p50s)
		out = append(out, a.q)
	}
	slices.SortFunc(out, func(a, b targetQuality) int { return strings.Compare(a.Target, b.Target) })
	return out
}

// runLength writes minute letters as runs, "U600D12U828".
func runLength(minutes []byte) string {
	var b strings.Builder
	for i := 0; i < len(minutes); {
		j := i
		for j < len(minutes) && minutes[j] == minutes[i] {
			j++
		}
		b.WriteByte(minutes[i])
		b.WriteString(strconv.Itoa(j - i))
		i = j
	}
	return b.String()
}

// run is a stretch of n minutes in one state.
type run struct {
	state byte
	n     int
}

// parseRuns reads what runLength wrote.
func parseRuns(s string) ([]run, error) {
	var out []run
	for i := 0; i < len(s); {
		st := s[i]
		if stateRank(st) == 0 && st != NoData {
			return nil, fmt.Errorf("rollup: timeline %.40q: unknown state %q", s, st)
		}
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		n, err := strconv.Atoi(s[i+1 : j])
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("rollup: timeline %.40q: bad run length", s)
		}
		out = append(out, run{st, n})
		i = j
	}
	return out, nil
}

// minuteCounts counts minutes per state.
type minuteCounts struct{ up, down, power, fault, none int }

func countMinutes(minutes []byte) minuteCounts {
	var c minuteCounts
	for _, m := range minutes {
		switch m {
		case Up:
			c.up++
		case LinkDown:
			c.down++
		case PowerCut:
			c.power++
		case ProbeFault:
			c.fault++
		default:
			c.none++
		}
	}
	return c
}
