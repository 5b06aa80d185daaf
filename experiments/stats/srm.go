package stats

import (
	"errors"

	"gonum.org/v1/gonum/stat/distuv"
)

// SRMThreshold is the p-value below which GrowthBook flags a sample-ratio
// mismatch, and SRMMinUnits the number of units every arm needs before the
// flag is raised.
const (
	SRMThreshold = 0.001
	SRMMinUnits  = 8
)

// SRMResult is the outcome of the sample-ratio-mismatch test.
type SRMResult struct {
	Chi2   float64
	PValue float64
	// Mismatch is PValue < SRMThreshold with every arm holding at least
	// SRMMinUnits units.
	Mismatch bool
}

// ErrSRMInput reports counts and weights of different lengths, fewer than
// two arms, or a negative count.
var ErrSRMInput = errors.New("stats: SRM needs one weight per arm, at least two arms and non-negative counts")

// SRM tests the observed units per arm against the configured weights with
// a chi-square goodness-of-fit test on len(counts)−1 degrees of freedom. It
// mirrors gbstats.utils.check_srm: weights are normalised, arms with weight
// ≤ 0 are skipped, and no units at all give p-value 1.
func SRM(counts []int, weights []float64) (SRMResult, error) {
	if len(counts) != len(weights) || len(counts) < 2 {
		return SRMResult{PValue: 1}, ErrSRMInput
	}
	total, totalWeight := 0.0, 0.0
	enough := true
	for i, c := range counts {
		if c < 0 {
			return SRMResult{PValue: 1}, ErrSRMInput
		}
		if c < SRMMinUnits {
			enough = false
		}
		total += float64(c)
		totalWeight += weights[i]
	}
	if total == 0 || !(totalWeight > 0) {
		return SRMResult{PValue: 1}, nil
	}
	x := 0.0
	for i, c := range counts {
		if weights[i] <= 0 {
			continue
		}
		e := weights[i] / totalWeight * total
		d := float64(c) - e
		x += d * d / e
	}
	p := distuv.ChiSquared{K: float64(len(counts) - 1)}.Survival(x)
	return SRMResult{Chi2: x, PValue: p, Mismatch: enough && p < SRMThreshold}, nil
}
