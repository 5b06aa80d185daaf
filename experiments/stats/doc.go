// Package stats computes the statistics of experiment results the way
// GrowthBook's frequentist and Bayesian engines do (gbstats 0.8.0, packages/stats/gbstats
// in growthbook/growthbook), so that situ's numbers can be checked against
// GrowthBook's own test vectors.
//
// It covers:
//
//   - summary statistics per arm (Sample), from values or from sums, with
//     gbstats' conventions: n−1 sample variance for means, p(1−p) with no
//     n−1 correction for proportions;
//   - the Welch t-test on the relative lift (delta-method variance) or the
//     absolute lift, with Welch–Satterthwaite degrees of freedom from each
//     arm's own variance, a two-sided p-value and a Student t interval;
//   - the sequential (anytime-valid) two-sided test: the asymptotic
//     confidence sequence of Waudby-Smith et al. with its tuning parameter
//     and a p-value capped at 1;
//   - CUPED regression adjustment with θ pooled over both arms;
//   - Holm–Bonferroni and Benjamini–Hochberg adjusted p-values;
//   - the effect Bayesian test (flat or Gaussian prior on the lift):
//     posterior mean and interval, chance to win and risk;
//   - the sample-ratio-mismatch chi-square test.
//
// Distributions come from gonum.org/v1/gonum/stat/distuv. The package is
// pure: no I/O, no logging, no global mutable state; every function is safe
// for concurrent use.
package stats
