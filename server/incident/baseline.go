package incident

import (
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// A village's normal depends on the hour: evenings are busy, nights quiet.
// Baselines keep, per village and per hour of day (WIB), the latest rounds'
// RTT, loss and jitter, and judge a new round against their median and MAD
// (median absolute deviation) — robust statistics that a few bad rounds do
// not drag along, unlike a mean and standard deviation.
const (
	baselineSamples  = 48 // per hour bucket and metric: most of a day's hour at 60 s rounds, or days of sparser ones
	baselineMinimum  = 20 // rounds in the bucket before it judges anything
	anomalyRounds    = 3  // consecutive anomalous rounds before it says so
	anomalySigmas    = 6.0
	madToSigma       = 1.4826 // MAD × this estimates σ for normal data
	minSigmaRTTMs    = 2.0    // floors: a perfectly steady link must not alarm on 1 ms
	minSigmaRTTShare = 0.10   // … or on 10% of its median
	minSigmaLossPct  = 1.0
	minLossPct       = 5.0 // loss under this is never an anomaly on its own
	minSigmaJitterMs = 2.0
)

var wib = time.FixedZone("WIB", 7*3600)

type ring struct {
	v    [baselineSamples]float32
	n, i int
}

func (r *ring) add(x float64) {
	r.v[r.i] = float32(x)
	r.i = (r.i + 1) % baselineSamples
	r.n = min(r.n+1, baselineSamples)
}

// medMAD returns the median and MAD of the ring.
func (r *ring) medMAD() (float64, float64) {
	xs := make([]float64, r.n)
	for i := 0; i < r.n; i++ {
		xs[i] = float64(r.v[i])
	}
	med := median(xs)
	for i := range xs {
		xs[i] = math.Abs(xs[i] - med)
	}
	return med, median(xs)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

type hourBucket struct{ rtt, loss, jitter ring }

type villageBaseline struct {
	hours     [24]*hourBucket
	anomalous int // consecutive anomalous rounds
}

// Baselines learns every village's normal. Safe for concurrent use.
type Baselines struct {
	mu sync.Mutex
	v  map[string]*villageBaseline
}

// NewBaselines returns empty baselines.
func NewBaselines() *Baselines { return &Baselines{v: map[string]*villageBaseline{}} }

// Normal is a village's usual RTT at an hour.
type Normal struct {
	MedianRTT, MADRTT float64
	Rounds            int
}

// Normal returns what is usual for the village at t's hour, once learnt.
func (b *Baselines) Normal(code string, t time.Time) (Normal, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	vb := b.v[code]
	if vb == nil {
		return Normal{}, false
	}
	hb := vb.hours[t.In(wib).Hour()]
	if hb == nil || hb.rtt.n < baselineMinimum {
		return Normal{}, false
	}
	med, mad := hb.rtt.medMAD()
	return Normal{MedianRTT: med, MADRTT: mad, Rounds: hb.rtt.n}, true
}

// Observe judges one round against the village's normal for its hour, then
// learns from it. It returns what was off once anomalyRounds rounds in a
// row were, nil otherwise.
func (b *Baselines) Observe(code string, t time.Time, rttMs, lossPct, jitterMs float64) *Anomaly {
	b.mu.Lock()
	defer b.mu.Unlock()
	vb := b.v[code]
	if vb == nil {
		vb = &villageBaseline{}
		b.v[code] = vb
	}
	h := t.In(wib).Hour()
	hb := vb.hours[h]
	if hb == nil {
		hb = &hourBucket{}
		vb.hours[h] = hb
	}
	var a Anomaly
	if hb.rtt.n >= baselineMinimum {
		med, mad := hb.rtt.medMAD()
		sigma := max(mad*madToSigma, minSigmaRTTMs, med*minSigmaRTTShare)
		a.RTT = rttMs > med+anomalySigmas*sigma
		lmed, lmad := hb.loss.medMAD()
		a.Loss = lossPct >= minLossPct && lossPct > lmed+anomalySigmas*max(lmad*madToSigma, minSigmaLossPct)
		jmed, jmad := hb.jitter.medMAD()
		a.Jitter = jitterMs > jmed+anomalySigmas*max(jmad*madToSigma, minSigmaJitterMs, jmed*minSigmaRTTShare)
		a.UsualRTTMs, a.UsualLossPct, a.UsualJitterMs = med, lmed, jmed
	}
	hb.rtt.add(rttMs)
	hb.loss.add(lossPct)
	hb.jitter.add(jitterMs)
	if !a.RTT && !a.Loss && !a.Jitter {
		vb.anomalous = 0
		return nil
	}
	vb.anomalous++
	if vb.anomalous < anomalyRounds {
		return nil
	}
	return &a
}

// Anomaly says which measures of a round were off the village's usual
// values for its hour, and what those usual values are.
type Anomaly struct {
	RTT, Loss, Jitter                       bool
	UsualRTTMs, UsualLossPct, UsualJitterMs float64
}

// Codes lists the measures off their usual values: rtt, loss, jitter.
func (a *Anomaly) Codes() string {
	var c []string
	for _, x := range []struct {
		on   bool
		name string
	}{{a.RTT, "rtt"}, {a.Loss, "loss"}, {a.Jitter, "jitter"}} {
		if x.on {
			c = append(c, x.name)
		}
	}
	return strings.Join(c, ",")
}
