package netlab

import (
	"math"
	"slices"
)

// Median is the middle of xs (the mean of the two middle values for an even
// count); NaN for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BinomialInterval is the central 95% interval of the number of successes
// in n trials of probability p: the smallest lo with P(X ≤ lo) ≥ 2.5% and
// the smallest hi with P(X ≤ hi) ≥ 97.5%.
func BinomialInterval(n int, p float64) (lo, hi int) {
	lo, hi = -1, n
	var cdf float64
	for k := 0; k <= n; k++ {
		cdf += binomialPMF(n, k, p)
		if lo < 0 && cdf >= 0.025 {
			lo = k
		}
		if cdf >= 0.975 {
			return lo, k
		}
	}
	return max(lo, 0), hi
}

// binomialPMF is P(X = k) for X ~ Binomial(n, p), through logarithms so
// large n does not overflow.
func binomialPMF(n, k int, p float64) float64 {
	switch {
	case p <= 0:
		if k == 0 {
			return 1
		}
		return 0
	case p >= 1:
		if k == n {
			return 1
		}
		return 0
	}
	ln, _ := math.Lgamma(float64(n + 1))
	lk, _ := math.Lgamma(float64(k + 1))
	lnk, _ := math.Lgamma(float64(n - k + 1))
	return math.Exp(ln - lk - lnk + float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p))
}
