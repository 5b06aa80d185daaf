package stats

import "math"

// SequentialRho mirrors gbstats' sequential_rho (two-sided): the mixing
// parameter ρ of the confidence sequence chosen so that it is tightest at
// a total sample size of tuning (eq. 161 of Waudby-Smith et al.,
// arXiv 2103.06476v7).
func SequentialRho(alpha, tuning float64) float64 {
	l := -2 * math.Log(alpha)
	return math.Sqrt((l + math.Log(l+1)) / tuning)
}

// SequentialHalfwidth mirrors gbstats' sequential_interval_halfwidth
// (eq. 9 of Waudby-Smith et al.): the half-width of the asymptotic
// confidence sequence for n units with unit variance s2.
func SequentialHalfwidth(s2 float64, n int, alpha, rho float64) float64 {
	fn := float64(n)
	nr2p1 := fn*rho*rho + 1
	return math.Sqrt(s2) * math.Sqrt(2*nr2p1*math.Log(math.Sqrt(nr2p1)/alpha)/(fn*rho*fn*rho))
}

// sequentialResult mirrors SequentialTwoSidedTTest: n is n_a + n_b, the
// unit variance s2 = se²·n, and the p-value is the inverse of the mixture
// e-value (eq. 155), capped at 1.
func sequentialResult(m moments, alpha, tuning float64) Result {
	rho := SequentialRho(alpha, tuning)
	fn := float64(m.n)
	s2 := m.se * m.se * fn
	half := SequentialHalfwidth(s2, m.n, alpha, rho)
	st2 := m.estimate * m.estimate * fn / (m.se * m.se)
	tr2p1 := fn*rho*rho + 1
	evalue := math.Exp(rho*rho*st2/(2*tr2p1)) / math.Sqrt(tr2p1)
	return Result{
		Expected: m.estimate,
		StdDev:   m.se,
		CI:       [2]float64{m.estimate - half, m.estimate + half},
		PValue:   math.Min(1/evalue, 1),
		DoF:      m.dof,
	}
}
