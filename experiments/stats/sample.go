package stats

import "math"

// Sample is the summary of one metric in one arm over its units: the number
// of units, their mean and the variance of one unit's value.
//
// It mirrors gbstats' SampleMeanStatistic and ProportionStatistic
// (gbstats/models/statistics.py): only N, Mean and Var enter the tests.
type Sample struct {
	N    int
	Mean float64
	Var  float64
}

// Sums are the sufficient statistics of a metric in one arm: the number of
// units, the sum of their values and the sum of their squared values.
type Sums struct {
	N          int
	Sum        float64
	SumSquares float64
}

// Add returns the sums of both arms or strata together.
func (s Sums) Add(o Sums) Sums {
	return Sums{N: s.N + o.N, Sum: s.Sum + o.Sum, SumSquares: s.SumSquares + o.SumSquares}
}

// Observe adds one unit's value.
func (s *Sums) Observe(x float64) {
	s.N++
	s.Sum += x
	s.SumSquares += x * x
}

// Sample returns the summary of a continuous metric: the mean and the
// unbiased (n−1) sample variance, as SampleMeanStatistic.mean and
// SampleMeanStatistic.variance compute them (variance 0 when n ≤ 1).
func (s Sums) Sample() Sample {
	return Sample{N: s.N, Mean: sampleMean(s.N, s.Sum), Var: sampleVariance(s.N, s.Sum, s.SumSquares)}
}

// Proportion returns the summary of a 0/1 metric, Sum being the number of
// successes: the mean p and the variance p(1−p), without n−1 correction, as
// ProportionStatistic.variance computes it.
func (s Sums) Proportion() Sample {
	p := sampleMean(s.N, s.Sum)
	return Sample{N: s.N, Mean: p, Var: p * (1 - p)}
}

// MeanSample summarises the values of a continuous metric, one per unit.
func MeanSample(values []float64) Sample {
	var s Sums
	for _, x := range values {
		s.Observe(x)
	}
	return s.Sample()
}

// ProportionSample summarises n units of which successes had the event.
func ProportionSample(n int, successes float64) Sample {
	return Sums{N: n, Sum: successes}.Proportion()
}

// StdErr is the standard error of the mean, sqrt(Var/N).
func (s Sample) StdErr() float64 {
	if s.N <= 0 || s.Var <= 0 {
		return 0
	}
	return math.Sqrt(s.Var / float64(s.N))
}

func sampleMean(n int, sum float64) float64 {
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

func sampleVariance(n int, sum, sumSquares float64) float64 {
	if n <= 1 {
		return 0
	}
	fn := float64(n)
	return (sumSquares - sum*sum/fn) / (fn - 1)
}

// MeanCI is the two-sided 1−alpha interval of the arm's mean, mean ±
// t_{1−α/2, n−1}·sqrt(Var/N) (alpha 0 means DefaultAlpha). gbstats reports
// intervals for lifts only; this per-arm interval is situ's, with the same
// Student t convention. It is [Mean, Mean] when N ≤ 1 or Var ≤ 0.
func MeanCI(s Sample, alpha float64) [2]float64 {
	if alpha == 0 {
		alpha = DefaultAlpha
	}
	se := s.StdErr()
	if s.N <= 1 || se == 0 || !(alpha > 0 && alpha < 1) {
		return [2]float64{s.Mean, s.Mean}
	}
	half := tQuantile(1-alpha/2, float64(s.N-1)) * se
	return [2]float64{s.Mean - half, s.Mean + half}
}
