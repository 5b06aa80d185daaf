package stats

import (
	"errors"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Difference selects the lift a test is about.
type Difference int

const (
	// Relative is (mean_b − mean_a) / |mean_a|, gbstats' default.
	Relative Difference = iota
	// Absolute is mean_b − mean_a.
	Absolute
)

// String returns "relative" or "absolute", gbstats' difference_type names.
func (d Difference) String() string {
	if d == Absolute {
		return "absolute"
	}
	return "relative"
}

// DefaultAlpha and DefaultTuning are gbstats' defaults (BaseConfig.alpha,
// SequentialConfig.sequential_tuning_parameter).
const (
	DefaultAlpha  = 0.05
	DefaultTuning = 5000
)

// Config parameterises a test. The zero value is gbstats' default: relative
// lift, alpha 0.05, fixed-horizon test.
type Config struct {
	Difference Difference
	// Alpha is the significance level of the two-sided interval; 0 means
	// DefaultAlpha.
	Alpha float64
	// Sequential selects the anytime-valid confidence sequence
	// (SequentialTwoSidedTTest) instead of the Student t interval.
	Sequential bool
	// Tuning is the sequential tuning parameter N* (the total sample size
	// at which the sequence is tightest); 0 means DefaultTuning.
	Tuning float64
}

func (c Config) alpha() float64 {
	if c.Alpha == 0 {
		return DefaultAlpha
	}
	return c.Alpha
}

func (c Config) tuning() float64 {
	if c.Tuning == 0 {
		return DefaultTuning
	}
	return c.Tuning
}

// Result is the outcome of comparing a treatment arm (b) with the control
// (a), gbstats' FrequentistTestResult.
type Result struct {
	// Expected is the point estimate of the lift.
	Expected float64
	// StdDev is the standard error of the lift (gbstats' uplift.stddev).
	StdDev float64
	// CI is the two-sided 1−alpha interval of the lift.
	CI [2]float64
	// PValue is the two-sided p-value against no lift.
	PValue float64
	// DoF are the Welch–Satterthwaite degrees of freedom.
	DoF float64
}

// Errors for inputs a test cannot use. The Result returned with them is
// gbstats' uninformative default: lift 0, interval [0, 0], p-value 1.
var (
	ErrZeroVariance = errors.New("stats: zero or negative variance")
	ErrBaselineZero = errors.New("stats: zero baseline mean")
	ErrAlpha        = errors.New("stats: alpha must lie in (0, 1)")
	ErrTuning       = errors.New("stats: sequential tuning parameter must be positive")
)

func defaultResult() Result { return Result{PValue: 1} }

// arm is one arm as the tests see it: mean is the (possibly CUPED-adjusted)
// mean, unadj the unadjusted one, variance the (adjusted) unit variance.
type arm struct {
	n        int
	mean     float64
	unadj    float64
	variance float64
}

func plainArm(s Sample) arm { return arm{n: s.N, mean: s.Mean, unadj: s.Mean, variance: s.Var} }

// moments is gbstats' EffectMomentsResult plus the Welch degrees of freedom.
type moments struct {
	estimate float64
	se       float64
	dof      float64
	n        int
}

// frequentistDiff mirrors gbstats.utils.frequentist_diff.
func frequentistDiff(a, b arm, d Difference) float64 {
	base := a.unadj
	if base == 0 {
		base = a.mean
	}
	if d == Relative {
		return (b.mean - a.mean) / math.Abs(base)
	}
	return b.mean - a.mean
}

// frequentistVariance mirrors gbstats.utils.frequentist_variance: the
// absolute lift's variance is var_b/n_b + var_a/n_a; the relative lift's is
// the delta method's variance_of_ratios(mean_b, var_b/n_b, mean_a,
// var_a/n_a, 0) taken at the unadjusted means.
func frequentistVariance(a, b arm, d Difference) float64 {
	vb := b.variance / float64(b.n)
	va := a.variance / float64(a.n)
	if d == Relative {
		return varianceOfRatios(b.unadj, vb, a.unadj, va, 0)
	}
	return vb + va
}

// varianceOfRatios mirrors gbstats.utils.variance_of_ratios: the delta
// method variance of M/D.
func varianceOfRatios(meanM, varM, meanD, varD, covMD float64) float64 {
	if meanD == 0 {
		return 0
	}
	d2 := meanD * meanD
	return varM/d2 + varD*meanM*meanM/(d2*d2) - 2*covMD*meanM/(d2*meanD)
}

// welchDoF mirrors TTest.dof (gbstats/frequentist/tests.py): the
// Welch–Satterthwaite approximation from each arm's own unit variance.
func welchDoF(a, b arm) float64 {
	na, nb := float64(a.n), float64(b.n)
	num := b.variance/nb + a.variance/na
	return num * num / (b.variance*b.variance/(nb*nb*(nb-1)) + a.variance*a.variance/(na*na*(na-1)))
}

// effectMoments mirrors EffectMoments.compute_result
// (gbstats/models/tests.py), in its order of checks; variance is the
// lift's variance. Like gbstats it refuses a zero control mean for the
// absolute lift too.
func effectMoments(a, b arm, d Difference, variance float64) (moments, error) {
	if a.variance <= 0 || b.variance <= 0 || variance <= 0 || a.n <= 1 || b.n <= 1 {
		return moments{}, ErrZeroVariance
	}
	if a.mean == 0 || a.unadj == 0 {
		return moments{}, ErrBaselineZero
	}
	return moments{
		estimate: frequentistDiff(a, b, d),
		se:       math.Sqrt(variance),
		dof:      welchDoF(a, b),
		n:        a.n + b.n,
	}, nil
}

// TTest compares treatment b with control a: the Welch t-test of gbstats'
// TwoSidedTTest, or with c.Sequential its SequentialTwoSidedTTest
// (gbstats/frequentist/tests.py). The p-value is 2·(1 − F_t(|t|)) with
// Welch degrees of freedom, the interval estimate ± t_{1−α/2}·se (t.cdf
// and t.ppf there; gonum's StudentsT here).
func TTest(a, b Sample, c Config) (Result, error) {
	pa, pb := plainArm(a), plainArm(b)
	return run(pa, pb, c, frequentistVariance(pa, pb, c.Difference))
}

func run(a, b arm, c Config, variance float64) (Result, error) {
	alpha := c.alpha()
	if !(alpha > 0 && alpha < 1) {
		return defaultResult(), ErrAlpha
	}
	if c.Sequential && !(c.tuning() > 0) {
		return defaultResult(), ErrTuning
	}
	m, err := effectMoments(a, b, c.Difference, variance)
	if err != nil {
		return defaultResult(), err
	}
	if c.Sequential {
		return sequentialResult(m, alpha, c.tuning()), nil
	}
	return twoSidedResult(m, alpha), nil
}

// twoSidedResult mirrors TwoSidedTTest.p_value and confidence_interval.
func twoSidedResult(m moments, alpha float64) Result {
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: m.dof}
	crit := m.estimate / m.se
	half := tQuantile(1-alpha/2, m.dof) * m.se
	return Result{
		Expected: m.estimate,
		StdDev:   m.se,
		CI:       [2]float64{m.estimate - half, m.estimate + half},
		PValue:   2 * (1 - t.CDF(math.Abs(crit))),
		DoF:      m.dof,
	}
}
