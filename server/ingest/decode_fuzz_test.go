package ingest

import (
	"strconv"
	"testing"
	"time"

	"github.com/jagadesa/jagadesa"
)

// Decoding and validating whatever a probe sends never panics; what
// survives Split passes full validation; the pre-count never undercounts
// what the decoder took.
func FuzzDecodeReport(f *testing.F) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	t := now.Add(-time.Minute).UnixMilli()
	f.Add([]byte(`{"v":1,"probe":"p","village":"33.06.08.2007","stream":"s-1","samples":[{"seq":1,"t":` + strconv.FormatInt(t, 10) + `,"kind":"icmp","target":"a","icmp":{"sent":1,"received":1,"min_ms":1,"avg_ms":1,"max_ms":1}}]}`))
	f.Add([]byte(`{"v":1,"probe":"p","village":"33.06.08.2007","events":[{"seq":9007199254740993,"t":0,"kind":"x\\","severity":"critical","attrs":{"group":"g"}}]}`))
	f.Add([]byte(`{"v":1,"samples":[{"seq":1,"t":0,"kind":"x"},{"seq":1}],"events":null}`))
	f.Add([]byte(`{"samples":"no"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		n := countRecords(body, jagadesa.MaxRecordsPerReport)
		r, err := decode(body)
		if err != nil {
			return
		}
		if got := len(r.Samples) + len(r.Events); n < got {
			t.Fatalf("pre-count %d < %d decoded records", n, got)
		}
		if r.ValidateHeader() != nil {
			return
		}
		r.Split(now)
		if len(r.Samples)+len(r.Events) == 0 {
			return
		}
		if p := r.Validate(now); p != nil {
			t.Fatalf("records kept by Split fail validation: %v", p)
		}
	})
}
