package netlab

import (
	"math"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{7}, 7},
	} {
		if got := Median(c.in); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("Median(nil) is not NaN")
	}
}

func TestBinomialInterval(t *testing.T) {
	for _, c := range []struct {
		n      int
		p      float64
		lo, hi int
	}{
		// Binomial(10, 0.5): P(X≤1) = 1.07%, P(X≤2) = 5.47%, P(X≤7) = 94.5%, P(X≤8) = 98.9%.
		{10, 0.5, 2, 8},
		// Binomial(200, 0.05): mean 10, the test's loss bound.
		{200, 0.05, 4, 16},
		{50, 0, 0, 0},
		{50, 1, 50, 50},
	} {
		if lo, hi := BinomialInterval(c.n, c.p); lo != c.lo || hi != c.hi {
			t.Errorf("BinomialInterval(%d, %v) = %d..%d, want %d..%d", c.n, c.p, lo, hi, c.lo, c.hi)
		}
	}
}

func TestChecksum(t *testing.T) {
	// An echo request; with its checksum filled in, the sum over the whole
	// message is zero, odd length included.
	for _, msg := range [][]byte{
		{8, 0, 0, 0, 0x12, 0x34, 0, 1, 'a', 'b', 'c', 'd'},
		{8, 0, 0, 0, 0x12, 0x34, 0, 2, 'a', 'b', 'c'},
	} {
		sum := checksum(msg)
		msg[2], msg[3] = byte(sum>>8), byte(sum)
		if got := checksum(msg); got != 0 {
			t.Errorf("checksum of %x with its checksum = %#04x, want 0", msg, got)
		}
	}
}
