package incident

import (
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
