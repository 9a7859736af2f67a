package ingest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

func TestCountRecords(t *testing.T) {
	tests := []struct {
		body string
		want int
	}{
		{`{"v":1,"samples":[{"seq":1},{"seq":2,"icmp":{"sent":1}}],"events":[{"seq":3,"attrs":{"a":"{"}}]}`, 3},
		{`{"v":1,"samples":[]}`, 0},
		{`{"v":1,"probe":"{[{","samples":[{"target":"a\"},{"}]}`, 1},
		{`{"v":1,"samples":[[{"seq":1}]]}`, 0}, // not records: the decoder refuses them
		{`[{"seq":1}]`, 0},
	}
	for _, tt := range tests {
		if got := countRecords([]byte(tt.body), 10); got != tt.want {
			t.Errorf("countRecords(%s) = %d, want %d", tt.body, got, tt.want)
		}
	}
	many := `{"samples":[` + strings.Repeat(`{"seq":1},`, 100) + `{}]}`
	if got := countRecords([]byte(many), 10); got != 11 {
		t.Errorf("past the limit: %d, want it to stop at 11", got)
	}
}

// A string kept from a decoded report keeps only itself: live status keeps
// target names, the replay marks streams, and so on, one report a village,
// for as long as the server runs. Reports padded with 64 KB the decoder
// ignores are decoded and a few of their strings kept; the heap must not
// hold their bodies.
func TestDecodedStringsDoNotKeepTheBody(t *testing.T) {
	const n = 400
	pad := strings.Repeat("x", 64<<10)
	kept := make([]string, 0, 4*n)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range n {
		body := fmt.Sprintf(`{"v":1,"probe":"p-%d","village":"33.06.08.2005","stream":"s-%d","pad":%q,
			"samples":[{"seq":1,"t":1,"kind":"icmp","target":"gw-%d","pad":%q,"icmp":{"sent":1,"received":1}},
			{"seq":2,"t":1,"kind":"heartbeat","heartbeat":{"boot_id":"b-%d","uptime_s":1,"interval_s":60}}],
			"events":[{"seq":3,"t":1,"kind":"port_scan","severity":"warning","attrs":{"source":"10.0.0.%d"}}]}`, i, i, pad, i, pad, i, i%250)
		r, err := decode([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, r.Stream, r.Samples[0].Target, r.Samples[1].Heartbeat.BootID, r.Events[0].Attrs["source"])
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if limit := int64(n * 4 << 10); grew > limit { // the bodies would be n × 2 × 64 KB = 51 MB
		t.Fatalf("keeping %d short strings grew the heap by %d bytes (limit %d): the decoded strings hold their bodies", len(kept), grew, limit)
	}
	for i := range n {
		if kept[4*i] != fmt.Sprintf("s-%d", i) || kept[4*i+1] != fmt.Sprintf("gw-%d", i) || kept[4*i+3] != fmt.Sprintf("10.0.0.%d", i%250) {
			t.Fatalf("report %d: kept %q", i, kept[4*i:4*i+4])
		}
	}
}

// go test -run '^$' -bench Decode -benchmem ./server/ingest/
// One live round (three ping targets and a heartbeat), as the probe sends it.
func BenchmarkDecode(b *testing.B) {
	body := []byte(`{"v":1,"probe":"p-3f9a0c1b2d4e","village":"33.06.08.2005","sent_ms":1765180800000,"stream":"s-5d1c9e0b","samples":[` +
		`{"seq":41,"t":1765180800000,"kind":"icmp","target":"jatengprov.go.id","icmp":{"sent":10,"received":10,"min_ms":21.5,"avg_ms":23.1,"max_ms":30.2,"stddev_ms":2.1,"rtts_ms":[21.5,22,22.4,23,23.1,23.3,24,24.2,25,30.2]}},` +
		`{"seq":42,"t":1765180800000,"kind":"icmp","target":"8.8.8.8","icmp":{"sent":10,"received":9,"min_ms":31.5,"avg_ms":33.1,"max_ms":40.2,"stddev_ms":2.1,"rtts_ms":[31.5,32,32.4,33,33.1,33.3,34,34.2,40.2]}},` +
		`{"seq":43,"t":1765180800000,"kind":"icmp","target":"gateway","icmp":{"sent":10,"received":10,"min_ms":1.5,"avg_ms":1.8,"max_ms":3.2,"stddev_ms":0.4,"rtts_ms":[1.5,1.6,1.6,1.7,1.8,1.8,1.9,2,2.1,3.2]}},` +
		`{"seq":44,"t":1765180800000,"kind":"heartbeat","heartbeat":{"boot_id":"9b1f3c2e-8d7a-4c55-a1f0-2b9e7d6c5a43","uptime_s":86400,"interval_s":60,"probe_version":"0.9.0","mode":"router"}}]}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decode(body); err != nil {
			b.Fatal(err)
		}
	}
}
