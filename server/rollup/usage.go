package rollup

import (
	"context"
	"fmt"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/query"

	"github.com/jagadesa/jagadesa/server/sla"
)

// UseData is a village's use of its link over a month, from the usage_1h
// rollups (the readiness index's use pillar, docs/readiness.md).
type UseData struct {
	// DevicesPerDay is the mean, over the days the router reported, of
	// the most devices holding a lease at once that day.
	DevicesPerDay float64
	// Days is how many days of the month the router reported its
	// counters; DaysWithTraffic how many of them moved at least
	// TrafficDayBytes through the WAN (the probe's own speed tests left
	// out).
	Days, DaysWithTraffic int
	// Bytes is what the WAN moved in the month, both directions, the
	// probe's speed tests left out.
	Bytes float64
}

// TrafficDayBytes is what a day must move to count as a day with traffic:
// 50 MB, well above a router's own chatter (time, updates, the probe's
// reports: a few MB a day) and below any day a village used the link.
const TrafficDayBytes = 50e6

// MonthUse reads the use of villages over the WIB calendar month
// containing month. A village whose router sent no usage is absent.
func (r *Reader) MonthUse(ctx context.Context, month time.Time, villages []string) (map[string]UseData, error) {
	start, end := sla.MonthRange(month)
	want := map[string]bool{}
	for _, v := range villages {
		want[v] = true
	}
	filter := villages
	if len(villages) > smallSet {
		filter = nil
	}
	type day struct {
		dev, bytes float64
		samples    float64
	}
	days := map[string]map[time.Time]*day{}
	q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %q and %s)
  |> keep(columns: ["_time", "_value", "_field", "village"])`,
		fluxStr(r.db.cfg.RollupBucket), fluxTime(start), fluxStop(end), MeasUsage1h, villageFilter(filter))
	err := r.db.each(ctx, q, func(rec *query.FluxRecord) {
		v, _ := rec.ValueByKey("village").(string)
		x, ok := rec.Value().(float64)
		if !want[v] || !ok {
			return
		}
		w := rec.Time().In(sla.WIB)
		d0 := time.Date(w.Year(), w.Month(), w.Day(), 0, 0, 0, 0, sla.WIB)
		if days[v] == nil {
			days[v] = map[time.Time]*day{}
		}
		d := days[v][d0]
		if d == nil {
			d = &day{}
			days[v][d0] = d
		}
		switch rec.Field() {
		case "devices_max":
			d.dev = max(d.dev, x)
		case "rx_bytes", "tx_bytes":
			d.bytes += x
		case "samples":
			d.samples += x
		}
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]UseData, len(days))
	for v, ds := range days {
		var u UseData
		var devSum float64
		for _, d := range ds {
			if d.samples == 0 {
				continue
			}
			u.Days++
			devSum += d.dev
			u.Bytes += d.bytes
			if d.bytes >= TrafficDayBytes {
				u.DaysWithTraffic++
			}
		}
		if u.Days == 0 {
			continue
		}
		u.DevicesPerDay = devSum / float64(u.Days)
		out[v] = u
	}
	return out, nil
}
