package scoring

import (
	"fmt"
	"math"

	"situ/features"
)

// Explorer turns per-treatment scores into a probability for each eligible
// treatment. Every eligible treatment gets a positive probability, so that
// logged decisions support off-policy evaluation; ineligible ones get 0.
type Explorer interface {
	// Probabilities writes p for the eligible treatments given their scores
	// and how many outcomes the model has learned from.
	Probabilities(scores *[features.NumTreatments]float64, eligible features.TreatmentSet, experience int64, p *[features.NumTreatments]float64)
	// Name identifies the explorer in decisions and metrics.
	Name() string
}

// SquareCB is the inverse-gap-weighting explorer of Foster & Rakhlin
// (2020): a treatment whose score trails the best by gap gets probability
// 1/(K + γ·gap), the best gets the rest. γ = Gamma0·√(1+experience) grows as
// the model learns, so exploration narrows to the treatments still in
// contention. A floor mixes in Epsilon uniformly, so every eligible
// treatment keeps probability ≥ Epsilon/K.
type SquareCB struct {
	Gamma0  float64 // > 0; default 50
	Epsilon float64 // in [0, 1); default 0.01
}

// Name implements Explorer.
func (s SquareCB) Name() string { return "squarecb" }

// Validate checks the parameters.
func (s SquareCB) Validate() error {
	if !(s.Gamma0 > 0) || math.IsInf(s.Gamma0, 0) {
		return fmt.Errorf("squarecb: gamma0 must be a positive number, got %g", s.Gamma0)
	}
	if !(s.Epsilon >= 0 && s.Epsilon < 1) {
		return fmt.Errorf("squarecb: epsilon must be in [0, 1), got %g", s.Epsilon)
	}
	return nil
}

// Probabilities implements Explorer.
func (s SquareCB) Probabilities(scores *[features.NumTreatments]float64, eligible features.TreatmentSet, experience int64, p *[features.NumTreatments]float64) {
	*p = [features.NumTreatments]float64{}
	best, k := argmax(scores, eligible)
	if k == 0 {
		return
	}
	K := float64(k)
	gamma := s.Gamma0 * math.Sqrt(1+float64(max(experience, 0)))
	rest := 1.0
	for t := features.Treatment(0); t < features.NumTreatments; t++ {
		if t == best || !eligible.Has(t) {
			continue
		}
		p[t] = 1 / (K + gamma*(scores[best]-scores[t]))
		rest -= p[t]
	}
	p[best] = rest
	mixFloor(p, eligible, s.Epsilon, K)
}

// EpsilonGreedy picks the best-scoring treatment with probability 1-ε and
// a uniformly random eligible one with probability ε.
type EpsilonGreedy struct {
	Epsilon float64 // in (0, 1]; default 0.1
}

// Name implements Explorer.
func (e EpsilonGreedy) Name() string { return "epsilon_greedy" }

// Validate checks the parameters.
func (e EpsilonGreedy) Validate() error {
	if !(e.Epsilon > 0 && e.Epsilon <= 1) {
		return fmt.Errorf("epsilon-greedy: epsilon must be in (0, 1], got %g", e.Epsilon)
	}
	return nil
}

// Probabilities implements Explorer.
func (e EpsilonGreedy) Probabilities(scores *[features.NumTreatments]float64, eligible features.TreatmentSet, _ int64, p *[features.NumTreatments]float64) {
	*p = [features.NumTreatments]float64{}
	best, k := argmax(scores, eligible)
	if k == 0 {
		return
	}
	p[best] = 1
	mixFloor(p, eligible, e.Epsilon, float64(k))
}

func argmax(scores *[features.NumTreatments]float64, eligible features.TreatmentSet) (features.Treatment, int) {
	best, k := features.Treatment(0), 0
	for t := features.Treatment(0); t < features.NumTreatments; t++ {
		if !eligible.Has(t) {
			continue
		}
		if k == 0 || scores[t] > scores[best] {
			best = t
		}
		k++
	}
	return best, k
}

func mixFloor(p *[features.NumTreatments]float64, eligible features.TreatmentSet, eps, k float64) {
	if eps == 0 {
		return
	}
	for t := features.Treatment(0); t < features.NumTreatments; t++ {
		if eligible.Has(t) {
			p[t] = (1-eps)*p[t] + eps/k
		}
	}
}
