package jagadesa

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

func goodReport() *Report {
	t := now.Add(-time.Minute).UnixMilli()
	return &Report{
		Version: WireVersion, Probe: "p-1", Village: "33.06.08.2005",
		Samples: []Sample{
			{Seq: 1, TimeMs: t, Kind: KindICMP, Target: "8.8.8.8", ICMP: &ICMP{Sent: 3, Received: 2, MinMs: 10, AvgMs: 11, MaxMs: 12, StddevMs: 1, JitterMs: 0.1, RTTsMs: []float64{10, 12}}},
			{Seq: 2, TimeMs: t, Kind: KindHeartbeat, Heartbeat: &Heartbeat{BootID: "b", UptimeS: 100, IntervalS: 60}},
		},
		Events: []Event{{Seq: 3, TimeMs: t, Kind: "probe_start", Severity: "info"}},
	}
}

func TestValidateAcceptsGoodReport(t *testing.T) {
	if p := goodReport().Validate(now); p != nil {
		t.Fatalf("good report rejected: %v", p)
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(r *Report)
		field string
	}{
		{"wrong version", func(r *Report) { r.Version = 2 }, "v"},
		{"bad village code", func(r *Report) { r.Village = "33.06.08" }, "village"},
		{"empty", func(r *Report) { r.Samples, r.Events = nil, nil }, "samples"},
		{"missing seq", func(r *Report) { r.Samples[0].Seq = 0 }, "samples[0].seq"},
		{"older than 7 days", func(r *Report) { r.Samples[0].TimeMs = now.Add(-8 * 24 * time.Hour).UnixMilli() }, "samples[0].t"},
		{"more than 5 min in future", func(r *Report) { r.Samples[1].TimeMs = now.Add(6 * time.Minute).UnixMilli() }, "samples[1].t"},
		{"unknown kind", func(r *Report) { r.Samples[0].Kind = "smtp" }, "samples[0].kind"},
		{"icmp without body", func(r *Report) { r.Samples[0].ICMP = nil }, "samples[0].icmp"},
		{"icmp without target", func(r *Report) { r.Samples[0].Target = "" }, "samples[0].target"},
		{"received > sent", func(r *Report) { r.Samples[0].ICMP.Received = 4 }, "samples[0].icmp.received"},
		{"negative rtt", func(r *Report) { r.Samples[0].ICMP.MinMs = -1 }, "samples[0].icmp.min_ms"},
		{"absurd rtt", func(r *Report) { r.Samples[0].ICMP.MaxMs = 1e9 }, "samples[0].icmp.max_ms"},
		{"avg outside min..max", func(r *Report) { r.Samples[0].ICMP.AvgMs = 50 }, "samples[0].icmp.avg_ms"},
		{"rtt count mismatch", func(r *Report) { r.Samples[0].ICMP.RTTsMs = []float64{1} }, "samples[0].icmp.rtts_ms"},
		{"control char in target", func(r *Report) { r.Samples[0].Target = "a\nb" }, "samples[0].target"},
		{"heartbeat missing", func(r *Report) { r.Samples[1].Heartbeat = nil }, "samples[1].heartbeat"},
		{"negative uptime", func(r *Report) { r.Samples[1].Heartbeat.UptimeS = -1 }, "samples[1].heartbeat.uptime_s"},
		{"bad severity", func(r *Report) { r.Events[0].Severity = "panic" }, "events[0].severity"},
		{"event without kind", func(r *Report) { r.Events[0].Kind = "" }, "events[0].kind"},
		{"long message", func(r *Report) { r.Events[0].Message = strings.Repeat("x", MaxTextLen+1) }, "events[0].message"},
		{"too many records", func(r *Report) { r.Samples = make([]Sample, MaxRecordsPerReport+1) }, "samples"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := goodReport()
			tt.edit(r)
			p := r.Validate(now)
			if _, ok := p[tt.field]; !ok {
				t.Fatalf("want a problem at %q, got %v", tt.field, p)
			}
		})
	}
}

func TestValidateBoundsProblemCount(t *testing.T) {
	r := goodReport()
	for i := 0; i < 500; i++ {
		r.Samples = append(r.Samples, Sample{Kind: "nope"})
	}
	if p := r.Validate(now); len(p) > 51 {
		t.Fatalf("%d problems listed; the list must stay bounded", len(p))
	}
}

func TestNaNCannotArriveAsJSON(t *testing.T) {
	// JSON has no NaN; a probe that tries gets a decode error, not a NaN.
	var r Report
	if err := json.Unmarshal([]byte(`{"v":1,"samples":[{"icmp":{"min_ms":NaN}}]}`), &r); err == nil {
		t.Fatal("NaN decoded")
	}
}

func TestICMPDerived(t *testing.T) {
	p := ICMP{Sent: 4, Received: 3, AvgMs: 9, RTTsMs: []float64{30, 10, 20}}
	if got := p.LossPct(); got != 25 {
		t.Errorf("loss = %v, want 25", got)
	}
	if got := p.MedianMs(); got != 20 {
		t.Errorf("median = %v, want 20", got)
	}
	p.RTTsMs = []float64{10, 40, 20, 30}
	if got := p.MedianMs(); got != 25 {
		t.Errorf("even median = %v, want 25", got)
	}
	p.RTTsMs = []float64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110}
	if got := p.Quantiles(); got != [5]float64{20, 35, 60, 85, 100} {
		t.Errorf("quantiles = %v, want [20 35 60 85 100]", got)
	}
	p.RTTsMs = nil
	if got := p.MedianMs(); got != 9 {
		t.Errorf("median without RTTs = %v, want the average 9", got)
	}
}

func TestValidVillageCode(t *testing.T) {
	for s, want := range map[string]bool{
		"33.06.08.2005": true, "15.01.01.2001": true,
		"33.06.08.200": false, "33-06-08-2005": false, "3a.06.08.2005": false, "": false, "33.06.08.20051": false,
	} {
		if got := ValidVillageCode(s); got != want {
			t.Errorf("ValidVillageCode(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestParseStatus(t *testing.T) {
	if s, err := ParseStatus("down"); err != nil || s != StatusDown {
		t.Fatalf("ParseStatus(down) = %v, %v", s, err)
	}
	if _, err := ParseStatus("sideways"); err == nil {
		t.Fatal("unknown status accepted")
	}
}

// Split keeps the good records and names every bad one by its seq.
func TestReportSplit(t *testing.T) {
	now := time.Now()
	ms := now.Add(-time.Minute).UnixMilli()
	icmp := func(seq uint64, target string) Sample {
		return Sample{Seq: seq, TimeMs: ms, Kind: KindICMP, Target: target, ICMP: &ICMP{Sent: 1, Received: 1, MinMs: 1, AvgMs: 1, MaxMs: 1}}
	}
	r := Report{Version: WireVersion, Probe: "p", Village: "33.06.08.2007", Stream: "s-1", Samples: []Sample{
		icmp(1, "ok"), icmp(2, `ends\`), icmp(3, `a\ b`), icmp(MaxSeq+1, "ok"), icmp(5, "ok"), icmp(5, "again"), icmp(0, "zero"),
	}, Events: []Event{{Seq: 7, TimeMs: ms, Kind: "k", Severity: "warning"}, {Seq: 8, TimeMs: ms, Kind: "k", Severity: "loud"}}}
	if p := r.ValidateHeader(); p != nil {
		t.Fatal(p)
	}
	rej := r.Split(now)
	var got []uint64
	for _, x := range rej {
		got = append(got, x.Seq)
	}
	if fmt.Sprint(got) != fmt.Sprint([]uint64{2, 3, MaxSeq + 1, 5, 0, 8}) || len(r.Samples) != 2 || len(r.Events) != 1 {
		t.Fatalf("refused %v, kept %d samples and %d events", got, len(r.Samples), len(r.Events))
	}
	if r.Validate(now) != nil {
		t.Fatalf("what Split kept fails validation: %v", r.Validate(now))
	}
	for _, s := range []string{"a b", `a\b`, "a,b", `\\`} {
		if !tagValue(s) && s != `\\` {
			t.Errorf("tagValue(%q) refused", s)
		}
	}
	for _, s := range []string{`a\`, `a\ b`, `a\,b`, `a\=b`, "a\nb"} {
		if tagValue(s) {
			t.Errorf("tagValue(%q) accepted", s)
		}
	}
	for _, s := range []string{"s-1", "A.b_c", ""} {
		if !ValidStream(s) {
			t.Errorf("ValidStream(%q) = false", s)
		}
	}
	for _, s := range []string{"a b", "a/b", strings.Repeat("x", 65), "ü"} {
		if ValidStream(s) {
			t.Errorf("ValidStream(%q) = true", s)
		}
	}
}

func TestGroupEvents(t *testing.T) {
	src := func(ip string) map[string]string { return map[string]string{"source": ip} }
	g := GroupEvents([]Event{
		{Seq: 3, TimeMs: 30, Kind: "login_bruteforce", Severity: "warning", Attrs: src("a"), Message: "third"},
		{Seq: 1, TimeMs: 10, Kind: "login_bruteforce", Severity: "warning", Attrs: src("a"), Message: "first"},
		{Seq: 2, TimeMs: 20, Kind: "login_bruteforce", Severity: "warning", Attrs: src("b")},
		{Seq: 4, TimeMs: 5, Kind: "login_bruteforce", Severity: "critical", Attrs: src("a")},
	})
	if len(g) != 3 || g[0].Count != 2 || g[0].FirstMs != 10 || g[0].Seq != 3 || g[0].Message != "third" || g[1].Count != 1 || g[2].Severity != "critical" {
		t.Fatalf("groups %+v", g)
	}
}
