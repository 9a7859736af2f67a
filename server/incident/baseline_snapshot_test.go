package incident

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// A snapshot brings the baselines back as they were: same normals, same
// verdicts; a damaged one is refused and changes nothing.
func TestBaselinesSnapshot(t *testing.T) {
	b := NewBaselines()
	at := time.Date(2026, 12, 7, 19, 0, 0, 0, wib)
	for i := 0; i < 40; i++ {
		b.Observe("33.06.08.2007", at.Add(time.Duration(i)*time.Minute), 20+float64(i%5), 0, 1)
		b.Observe("15.09.02.2018", at.Add(time.Duration(i)*time.Minute), 80+float64(i%3), 1, 4)
	}
	snap, err := b.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	r := NewBaselines()
	if err := r.UnmarshalBinary(snap); err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"33.06.08.2007", "15.09.02.2018"} {
		a, okA := b.Normal(code, at)
		c, okC := r.Normal(code, at)
		if !okA || !okC || a != c {
			t.Errorf("%s: %+v %v vs %+v %v", code, a, okA, c, okC)
		}
	}
	// The same round is judged the same by both.
	if x, y := b.Observe("33.06.08.2007", at.Add(time.Hour/2), 200, 0, 1), r.Observe("33.06.08.2007", at.Add(time.Hour/2), 200, 0, 1); (x == nil) != (y == nil) {
		t.Errorf("verdicts differ: %v %v", x, y)
	}
	for _, bad := range [][]byte{nil, []byte("JDB1"), snap[:len(snap)-3], append([]byte("XXXX"), snap[4:]...)} {
		if err := r.UnmarshalBinary(bad); err == nil {
			t.Errorf("a damaged snapshot of %d bytes was taken", len(bad))
		}
	}
	if _, ok := r.Normal("33.06.08.2007", at); !ok {
		t.Error("a refused snapshot changed the baselines")
	}
}

// go test -run '^$' -bench BaselinesMemory -benchtime 1x ./server/incident/
//
// What the baselines hold once a village has been heard from in every hour
// of the day (a server running for a day): the heap per village, measured
// over 2,000 villages, and that times the national registry's 83,763;
// and the size of their snapshot at national size.
func BenchmarkBaselinesMemory(b *testing.B) {
	for b.Loop() {
		const villages = 2000
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		bl := NewBaselines()
		t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, wib)
		for i := range villages {
			code := fmt.Sprintf("33.%02d.%02d.%04d", i%35+1, i%20+1, 2001+i)
			for h := range 24 {
				for m := range 48 { // a full ring in every hour
					bl.Observe(code, t0.Add(time.Duration(h)*time.Hour+time.Duration(m)*time.Minute), 20+float64(m%7), 0, 2)
				}
			}
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		per := float64(after.HeapAlloc-before.HeapAlloc) / villages
		b.ReportMetric(per, "B/village")
		b.ReportMetric(per*83763/(1<<20), "MiB/national")
		// And what the snapshot the leader stores in the metadata store
		// weighs.
		snap, err := bl.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(snap))/villages*83763/(1<<20), "snapshot-MiB/national")
	}
}
