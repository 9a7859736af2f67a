package sla

import (
	"math"
	"slices"
)

// mean of xs; xs must not be empty.
func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// quantile is the q-quantile (0..1) of xs by linear interpolation between
// closest ranks (Hyndman & Fan type 7, spreadsheets' PERCENTILE.INC): with n
// sorted values the position is (n−1)·q. The median is quantile 0.5, which
// averages the two middle values of an even count. xs must not be empty.
func quantile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	h := float64(len(s)-1) * q
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (h-lo)*(s[i+1]-s[i])
}

func ptr[T any](v T) *T { return &v }

// finite reports whether x is a usable measurement.
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
