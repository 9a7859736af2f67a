package incident

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"maps"
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

// MarshalBinary writes the baselines, so a restart does not forget a
// village's normal (and does not alarm while relearning it): per village
// its code, the anomalous-round count, and per learnt hour its three
// rings. Little-endian, versioned.
func (b *Baselines) MarshalBinary() ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var buf bytes.Buffer
	buf.WriteString("JDB1")
	put := func(v uint32) { binary.Write(&buf, binary.LittleEndian, v) }
	codes := slices.Sorted(maps.Keys(b.v))
	put(uint32(len(codes)))
	for _, code := range codes {
		vb := b.v[code]
		put(uint32(len(code)))
		buf.WriteString(code)
		put(uint32(vb.anomalous))
		var hours []int
		for h, hb := range vb.hours {
			if hb != nil {
				hours = append(hours, h)
			}
		}
		put(uint32(len(hours)))
		for _, h := range hours {
			put(uint32(h))
			for _, r := range []*ring{&vb.hours[h].rtt, &vb.hours[h].loss, &vb.hours[h].jitter} {
				put(uint32(r.n))
				put(uint32(r.i))
				binary.Write(&buf, binary.LittleEndian, r.v[:])
			}
		}
	}
	return buf.Bytes(), nil
}

// UnmarshalBinary replaces the baselines with what MarshalBinary wrote; a
// damaged snapshot is refused whole, leaving them as they were.
func (b *Baselines) UnmarshalBinary(data []byte) error {
	rd := bytes.NewReader(data)
	magic := make([]byte, 4)
	if _, err := io.ReadFull(rd, magic); err != nil || string(magic) != "JDB1" {
		return errors.New("baselines: not a snapshot")
	}
	get := func() (uint32, error) {
		var v uint32
		err := binary.Read(rd, binary.LittleEndian, &v)
		return v, err
	}
	n, err := get()
	if err != nil || n > 1<<20 {
		return errors.New("baselines: damaged snapshot")
	}
	out := make(map[string]*villageBaseline, n)
	for range n {
		l, err := get()
		if err != nil || l > 64 {
			return errors.New("baselines: damaged snapshot")
		}
		code := make([]byte, l)
		if _, err := io.ReadFull(rd, code); err != nil {
			return errors.New("baselines: damaged snapshot")
		}
		vb := &villageBaseline{}
		an, err1 := get()
		nh, err2 := get()
		if err1 != nil || err2 != nil || nh > 24 {
			return errors.New("baselines: damaged snapshot")
		}
		vb.anomalous = int(an)
		for range nh {
			h, err := get()
			if err != nil || h > 23 {
				return errors.New("baselines: damaged snapshot")
			}
			hb := &hourBucket{}
			for _, r := range []*ring{&hb.rtt, &hb.loss, &hb.jitter} {
				rn, err1 := get()
				ri, err2 := get()
				if err1 != nil || err2 != nil || rn > baselineSamples || ri >= baselineSamples {
					return errors.New("baselines: damaged snapshot")
				}
				r.n, r.i = int(rn), int(ri)
				if err := binary.Read(rd, binary.LittleEndian, r.v[:]); err != nil {
					return errors.New("baselines: damaged snapshot")
				}
			}
			vb.hours[h] = hb
		}
		out[string(code)] = vb
	}
	b.mu.Lock()
	b.v = out
	b.mu.Unlock()
	return nil
}
