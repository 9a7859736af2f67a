package influx

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jagadesa/jagadesa"
)

// Outages are stored at their start, so one that began before the range but
// ended inside it is found by looking back this much further.
const outageLookback = 30 * 24 * time.Hour

// maxEvents bounds the events a village page lists.
const maxEvents = 50

// History reads one village's stored history between from and to, reduced
// to windows of step. Every query filters on the village tag first, so it
// touches one village's series only (0.2 s for a month of one village in
// the notes, against 13 s for the whole fleet).
//
// The Flux here runs on InfluxDB 1.8 (Flux 0.65) and 2.x alike: median via
// aggregateWindow (quantile with its default method), no findRecord, no
// schema package.
func (s *Store) History(ctx context.Context, village string, from, to time.Time, step time.Duration) (*jagadesa.History, error) {
	if step < time.Second {
		return nil, fmt.Errorf("influx: history step %v is under a second", step)
	}
	from, to = from.UTC().Truncate(step), to.UTC()
	h := &jagadesa.History{Village: village, From: from, To: to, StepS: int(step / time.Second),
		RTT: map[string][]jagadesa.RTTWindow{}, Targets: []string{}, Outages: []jagadesa.OutageSpan{},
		Events: []jagadesa.EventRecord{}, Throughput: []jagadesa.ThroughputTest{}, LANSpeed: []jagadesa.LANSpeedTest{}}
	base := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r.village == %s)`, FluxString(s.bucket), from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), FluxString(village))
	every := fmt.Sprintf("%ds", int(step/time.Second))

	if err := s.historyRTT(ctx, h, base, every); err != nil {
		return nil, err
	}
	if err := s.historyHeartbeats(ctx, h, base, every, step); err != nil {
		return nil, err
	}
	if err := s.historyOutages(ctx, h, village, from, to); err != nil {
		return nil, err
	}
	if err := s.historyEvents(ctx, h, base); err != nil {
		return nil, err
	}
	if err := s.historyThroughput(ctx, h, base); err != nil {
		return nil, err
	}
	if err := s.historyLANSpeed(ctx, h, base); err != nil {
		return nil, err
	}
	return h, nil
}

// historyLANSpeed lists the villagers' tests of the range, newest last,
// at most 200.
func (s *Store) historyLANSpeed(ctx context.Context, h *jagadesa.History, base string) error {
	q := fmt.Sprintf(`%s
  |> filter(fn: (r) => r._measurement == %q)
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> group()
  |> sort(columns: ["_time"])
  |> tail(n: 200)`, base, MeasLANSpeed)
	recs, err := s.Query(ctx, q)
	if err != nil {
		return err
	}
	num := func(r map[string]any, k string) float64 { v, _ := r[k].(float64); return v }
	opt := func(r map[string]any, k string) *float64 {
		if v, ok := r[k].(float64); ok {
			return &v
		}
		return nil
	}
	for _, r := range recs {
		t, _ := r["_time"].(time.Time)
		v, _ := r["verdict"].(string)
		h.LANSpeed = append(h.LANSpeed, jagadesa.LANSpeedTest{T: t, LANSpeed: jagadesa.LANSpeed{DownMbps: num(r, "down_mbps"), UpMbps: num(r, "up_mbps"),
			RTTMs: num(r, "rtt_ms"), WANDownMbps: opt(r, "wan_down_mbps"), WANUpMbps: opt(r, "wan_up_mbps"), Verdict: v}})
	}
	return nil
}

// historyRTT aggregates each ICMP field with the function that keeps its
// meaning over a window: the median of medians, the extremes of extremes,
// the mean of the percentiles and of the loss.
func (s *Store) historyRTT(ctx context.Context, h *jagadesa.History, base, every string) error {
	q := fmt.Sprintf(`data = %s
  |> filter(fn: (r) => r._measurement == "icmp")
med = data |> filter(fn: (r) => r._field == "rtt_median_ms") |> aggregateWindow(every: %[2]s, fn: median, createEmpty: false)
lo = data |> filter(fn: (r) => r._field == "rtt_min_ms") |> aggregateWindow(every: %[2]s, fn: min, createEmpty: false)
hi = data |> filter(fn: (r) => r._field == "rtt_max_ms") |> aggregateWindow(every: %[2]s, fn: max, createEmpty: false)
avg = data |> filter(fn: (r) => r._field == "rtt_p10_ms" or r._field == "rtt_p25_ms" or r._field == "rtt_p75_ms" or r._field == "rtt_p90_ms" or r._field == "loss_pct")
  |> aggregateWindow(every: %[2]s, fn: mean, createEmpty: false)
union(tables: [med, lo, hi, avg])
  |> keep(columns: ["_time", "_field", "_value", "target"])`, base, every)
	recs, err := s.Query(ctx, q)
	if err != nil {
		return err
	}
	type key struct {
		target string
		t      time.Time
	}
	rows := map[key]*jagadesa.RTTWindow{}
	for _, r := range recs {
		target, _ := r["target"].(string)
		t, _ := r["_time"].(time.Time)
		v, ok := r["_value"].(float64)
		if !ok {
			continue
		}
		k := key{target, t}
		w := rows[k]
		if w == nil {
			w = &jagadesa.RTTWindow{T: t}
			rows[k] = w
		}
		p := &v
		switch r["_field"] {
		case "rtt_median_ms":
			w.Median = p
		case "rtt_min_ms":
			w.Min = p
		case "rtt_max_ms":
			w.Max = p
		case "rtt_p10_ms":
			w.P10 = p
		case "rtt_p25_ms":
			w.P25 = p
		case "rtt_p75_ms":
			w.P75 = p
		case "rtt_p90_ms":
			w.P90 = p
		case "loss_pct":
			w.LossPct = p
		}
	}
	for k, w := range rows {
		h.RTT[k.target] = append(h.RTT[k.target], *w)
	}
	for target, ws := range h.RTT {
		sort.Slice(ws, func(i, j int) bool { return ws[i].T.Before(ws[j].T) })
		h.Targets = append(h.Targets, target)
	}
	sort.Strings(h.Targets)
	return nil
}

// historyHeartbeats counts heartbeats per step; empty steps are the probe's
// silences, which the server turns into an uptime strip.
func (s *Store) historyHeartbeats(ctx context.Context, h *jagadesa.History, base, every string, step time.Duration) error {
	q := fmt.Sprintf(`%s
  |> filter(fn: (r) => r._measurement == "heartbeat" and r._field == "uptime_s")
  |> group()
  |> aggregateWindow(every: %s, fn: count, createEmpty: false, timeSrc: "_start")`, base, every)
	recs, err := s.Query(ctx, q)
	if err != nil {
		return err
	}
	n := int(h.To.Sub(h.From)/step) + 1
	h.Heartbeats = make([]int, n)
	for _, r := range recs {
		t, _ := r["_time"].(time.Time)
		c, _ := r["_value"].(int64)
		i := int(t.Sub(h.From) / step)
		if i >= 0 && i < n {
			h.Heartbeats[i] += int(c)
		}
	}
	return nil
}

func (s *Store) historyOutages(ctx context.Context, h *jagadesa.History, village string, from, to time.Time) error {
	q := fmt.Sprintf(`import "influxdata/influxdb/v1"
from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r.village == %s and r._measurement == "outage")
  |> v1.fieldsAsCols()
  |> group()
  |> sort(columns: ["_time"])`, FluxString(s.bucket), from.Add(-outageLookback).Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), FluxString(village))
	recs, err := s.Query(ctx, q)
	if err != nil {
		return err
	}
	for _, r := range recs {
		start, _ := r["_time"].(time.Time)
		endS, ok := r["end_s"].(float64)
		if !ok {
			continue
		}
		end := time.UnixMilli(int64(endS * 1000)).UTC()
		if end.Before(from) {
			continue
		}
		o := jagadesa.OutageSpan{Start: start, End: &end, DurationS: end.Sub(start).Seconds()}
		o.Cause, _ = r["cause"].(string)
		o.Detail, _ = r["detail"].(string)
		h.Outages = append(h.Outages, o)
	}
	return nil
}

func (s *Store) historyEvents(ctx context.Context, h *jagadesa.History, base string) error {
	q := fmt.Sprintf(`%s
  |> filter(fn: (r) => r._measurement == "event" and r._field == "message")
  |> group()
  |> sort(columns: ["_time"], desc: true)
  |> limit(n: %d)`, base, maxEvents)
	recs, err := s.Query(ctx, q)
	if err != nil {
		return err
	}
	for _, r := range recs {
		e := jagadesa.EventRecord{}
		e.T, _ = r["_time"].(time.Time)
		e.Kind, _ = r["kind"].(string)
		e.Severity, _ = r["severity"].(string)
		e.Message, _ = r["_value"].(string)
		h.Events = append(h.Events, e)
	}
	return nil
}

// historyThroughput pairs the download and upload of one speed test: the
// probe runs them back to back, so an upload within a minute of a download
// belongs to it.
func (s *Store) historyThroughput(ctx context.Context, h *jagadesa.History, base string) error {
	q := fmt.Sprintf(`%s
  |> filter(fn: (r) => r._measurement == "throughput" and r._field == "mbps")
  |> group()
  |> sort(columns: ["_time"])`, base)
	recs, err := s.Query(ctx, q)
	if err != nil {
		return err
	}
	for _, r := range recs {
		t, _ := r["_time"].(time.Time)
		v, ok := r["_value"].(float64)
		if !ok {
			continue
		}
		dir, _ := r["direction"].(string)
		n := len(h.Throughput)
		var cur *jagadesa.ThroughputTest
		if n > 0 && t.Sub(h.Throughput[n-1].T) < time.Minute {
			cur = &h.Throughput[n-1]
		} else {
			h.Throughput = append(h.Throughput, jagadesa.ThroughputTest{T: t})
			cur = &h.Throughput[n]
		}
		switch strings.ToLower(dir) {
		case "download":
			if cur.DownloadMbps != nil { // a second download starts a new test
				h.Throughput = append(h.Throughput, jagadesa.ThroughputTest{T: t})
				cur = &h.Throughput[len(h.Throughput)-1]
			}
			cur.DownloadMbps = &v
		case "upload":
			if cur.UploadMbps != nil {
				h.Throughput = append(h.Throughput, jagadesa.ThroughputTest{T: t})
				cur = &h.Throughput[len(h.Throughput)-1]
			}
			cur.UploadMbps = &v
		}
	}
	return nil
}
