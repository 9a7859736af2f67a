package rollup

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/query"
	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/jagadesa/jagadesa/server/sla"
)

// Measurements of the rollup bucket; docs/rollups.md describes their tags
// and fields.
const (
	MeasRTT5m      = "rtt_5m"          // per village and target, 5-minute windows
	MeasRTT1h      = "rtt_1h"          // per village and target, hours
	MeasAvail1h    = "avail_1h"        // per village, hours: minutes by cause
	MeasAvail1d    = "avail_1d"        // per village, WIB days: what MonthInputs reads
	MeasThroughput = "throughput_test" // per village and direction, one point per test
	MeasMark       = "rollup_mark"     // one point per hour rolled for every village
	MeasUsage1h    = "usage_1h"        // per village, hours: the router's use of the link
)

// Raw measurements read (docs/schema.md).
const (
	rawICMP       = "icmp"
	rawHeartbeat  = "heartbeat"
	rawThroughput = "throughput"
	rawOutage     = "outage"
	rawUsage      = "usage"
)

const step5m = 5 * time.Minute

// roller computes and writes the rollups of whole hours.
type roller struct {
	db    *DB
	rules Rules
}

// hourResult is what one hour's roll found.
type hourResult struct {
	villages   map[string]bool // villages rolled
	heartbeats int
}

// outages reads, per village, every outage record that may cover [from,
// to): stored at its start, so from up to Rules.OutageLookback earlier.
func (ro *roller) outages(ctx context.Context, from, to time.Time, villages []string) (map[string][]record, error) {
	q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %q and r._field == "end_s" and %s)
  |> keep(columns: ["_time", "_value", "village", "cause"])`,
		fluxStr(ro.db.cfg.RawBucket), fluxTime(from.Add(-ro.rules.OutageLookback)), fluxStop(to), rawOutage, villageFilter(villages))
	out := map[string][]record{}
	err := ro.db.each(ctx, q, func(r *query.FluxRecord) {
		v, _ := r.ValueByKey("village").(string)
		end, ok := r.Value().(float64)
		if v == "" || !ok {
			return
		}
		cause, _ := r.ValueByKey("cause").(string)
		rec := record{start: r.Time(), end: time.UnixMilli(int64(math.Round(end * 1000))).UTC(), cause: cause}
		if rec.end.After(from) {
			out[v] = append(out[v], rec)
		}
	})
	return out, err
}

// rawHour reads what the hour [h, h+1h) needs from the raw bucket: pings
// and heartbeats from far enough before it that the rounds speaking for its
// first minutes are there, and the hour's speed tests (as lines to copy).
func (ro *roller) rawHour(ctx context.Context, h time.Time, villages []string, w *encoder) (map[string]*villageRaw, error) {
	lb := ro.rules.lookback()
	vf := villageFilter(villages)
	bucket := fluxStr(ro.db.cfg.RawBucket)
	raw := map[string]*villageRaw{}
	get := func(r *query.FluxRecord) *villageRaw {
		v, _ := r.ValueByKey("village").(string)
		if v == "" {
			return nil
		}
		vr := raw[v]
		if vr == nil {
			vr = &villageRaw{}
			raw[v] = vr
		}
		return vr
	}

	type pingKey struct {
		village, probe, target string
		t                      int64
	}
	index := map[pingKey]int{}
	q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %q and (r._field == "loss_pct" or r._field == "rtt_median_ms") and %s)
  |> keep(columns: ["_time", "_value", "_field", "village", "probe", "target"])`,
		bucket, fluxTime(h.Add(-2*lb)), fluxStop(h.Add(time.Hour)), rawICMP, vf)
	err := ro.db.each(ctx, q, func(r *query.FluxRecord) {
		vr := get(r)
		x, ok := r.Value().(float64)
		if vr == nil || !ok {
			return
		}
		probe, _ := r.ValueByKey("probe").(string)
		target, _ := r.ValueByKey("target").(string)
		k := pingKey{r.ValueByKey("village").(string), probe, target, r.Time().UnixNano()}
		i, seen := index[k]
		if !seen {
			i = len(vr.pings)
			index[k] = i
			vr.pings = append(vr.pings, ping{t: r.Time(), target: target})
		}
		p := &vr.pings[i]
		switch r.Field() {
		case "loss_pct":
			p.loss, p.hasLoss = x, true
		case "rtt_median_ms":
			p.median, p.hasRTT = x, true
		}
	})
	if err != nil {
		return nil, err
	}

	q = fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %q and r._field == "interval_s" and %s)
  |> keep(columns: ["_time", "_value", "village"])`,
		bucket, fluxTime(h.Add(-lb)), fluxStop(h.Add(time.Hour)), rawHeartbeat, vf)
	err = ro.db.each(ctx, q, func(r *query.FluxRecord) {
		vr := get(r)
		if vr == nil {
			return
		}
		iv, _ := r.Value().(float64)
		vr.hbs = append(vr.hbs, heartbeat{t: r.Time(), interval: time.Duration(iv * float64(time.Second))})
	})
	if err != nil {
		return nil, err
	}

	// Speed tests are copied through, failed ones (with an error) left out:
	// they measured no rate.
	type test struct {
		village, probe, direction string
		t                         time.Time
		mbps                      float64
		hasMbps, failed           bool
	}
	tests := map[string]*test{}
	q = fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %q and (r._field == "mbps" or r._field == "error") and %s)
  |> keep(columns: ["_time", "_value", "_field", "village", "probe", "direction"])`,
		bucket, fluxTime(h), fluxStop(h.Add(time.Hour)), rawThroughput, vf)
	err = ro.db.each(ctx, q, func(r *query.FluxRecord) {
		vr := get(r)
		if vr == nil {
			return
		}
		v := r.ValueByKey("village").(string)
		probe, _ := r.ValueByKey("probe").(string)
		dir, _ := r.ValueByKey("direction").(string)
		k := fmt.Sprintf("%s\x00%s\x00%s\x00%d", v, probe, dir, r.Time().UnixNano())
		t := tests[k]
		if t == nil {
			t = &test{village: v, probe: probe, direction: dir, t: r.Time()}
			tests[k] = t
		}
		switch r.Field() {
		case "mbps":
			t.mbps, t.hasMbps = r.Value().(float64)
		case "error":
			t.failed = true
		}
	})
	if err != nil {
		return nil, err
	}
	for _, k := range slices.Sorted(maps.Keys(tests)) {
		t := tests[k]
		if t.hasMbps && !t.failed {
			w.throughput(t.village, t.direction, t.t, t.mbps)
		}
	}
	if err := ro.usageHour(ctx, h, vf, w); err != nil {
		return nil, err
	}
	return raw, nil
}

// usageHour rolls the routers' use of the link over [h, h+1h) per
// village: the most devices holding a lease at once, and the bytes the
// WAN counters moved (each probe's counters taken pair by pair from the
// last reading before the hour; a counter that went down restarted, and
// counts from zero).
func (ro *roller) usageHour(ctx context.Context, h time.Time, vf string, w *encoder) error {
	type reading struct {
		t            time.Time
		dev, rx, tx  float64
		hasRx, hasTx bool
		hasDev       bool
	}
	type key struct{ village, probe string }
	byProbe := map[key]map[int64]*reading{}
	q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %q and (r._field == "active_devices" or r._field == "wan_rx_bytes" or r._field == "wan_tx_bytes") and %s)
  |> keep(columns: ["_time", "_value", "_field", "village", "probe"])`,
		fluxStr(ro.db.cfg.RawBucket), fluxTime(h.Add(-ro.rules.MaxInterval*3)), fluxStop(h.Add(time.Hour)), rawUsage, vf)
	err := ro.db.each(ctx, q, func(r *query.FluxRecord) {
		v, _ := r.ValueByKey("village").(string)
		x, ok := r.Value().(float64)
		if v == "" || !ok {
			return
		}
		probe, _ := r.ValueByKey("probe").(string)
		k := key{v, probe}
		if byProbe[k] == nil {
			byProbe[k] = map[int64]*reading{}
		}
		rd := byProbe[k][r.Time().UnixNano()]
		if rd == nil {
			rd = &reading{t: r.Time()}
			byProbe[k][r.Time().UnixNano()] = rd
		}
		switch r.Field() {
		case "active_devices":
			rd.dev, rd.hasDev = x, true
		case "wan_rx_bytes":
			rd.rx, rd.hasRx = x, true
		case "wan_tx_bytes":
			rd.tx, rd.hasTx = x, true
		}
	})
	if err != nil {
		return err
	}
	type sum struct {
		dev, rx, tx float64
		n           int
	}
	sums := map[string]*sum{}
	delta := func(prev, cur float64) float64 {
		if cur >= prev {
			return cur - prev
		}
		return cur // the counter restarted (a reboot)
	}
	for k, m := range byProbe {
		rs := make([]*reading, 0, len(m))
		for _, rd := range m {
			rs = append(rs, rd)
		}
		slices.SortFunc(rs, func(a, b *reading) int { return a.t.Compare(b.t) })
		var prev *reading
		for _, rd := range rs {
			if rd.t.Before(h) {
				prev = rd
				continue
			}
			su := sums[k.village]
			if su == nil {
				su = &sum{}
				sums[k.village] = su
			}
			su.n++
			if rd.hasDev {
				su.dev = max(su.dev, rd.dev)
			}
			if prev != nil && prev.hasRx && rd.hasRx {
				su.rx += delta(prev.rx, rd.rx)
			}
			if prev != nil && prev.hasTx && rd.hasTx {
				su.tx += delta(prev.tx, rd.tx)
			}
			prev = rd
		}
	}
	// The probe's own speed tests go through the same WAN counters: what
	// they moved is not the village's use.
	if len(sums) > 0 {
		q = fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %q and r._field == "bytes" and %s)
  |> keep(columns: ["_time", "_value", "village", "direction"])`,
			fluxStr(ro.db.cfg.RawBucket), fluxTime(h), fluxStop(h.Add(time.Hour)), rawThroughput, vf)
		err = ro.db.each(ctx, q, func(r *query.FluxRecord) {
			v, _ := r.ValueByKey("village").(string)
			b, ok := r.Value().(float64)
			su := sums[v]
			if su == nil || !ok {
				return
			}
			if dir, _ := r.ValueByKey("direction").(string); dir == "upload" {
				su.tx = max(0, su.tx-b)
			} else {
				su.rx = max(0, su.rx-b)
			}
		})
		if err != nil {
			return err
		}
	}
	for _, v := range slices.Sorted(maps.Keys(sums)) {
		su := sums[v]
		w.start(MeasUsage1h, "village", v)
		w.float("devices_max", su.dev)
		w.float("rx_bytes", su.rx)
		w.float("tx_bytes", su.tx)
		w.float("samples", float64(su.n))
		w.end(h)
	}
	return nil
}

// rollHour rolls the hour [h, h+1h) for villages (nil: every village with
// data, plus those in known, which get all no-data hours when silent) and
// returns the lines to write.
func (ro *roller) rollHour(ctx context.Context, h time.Time, villages []string, known map[string]bool,
	records map[string][]record, w *encoder) (hourResult, error) {
	res := hourResult{villages: map[string]bool{}}
	raw, err := ro.rawHour(ctx, h, villages, w)
	if err != nil {
		return res, err
	}
	end := h.Add(time.Hour)
	for v, recs := range records {
		for _, rec := range recs {
			if rec.start.Before(end) && rec.end.After(h) {
				vr := raw[v]
				if vr == nil {
					vr = &villageRaw{}
					raw[v] = vr
				}
				vr.records = append(vr.records, rec)
			}
		}
	}
	if villages == nil {
		for v := range known {
			if raw[v] == nil {
				raw[v] = &villageRaw{}
			}
		}
	}
	for _, v := range slices.Sorted(maps.Keys(raw)) {
		vr := raw[v]
		vr.sort()
		res.heartbeats += ro.rollVillage(v, vr, h, w)
		res.villages[v] = true
	}
	return res, nil
}

// rollVillage writes one village's hour: its RTT summaries per target and
// 5 minutes, and its minutes by cause. It returns the heartbeats in the
// hour.
func (ro *roller) rollVillage(village string, vr *villageRaw, h time.Time, w *encoder) int {
	end := h.Add(time.Hour)
	rs, owner := ro.rules.rounds(vr)
	type key struct {
		target string
		w      time.Time
	}
	fives := map[key]*rttSummary{}
	hours := map[string]*rttSummary{}
	for i, p := range vr.pings {
		if p.t.Before(h) || !p.t.Before(end) {
			continue
		}
		state := byte(NoData)
		if owner[i] >= 0 {
			state = rs[owner[i]].state
		}
		k := key{p.target, p.t.Truncate(step5m)}
		if fives[k] == nil {
			fives[k] = &rttSummary{}
		}
		fives[k].add(p, state)
		if hours[p.target] == nil {
			hours[p.target] = &rttSummary{}
		}
		hours[p.target].add(p, state)
	}
	for _, k := range slices.SortedFunc(maps.Keys(fives), func(a, b key) int {
		if c := a.w.Compare(b.w); c != 0 {
			return c
		}
		return strings.Compare(a.target, b.target)
	}) {
		w.rtt(MeasRTT5m, village, k.target, k.w, fives[k])
	}
	var qs []targetQuality
	for _, target := range slices.Sorted(maps.Keys(hours)) {
		s := hours[target]
		w.rtt(MeasRTT1h, village, target, h, s)
		q := targetQuality{Target: target, N: len(s.medians), Up: s.upRounds, Loss: s.upLossSum}
		if q.N > 0 {
			slices.Sort(s.medians)
			q.P50 = quantile(s.medians, 0.5)
		}
		qs = append(qs, q)
	}

	minutes := ro.rules.minutes(vr, rs, h, 60)
	hbs := 0
	for _, hb := range vr.hbs {
		if !hb.t.Before(h) && hb.t.Before(end) {
			hbs++
		}
	}
	w.availHour(village, h, minutes, hbs, gapInputs(minutes, hbs, len(vr.records)), encodeQuality(qs))
	return hbs
}

// gapInputs is what a late-data scan compares: -1 when no minute of the
// hour is no data (nothing late can change it), else the heartbeats in the
// hour plus the outage records touching it — both only grow when late
// data arrives.
func gapInputs(minutes []byte, heartbeats, records int) int {
	if countMinutes(minutes).none == 0 {
		return -1
	}
	return heartbeats + records
}

// dayStart is the WIB midnight starting the day that contains t.
func dayStart(t time.Time) time.Time {
	w := t.In(sla.WIB)
	return time.Date(w.Year(), w.Month(), w.Day(), 0, 0, 0, 0, sla.WIB)
}

// rebuildDay recomputes the avail_1d points of day (a WIB midnight) from
// the avail_1h points of its 24 hours, for villages (nil: all). An hour
// without a point is no data.
func (ro *roller) rebuildDay(ctx context.Context, day time.Time, villages []string) (int, error) {
	end := day.Add(24 * time.Hour)
	type dayAcc struct {
		hours   [24]string
		quality [][]targetQuality
	}
	acc := map[string]*dayAcc{}
	q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %q and (r._field == "minutes" or r._field == "rtt") and %s)
  |> keep(columns: ["_time", "_value", "_field", "village"])`,
		fluxStr(ro.db.cfg.RollupBucket), fluxTime(day), fluxStop(end), MeasAvail1h, villageFilter(villages))
	var perr error
	err := ro.db.each(ctx, q, func(r *query.FluxRecord) {
		v, _ := r.ValueByKey("village").(string)
		s, _ := r.Value().(string)
		i := int(r.Time().Sub(day) / time.Hour)
		if v == "" || i < 0 || i >= 24 {
			return
		}
		a := acc[v]
		if a == nil {
			a = &dayAcc{}
			acc[v] = a
		}
		switch r.Field() {
		case "minutes":
			a.hours[i] = s
		case "rtt":
			qs, err := decodeQuality(s)
			if err != nil && perr == nil {
				perr = err
			}
			a.quality = append(a.quality, qs)
		}
	})
	if err == nil {
		err = perr
	}
	if err != nil {
		return 0, err
	}
	var w encoder
	w.init()
	none := strings.Repeat(string(rune(NoData)), 60)
	for _, v := range slices.Sorted(maps.Keys(acc)) {
		a := acc[v]
		minutes := make([]byte, 0, 24*60)
		for _, s := range a.hours {
			if len(s) != 60 {
				s = none
			}
			minutes = append(minutes, s...)
		}
		w.availDay(v, day, minutes, encodeQuality(mergeQuality(a.quality)))
	}
	lines, err := w.bytes()
	if err != nil {
		return 0, err
	}
	return w.n, ro.db.writeLines(ctx, lines)
}

// encoder builds the rollup's line protocol.
type encoder struct {
	enc lineprotocol.Encoder
	n   int
}

func (w *encoder) init() {
	w.enc.SetPrecision(lineprotocol.Nanosecond)
	w.enc.SetLax(true) // names are our constants; tag values come from stored tags
}

// bytes returns the lines, or the first encoding error.
func (w *encoder) bytes() ([]byte, error) {
	if err := w.enc.Err(); err != nil {
		return nil, fmt.Errorf("rollup: encoding line protocol: %w", err)
	}
	return w.enc.Bytes(), nil
}

func (w *encoder) reset() {
	w.enc.Reset()
	w.n = 0
}

func (w *encoder) start(m string, tags ...string) {
	w.enc.StartLine(m)
	for i := 0; i+1 < len(tags); i += 2 {
		if tags[i+1] != "" {
			w.enc.AddTag(tags[i], tags[i+1])
		}
	}
}

func (w *encoder) float(k string, v float64) {
	x, ok := lineprotocol.FloatValue(v)
	if ok {
		w.enc.AddField(k, x)
	}
}

func (w *encoder) str(k, v string) {
	x, _ := lineprotocol.StringValue(v)
	w.enc.AddField(k, x)
}

func (w *encoder) end(t time.Time) {
	w.enc.EndLine(t)
	w.n++
}

func (w *encoder) rtt(m, village, target string, t time.Time, s *rttSummary) {
	w.start(m, "target", target, "village", village)
	w.float("rounds", float64(s.rounds))
	w.float("rounds_lost", float64(s.lost))
	w.float("loss_pct", s.lossSum/float64(s.rounds))
	if len(s.medians) > 0 {
		slices.Sort(s.medians)
		w.float("p50_ms", quantile(s.medians, 0.5))
		w.float("p90_ms", quantile(s.medians, 0.9))
		w.float("min_ms", s.medians[0])
		w.float("max_ms", s.medians[len(s.medians)-1])
	}
	w.end(t)
}

func (w *encoder) minuteFields(minutes []byte) {
	c := countMinutes(minutes)
	w.float("up_min", float64(c.up))
	w.float("link_down_min", float64(c.down))
	w.float("power_cut_min", float64(c.power))
	w.float("probe_fault_min", float64(c.fault))
	w.float("no_data_min", float64(c.none))
}

func (w *encoder) availHour(village string, h time.Time, minutes []byte, heartbeats, gap int, quality string) {
	w.start(MeasAvail1h, "village", village)
	w.minuteFields(minutes)
	w.float("heartbeats", float64(heartbeats))
	w.float("gap_inputs", float64(gap))
	w.str("minutes", string(minutes))
	w.str("rtt", quality)
	w.end(h)
}

func (w *encoder) availDay(village string, day time.Time, minutes []byte, quality string) {
	w.start(MeasAvail1d, "village", village)
	w.minuteFields(minutes)
	w.str("timeline", runLength(minutes))
	w.str("rtt", quality)
	w.end(day)
}

func (w *encoder) throughput(village, direction string, t time.Time, mbps float64) {
	w.start(MeasThroughput, "direction", direction, "village", village)
	w.float("mbps", mbps)
	w.end(t)
}

// mark says the hour h has been rolled for every village. It holds only
// what the roll found, so rolling an hour again writes the same point.
func (w *encoder) mark(h time.Time, villages, heartbeats int) {
	w.start(MeasMark, "kind", "hour")
	w.float("villages", float64(villages))
	w.float("heartbeats", float64(heartbeats))
	w.end(h)
}
