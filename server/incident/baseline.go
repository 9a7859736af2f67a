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

// A ring keeps a metric's latest rounds as whole units of 0.1 ms (RTT,
// jitter) or 0.01 % (loss): at national size (83,763 villages, 24 hours, 3
// metrics, 48 rounds) float32 rounds weighed 1.25 GB once a day had been
// seen (BenchmarkBaselinesMemory); a unit of 0.1 ms is far below what the
// judgement can tell (its σ floor is 2 ms), and 6,553.5 ms, where RTTs are
// clamped, is an anomaly at any baseline.
type ring struct {
	v    [baselineSamples]uint16
	n, i uint8
}

const (
	unitMs  = 0.1  // RTT and jitter
	unitPct = 0.01 // loss
)

func quantize(x, unit float64) uint16 {
	q := math.Round(x / unit)
	switch {
	case !(q > 0): // NaN and negatives
		return 0
	case q > math.MaxUint16:
		return math.MaxUint16
	}
	return uint16(q)
}

func (r *ring) add(q uint16) {
	r.v[r.i] = q
	r.i = uint8((int(r.i) + 1) % baselineSamples)
	r.n = uint8(min(int(r.n)+1, baselineSamples))
}

// medMAD returns the median and MAD of the ring, in the metric's units of
// measure (ms or %).
func (r *ring) medMAD(unit float64) (float64, float64) {
	var buf [baselineSamples]float64
	xs := buf[:r.n]
	for i := range xs {
		xs[i] = float64(r.v[i]) * unit
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

// hourBucket is one hour of the day's rounds. Most links lose nothing
// most of the time: their loss ring is only made at the first loss, and
// until then the rounds are counted (zeroN, zeroI) as zeros.
type hourBucket struct {
	rtt, jitter  ring
	loss         *ring
	zeroN, zeroI uint8
}

func (hb *hourBucket) addLoss(pct float64) {
	q := quantize(pct, unitPct)
	if hb.loss == nil {
		if q == 0 {
			hb.zeroI = uint8((int(hb.zeroI) + 1) % baselineSamples)
			hb.zeroN = uint8(min(int(hb.zeroN)+1, baselineSamples))
			return
		}
		hb.loss = &ring{n: hb.zeroN, i: hb.zeroI}
	}
	hb.loss.add(q)
}

func (hb *hourBucket) lossMedMAD() (float64, float64) {
	if hb.loss == nil {
		return 0, 0
	}
	return hb.loss.medMAD(unitPct)
}

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
	med, mad := hb.rtt.medMAD(unitMs)
	return Normal{MedianRTT: med, MADRTT: mad, Rounds: int(hb.rtt.n)}, true
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
		med, mad := hb.rtt.medMAD(unitMs)
		sigma := max(mad*madToSigma, minSigmaRTTMs, med*minSigmaRTTShare)
		a.RTT = rttMs > med+anomalySigmas*sigma
		lmed, lmad := hb.lossMedMAD()
		a.Loss = lossPct >= minLossPct && lossPct > lmed+anomalySigmas*max(lmad*madToSigma, minSigmaLossPct)
		jmed, jmad := hb.jitter.medMAD(unitMs)
		a.Jitter = jitterMs > jmed+anomalySigmas*max(jmad*madToSigma, minSigmaJitterMs, jmed*minSigmaRTTShare)
		a.UsualRTTMs, a.UsualLossPct, a.UsualJitterMs = med, lmed, jmed
	}
	hb.rtt.add(quantize(rttMs, unitMs))
	hb.addLoss(lossPct)
	hb.jitter.add(quantize(jitterMs, unitMs))
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
// its code, the anomalous-round count, and per learnt hour its rings.
// Little-endian, versioned: "JDB2" keeps the rings' units (uint16) and a
// loss ring only where the hour saw a loss; UnmarshalBinary also reads the
// float32 rings of "JDB1".
func (b *Baselines) MarshalBinary() ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	buf := make([]byte, 0, 64+len(b.v)*256)
	buf = append(buf, "JDB2"...)
	le := binary.LittleEndian
	putRing := func(r *ring) {
		buf = append(buf, r.n, r.i)
		for _, v := range r.v {
			buf = le.AppendUint16(buf, v)
		}
	}
	codes := slices.Sorted(maps.Keys(b.v))
	buf = le.AppendUint32(buf, uint32(len(codes)))
	for _, code := range codes {
		vb := b.v[code]
		buf = le.AppendUint32(buf, uint32(len(code)))
		buf = append(buf, code...)
		buf = le.AppendUint32(buf, uint32(vb.anomalous))
		nh := 0
		for _, hb := range vb.hours {
			if hb != nil {
				nh++
			}
		}
		buf = le.AppendUint32(buf, uint32(nh))
		for h, hb := range vb.hours {
			if hb == nil {
				continue
			}
			buf = le.AppendUint32(buf, uint32(h))
			putRing(&hb.rtt)
			putRing(&hb.jitter)
			if hb.loss == nil {
				buf = append(buf, 0, hb.zeroN, hb.zeroI)
			} else {
				buf = append(buf, 1)
				putRing(hb.loss)
			}
		}
	}
	return buf, nil
}

// UnmarshalBinary replaces the baselines with what MarshalBinary wrote (or
// an earlier version's "JDB1"); a damaged snapshot is refused whole,
// leaving them as they were.
func (b *Baselines) UnmarshalBinary(data []byte) error {
	damaged := errors.New("baselines: damaged snapshot")
	rd := bytes.NewReader(data)
	magic := make([]byte, 4)
	if _, err := io.ReadFull(rd, magic); err != nil || (string(magic) != "JDB1" && string(magic) != "JDB2") {
		return errors.New("baselines: not a snapshot")
	}
	v1 := string(magic) == "JDB1"
	get := func() (uint32, error) {
		var v uint32
		err := binary.Read(rd, binary.LittleEndian, &v)
		return v, err
	}
	// readRing reads one ring as the version wrote it.
	readRing := func(r *ring, unit float64) error {
		var rn, ri uint32
		if v1 {
			var err1, err2 error
			rn, err1 = get()
			ri, err2 = get()
			if err1 != nil || err2 != nil {
				return damaged
			}
		} else {
			var ni [2]byte
			if _, err := io.ReadFull(rd, ni[:]); err != nil {
				return damaged
			}
			rn, ri = uint32(ni[0]), uint32(ni[1])
		}
		if rn > baselineSamples || ri >= baselineSamples {
			return damaged
		}
		r.n, r.i = uint8(rn), uint8(ri)
		if v1 {
			var fs [baselineSamples]float32
			if err := binary.Read(rd, binary.LittleEndian, fs[:]); err != nil {
				return damaged
			}
			for i, f := range fs {
				r.v[i] = quantize(float64(f), unit)
			}
			return nil
		}
		if err := binary.Read(rd, binary.LittleEndian, r.v[:]); err != nil {
			return damaged
		}
		return nil
	}
	n, err := get()
	if err != nil || n > 1<<20 {
		return damaged
	}
	out := make(map[string]*villageBaseline, n)
	for range n {
		l, err := get()
		if err != nil || l > 64 {
			return damaged
		}
		code := make([]byte, l)
		if _, err := io.ReadFull(rd, code); err != nil {
			return damaged
		}
		vb := &villageBaseline{}
		an, err1 := get()
		nh, err2 := get()
		if err1 != nil || err2 != nil || nh > 24 {
			return damaged
		}
		vb.anomalous = int(an)
		for range nh {
			h, err := get()
			if err != nil || h > 23 {
				return damaged
			}
			hb := &hourBucket{}
			if v1 { // rtt, loss, jitter
				var loss ring
				if readRing(&hb.rtt, unitMs) != nil || readRing(&loss, unitPct) != nil || readRing(&hb.jitter, unitMs) != nil {
					return damaged
				}
				if slices.ContainsFunc(loss.v[:loss.n], func(q uint16) bool { return q != 0 }) {
					hb.loss = &loss
				} else {
					hb.zeroN, hb.zeroI = loss.n, loss.i
				}
			} else { // rtt, jitter, then the loss ring or its count of zeros
				if readRing(&hb.rtt, unitMs) != nil || readRing(&hb.jitter, unitMs) != nil {
					return damaged
				}
				flag, err := rd.ReadByte()
				switch {
				case err != nil:
					return damaged
				case flag == 0:
					var ni [2]byte
					if _, err := io.ReadFull(rd, ni[:]); err != nil || ni[0] > baselineSamples || ni[1] >= baselineSamples {
						return damaged
					}
					hb.zeroN, hb.zeroI = ni[0], ni[1]
				case flag == 1:
					hb.loss = &ring{}
					if readRing(hb.loss, unitPct) != nil {
						return damaged
					}
				default:
					return damaged
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
