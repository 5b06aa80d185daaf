package stats

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Prior is the Gaussian prior on the lift of gbstats' effect Bayesian
// engine (GaussianPrior): ignored unless Proper.
type Prior struct {
	Mean     float64
	Variance float64
	Proper   bool
}

// BayesianResult is gbstats' BayesianTestResult for a comparison of a
// treatment arm (b) with the control (a).
type BayesianResult struct {
	// Expected is the posterior mean of the lift, StdDev its posterior
	// standard deviation.
	Expected float64
	StdDev   float64
	// CI is the central 1−alpha credible interval (normal quantiles).
	CI [2]float64
	// ChanceToWin is the posterior probability that the lift is positive.
	ChanceToWin float64
	// Risk is the expected loss of choosing the control and of choosing
	// the treatment: E[max(lift, 0)] and E[max(−lift, 0)] under the
	// posterior.
	Risk [2]float64
}

// BayesianTest compares treatment b with control a as gbstats'
// EffectBayesianABTest does: the data's lift and variance are the
// frequentist ones (the delta method for the relative lift); with a
// proper prior the posterior is the precision-weighted combination of the
// prior and the data, else the data alone (a flat prior). Intervals use
// normal quantiles. c.Sequential and c.Tuning are ignored.
func BayesianTest(a, b Sample, prior Prior, c Config) (BayesianResult, error) {
	alpha := c.alpha()
	if !(alpha > 0 && alpha < 1) {
		return BayesianResult{ChanceToWin: 0.5}, ErrAlpha
	}
	pa, pb := plainArm(a), plainArm(b)
	variance := frequentistVariance(pa, pb, c.Difference)
	m, err := effectMoments(pa, pb, c.Difference, variance)
	if err != nil {
		return BayesianResult{ChanceToWin: 0.5}, err
	}
	dataPrec := 1 / variance
	priorPrec, priorMean := 0.0, 0.0
	if prior.Proper {
		if !(prior.Variance > 0) {
			return BayesianResult{ChanceToWin: 0.5}, ErrZeroVariance
		}
		priorPrec, priorMean = 1/prior.Variance, prior.Mean
	}
	postPrec := dataPrec + priorPrec
	mean := (m.estimate*dataPrec + priorMean*priorPrec) / postPrec
	sd := math.Sqrt(1 / postPrec)
	post := distuv.Normal{Mu: mean, Sigma: sd}
	return BayesianResult{
		Expected:    mean,
		StdDev:      sd,
		CI:          [2]float64{post.Quantile(alpha / 2), post.Quantile(1 - alpha/2)},
		ChanceToWin: 1 - post.CDF(0),
		Risk:        [2]float64{positivePart(mean, sd), positivePart(-mean, sd)},
	}, nil
}

// positivePart is E[max(X, 0)] for X ~ N(mu, sd²): mu·Φ(mu/sd) +
// sd·φ(mu/sd), which is P(X > 0)·E[X | X > 0], gbstats' risk of the
// control.
func positivePart(mu, sd float64) float64 {
	z := mu / sd
	std := distuv.UnitNormal
	return mu*std.CDF(z) + sd*std.Prob(z)
}
