package rollup

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/query"

	"github.com/jagadesa/jagadesa/server/sla"
)

// ReaderOptions tune the Reader; the zero value gives the defaults.
type ReaderOptions struct {
	// ReferenceTargets are the ICMP targets whose rounds give the SLA's
	// latency and loss (the domestic reference, e.g. "jatengprov.go.id").
	// Empty: every target of the village, the gateway included.
	ReferenceTargets []string
	// EdgeDays is how many days beyond the month a link outage touching
	// its first or last minute is followed, so that the > 5 minute rule and
	// the time to restore see it whole (default 3: an outage longer than
	// that is past sla.RestoreFlag, and its verdicts can no longer change).
	EdgeDays int
}

// Reader answers month-long questions from the rollup bucket alone.
type Reader struct {
	db  *DB
	opt ReaderOptions
	// keep says whether an rtt entry's (escaped) target is a reference
	// target; nil: all are.
	keep func(escaped string) bool
}

// NewReader returns a Reader over db's rollup bucket.
func NewReader(db *DB, opt ReaderOptions) *Reader {
	if opt.EdgeDays <= 0 {
		opt.EdgeDays = 3
	}
	r := &Reader{db: db, opt: opt}
	if len(opt.ReferenceTargets) > 0 {
		ref := map[string]bool{}
		for _, t := range opt.ReferenceTargets {
			ref[url.QueryEscape(t)] = true
		}
		r.keep = func(escaped string) bool { return ref[escaped] }
	}
	return r
}

// SLAData is what the rollups say about one village's month, ready for
// sla.Compute.
type SLAData struct {
	// Timeline is the minute timeline as runs of one state, from the
	// month's first minute (or the start of a link outage running into it)
	// to the last rolled minute (or the end of a link outage running out of
	// it). Minutes without any rollup are left out: the SLA engine counts
	// them unknown, as it does no_data runs.
	Timeline   []sla.Interval
	Throughput []sla.ThroughputTest
	Quality    sla.Quality
}

// Input makes the SLA engine's input for the village's month.
func (d SLAData) Input(v sla.Village, month time.Time, c sla.Contract) sla.Input {
	return sla.Input{Village: v, Month: month, Timeline: d.Timeline, Throughput: d.Throughput, Quality: d.Quality, Contract: c}
}

// smallSet: up to this many villages are filtered for in Flux; a larger
// set reads every village and drops the others, which is faster than a
// long "or".
const smallSet = 50

// dayRow is one avail_1d point.
type dayRow struct {
	runs    []run
	quality string // JSON, decoded only for the month's own days
}

// MonthInputs reads the SLA inputs of villages for the WIB calendar month
// containing month, from the avail_1d and throughput_test rollups only:
// about 31 points per village, whatever the raw data held.
func (r *Reader) MonthInputs(ctx context.Context, month time.Time, villages []string) (map[string]SLAData, error) {
	start, end := sla.MonthRange(month)
	want := map[string]bool{}
	for _, v := range villages {
		want[v] = true
	}
	filter := villages
	if len(villages) > smallSet {
		filter = nil
	}
	days := map[string]map[time.Time]dayRow{}
	if err := r.readDays(ctx, start, end, filter, want, days); err != nil {
		return nil, err
	}

	// Follow link outages over the month's edges, a day at a time, for the
	// villages that have one there.
	for k := 1; k <= r.opt.EdgeDays; k++ {
		before := start.AddDate(0, 0, -k)
		var vs []string
		for v, ds := range days {
			if d, ok := ds[before.AddDate(0, 0, 1)]; ok && len(d.runs) > 0 && d.runs[0].state == LinkDown {
				vs = append(vs, v)
			}
		}
		if len(vs) == 0 {
			break
		}
		if err := r.readDays(ctx, before, before.AddDate(0, 0, 1), vs, want, days); err != nil {
			return nil, err
		}
	}
	for k := 0; k < r.opt.EdgeDays; k++ {
		after := end.AddDate(0, 0, k)
		var vs []string
		for v, ds := range days {
			if d, ok := ds[after.AddDate(0, 0, -1)]; ok && len(d.runs) > 0 && d.runs[len(d.runs)-1].state == LinkDown {
				vs = append(vs, v)
			}
		}
		if len(vs) == 0 {
			break
		}
		if err := r.readDays(ctx, after, after.AddDate(0, 0, 1), vs, want, days); err != nil {
			return nil, err
		}
	}

	tests, err := r.readThroughput(ctx, start, end, filter, want)
	if err != nil {
		return nil, err
	}

	out := make(map[string]SLAData, len(villages))
	for _, v := range villages {
		d := SLAData{Throughput: tests[v]}
		ds := days[v]
		keys := make([]time.Time, 0, len(ds))
		for t := range ds {
			keys = append(keys, t)
		}
		slices.SortFunc(keys, func(a, b time.Time) int { return a.Compare(b) })
		var p50s []weighted
		var up int
		var loss float64
		for _, day := range keys {
			row := ds[day]
			at := day
			for _, ru := range row.runs {
				next := at.Add(time.Duration(ru.n) * time.Minute)
				st := slaState(ru.state)
				if n := len(d.Timeline); n > 0 && d.Timeline[n-1].State == st && d.Timeline[n-1].End.Equal(at) {
					d.Timeline[n-1].End = next
				} else {
					d.Timeline = append(d.Timeline, sla.Interval{Start: at, End: next, State: st})
				}
				at = next
			}
			if day.Before(start) || !day.Before(end) {
				continue
			}
			err := eachQuality(row.quality, r.keep, func(q targetQuality) {
				p50s = append(p50s, weighted{q.P50, float64(q.N)})
				up += q.Up
				loss += q.Loss
			})
			if err != nil {
				return nil, fmt.Errorf("village %s, %s: %w", v, day.Format(time.DateOnly), err)
			}
		}
		if m, ok := weightedMedian(p50s); ok {
			d.Quality.MedianRTTMs = &m
		}
		if up > 0 {
			l := loss / float64(up)
			d.Quality.LossPct = &l
		}
		out[v] = d
	}
	return out, nil
}

// readDays adds the avail_1d points of [from, to) to days.
func (r *Reader) readDays(ctx context.Context, from, to time.Time, filter []string, want map[string]bool, days map[string]map[time.Time]dayRow) error {
	q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %q and (r._field == "timeline" or r._field == "rtt") and %s)
  |> keep(columns: ["_time", "_value", "_field", "village"])`,
		fluxStr(r.db.cfg.RollupBucket), fluxTime(from), fluxStop(to), MeasAvail1d, villageFilter(filter))
	var perr error
	err := r.db.each(ctx, q, func(rec *query.FluxRecord) {
		v, _ := rec.ValueByKey("village").(string)
		if !want[v] {
			return
		}
		s, _ := rec.Value().(string)
		day := rec.Time().In(sla.WIB)
		ds := days[v]
		if ds == nil {
			ds = map[time.Time]dayRow{}
			days[v] = ds
		}
		row := ds[day]
		switch rec.Field() {
		case "timeline":
			runs, err := parseRuns(s)
			if err != nil && perr == nil {
				perr = fmt.Errorf("village %s, %s: %w", v, day.Format(time.DateOnly), err)
			}
			row.runs = runs
		case "rtt":
			row.quality = s
		}
		ds[day] = row
	})
	if err != nil {
		return err
	}
	return perr
}

// readThroughput reads the month's speed tests and pairs each download with
// the upload the probe ran right after it (within a minute), as the village
// history page does.
func (r *Reader) readThroughput(ctx context.Context, from, to time.Time, filter []string, want map[string]bool) (map[string][]sla.ThroughputTest, error) {
	type point struct {
		t    time.Time
		dir  string
		mbps float64
	}
	byVillage := map[string][]point{}
	q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %q and r._field == "mbps" and %s)
  |> keep(columns: ["_time", "_value", "village", "direction"])`,
		fluxStr(r.db.cfg.RollupBucket), fluxTime(from), fluxStop(to), MeasThroughput, villageFilter(filter))
	err := r.db.each(ctx, q, func(rec *query.FluxRecord) {
		v, _ := rec.ValueByKey("village").(string)
		x, ok := rec.Value().(float64)
		if !want[v] || !ok {
			return
		}
		dir, _ := rec.ValueByKey("direction").(string)
		byVillage[v] = append(byVillage[v], point{rec.Time(), strings.ToLower(dir), x})
	})
	if err != nil {
		return nil, err
	}
	out := map[string][]sla.ThroughputTest{}
	for v, ps := range byVillage {
		slices.SortFunc(ps, func(a, b point) int {
			return cmp.Or(a.t.Compare(b.t), strings.Compare(a.dir, b.dir))
		})
		var tests []sla.ThroughputTest
		for _, p := range ps {
			x := p.mbps
			n := len(tests)
			var cur *sla.ThroughputTest
			if n > 0 && p.t.Sub(tests[n-1].T) < time.Minute {
				cur = &tests[n-1]
			}
			switch p.dir {
			case "download":
				if cur == nil || cur.DownloadMbps != nil {
					tests = append(tests, sla.ThroughputTest{T: p.t})
					cur = &tests[len(tests)-1]
				}
				cur.DownloadMbps = &x
			case "upload":
				if cur == nil || cur.UploadMbps != nil {
					tests = append(tests, sla.ThroughputTest{T: p.t})
					cur = &tests[len(tests)-1]
				}
				cur.UploadMbps = &x
			}
		}
		out[v] = tests
	}
	return out, nil
}
