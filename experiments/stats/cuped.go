package stats

// CovariateSums are the sufficient statistics of a metric and its
// pre-experiment covariate in one arm, for CUPED.
type CovariateSums struct {
	N int
	// Sum and SumSquares are those of the metric.
	Sum, SumSquares float64
	// CovariateSum and CovariateSumSquares are those of the covariate.
	CovariateSum, CovariateSumSquares float64
	// SumProduct is the sum over units of metric × covariate.
	SumProduct float64
	// Proportion marks a 0/1 metric with a 0/1 covariate: variances are
	// p(1−p) and the sums of squares are ignored.
	Proportion bool
}

// Add returns the sums of both arms or strata together.
func (s CovariateSums) Add(o CovariateSums) CovariateSums {
	return CovariateSums{
		N: s.N + o.N, Sum: s.Sum + o.Sum, SumSquares: s.SumSquares + o.SumSquares,
		CovariateSum: s.CovariateSum + o.CovariateSum, CovariateSumSquares: s.CovariateSumSquares + o.CovariateSumSquares,
		SumProduct: s.SumProduct + o.SumProduct, Proportion: s.Proportion && o.Proportion,
	}
}

// Observe adds one unit's metric value and covariate value.
func (s *CovariateSums) Observe(x, covariate float64) {
	s.N++
	s.Sum += x
	s.SumSquares += x * x
	s.CovariateSum += covariate
	s.CovariateSumSquares += covariate * covariate
	s.SumProduct += x * covariate
}

func (s CovariateSums) post() Sample {
	if s.Proportion {
		return Sums{N: s.N, Sum: s.Sum}.Proportion()
	}
	return Sums{N: s.N, Sum: s.Sum, SumSquares: s.SumSquares}.Sample()
}

func (s CovariateSums) pre() Sample {
	if s.Proportion {
		return Sums{N: s.N, Sum: s.CovariateSum}.Proportion()
	}
	return Sums{N: s.N, Sum: s.CovariateSum, SumSquares: s.CovariateSumSquares}.Sample()
}

// covariance mirrors gbstats' compute_covariance: sum_xy/n − Σx·Σy/n² for
// two proportions, (sum_xy − Σx·Σy/n)/(n−1) otherwise.
func (s CovariateSums) covariance() float64 {
	if s.N <= 1 {
		return 0
	}
	n := float64(s.N)
	if s.Proportion {
		return s.SumProduct/n - s.Sum*s.CovariateSum/(n*n)
	}
	return (s.SumProduct - s.Sum*s.CovariateSum/n) / (n - 1)
}

// Theta mirrors gbstats' compute_theta: the regression coefficient of the
// metric on the covariate pooled over both arms, 0 when either pooled
// variance is 0.
func Theta(a, b CovariateSums) float64 {
	joint := a.Add(b)
	if joint.pre().Var == 0 || joint.post().Var == 0 {
		return 0
	}
	return joint.covariance() / joint.pre().Var
}

// cupedArm mirrors RegressionAdjustedStatistic with θ set: mean
// post − θ·pre, unit variance var_post + θ²·var_pre − 2θ·cov.
func cupedArm(s CovariateSums, theta float64) arm {
	post, pre := s.post(), s.pre()
	v := 0.0
	if s.N > 1 {
		v = post.Var + theta*theta*pre.Var - 2*theta*s.covariance()
	}
	return arm{n: s.N, mean: post.Mean - theta*pre.Mean, unadj: post.Mean, variance: v}
}

// cupedRelativeVariance mirrors frequentist_variance_relative_cuped
// (gbstats/models/tests.py): the delta-method variance of the relative
// lift of the adjusted means over the unadjusted control mean.
func cupedRelativeVariance(a, b CovariateSums, theta float64) float64 {
	pa, pb := a.post(), b.post()
	denTrt := float64(b.N) * pa.Mean * pa.Mean
	denCtrl := float64(a.N) * pa.Mean * pa.Mean
	if denTrt == 0 || denCtrl == 0 {
		return 0
	}
	vTrt := (pb.Var + theta*theta*b.pre().Var - 2*theta*b.covariance()) / denTrt
	k := -pb.Mean
	numA := pa.Var * k * k / (pa.Mean * pa.Mean)
	numB := 2 * theta * a.covariance() * k / pa.Mean
	numC := theta * theta * a.pre().Var
	return vTrt + (numA+numB+numC)/denCtrl
}

// CUPEDTTest is TTest on CUPED-adjusted means, as gbstats runs its
// TwoSidedTTest (or SequentialTwoSidedTTest) on RegressionAdjustedStatistic
// pairs: θ pooled over both arms (create_theta_adjusted_statistics), Welch
// degrees of freedom from each arm's adjusted variance. With θ = 0 it is
// TTest on the metric alone.
func CUPEDTTest(a, b CovariateSums, c Config) (Result, error) {
	theta := Theta(a, b)
	if theta == 0 {
		return TTest(a.post(), b.post(), c)
	}
	ra, rb := cupedArm(a, theta), cupedArm(b, theta)
	var variance float64
	if c.Difference == Relative {
		variance = cupedRelativeVariance(a, b, theta)
	} else {
		variance = frequentistVariance(ra, rb, Absolute)
	}
	return run(ra, rb, c, variance)
}
