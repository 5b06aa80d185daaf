package stats

import (
	"math"
	"sort"
)

// HolmBonferroni returns the Holm–Bonferroni adjusted p-values, in the
// order of p. It mirrors adjustPValuesHolmBonferroni
// (packages/shared/src/experiments/experiments.ts): sorted ascending, the
// i-th (from 0) becomes min(p·(m−i), 1), then a running maximum.
func HolmBonferroni(p []float64) []float64 {
	m := len(p)
	out := make([]float64, m)
	if m == 0 {
		return out
	}
	idx := order(p, func(x, y float64) bool { return x < y })
	running := 0.0
	for i, j := range idx {
		v := math.Min(p[j]*float64(m-i), 1)
		if i == 0 || v > running {
			running = v
		}
		out[j] = running
	}
	return out
}

// BenjaminiHochberg returns the Benjamini–Hochberg adjusted p-values, in
// the order of p. It mirrors adjustPValuesBenjaminiHochberg
// (packages/shared/src/experiments/experiments.ts): sorted descending, the
// i-th (from 0) becomes min(p·m/(m−i), 1), then a running minimum.
func BenjaminiHochberg(p []float64) []float64 {
	m := len(p)
	out := make([]float64, m)
	if m == 0 {
		return out
	}
	idx := order(p, func(x, y float64) bool { return x > y })
	running := 0.0
	for i, j := range idx {
		v := math.Min(p[j]*float64(m)/float64(m-i), 1)
		if i == 0 || v < running {
			running = v
		}
		out[j] = running
	}
	return out
}

func order(p []float64, less func(x, y float64) bool) []int {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return less(p[idx[i]], p[idx[j]]) })
	return idx
}
