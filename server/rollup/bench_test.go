package rollup_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa/server/rollup"
	"github.com/jagadesa/jagadesa/server/sla"
)

// BenchmarkMonthInputs times a month's SLA for every village from the
// rollups: MonthInputs, then sla.Compute per village. It first writes a
// month of synthetic day points (what the Runner writes: timeline runs with
// link cuts, power cuts and gaps scattered over the villages, three
// targets' figures) and four speed tests per village into the rollup
// bucket of the package's real influxd. Numbers are in docs/rollups.md:
//
//	go test ./server/rollup -run '^$' -bench MonthInputs -benchtime 5x
func BenchmarkMonthInputs(b *testing.B) {
	for _, n := range []int{599, 10148} {
		b.Run(fmt.Sprintf("villages=%d", n), func(b *testing.B) {
			e := newEnv(b)
			month := time.Date(2026, 10, 1, 0, 0, 0, 0, sla.WIB)
			villages := make([]string, n)
			for i := range villages {
				villages[i] = fmt.Sprintf("33.%02d.%02d.%04d", 1+i/1000, 1+i/100%10, 2001+i)
			}
			t0 := time.Now()
			points := writeMonth(b, e, month, villages)
			b.Logf("%d villages: wrote %d rollup points in %s", n, points, time.Since(t0).Round(time.Millisecond))

			rd := rollup.NewReader(e.db, rollup.ReaderOptions{ReferenceTargets: []string{refHost}})
			ctx := context.Background()
			var read, compute time.Duration
			runs := 0
			for b.Loop() {
				t1 := time.Now()
				data, err := rd.MonthInputs(ctx, month, villages)
				if err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				below := 0
				for _, v := range villages {
					res, err := sla.Compute(data[v].Input(sla.Village{Code: v}, month, sla.Contract{}))
					if err != nil {
						b.Fatal(err)
					}
					if res.AvailabilityPct == nil {
						b.Fatalf("%s: no availability", v)
					}
					if res.Status == sla.Below {
						below++
					}
				}
				read += t2.Sub(t1)
				compute += time.Since(t2)
				runs++
				if below == 0 || below == n {
					b.Fatalf("%d of %d villages below: the synthetic month is not varied", below, n)
				}
			}
			b.ReportMetric(read.Seconds()/float64(runs), "read-s/op")
			b.ReportMetric(compute.Seconds()/float64(runs), "compute-s/op")
		})
	}
}

// writeMonth writes the month's day points and speed tests for villages
// and returns how many points it wrote.
func writeMonth(b *testing.B, e *env, month time.Time, villages []string) int {
	start, end := sla.MonthRange(month)
	var d dayPoints
	total := 0
	for i, v := range villages {
		day := 0
		for t := start; t.Before(end); t = t.AddDate(0, 0, 1) {
			tl := "U1440"
			switch k := i + day; {
			case k%7 == 0:
				tl = "U600D12U828" // a 12-minute link cut: counted
			case k%11 == 0:
				tl = "U300P90U1050" // a power cut: excluded
			case k%13 == 0:
				tl = "U700D4U736" // a short cut: not counted
			case (i*31+day)%29 == 0:
				tl = "U1000N440" // the probe silent
			}
			p50 := 20 + float64((i+day)%40)
			d.day(v, t, tl, fmt.Sprintf("192.168.1.1 1.2 1440 1440 0;jagadesa.example.id %g 1440 1440 12;%s %g 1400 1420 %d",
				p50+15, refHost, p50, i%5*40))
			day++
		}
		for _, td := range []int{3, 10, 17, 24} {
			t := start.AddDate(0, 0, td).Add(time.Duration(i%600) * time.Second)
			d.test(v, t, "download", 60+float64((i+td)%50))
			d.test(v, t.Add(20*time.Second), "upload", 20+float64(i%10))
		}
		if d.n >= 50_000 {
			total += d.n
			d.flush(b, e)
		}
	}
	total += d.n
	d.flush(b, e)
	return total
}

// BenchmarkRollHour times rolling one hour for every village (Reroll of a
// complete hour: five raw queries, the summaries, the writes and the day's
// rebuild) over raw data written as the server writes it: a round a minute
// with three targets and a heartbeat, for two hours.
//
//	go test ./server/rollup -run '^$' -bench RollHour -benchtime 5x
func BenchmarkRollHour(b *testing.B) {
	const n = 599
	e := newEnv(b)
	h0 := scenarioStart()
	t0 := time.Now()
	for i := range n {
		p := newProbe(fmt.Sprintf("33.%02d.%02d.%04d", 1+i/100, 1+i/10%10, 2001+i), h0)
		p.rounds(-60, 60, rtts(20+float64(i%30)))
		p.write(b, e.raw)
	}
	b.Logf("%d villages: wrote 2 hours of raw rounds (%d points) in %s", n, n*120*4, time.Since(t0).Round(time.Millisecond))
	r := rollup.NewRunner(e.db, rollup.RunnerOptions{Now: func() time.Time { return h0.Add(2 * time.Hour) }})
	for b.Loop() {
		if err := r.Reroll(context.Background(), h0, h0.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
}
