package influx

import (
	"strings"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
)

func TestAppendReport(t *testing.T) {
	ts := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC).UnixMilli()
	r := &jagadesa.Report{Version: 1, Probe: "p-1", Village: "33.06.08.2005",
		Samples: []jagadesa.Sample{
			{Seq: 7, TimeMs: ts, Kind: jagadesa.KindICMP, Target: "dns server,1", ICMP: &jagadesa.ICMP{Sent: 4, Received: 3, MinMs: 10, AvgMs: 20, MaxMs: 30, StddevMs: 8.16, JitterMs: 1.25, RTTsMs: []float64{10, 30, 20}}},
			{Seq: 8, TimeMs: ts, Kind: jagadesa.KindICMP, Target: "gw", ICMP: &jagadesa.ICMP{Sent: 4}},
			{Seq: 9, TimeMs: ts, Kind: jagadesa.KindHeartbeat, Heartbeat: &jagadesa.Heartbeat{BootID: "b1", UptimeS: 12.5, ProbeStartMs: 1000, PrevClean: true, IntervalS: 60, ProbeVersion: "v1"}},
		},
		Events: []jagadesa.Event{{Seq: 10, TimeMs: ts, Kind: "probe_start", Severity: "info", Message: `said "hi"`, Attrs: map[string]string{"b": "2", "a": "1"}}},
	}
	var e Encoder
	got, n, err := e.AppendReport(nil, r, "33.06")
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Fatalf("n = %d, want 4", n)
	}
	want := strings.Join([]string{
		`icmp,probe=p-1,regency=33.06,target=dns\ server\,1,village=33.06.08.2005 sent=4,received=3,loss_pct=25,rtt_min_ms=10,rtt_p10_ms=12,rtt_p25_ms=15,rtt_avg_ms=20,rtt_median_ms=20,rtt_p75_ms=25,rtt_p90_ms=28,rtt_max_ms=30,rtt_stddev_ms=8.16,jitter_ms=1.25,seq=7i 1795334400000000000`,
		// nothing received: no RTT fields at all, so means stay honest
		`icmp,probe=p-1,regency=33.06,target=gw,village=33.06.08.2005 sent=4,received=0,loss_pct=100,seq=8i 1795334400000000000`,
		`heartbeat,probe=p-1,regency=33.06,village=33.06.08.2005 boot_id="b1",interval_s=60,prev_clean=true,probe_start_s=1,probe_version="v1",seq=9i,spool_bytes=0,spool_dropped=0,uptime_s=12.5 1795334400000000000`,
		// events are offset by their seq in nanoseconds so they never collide
		`event,kind=probe_start,probe=p-1,regency=33.06,severity=info,village=33.06.08.2005 message="said \"hi\"",attrs="{\"a\":\"1\",\"b\":\"2\"}",seq=10i 1795334400000000010`,
	}, "\n") + "\n"
	if string(got) != want {
		t.Fatalf("line protocol differs\n got: %s\nwant: %s", got, want)
	}
	// The same report encodes to the same bytes: retries overwrite, not add.
	again, _, _ := e.AppendReport(nil, r, "33.06")
	if string(again) != string(got) {
		t.Fatal("encoding is not deterministic")
	}
}

func BenchmarkAppendReport(b *testing.B) {
	ts := time.Now().UnixMilli()
	r := &jagadesa.Report{Version: 1, Probe: "p-1", Village: "33.06.08.2005"}
	for i := 0; i < 500; i++ {
		r.Samples = append(r.Samples, jagadesa.Sample{Seq: uint64(i + 1), TimeMs: ts + int64(i), Kind: jagadesa.KindICMP, Target: "jatengprov.go.id",
			ICMP: &jagadesa.ICMP{Sent: 10, Received: 10, MinMs: 10, AvgMs: 11, MaxMs: 14, StddevMs: 1, JitterMs: 0.4, RTTsMs: []float64{10, 11, 12, 10, 11, 14, 10, 11, 10, 11}}})
	}
	var e Encoder
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf, _, _ = e.AppendReport(buf[:0], r, "33.06")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*500), "ns/point")
}

func TestAppendReportOtherKinds(t *testing.T) {
	ts := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC).UnixMilli()
	r := &jagadesa.Report{Version: 1, Probe: "p-1", Village: "33.06.08.2007",
		Samples: []jagadesa.Sample{
			{Seq: 1, TimeMs: ts, Kind: jagadesa.KindDNS, Target: "jatengprov.go.id", DNS: &jagadesa.DNS{Resolver: "system", OK: true, RTTMs: 12.5, RCode: "NOERROR", Answers: []string{"1.2.3.4", "5.6.7.8"}}},
			{Seq: 2, TimeMs: ts, Kind: jagadesa.KindHTTP, Target: "https://jatengprov.go.id/", HTTP: &jagadesa.HTTP{OK: true, StatusCode: 200, TTFBMs: 80, TotalMs: 120, CertExpiresMs: ts + 36*3600*1000}},
			{Seq: 3, TimeMs: ts, Kind: jagadesa.KindThroughput, Target: "server", Throughput: &jagadesa.Throughput{Direction: "download", Bytes: 100e6, DurationMs: 8000, Mbps: 100, OtherMbps: 2.5, Interface: "wan"}},
			{Seq: 4, TimeMs: ts, Kind: jagadesa.KindOutage, Outage: &jagadesa.Outage{Cause: jagadesa.CausePower, StartMs: ts - 600_000, EndMs: ts - 60_000, Detail: "boot id changed"}},
		}}
	var e Encoder
	got, n, err := e.AppendReport(nil, r, "33.06")
	if err != nil || n != 4 {
		t.Fatalf("n=%d err=%v", n, err)
	}
	want := strings.Join([]string{
		`dns,probe=p-1,regency=33.06,resolver=system,target=jatengprov.go.id,village=33.06.08.2007 ok=1,rtt_ms=12.5,rcode="NOERROR",answers="1.2.3.4,5.6.7.8",seq=1i 1795334400000000000`,
		`http,probe=p-1,regency=33.06,target=https://jatengprov.go.id/,village=33.06.08.2007 ok=1,status_code=200,ttfb_ms=80,total_ms=120,cert_expiry_days=1.5,seq=2i 1795334400000000000`,
		`throughput,direction=download,probe=p-1,regency=33.06,village=33.06.08.2007 bytes=1e+08,duration_ms=8000,mbps=100,other_mbps=2.5,interface="wan",seq=3i 1795334400000000000`,
		// an outage sits at its start
		`outage,cause=power,probe=p-1,regency=33.06,village=33.06.08.2007 duration_s=540,end_s=1.79533434e+09,detail="boot id changed",seq=4i 1795333800000000000`,
	}, "\n") + "\n"
	if string(got) != want {
		t.Fatalf("line protocol differs\n got: %s\nwant: %s", got, want)
	}
}
