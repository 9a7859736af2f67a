package influx_test

import (
	"context"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
)

// A village's history comes back as the page draws it: windows per target
// with the right aggregate per field, heartbeats per step, outages that
// began before the range, newest events first, and speed tests paired.
func TestHistory(t *testing.T) {
	s := newStore(t)
	const village = "33.06.08.2007"
	step := 5 * time.Minute
	from := time.Now().UTC().Add(-time.Hour).Truncate(step)
	to := from.Add(time.Hour)
	r := &jagadesa.Report{Version: 1, Probe: "p-1", Village: village}
	seq := uint64(0)
	add := func(smp jagadesa.Sample) {
		seq++
		smp.Seq = seq
		r.Samples = append(r.Samples, smp)
	}
	// Window 1 (from .. from+5m): three rounds to target a, medians 10, 20, 60.
	for i, rtts := range [][]float64{{10, 10, 10, 10}, {20, 20, 20, 20}, {5, 60, 60, 90}} {
		add(jagadesa.Sample{TimeMs: from.Add(time.Duration(i+1) * time.Minute).UnixMilli(), Kind: jagadesa.KindICMP, Target: "a",
			ICMP: &jagadesa.ICMP{Sent: 5, Received: 4, MinMs: rtts[0], AvgMs: mean(rtts), MaxMs: rtts[3], RTTsMs: rtts}})
	}
	// Window 3: target b, all lost.
	add(jagadesa.Sample{TimeMs: from.Add(11 * time.Minute).UnixMilli(), Kind: jagadesa.KindICMP, Target: "b", ICMP: &jagadesa.ICMP{Sent: 5, Received: 0}})
	// Heartbeats: two in the first step, one in the third.
	for _, m := range []int{1, 3, 12} {
		add(jagadesa.Sample{TimeMs: from.Add(time.Duration(m) * time.Minute).UnixMilli(), Kind: jagadesa.KindHeartbeat, Heartbeat: &jagadesa.Heartbeat{UptimeS: 100, IntervalS: 60}})
	}
	// An outage that began two hours before the range and ended inside it,
	// and one long over before the range.
	add(jagadesa.Sample{TimeMs: from.Add(20 * time.Minute).UnixMilli(), Kind: jagadesa.KindOutage,
		Outage: &jagadesa.Outage{Cause: "power", StartMs: from.Add(-2 * time.Hour).UnixMilli(), EndMs: from.Add(20 * time.Minute).UnixMilli(), Detail: "unclean stop"}})
	add(jagadesa.Sample{TimeMs: from.Add(20 * time.Minute).UnixMilli(), Kind: jagadesa.KindOutage,
		Outage: &jagadesa.Outage{Cause: "link", StartMs: from.Add(-5 * time.Hour).UnixMilli(), EndMs: from.Add(-4 * time.Hour).UnixMilli()}})
	// A speed test: download then upload 20 s later.
	add(jagadesa.Sample{TimeMs: from.Add(30 * time.Minute).UnixMilli(), Kind: jagadesa.KindThroughput, Throughput: &jagadesa.Throughput{Direction: "download", Bytes: 1e6, DurationMs: 1000, Mbps: 91.5}})
	add(jagadesa.Sample{TimeMs: from.Add(30*time.Minute + 20*time.Second).UnixMilli(), Kind: jagadesa.KindThroughput, Throughput: &jagadesa.Throughput{Direction: "upload", Bytes: 1e6, DurationMs: 1000, Mbps: 40.25}})
	r.Events = []jagadesa.Event{
		{Seq: 100, TimeMs: from.Add(2 * time.Minute).UnixMilli(), Kind: "link_down", Severity: "warning", Message: "gateway unreachable"},
		{Seq: 101, TimeMs: from.Add(4 * time.Minute).UnixMilli(), Kind: "link_up", Severity: "info", Message: "back"},
	}
	if err := r.Validate(time.Now()); err != nil {
		t.Fatalf("test report invalid: %v", err)
	}
	if _, err := s.WriteReport(context.Background(), r, "33.06"); err != nil {
		t.Fatal(err)
	}
	// Another village's points must not leak in.
	if _, err := s.WriteReport(context.Background(), rep("33.06.08.2001", from.Add(time.Minute), 3), "33.06"); err != nil {
		t.Fatal(err)
	}

	h, err := s.History(context.Background(), village, from, to, step)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Targets) != 2 || h.Targets[0] != "a" || h.Targets[1] != "b" {
		t.Fatalf("targets = %v", h.Targets)
	}
	a := h.RTT["a"]
	if len(a) != 1 {
		t.Fatalf("target a windows = %+v", a)
	}
	w := a[0]
	// Round medians 10, 20, 60 → median 20; min of mins 5; max of maxes 90; loss 20% each.
	if w.Median == nil || *w.Median != 20 || *w.Min != 5 || *w.Max != 90 || *w.LossPct != 20 {
		t.Fatalf("window = median %v min %v max %v loss %v", deref(w.Median), deref(w.Min), deref(w.Max), deref(w.LossPct))
	}
	if !w.T.Equal(from.Add(step)) {
		t.Fatalf("window time %v, want the window's end %v", w.T, from.Add(step))
	}
	if b := h.RTT["b"]; len(b) != 1 || b[0].Median != nil || b[0].LossPct == nil || *b[0].LossPct != 100 {
		t.Fatalf("target b = %+v", b)
	}
	if len(h.Heartbeats) != 13 || h.Heartbeats[0] != 2 || h.Heartbeats[1] != 0 || h.Heartbeats[2] != 1 {
		t.Fatalf("heartbeats = %v", h.Heartbeats)
	}
	if len(h.Outages) != 1 || h.Outages[0].Cause != "power" || h.Outages[0].DurationS != (2*time.Hour+20*time.Minute).Seconds() || h.Outages[0].Detail != "unclean stop" {
		t.Fatalf("outages = %+v", h.Outages)
	}
	if len(h.Events) != 2 || h.Events[0].Kind != "link_up" || h.Events[1].Severity != "warning" || h.Events[1].Message != "gateway unreachable" {
		t.Fatalf("events = %+v", h.Events)
	}
	if len(h.Throughput) != 1 || *h.Throughput[0].DownloadMbps != 91.5 || *h.Throughput[0].UploadMbps != 40.25 {
		t.Fatalf("throughput = %+v", h.Throughput)
	}

	// A village with nothing stored has an empty history, not an error.
	h, err = s.History(context.Background(), "33.06.08.2002", from, to, step)
	if err != nil || len(h.Targets) != 0 || len(h.Events) != 0 || len(h.Heartbeats) != 13 {
		t.Fatalf("empty history = %+v, %v", h, err)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func mean(xs []float64) float64 {
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

// Villagers' own speed tests come back on the village page, with their
// verdict and the WAN figure only when the probe had one.
func TestHistoryLANSpeed(t *testing.T) {
	s := newStore(t)
	const village = "33.06.08.2007"
	now := time.Now().UTC().Truncate(time.Second)
	wan := 92.0
	r := &jagadesa.Report{Version: 1, Probe: "p-1", Village: village, Samples: []jagadesa.Sample{
		{Seq: 1, TimeMs: now.Add(-20 * time.Minute).UnixMilli(), Kind: jagadesa.KindLANSpeed,
			LANSpeed: &jagadesa.LANSpeed{DownMbps: 18.5, UpMbps: 9.25, RTTMs: 14, WANDownMbps: &wan, Verdict: jagadesa.LANVerdictWiFi}},
		{Seq: 2, TimeMs: now.Add(-10 * time.Minute).UnixMilli(), Kind: jagadesa.KindLANSpeed,
			LANSpeed: &jagadesa.LANSpeed{DownMbps: 80, UpMbps: 70, RTTMs: 3, Verdict: jagadesa.LANVerdictUnknown}},
	}}
	if p := r.Validate(time.Now()); p != nil {
		t.Fatal(p)
	}
	if _, err := s.WriteReport(context.Background(), r, "33.06"); err != nil {
		t.Fatal(err)
	}
	h, err := s.History(context.Background(), village, now.Add(-time.Hour), now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.LANSpeed) != 2 {
		t.Fatalf("lan tests %+v", h.LANSpeed)
	}
	a, b := h.LANSpeed[0], h.LANSpeed[1]
	if a.DownMbps != 18.5 || a.UpMbps != 9.25 || a.RTTMs != 14 || a.WANDownMbps == nil || *a.WANDownMbps != 92 || a.WANUpMbps != nil || a.Verdict != "wifi" {
		t.Errorf("first %+v", a)
	}
	if b.Verdict != "unknown" || b.WANDownMbps != nil || !b.T.After(a.T) {
		t.Errorf("second %+v", b)
	}
}
