package incident

import (
	"encoding/binary"
	"fmt"
	"math"
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

// A snapshot of the earlier version (float32 rings in the order rtt, loss,
// jitter) still loads: the same normals, and a lossy hour keeps its loss.
func TestBaselinesSnapshotV1(t *testing.T) {
	at := time.Date(2026, 12, 7, 19, 0, 0, 0, wib)
	rtts := make([]float32, baselineSamples)
	losses := make([]float32, baselineSamples)
	jitters := make([]float32, baselineSamples)
	want := NewBaselines()
	for i := range 30 {
		rtts[i], losses[i], jitters[i] = float32(20+i%5)+0.25, float32(i%2)*12.5, 1.5
		want.Observe("33.06.08.2007", at.Add(time.Duration(i)*time.Minute), float64(rtts[i]), float64(losses[i]), float64(jitters[i]))
	}
	le := binary.LittleEndian
	v1 := []byte("JDB1")
	v1 = le.AppendUint32(v1, 1)
	v1 = le.AppendUint32(v1, uint32(len("33.06.08.2007")))
	v1 = append(v1, "33.06.08.2007"...)
	v1 = le.AppendUint32(v1, 0)  // anomalous rounds
	v1 = le.AppendUint32(v1, 1)  // hours
	v1 = le.AppendUint32(v1, 19) // the hour
	for _, xs := range [][]float32{rtts, losses, jitters} {
		v1 = le.AppendUint32(v1, 30)
		v1 = le.AppendUint32(v1, 30)
		for _, x := range xs {
			v1 = le.AppendUint32(v1, math.Float32bits(x))
		}
	}
	got := NewBaselines()
	if err := got.UnmarshalBinary(v1); err != nil {
		t.Fatal(err)
	}
	a, okA := want.Normal("33.06.08.2007", at)
	b, okB := got.Normal("33.06.08.2007", at)
	if !okA || !okB || a != b {
		t.Fatalf("normal from JDB1 %+v %v, observed %+v %v", b, okB, a, okA)
	}
	hb := got.v["33.06.08.2007"].hours[19]
	if hb.loss == nil {
		t.Fatal("the lossy hour lost its loss ring")
	}
	if med, _ := hb.lossMedMAD(); med != 6.25 {
		t.Errorf("loss median %v, want 6.25", med)
	}
}

// An hour without loss keeps no loss ring; the first loss makes one that
// counts the earlier rounds as zeros, and judges as a ring would have.
func TestBaselinesLossRingMadeAtFirstLoss(t *testing.T) {
	b := NewBaselines()
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, wib)
	for i := range 30 {
		b.Observe("33.06.08.2007", at.Add(time.Duration(i)*time.Minute), 20, 0, 1)
	}
	hb := b.v["33.06.08.2007"].hours[10]
	if hb.loss != nil || hb.zeroN != 30 {
		t.Fatalf("after 30 rounds without loss: ring %v, zeros %d", hb.loss, hb.zeroN)
	}
	// Three rounds losing 40 %: an anomaly against a normal of 0 %.
	var a *Anomaly
	for i := range 3 {
		a = b.Observe("33.06.08.2007", at.Add(time.Duration(30+i)*time.Minute), 20, 40, 1)
	}
	if a == nil || !a.Loss || a.UsualLossPct != 0 {
		t.Fatalf("three rounds at 40 %% loss: %+v", a)
	}
	if hb.loss == nil || hb.loss.n != 33 {
		t.Fatalf("loss ring %+v, want 33 rounds", hb.loss)
	}
	if med, _ := hb.lossMedMAD(); med != 0 {
		t.Errorf("loss median %v, want 0 (30 of 33 rounds lost nothing)", med)
	}
	// The snapshot keeps both kinds of hour.
	b.Observe("33.06.08.2007", at.Add(time.Hour), 20, 0, 1)
	snap, _ := b.MarshalBinary()
	r := NewBaselines()
	if err := r.UnmarshalBinary(snap); err != nil {
		t.Fatal(err)
	}
	if r.v["33.06.08.2007"].hours[10].loss.n != 33 || r.v["33.06.08.2007"].hours[11].loss != nil || r.v["33.06.08.2007"].hours[11].zeroN != 1 {
		t.Error("the snapshot changed the loss rings")
	}
}
