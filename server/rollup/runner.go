package rollup

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/query"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/server/sla"
)

// RunnerOptions tune the Runner; the zero value gives the defaults.
type RunnerOptions struct {
	Rules Rules
	// Settle: an hour is rolled once it ended this long ago (default
	// 10 min), so the rounds probes upload live are in.
	Settle time.Duration
	// Trailing: every pass rolls the last complete hours of this span
	// again (default 6 h), for data a few hours late.
	Trailing time.Duration
	// LateWindow: every pass looks this far back (default 7 days, the
	// oldest data the server accepts) for hours with no-data minutes for
	// which raw data has arrived since, and rolls them again for those
	// villages. 0 takes the default; a negative value turns the scan off.
	LateWindow time.Duration
	// Every is the pause between passes when nothing is left to catch up
	// (default 30 min).
	Every time.Duration
	// MaxHoursPerPass bounds the hours a pass rolls for every village, and
	// separately the hours it rolls again for late villages (default 24).
	MaxHoursPerPass int
	// Start is the first hour rolled when the rollup bucket has no mark
	// yet (default: the start of the WIB month before the one of now − 7
	// days, so the current month's SLA can be computed after a first start).
	Start time.Time
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Runner keeps the rollup bucket up to date: each pass rolls the complete
// hours since the newest mark, the trailing hours again, and the hours late
// data has changed. Rolling is idempotent, so a pass cut short (a crash, a
// cancelled ctx) is simply done again.
type Runner struct {
	ro  roller
	opt RunnerOptions
	log *slog.Logger

	mu sync.Mutex // one roll at a time

	dirtyMu sync.Mutex
	dirty   map[time.Time]map[string]bool // hour → villages, from Invalidate
}

// PassStats says what a pass did.
type PassStats struct {
	New      int           // hours rolled for the first time
	Trailing int           // trailing hours rolled again
	Late     int           // (village, hour) pairs rolled again for late data
	Backlog  int           // complete hours left for the next pass
	Through  time.Time     // end of the newest hour rolled (zero: none yet)
	Took     time.Duration // wall time
	// Waiting: nothing was ever rolled and no data has come yet.
	Waiting bool
}

// NewRunner returns a Runner writing through db.
func NewRunner(db *DB, opt RunnerOptions) *Runner {
	opt.Rules = opt.Rules.withDefaults()
	if opt.Settle <= 0 {
		opt.Settle = 10 * time.Minute
	}
	if opt.Trailing <= 0 {
		opt.Trailing = 6 * time.Hour
	}
	if opt.LateWindow == 0 {
		opt.LateWindow = jagadesa.MaxPast
	}
	if opt.Every <= 0 {
		opt.Every = 30 * time.Minute
	}
	if opt.MaxHoursPerPass <= 0 {
		opt.MaxHoursPerPass = 24
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{ro: roller{db: db, rules: opt.Rules}, opt: opt, log: log, dirty: map[time.Time]map[string]bool{}}
}

// Run runs passes until ctx ends: at once while hours are left to catch up,
// else every opt.Every. A failed pass is logged and tried again after a
// minute. Run returns nil when ctx ends, like the server's other workers,
// so it can run in serve's errgroup.
func (r *Runner) Run(ctx context.Context) error {
	for {
		st, err := r.Pass(ctx)
		wait := r.opt.Every
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			r.log.Error("rollup pass failed", "err", err)
			wait = min(wait, time.Minute) // InfluxDB may be back soon
		default:
			r.log.Info("rollup pass", "new_hours", st.New, "trailing_hours", st.Trailing, "late", st.Late,
				"backlog_hours", st.Backlog, "through", st.Through, "took", st.Took.Round(time.Millisecond))
			if st.Backlog > 0 {
				wait = 0
			}
			if st.Waiting {
				// Nothing rolled yet (no data, no mark): look again soon,
				// so a first backfill or a new fleet is rolled at once.
				wait = min(wait, time.Minute)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// Invalidate says raw points of village between from and to were stored
// late (after their hour may have been rolled). The next pass rolls those
// hours again for that village. The ingest path can call it for every batch
// holding points older than the settle delay; it is cheap and keeps nothing
// across restarts (the late scan covers those).
func (r *Runner) Invalidate(village string, from, to time.Time) {
	r.dirtyMu.Lock()
	defer r.dirtyMu.Unlock()
	for h := from.UTC().Truncate(time.Hour); !h.After(to); h = h.Add(time.Hour) {
		if r.dirty[h] == nil {
			r.dirty[h] = map[string]bool{}
		}
		r.dirty[h][village] = true
		if len(r.dirty) > 24*31 {
			break // a client claiming a month of late data is not trusted further
		}
	}
}

// completeBefore is the end of the newest hour that may be rolled now.
func (r *Runner) completeBefore() time.Time {
	return r.opt.Now().Add(-r.opt.Settle).UTC().Truncate(time.Hour)
}

// LastRolled returns the start of the newest hour rolled for every village
// (ok false: none yet).
func (r *Runner) LastRolled(ctx context.Context) (time.Time, bool, error) {
	q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: 1970-01-01T00:00:00Z, stop: %s)
  |> filter(fn: (r) => r._measurement == %q and r._field == "villages")
  |> last()`, fluxStr(r.ro.db.cfg.RollupBucket), fluxTime(r.opt.Now().Add(48*time.Hour)), MeasMark)
	var last time.Time
	err := r.ro.db.each(ctx, q, func(rec *query.FluxRecord) {
		if t := rec.Time(); t.After(last) {
			last = t
		}
	})
	return last, !last.IsZero(), err
}

// Pass rolls what is due now (see Runner) and returns what it did.
func (r *Runner) Pass(ctx context.Context) (PassStats, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t0 := time.Now()
	var st PassStats
	end := r.completeBefore()
	last, ok, err := r.LastRolled(ctx)
	if err != nil {
		return st, err
	}
	from := r.opt.Start
	if ok {
		from = last.Add(time.Hour)
	} else if from.IsZero() {
		from, _ = sla.MonthRange(r.opt.Now().Add(-jagadesa.MaxPast))
		from, _ = sla.MonthRange(from.Add(-time.Hour))
		// A new server rolls from its first data, not through weeks of
		// empty hours (a fresh demo, a new bucket).
		if first, found, err := r.firstHeartbeat(ctx, from, end); err != nil {
			return st, err
		} else if !found {
			st.Waiting = true
			return st, nil // nothing to roll yet: no mark, so the next pass looks again
		} else if first.After(from) {
			from = first
		}
	}
	from = from.UTC().Truncate(time.Hour)

	var full []time.Time
	for h := from; h.Before(end); h = h.Add(time.Hour) {
		if len(full) < r.opt.MaxHoursPerPass {
			full = append(full, h)
		} else {
			st.Backlog++
		}
	}
	st.New = len(full)
	// Trailing hours are rolled again only once some hour has been rolled,
	// and never before Start: hours before the first roll were never wanted.
	for h := end.Add(-r.opt.Trailing); ok && h.Before(end) && h.Before(from); h = h.Add(time.Hour) {
		if h.Before(r.opt.Start) {
			continue
		}
		full = append(full, h)
		st.Trailing++
	}
	slices.SortFunc(full, func(a, b time.Time) int { return a.Compare(b) })

	late, err := r.lateHours(ctx, end, from, full)
	if err != nil {
		return st, err
	}
	for _, vs := range late {
		st.Late += len(vs)
	}
	if err := r.roll(ctx, full, late); err != nil {
		return st, err
	}
	if len(full) > 0 {
		st.Through = full[len(full)-1].Add(time.Hour)
	}
	r.dirtyMu.Lock()
	for _, h := range full {
		delete(r.dirty, h)
	}
	for h, vs := range late {
		for _, v := range vs {
			if d := r.dirty[h]; d != nil {
				delete(d, v)
				if len(d) == 0 {
					delete(r.dirty, h)
				}
			}
		}
	}
	r.dirtyMu.Unlock()
	st.Took = time.Since(t0)
	return st, nil
}

// Reroll rolls every complete hour touching [from, to) again for every
// village, MaxHoursPerPass hours at a time, and marks them: for a backfill
// or after a change of rules or a restore of raw data. A span starting
// after the hour the passes would roll next starts there instead, so the
// marks never have a gap; before the first pass, Reroll may roll any
// complete hours, and the passes then continue after them.
func (r *Runner) Reroll(ctx context.Context, from, to time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	end := r.completeBefore()
	if last, ok, err := r.LastRolled(ctx); err != nil {
		return err
	} else if ok && from.UTC().Truncate(time.Hour).After(last.Add(time.Hour)) {
		// Marking hours after a gap would make the passes skip the hours
		// in between: roll those too, so the marks stay contiguous.
		from = last.Add(time.Hour)
	}
	if to.After(end) {
		to = end
	}
	var hours []time.Time
	for h := from.UTC().Truncate(time.Hour); h.Before(to); h = h.Add(time.Hour) {
		hours = append(hours, h)
	}
	for len(hours) > 0 {
		n := min(len(hours), r.opt.MaxHoursPerPass)
		if err := r.roll(ctx, hours[:n], nil); err != nil {
			return err
		}
		hours = hours[n:]
	}
	return nil
}

// roll rolls the hours full for every village and the hours of late for
// their villages, rebuilds the days they touch, and then marks the full
// hours: a crash before the mark leaves them to be rolled again.
func (r *Runner) roll(ctx context.Context, full []time.Time, late map[time.Time][]string) error {
	type dayKey = time.Time
	allDays := map[dayKey]bool{}
	someDays := map[dayKey]map[string]bool{}
	var marks encoder
	marks.init()

	if len(full) > 0 {
		known, err := r.knownVillages(ctx, full[0])
		if err != nil {
			return err
		}
		records, err := r.ro.outages(ctx, full[0], full[len(full)-1].Add(time.Hour), nil)
		if err != nil {
			return err
		}
		for _, h := range full {
			if err := ctx.Err(); err != nil {
				return err
			}
			var w encoder
			w.init()
			res, err := r.ro.rollHour(ctx, h, nil, known, records, &w)
			if err != nil {
				return err
			}
			if err := r.write(ctx, &w); err != nil {
				return err
			}
			maps.Copy(known, res.villages)
			allDays[dayStart(h)] = true
			marks.mark(h, len(res.villages), res.heartbeats)
		}
	}
	for _, h := range slices.SortedFunc(maps.Keys(late), func(a, b time.Time) int { return a.Compare(b) }) {
		if err := ctx.Err(); err != nil {
			return err
		}
		vs := late[h]
		records, err := r.ro.outages(ctx, h, h.Add(time.Hour), vs)
		if err != nil {
			return err
		}
		var w encoder
		w.init()
		if _, err := r.ro.rollHour(ctx, h, vs, nil, records, &w); err != nil {
			return err
		}
		if err := r.write(ctx, &w); err != nil {
			return err
		}
		d := dayStart(h)
		if someDays[d] == nil {
			someDays[d] = map[string]bool{}
		}
		for _, v := range vs {
			someDays[d][v] = true
		}
	}
	for d := range allDays {
		if _, err := r.ro.rebuildDay(ctx, d, nil); err != nil {
			return err
		}
	}
	for d, vs := range someDays {
		if allDays[d] {
			continue
		}
		if _, err := r.ro.rebuildDay(ctx, d, slices.Sorted(maps.Keys(vs))); err != nil {
			return err
		}
	}
	return r.write(ctx, &marks)
}

func (r *Runner) write(ctx context.Context, w *encoder) error {
	lines, err := w.bytes()
	if err != nil {
		return err
	}
	return r.ro.db.writeLines(ctx, lines)
}

// knownVillages returns the villages heard from in the
// LateWindow before h: they get an hourly point even for an hour without
// any data, all no data, which the late scan looks at when their spooled
// data arrives.
func (r *Runner) knownVillages(ctx context.Context, h time.Time) (map[string]bool, error) {
	known := map[string]bool{}
	if r.opt.LateWindow < 0 {
		return known, nil
	}
	q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %q and r._field == "heartbeats")
  |> filter(fn: (r) => r._value > 0.0)
  |> keep(columns: ["_time", "_value", "village"])
  |> last()`, fluxStr(r.ro.db.cfg.RollupBucket), fluxTime(h.Add(-r.opt.LateWindow)), fluxStop(h), MeasAvail1h)
	err := r.ro.db.each(ctx, q, func(rec *query.FluxRecord) {
		if v, _ := rec.ValueByKey("village").(string); v != "" {
			known[v] = true
		}
	})
	return known, err
}

// lateHours finds the (hour, villages) to roll again for late data: those
// Invalidate named, and those the late scan finds, among hours already
// rolled (before from) and not rolled anyway this pass (full).
func (r *Runner) lateHours(ctx context.Context, end, from time.Time, full []time.Time) (map[time.Time][]string, error) {
	skip := map[time.Time]bool{}
	for _, h := range full {
		skip[h] = true
	}
	set := map[time.Time]map[string]bool{}
	add := func(h time.Time, v string) {
		if skip[h] || !h.Before(from) || !h.Before(end) {
			return
		}
		if set[h] == nil {
			set[h] = map[string]bool{}
		}
		set[h][v] = true
	}
	r.dirtyMu.Lock()
	for h, vs := range r.dirty {
		for v := range vs {
			add(h, v)
		}
	}
	r.dirtyMu.Unlock()
	if r.opt.LateWindow > 0 {
		to := end.Add(-r.opt.Trailing)
		if from.Before(to) {
			to = from
		}
		found, err := r.scanLate(ctx, end.Add(-r.opt.LateWindow), to)
		if err != nil {
			return nil, err
		}
		for h, vs := range found {
			for _, v := range vs {
				add(h, v)
			}
		}
	}
	hours := slices.SortedFunc(maps.Keys(set), func(a, b time.Time) int { return a.Compare(b) })
	if len(hours) > r.opt.MaxHoursPerPass {
		hours = hours[:r.opt.MaxHoursPerPass]
	}
	out := map[time.Time][]string{}
	for _, h := range hours {
		out[h] = slices.Sorted(maps.Keys(set[h]))
	}
	return out, nil
}

// scanLate compares, for every rolled hour in [from, to) that has no-data
// minutes, the heartbeats and outage records the roll saw (gap_inputs)
// with what the raw bucket holds now, and returns the hours and villages
// where more has arrived.
func (r *Runner) scanLate(ctx context.Context, from, to time.Time) (map[time.Time][]string, error) {
	from = from.UTC().Truncate(time.Hour)
	if !from.Before(to) {
		return nil, nil
	}
	type key struct {
		village string
		hour    time.Time
	}
	stored := map[key]int{}
	q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %q and r._field == "gap_inputs")
  |> filter(fn: (r) => r._value >= 0.0)
  |> keep(columns: ["_time", "_value", "village"])`,
		fluxStr(r.ro.db.cfg.RollupBucket), fluxTime(from), fluxStop(to), MeasAvail1h)
	err := r.ro.db.each(ctx, q, func(rec *query.FluxRecord) {
		v, _ := rec.ValueByKey("village").(string)
		x, _ := rec.Value().(float64)
		stored[key{v, rec.Time()}] = int(x)
	})
	if err != nil || len(stored) == 0 {
		return nil, err
	}
	byVillage := map[string]bool{}
	for k := range stored {
		byVillage[k.village] = true
	}
	villages := slices.Sorted(maps.Keys(byVillage))
	now := map[key]int{}
	const chunk = 100
	for i := 0; i < len(villages); i += chunk {
		vs := villages[i:min(i+chunk, len(villages))]
		q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %q and r._field == "interval_s" and %s)
  |> group(columns: ["village"])
  |> aggregateWindow(every: 1h, fn: count, createEmpty: false, timeSrc: "_start")`,
			fluxStr(r.ro.db.cfg.RawBucket), fluxTime(from), fluxStop(to), rawHeartbeat, villageFilter(vs))
		err := r.ro.db.each(ctx, q, func(rec *query.FluxRecord) {
			v, _ := rec.ValueByKey("village").(string)
			n, _ := rec.Value().(int64)
			now[key{v, rec.Time().UTC()}] += int(n)
		})
		if err != nil {
			return nil, err
		}
		records, err := r.ro.outages(ctx, from, to, vs)
		if err != nil {
			return nil, err
		}
		for v, recs := range records {
			for _, rec := range recs {
				for h := rec.start.UTC().Truncate(time.Hour); h.Before(rec.end) && h.Before(to); h = h.Add(time.Hour) {
					if !h.Before(from) {
						now[key{v, h}]++
					}
				}
			}
		}
	}
	out := map[time.Time][]string{}
	for k, was := range stored {
		if now[k] != was {
			out[k.hour] = append(out[k.hour], k.village)
		}
	}
	return out, nil
}

// firstHeartbeat finds the hour of the earliest heartbeat in [from, to).
func (r *Runner) firstHeartbeat(ctx context.Context, from, to time.Time) (time.Time, bool, error) {
	if !to.After(from) {
		return time.Time{}, false, nil
	}
	q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %q and r._field == "interval_s")
  |> group()
  |> first()
  |> keep(columns: ["_time"])`, fluxStr(r.ro.db.cfg.RawBucket), fluxTime(from), fluxStop(to), rawHeartbeat)
	var first time.Time
	err := r.ro.db.each(ctx, q, func(rec *query.FluxRecord) {
		if t := rec.Time(); first.IsZero() || t.Before(first) {
			first = t
		}
	})
	if err != nil {
		return time.Time{}, false, err
	}
	return first.UTC().Truncate(time.Hour), !first.IsZero(), nil
}
