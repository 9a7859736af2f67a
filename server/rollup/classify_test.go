package rollup

import (
	"strings"
	"testing"
	"time"
)

// The minute rule on scripted rounds, without a database: each case builds
// one hour of a village's rounds and states the 60 letters it must give.
func TestMinutes(t *testing.T) {
	h := time.Date(2026, 11, 10, 3, 0, 0, 0, time.UTC)
	at := func(m int, s float64) time.Time {
		return h.Add(time.Duration(m)*time.Minute + time.Duration(s*float64(time.Second)))
	}
	// rounds adds a round per minute in [from, to): pings to three targets
	// at :05, the heartbeat at :10; lost: every target lost everything,
	// gateway: only the gateway answered.
	type opt int
	const (
		ok opt = iota
		lost
		gateway
	)
	rounds := func(v *villageRaw, from, to int, o opt) {
		for m := from; m < to; m++ {
			for _, tg := range []string{"gw", "ref", "srv"} {
				p := ping{t: at(m, 5), target: tg, hasLoss: true}
				if o == lost || (o == gateway && tg != "gw") {
					p.loss = 100
				} else {
					p.median, p.hasRTT = 20, true
				}
				v.pings = append(v.pings, p)
			}
			v.hbs = append(v.hbs, heartbeat{t: at(m, 10), interval: time.Minute})
		}
	}
	rep := strings.Repeat
	cases := []struct {
		name  string
		build func(v *villageRaw)
		want  string
	}{
		{"all up, first minute carried by the round before the hour", func(v *villageRaw) { rounds(v, -1, 60, ok) }, rep("U", 60)},
		{"a 12-minute cut", func(v *villageRaw) {
			rounds(v, -1, 30, ok)
			rounds(v, 30, 42, lost)
			rounds(v, 42, 60, ok)
		}, rep("U", 30) + rep("D", 12) + rep("U", 18)},
		{"the gateway answers, the probe's link record decides", func(v *villageRaw) {
			rounds(v, -1, 10, ok)
			rounds(v, 10, 17, gateway)
			rounds(v, 17, 60, ok)
			v.records = append(v.records, record{start: at(10, 0), end: at(17, 0), cause: "link"})
		}, rep("U", 10) + rep("D", 7) + rep("U", 43)},
		{"the gateway answers, no record: up", func(v *villageRaw) {
			rounds(v, -1, 10, ok)
			rounds(v, 10, 17, gateway)
			rounds(v, 17, 60, ok)
		}, rep("U", 60)},
		{"jitter: a minute without heartbeat keeps the previous round", func(v *villageRaw) {
			rounds(v, -1, 11, ok)
			v.hbs[len(v.hbs)-1].t = at(10, 59) // next one at 12:10, 71 s later
			rounds(v, 12, 60, ok)
		}, rep("U", 60)},
		{"silence: no data after interval + grace", func(v *villageRaw) {
			rounds(v, -1, 20, ok) // last heartbeat 19:10: its deadline 20:25 covers the end of minute 19 only
			rounds(v, 40, 60, ok)
		}, rep("U", 20) + rep("N", 20) + rep("U", 20)},
		{"power cut covers the minute it began in, then no data until the probe is back", func(v *villageRaw) {
			rounds(v, -1, 21, ok) // last heartbeat 20:10
			v.records = append(v.records, record{start: at(20, 15), end: at(45, 0), cause: "power"})
			rounds(v, 47, 60, ok)
		}, rep("U", 20) + rep("P", 25) + rep("N", 2) + rep("U", 13)},
		{"probe fault record beats power, a round without pings is a fault", func(v *villageRaw) {
			rounds(v, -1, 5, ok)
			v.hbs = append(v.hbs, heartbeat{t: at(5, 10), interval: time.Minute}) // no pings
			rounds(v, 6, 60, ok)
			v.records = append(v.records,
				record{start: at(30, 0), end: at(40, 0), cause: "power"},
				record{start: at(35, 0), end: at(38, 0), cause: "probe"})
		}, rep("U", 5) + "F" + rep("U", 24) + rep("P", 5) + rep("F", 3) + rep("P", 2) + rep("U", 20)},
	}
	rules := Rules{}.withDefaults()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := &villageRaw{}
			c.build(v)
			v.sort()
			rs, _ := rules.rounds(v)
			if got := string(rules.minutes(v, rs, h, 60)); got != c.want {
				t.Errorf("\ngot  %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestRunLength(t *testing.T) {
	m := []byte(strings.Repeat("U", 600) + strings.Repeat("D", 12) + strings.Repeat("U", 828))
	s := runLength(m)
	if s != "U600D12U828" {
		t.Fatalf("runLength %q", s)
	}
	runs, err := parseRuns(s)
	if err != nil || len(runs) != 3 || runs[1] != (run{LinkDown, 12}) {
		t.Fatalf("parseRuns %v %v", runs, err)
	}
	for _, bad := range []string{"X3", "U", "U0", "Ux"} {
		if _, err := parseRuns(bad); err == nil {
			t.Errorf("parseRuns(%q) accepted", bad)
		}
	}
}

func TestWeightedMedian(t *testing.T) {
	for _, c := range []struct {
		xs   []weighted
		want float64
	}{
		{[]weighted{{1, 1}, {2, 1}, {3, 1}}, 2},
		{[]weighted{{1, 1}, {2, 1}, {3, 1}, {4, 1}}, 2.5},
		{[]weighted{{20, 48}, {30, 34}, {25, 53}}, 25},
		{[]weighted{{5, 0}, {7, 3}}, 7},
	} {
		if got, ok := weightedMedian(c.xs); !ok || got != c.want {
			t.Errorf("weightedMedian(%v) = %v, %v; want %v", c.xs, got, ok, c.want)
		}
	}
	if _, ok := weightedMedian(nil); ok {
		t.Error("weightedMedian of nothing is ok")
	}
}
