// Package sim runs a fleet of simulated village probes against a JagaDesa
// server, so the demo and the benchmarks have a living fleet: diurnal
// latency, a few lossy links, short link cuts, and one regional power cut.
// Each simulated probe enrolls with its own Ed25519 key, queues its records
// (the real spool, or a bounded queue in memory) and uploads them with the
// probe's protocol: signed, gzipped reports, kept until the server has them.
// The uploads are the probe.Sender's protocol made cheap (upload.go), and
// one scheduler with a fixed pool of senders drives the whole fleet, so a
// national fleet of 83,763 probes costs a fraction of a core.
package sim

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/probe"
)

// Targets are the three a village probe pings by default: its gateway, a
// national reference, and the JagaDesa server.
var Targets = []string{"gateway", "jatengprov.go.id", "jagadesa-server"}

// wib is Western Indonesia Time, where the evening peak happens.
var wib = time.FixedZone("WIB", 7*3600)

// Link is the simulated character of one village's link.
type Link struct {
	BaseRTTMs float64 // uncongested RTT to the national target
	LossPct   float64 // background packet loss
	Rand      *rand.Rand
}

// NewLink derives a village's link from its code, so the same village behaves
// the same way in every run with the same seed.
func NewLink(code string, seed uint64) *Link {
	h := fnv.New64a()
	h.Write([]byte(code))
	k := h.Sum64()
	r := rand.New(rand.NewPCG(seed, k))
	l := &Link{Rand: r, BaseRTTMs: 8 + 40*r.Float64()}
	switch x := r.Float64(); {
	case x < 0.05: // a few villages have a lossy last mile (radio, long copper)
		l.LossPct = 3 + 5*r.Float64()
	case x < 0.15:
		l.LossPct = 0.5 + r.Float64()
	default:
		l.LossPct = 0.1 * r.Float64()
	}
	return l
}

// diurnal is the evening congestion factor: 1 at night, up to ~1.6 in the
// 19:00–22:00 WIB peak when the village's users are online.
func diurnal(t time.Time) float64 {
	h := float64(t.In(wib).Hour()) + float64(t.In(wib).Minute())/60
	return 1 + 0.6*math.Exp(-math.Pow((h-20.5)/2.0, 2))
}

// Round simulates one ICMP round to target at time t. linkUp false means
// only the gateway answers.
func (l *Link) Round(t time.Time, target string, count int, linkUp bool) jagadesa.Sample {
	base, loss := l.BaseRTTMs*diurnal(t), l.LossPct
	switch {
	case target == Targets[0]: // the gateway is on the village LAN
		base, loss = 0.6, 0
	case !linkUp:
		loss = 100
	case target == Targets[2]: // the server sits a little further than the province
		base += 4
	}
	rtts := make([]time.Duration, 0, count)
	for range count {
		if l.Rand.Float64()*100 < loss {
			continue
		}
		ms := base + l.Rand.ExpFloat64()*base*0.08
		rtts = append(rtts, time.Duration(ms*float64(time.Millisecond)))
	}
	return jagadesa.Sample{TimeMs: t.UnixMilli(), Kind: jagadesa.KindICMP, Target: target, ICMP: probe.Summarise(count, rtts)}
}
