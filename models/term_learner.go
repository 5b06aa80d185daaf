package models

import (
	"errors"
	"fmt"
	"math"

	"situ/features"
)

// TermLearner learns one linear model per term (Term) per treatment: each
// outcome field's model learns that field's reward term when the field
// arrives, with OnlineLearner's update (importance-weighted least squares
// on the chosen treatment, AdaGrad, L2), and the prior starts at the base
// model's weights. Its Model is the terms' sum under a reward definition.
//
// The terms of a treatment share one AdaGrad accumulator per weight, fed
// with the gradient of the sum of the terms a match updates: every term
// takes a step of the same size η/√G along its own gradient. So the sum
// takes one AdaGrad step along the sum of the gradients, and under the
// default reward definition (every term counted once) with a whole
// outcome, whose terms' targets add up to the reward, the sum learns
// exactly as one model of the scalar reward would (TestTermSumIsTheSingleModel).
// With an accumulator of its own, each term would take its own step of
// about η/√G and the sum up to nine of them per outcome: a larger and
// noisier step than the single model's.
//
// The model it serves (Model) is, by default, the exponential moving
// average of its weights over LearnerConfig.AverageUpdates updates, not
// its last weights; State carries the last weights for a checkpoint.
//
// Pinned weights never change: the prior holds the pinned value and every
// field's model 0, so that the sum is the pinned value under any reward
// definition. It is not safe for concurrent use.
type TermLearner struct {
	cfg     LearnerConfig
	name    string
	schema  *features.Schema
	updates int64
	bias    [NumTerms][features.NumTreatments]float64
	w       [NumTerms][features.NumTreatments][]float64
	// gBias and g are the accumulators the terms of a treatment share.
	gBias      [features.NumTreatments]float64
	g          [features.NumTreatments][]float64
	pinned     [features.NumTreatments][]bool
	biasPinned [features.NumTreatments]bool
	// avgBias and avgW are the served weights: the moving average of bias
	// and w (LearnerConfig.AverageUpdates); nil avgW[0][0]: no average,
	// the last weights are served.
	avgBias [NumTerms][features.NumTreatments]float64
	avgW    [NumTerms][features.NumTreatments][]float64
}

// termModel returns term k of m as a model of its own (the prior: m's
// weights, for a model without terms; a field: zero).
func termModel(m *Model, k Term) *Model {
	c := &Model{name: m.name, schema: m.schema}
	switch {
	case m.terms != nil:
		c.bias = m.terms.bias[k]
		c.weights = m.terms.weights[k]
	case k == TermPrior:
		c.bias, c.weights = m.bias, m.weights
	default:
		for t := range c.weights {
			c.weights[t] = make([]float64, m.schema.Len())
		}
	}
	return c
}

// NewTermLearner starts learning from base: its terms, or, for a model
// without terms, base's weights as the prior and every field's model at 0.
func NewTermLearner(base *Model, cfg LearnerConfig) (*TermLearner, error) {
	return RestoreTermLearner(base, LearnerState{}, cfg)
}

// RestoreTermLearner rebuilds a term learner from a model and its
// optimiser state (TermLearner.State: the shared accumulators in
// Accumulators, the last weights in Iterate when m is their average). A
// model and state from before terms (one vector per treatment) restore
// as the prior, the fields' models starting at 0. A state with Terms,
// from before the terms shared their accumulators, restores with the
// prior's accumulators as the shared ones. A state without Iterate
// restores with m's terms as both the last weights and their average.
func RestoreTermLearner(m *Model, state LearnerState, cfg LearnerConfig) (*TermLearner, error) {
	if m == nil {
		return nil, errors.New("learner: a base model is required")
	}
	for name := range state.Terms {
		if k, ok := ParseTerm(name); !ok || k == TermPrior {
			return nil, fmt.Errorf("restore learner: unknown term %q", name)
		}
	}
	iterate := m
	if state.Iterate != nil {
		iterate = &Model{name: m.name, schema: m.schema}
		if err := bindTerms(iterate, Spec{Name: m.name, Terms: state.Iterate}, m.schema); err != nil {
			return nil, fmt.Errorf("restore learner: iterate: %w", err)
		}
	}
	// the accumulators and pins, as an OnlineLearner restores them
	acc, err := RestoreLearner(m, LearnerState{Accumulators: state.Accumulators, Pinned: state.Pinned}, cfg)
	if err != nil {
		return nil, err
	}
	l := &TermLearner{cfg: acc.cfg, name: m.name, schema: m.schema, updates: m.updates,
		gBias: acc.gBias, g: acc.g, pinned: acc.pinned, biasPinned: acc.biasPinned}
	averaged := l.cfg.AverageUpdates > 1
	for k := range Term(NumTerms) {
		tm := termModel(iterate, k)
		l.bias[k] = tm.bias
		for t := range tm.weights {
			l.w[k][t] = append([]float64(nil), tm.weights[t]...)
		}
		if averaged {
			am := termModel(m, k)
			l.avgBias[k] = am.bias
			for t := range am.weights {
				l.avgW[k][t] = append([]float64(nil), am.weights[t]...)
			}
		}
	}
	return l, nil
}

// fold moves the served average a share AverageEvery/AverageUpdates of
// the way to the last weights.
func (l *TermLearner) fold() {
	a := min(1, AverageEvery/l.cfg.AverageUpdates)
	for k := range NumTerms {
		for t := range features.NumTreatments {
			l.avgBias[k][t] += a * (l.bias[k][t] - l.avgBias[k][t])
			avg, w := l.avgW[k][t], l.w[k][t]
			for i, v := range w {
				avg[i] += a * (v - avg[i])
			}
		}
	}
}

// averaging reports whether the learner serves the average of its weights.
func (l *TermLearner) averaging() bool { return l.avgW[0][0] != nil }

// Updates returns how many matches the learner has applied.
func (l *TermLearner) Updates() int64 { return l.updates }

// Schema returns the feature schema the learner is bound to.
func (l *TermLearner) Schema() *features.Schema { return l.schema }

// Learn applies one match of treatment t, chosen with propensity for
// features x: every field in fields learns its term target from part o
// under reward definition r (TermTarget; o nil: the zero value), and when
// prior is set the prior learns priorTarget (0 for a decision's first
// part, the default reward for a window that closed without any). The
// terms learned take one shared AdaGrad step (TermLearner).
func (l *TermLearner) Learn(t features.Treatment, x []features.Entry, propensity float64, fields OutcomeFields, o *Outcome, r *RewardDefinition, prior bool, priorTarget float64) {
	var ks [NumTerms]Term
	var resid [NumTerms]float64
	n := 0
	iw := l.cfg.MaxImportanceWeight
	if propensity > 0 && 1/propensity < iw {
		iw = 1 / propensity
	}
	add := func(k Term, target float64) {
		w := l.w[k][t]
		pred := l.bias[k][t]
		for _, e := range x {
			pred += w[e.Index] * e.Value
		}
		ks[n], resid[n] = k, iw*(pred-target)
		n++
	}
	for f := range OutcomeField(NumOutcomeFields) {
		if fields.Has(f) {
			add(Term(f), TermTarget(f, o, r))
		}
	}
	if prior {
		add(TermPrior, priorTarget)
	}
	l.updates++
	if l.updates%AverageEvery == 0 && l.averaging() {
		defer l.fold()
	}
	if n == 0 {
		return
	}
	eta, lambda, beta, floor := l.cfg.LearningRate, l.cfg.L2, l.cfg.Forgetting, l.cfg.MinStepRate
	if !l.biasPinned[t] {
		var gk [NumTerms]float64
		sum := 0.0
		for j, k := range ks[:n] {
			gk[j] = resid[j] + lambda*l.bias[k][t]
			sum += gk[j]
		}
		l.gBias[t] = beta*l.gBias[t] + sum*sum
		step := max(eta/math.Sqrt(l.gBias[t]), floor)
		for j, k := range ks[:n] {
			l.bias[k][t] -= step * gk[j]
		}
	}
	g, pin := l.g[t], l.pinned[t]
	var ws [NumTerms][]float64
	for j, k := range ks[:n] {
		ws[j] = l.w[k][t]
	}
	for _, e := range x {
		i := e.Index
		if pin[i] {
			continue
		}
		var gk [NumTerms]float64
		sum := 0.0
		for j := range n {
			gk[j] = resid[j]*e.Value + lambda*ws[j][i]
			sum += gk[j]
		}
		g[i] = beta*g[i] + sum*sum
		step := max(eta/math.Sqrt(g[i]), floor)
		for j := range n {
			ws[j][i] -= step * gk[j]
		}
	}
}

// Pin fixes the named weight of treatment t at value (the prior holds it,
// every field's model 0); Unpin releases it. BiasFeature names the bias.
func (l *TermLearner) Pin(t features.Treatment, feature string, value float64) error {
	if int(t) >= features.NumTreatments || !finite(value) {
		return fmt.Errorf("learner: pin %s of %s: invalid treatment or value", feature, t)
	}
	var v [NumTerms]float64 // the prior holds the value, every field 0
	v[TermPrior] = value
	avg := l.averaging() // the served weight is the pinned value at once
	if feature == BiasFeature {
		for k := range NumTerms {
			l.bias[k][t] = v[k]
			if avg {
				l.avgBias[k][t] = v[k]
			}
		}
		l.biasPinned[t] = true
		return nil
	}
	i, ok := l.schema.Index(feature)
	if !ok {
		return fmt.Errorf("learner: pin: unknown feature %q", feature)
	}
	for k := range NumTerms {
		l.w[k][t][i] = v[k]
		if avg {
			l.avgW[k][t][i] = v[k]
		}
	}
	l.pinned[t][i] = true
	return nil
}

// Unpin lets the learner change the weight again.
func (l *TermLearner) Unpin(t features.Treatment, feature string) {
	if int(t) >= features.NumTreatments {
		return
	}
	if feature == BiasFeature {
		l.biasPinned[t] = false
		return
	}
	if i, ok := l.schema.Index(feature); ok {
		l.pinned[t][i] = false
	}
}

// Model returns an immutable model with the terms the learner serves —
// the moving average of its weights (LearnerConfig.AverageUpdates), or
// its last weights — scoring with reward definition r.
func (l *TermLearner) Model(version int64, r *RewardDefinition) *Model {
	bias, w := &l.bias, &l.w
	if l.averaging() {
		bias, w = &l.avgBias, &l.avgW
	}
	return l.termsModel(version, r, bias, w)
}

// termsModel returns the model of the given terms.
func (l *TermLearner) termsModel(version int64, r *RewardDefinition, bias *[NumTerms][features.NumTreatments]float64, w *[NumTerms][features.NumTreatments][]float64) *Model {
	m := &Model{name: l.name, version: version, updates: l.updates, schema: l.schema, terms: &termWeights{}}
	m.terms.bias = *bias
	for k := range NumTerms {
		for t := range features.NumTreatments {
			m.terms.weights[k][t] = append([]float64(nil), w[k][t]...)
		}
	}
	m.ratio = termRatio(r)
	m.collapse()
	return m
}

// State returns what a checkpoint must hold, beside the served model
// (Model), to resume learning exactly: the shared accumulators in
// Accumulators, the pins, and, when the model served is the average of
// the weights, the last weights in Iterate.
func (l *TermLearner) State() LearnerState {
	acc := OnlineLearner{cfg: l.cfg, schema: l.schema, gBias: l.gBias, g: l.g, pinned: l.pinned, biasPinned: l.biasPinned}
	s := acc.State()
	if l.averaging() {
		s.Iterate = l.termsModel(0, &RewardDefinition{}, &l.bias, &l.w).Spec().Terms
	}
	return s
}
