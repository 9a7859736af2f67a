package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
	"github.com/jagadesa/jagadesa/geo"
	"github.com/jagadesa/jagadesa/server"
)

// One bad record no longer sinks the good ones: the answer names each
// refused record and why, in our words; the rest is stored exactly once.
func TestReportPerRecordVerdicts(t *testing.T) {
	e := setup(t)
	r := report(villageA, 2) // 4 good records
	_, hi := r.SeqRange()
	t0 := r.Samples[0].TimeMs
	r.Samples = append(r.Samples,
		jagadesa.Sample{Seq: hi + 1, TimeMs: t0, Kind: jagadesa.KindICMP, Target: `evil\`, // InfluxDB would refuse the line
			ICMP: &jagadesa.ICMP{Sent: 1, Received: 1, MinMs: 1, AvgMs: 1, MaxMs: 1}},
		jagadesa.Sample{Seq: 1<<63 + 1, TimeMs: t0, Kind: jagadesa.KindHeartbeat, // once 503 forever
			Heartbeat: &jagadesa.Heartbeat{BootID: "b", IntervalS: 60}},
		jagadesa.Sample{Seq: hi + 2, TimeMs: t0, Kind: jagadesa.KindICMP, Target: "ok.example",
			ICMP: &jagadesa.ICMP{Sent: 1, Received: 2, MinMs: 1, AvgMs: 1, MaxMs: 1}},
	)
	r.Events = []jagadesa.Event{{Seq: hi + 3, TimeMs: t0, Kind: "bad\x01kind", Severity: "warning"},
		{Seq: hi + 4, TimeMs: t0, Kind: "port_opened", Severity: "info", Message: "fine"}}
	code, b := e.do("POST", "/api/v1/reports", e.tokA, nil, mustJSON(t, r))
	if code != 200 {
		t.Fatalf("mixed batch: %d %s", code, b)
	}
	var res jagadesa.BatchResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	want := map[uint64]string{hi + 1: "samples[4].target", 1<<63 + 1: "samples[5].seq", hi + 2: "samples[6].icmp.received", hi + 3: "events[0].kind"}
	if res.Accepted != 5 || len(res.Rejected) != len(want) {
		t.Fatalf("accepted %d, rejected %+v; want 5 accepted and %d refused", res.Accepted, res.Rejected, len(want))
	}
	for _, rej := range res.Rejected {
		if rej.Problems[want[rej.Seq]] == "" {
			t.Errorf("refusal of seq %d names %v, want %s", rej.Seq, rej.Problems, want[rej.Seq])
		}
	}
	if bytes.Contains(b, []byte("line protocol")) || bytes.Contains(b, []byte("influx")) {
		t.Errorf("answer leaks the database's words: %s", b)
	}
	if res.MaxSeq != hi+4 {
		t.Errorf("max_seq %d, want %d (the out-of-range seq moves no mark)", res.MaxSeq, hi+4)
	}
	if n := e.count("icmp", "sent", villageA); n != 2 {
		t.Errorf("%d icmp points stored, want the 2 good ones", n)
	}
	// Exactly once by seq: the same batch again is a replay.
	if code, b := e.do("POST", "/api/v1/reports", e.tokA, nil, mustJSON(t, r)); code != 409 {
		t.Fatalf("replayed batch: %d %s", code, b)
	}
	// The next batch goes through: nothing is stuck behind the bad seq.
	next := report(villageA, 1)
	for i := range next.Samples {
		next.Samples[i].Seq = res.MaxSeq + 1 + uint64(i)
	}
	if code, b := e.do("POST", "/api/v1/reports", e.tokA, nil, mustJSON(t, next)); code != 200 {
		t.Fatalf("next batch: %d %s", code, b)
	}
}

// A probe may not invent series without end.
func TestReportCardinalityCap(t *testing.T) {
	e := setup(t)
	r := report(villageA, 1)
	t0 := r.Samples[0].TimeMs
	_, hi := r.SeqRange()
	for i := 0; i < jagadesa.MaxTargetsPerProbe+5; i++ {
		r.Samples = append(r.Samples, jagadesa.Sample{Seq: hi + 1 + uint64(i), TimeMs: t0, Kind: jagadesa.KindICMP,
			Target: fmt.Sprintf("t%d.example", i), ICMP: &jagadesa.ICMP{Sent: 1, Received: 1, MinMs: 1, AvgMs: 1, MaxMs: 1}})
	}
	code, b := e.do("POST", "/api/v1/reports", e.tokA, nil, mustJSON(t, r))
	if code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	var res jagadesa.BatchResult
	json.Unmarshal(b, &res)
	// report() already used one target, so 6 of the new ones are over.
	if len(res.Rejected) != 6 || !strings.Contains(fmt.Sprint(res.Rejected[0].Problems), "distinct targets") {
		t.Fatalf("rejected %+v, want 6 over the cap of %d targets", res.Rejected, jagadesa.MaxTargetsPerProbe)
	}
}

// A report of a million tiny samples is refused after counting 10,001 of
// them, and many at once meet the server's budget (429), never its memory.
func TestReportHostileBodies(t *testing.T) {
	e := setup(t)
	var one bytes.Buffer
	one.WriteString(`{"v":1,"village":"` + villageA + `","samples":[`)
	for i := 0; i < 1_000_000; i++ {
		if i > 0 {
			one.WriteByte(',')
		}
		one.WriteString(`{"seq":1,"t":0,"kind":"x"}`)
	}
	one.WriteString(`]}`)
	body := gz(one.Bytes())
	t.Logf("hostile body: %d bytes of gzip, %d of JSON", len(body), one.Len())

	// Signed once, as a hostile but enrolled probe would: the server reads
	// and checks every byte before it decodes.
	sig := jagadesa.SignReport(e.keys[e.tokA], one.Bytes())
	one = bytes.Buffer{} // only the gzip is kept: the measure is the server's
	runtime.GC()
	post := func() (int, string) {
		req, _ := http.NewRequest("POST", e.url+"/api/v1/reports", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.tokA)
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set(jagadesa.SignatureHeader, sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	hwm := func() string {
		b, _ := os.ReadFile("/proc/self/status")
		var out []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "VmHWM") || strings.HasPrefix(l, "VmRSS") {
				out = append(out, strings.Join(strings.Fields(l), " "))
			}
		}
		return strings.Join(out, ", ")
	}
	t.Logf("before: %s", hwm())
	const n = 64
	var wg sync.WaitGroup
	codes := make([]int, n)
	took := make([]time.Duration, n)
	msgs := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			codes[i], msgs[i] = post()
			took[i] = time.Since(start)
		}()
	}
	wg.Wait()
	for i := range n {
		if codes[i] != 413 && codes[i] != 429 {
			t.Errorf("hostile body %d: %d %s, want 413 or 429", i, codes[i], msgs[i])
		}
	}
	t.Logf("answers %v, slowest %v; after: %s", codes, slowest(took), hwm())
	// Alone, it is refused for what it is, with the limit named; so is a
	// small body of too many records, before any is decoded.
	if code, msg := post(); code != 413 || !strings.Contains(msg, "decompressed") {
		t.Fatalf("alone: %d %s", code, msg)
	}
	small := `{"v":1,"village":"` + villageA + `","samples":[` + strings.Repeat(`{"seq":1,"t":0,"kind":"x"},`, 20000) + `{}]}`
	if code, msg := e.do("POST", "/api/v1/reports", e.tokA, nil, small); code != 413 || !strings.Contains(string(msg), "10000 records") {
		t.Fatalf("20,001 records: %d %s", code, msg)
	}
}

func slowest(d []time.Duration) time.Duration {
	var m time.Duration
	for _, x := range d {
		m = max(m, x)
	}
	return m
}

// A probe over its allowance of records waits; others do not.
func TestReportProbeRateLimit(t *testing.T) {
	reg, err := geo.Jateng()
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, reg, func(d *server.Deps) { d.ProbeRecordsPerMinute = 10 })
	for i := range 2 {
		if code, b := e.do("POST", "/api/v1/reports", e.tokA, nil, mustJSON(t, report(villageA, 2))); code != 200 {
			t.Fatalf("report %d within the allowance: %d %s", i, code, b)
		}
	}
	code, b := e.doBytes("POST", "/api/v1/reports", e.tokA, nil, []byte(mustJSON(t, report(villageA, 2))))
	if code != 429 || !strings.Contains(string(b), "10 records") {
		t.Fatalf("over the allowance: %d %s", code, b)
	}
	if code, b := e.do("POST", "/api/v1/reports", e.tokB, nil, mustJSON(t, report(villageB, 2))); code != 200 {
		t.Fatalf("another probe: %d %s", code, b)
	}
}

// A revoked probe's token stops working at once; only the admin may
// revoke; the village's data stays.
func TestRevokeProbe(t *testing.T) {
	e := setup(t)
	if code, b := e.do("POST", "/api/v1/reports", e.tokA, nil, mustJSON(t, report(villageA, 1))); code != 200 {
		t.Fatalf("before: %d %s", code, b)
	}
	if code, _ := e.do("DELETE", "/api/v1/probes/"+e.probeA, e.tokB, nil, ""); code != 403 {
		t.Fatalf("a probe token revoked a probe: %d", code)
	}
	if code, b := e.do("DELETE", "/api/v1/probes/"+e.probeA, adminToken, nil, ""); code != 204 {
		t.Fatalf("revoke: %d %s", code, b)
	}
	if code, b := e.do("POST", "/api/v1/reports", e.tokA, nil, mustJSON(t, report(villageA, 1))); code != 401 {
		t.Fatalf("a revoked token reported: %d %s", code, b)
	}
	if code, _ := e.do("DELETE", "/api/v1/probes/"+e.probeA, adminToken, nil, ""); code != 404 {
		t.Fatalf("revoking twice: %d", code)
	}
	if n := e.count("icmp", "sent", villageA); n != 1 {
		t.Fatalf("%d points of the revoked probe kept, want 1", n)
	}
}
