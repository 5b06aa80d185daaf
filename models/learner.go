package models

import (
	"errors"
	"fmt"
	"math"

	"situ/features"
)

// LearnerConfig tunes the online update. Zero fields take the defaults.
type LearnerConfig struct {
	// LearningRate η of the AdaGrad step. Default 0.05.
	LearningRate float64
	// InitialAccumulator G₀ of AdaGrad's squared-gradient sums; it bounds
	// the first steps. Default 1.
	InitialAccumulator float64
	// L2 regularisation, applied to the weights an update touches. Default 1e-6.
	L2 float64
	// MaxImportanceWeight clips the importance weight 1/propensity of an
	// update. Default 1: no importance weighting, a plain squared-loss step
	// on the chosen treatment, which is the regression SquareCB assumes;
	// larger clips let the few explored decisions (propensity ε/K) take
	// steps up to that many times larger, whose noise cost more than their
	// correction on the simulator's worlds (docs/model.md).
	MaxImportanceWeight float64
	// MinStepRate floors each weight's effective step size η/√G: AdaGrad's
	// steps shrink as its squared-gradient sums G grow, and without a
	// floor they shrink towards 0, so that a model trained for long can
	// no longer follow a world that changes. At most LearningRate.
	// Default 0: no floor.
	MinStepRate float64
	// Forgetting β in (0, 1] multiplies a weight's squared-gradient sum
	// before each of its updates (G ← β·G + g², RMSProp-style), so that
	// G forgets old gradients with a horizon of about 1/(1−β) updates of
	// the weight. Default 1: AdaGrad, which never forgets.
	Forgetting float64
	// AverageUpdates is the horizon, in updates, of the exponential moving
	// average of its weights that a TermLearner serves (Model) instead of
	// its last weights: every AverageEvery updates the average moves
	// AverageEvery/AverageUpdates of the way to the weights. The average
	// smooths the noise of the last steps at the price of a lag of about
	// that many updates after a change. 1: serve the last weights. Default
	// 3000 (docs/model.md). OnlineLearner ignores it.
	AverageUpdates float64
}

// AverageEvery is how many updates apart a TermLearner folds its weights
// into their served average (LearnerConfig.AverageUpdates).
const AverageEvery = 50

// DefaultAverageUpdates is LearnerConfig.AverageUpdates's default.
const DefaultAverageUpdates = 3000

func (c *LearnerConfig) fill() error {
	if c.LearningRate == 0 {
		c.LearningRate = 0.05
	}
	if c.InitialAccumulator == 0 {
		c.InitialAccumulator = 1
	}
	if c.L2 == 0 {
		c.L2 = 1e-6
	}
	if c.MaxImportanceWeight == 0 {
		c.MaxImportanceWeight = 1
	}
	if c.Forgetting == 0 {
		c.Forgetting = 1
	}
	if c.AverageUpdates == 0 {
		c.AverageUpdates = DefaultAverageUpdates
	}
	switch {
	case !(c.LearningRate > 0) || !finite(c.LearningRate):
		return fmt.Errorf("learner: learning rate must be positive, got %g", c.LearningRate)
	case !(c.InitialAccumulator > 0) || !finite(c.InitialAccumulator):
		return fmt.Errorf("learner: initial accumulator must be positive, got %g", c.InitialAccumulator)
	case !(c.L2 >= 0) || !finite(c.L2):
		return fmt.Errorf("learner: L2 must not be negative, got %g", c.L2)
	case !(c.MaxImportanceWeight >= 1) || !finite(c.MaxImportanceWeight):
		return fmt.Errorf("learner: max importance weight must be ≥ 1, got %g", c.MaxImportanceWeight)
	case !(c.MinStepRate >= 0 && c.MinStepRate <= c.LearningRate):
		return fmt.Errorf("learner: min step rate must be between 0 and the learning rate %g, got %g", c.LearningRate, c.MinStepRate)
	case !(c.Forgetting > 0 && c.Forgetting <= 1):
		return fmt.Errorf("learner: forgetting must be in (0, 1], got %g", c.Forgetting)
	case !(c.AverageUpdates >= 1) || !finite(c.AverageUpdates):
		return fmt.Errorf("learner: average updates must be ≥ 1, got %g", c.AverageUpdates)
	}
	return nil
}

// OnlineLearner updates per-treatment linear models from logged decisions
// and their rewards: least squares on the chosen treatment, importance
// weighted by min(1/propensity, MaxImportanceWeight) (by default 1: not
// weighted), with per-weight
// AdaGrad steps and L2. Pinned weights never change. It is not safe for
// concurrent use: one goroutine owns it and publishes immutable Models.
type OnlineLearner struct {
	cfg     LearnerConfig
	name    string
	schema  *features.Schema
	updates int64
	bias    [features.NumTreatments]float64
	w       [features.NumTreatments][]float64
	gBias   [features.NumTreatments]float64
	g       [features.NumTreatments][]float64
	pinned  [features.NumTreatments][]bool
	// biasPinned marks the treatments whose bias is pinned.
	biasPinned [features.NumTreatments]bool
}

// NewOnlineLearner starts learning from base (its weights are the prior).
func NewOnlineLearner(base *Model, cfg LearnerConfig) (*OnlineLearner, error) {
	if base == nil {
		return nil, errors.New("learner: a base model is required")
	}
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	l := &OnlineLearner{cfg: cfg, name: base.name, schema: base.schema, updates: base.updates, bias: base.bias}
	n := base.schema.Len()
	for t := range l.w {
		l.w[t] = append([]float64(nil), base.weights[t]...)
		l.g[t] = make([]float64, n)
		for i := range l.g[t] {
			l.g[t][i] = cfg.InitialAccumulator
		}
		l.gBias[t] = cfg.InitialAccumulator
		l.pinned[t] = make([]bool, n)
	}
	return l, nil
}

// Updates returns how many updates the learner has applied in total.
func (l *OnlineLearner) Updates() int64 { return l.updates }

// Schema returns the feature schema the learner is bound to.
func (l *OnlineLearner) Schema() *features.Schema { return l.schema }

// BiasFeature is the name Pin, Unpin and LearnerState use for a
// treatment's bias.
const BiasFeature = "bias"

// Pin fixes the named weight of treatment t at value; Unpin releases it.
// The feature BiasFeature ("bias") names the treatment's bias.
func (l *OnlineLearner) Pin(t features.Treatment, feature string, value float64) error {
	if int(t) >= features.NumTreatments || !finite(value) {
		return fmt.Errorf("learner: pin %s of %s: invalid treatment or value", feature, t)
	}
	if feature == BiasFeature {
		l.bias[t] = value
		l.biasPinned[t] = true
		return nil
	}
	i, ok := l.schema.Index(feature)
	if !ok {
		return fmt.Errorf("learner: pin: unknown feature %q", feature)
	}
	l.w[t][i] = value
	l.pinned[t][i] = true
	return nil
}

// Unpin lets the learner change the weight again.
func (l *OnlineLearner) Unpin(t features.Treatment, feature string) {
	if feature == BiasFeature && int(t) < features.NumTreatments {
		l.biasPinned[t] = false
		return
	}
	if i, ok := l.schema.Index(feature); ok && int(t) < features.NumTreatments {
		l.pinned[t][i] = false
	}
}

// Update learns from one decision: treatment t was chosen with the given
// propensity for features x and earned reward. It returns the prediction
// before the update.
func (l *OnlineLearner) Update(t features.Treatment, x []features.Entry, propensity, reward float64) float64 {
	w, g, pin := l.w[t], l.g[t], l.pinned[t]
	pred := l.bias[t]
	for _, e := range x {
		pred += w[e.Index] * e.Value
	}
	iw := l.cfg.MaxImportanceWeight
	if propensity > 0 && 1/propensity < iw {
		iw = 1 / propensity
	}
	resid := iw * (pred - reward)
	eta, lambda, beta, floor := l.cfg.LearningRate, l.cfg.L2, l.cfg.Forgetting, l.cfg.MinStepRate
	if !l.biasPinned[t] {
		gb := resid + lambda*l.bias[t]
		l.gBias[t] = beta*l.gBias[t] + gb*gb
		l.bias[t] -= max(eta/math.Sqrt(l.gBias[t]), floor) * gb
	}
	for _, e := range x {
		i := e.Index
		if pin[i] {
			continue
		}
		gi := resid*e.Value + lambda*w[i]
		g[i] = beta*g[i] + gi*gi
		w[i] -= max(eta/math.Sqrt(g[i]), floor) * gi
	}
	l.updates++
	return pred
}

// Model returns an immutable model with the learner's current weights.
func (l *OnlineLearner) Model(version int64) *Model {
	m := &Model{name: l.name, version: version, updates: l.updates, schema: l.schema, bias: l.bias}
	for t := range m.weights {
		m.weights[t] = append([]float64(nil), l.w[t]...)
	}
	return m
}

// State returns what a snapshot must hold to resume learning exactly:
// the AdaGrad accumulators and the pins.
func (l *OnlineLearner) State() LearnerState {
	s := LearnerState{Accumulators: map[string]TreatmentWeights{}, Pinned: map[string][]string{}}
	for _, t := range features.Treatments() {
		tw := TreatmentWeights{Bias: l.gBias[t], Weights: map[string]float64{}}
		if l.biasPinned[t] {
			s.Pinned[t.String()] = append(s.Pinned[t.String()], BiasFeature)
		}
		for i, v := range l.g[t] {
			if v != l.cfg.InitialAccumulator {
				tw.Weights[l.schema.Name(int32(i))] = v
			}
			if l.pinned[t][i] {
				s.Pinned[t.String()] = append(s.Pinned[t.String()], l.schema.Name(int32(i)))
			}
		}
		s.Accumulators[t.String()] = tw
	}
	return s
}

// LearnerState is the optimiser state carried in a snapshot. Accumulators
// lists only the entries that differ from the initial accumulator.
type LearnerState struct {
	Accumulators map[string]TreatmentWeights `json:"accumulators"`
	Pinned       map[string][]string         `json:"pinned,omitempty"`
	// Terms are, in a checkpoint from before a TermLearner's terms shared
	// their accumulators, each outcome field's model's own, by field name
	// (Accumulators then held the prior's). Read, not written: such a
	// state restores with the prior's accumulators as the shared ones.
	Terms map[string]map[string]TreatmentWeights `json:"terms,omitempty"`
	// Iterate are a TermLearner's last weights, by term and treatment, as
	// in Spec.Terms (only the non-zero weights), when the model it serves
	// is their moving average (LearnerConfig.AverageUpdates): the
	// checkpoint's model is that average, and the learner resumes from
	// both. Absent (a checkpoint from before the average, or one that
	// serves the last weights): the model's terms are the last weights.
	Iterate map[string]map[string]TreatmentWeights `json:"iterate,omitempty"`
}

// RestoreLearner rebuilds a learner from a model and its optimiser state.
func RestoreLearner(m *Model, state LearnerState, cfg LearnerConfig) (*OnlineLearner, error) {
	l, err := NewOnlineLearner(m, cfg)
	if err != nil {
		return nil, err
	}
	for tname, tw := range state.Accumulators {
		t, ok := features.ParseTreatment(tname)
		if !ok {
			return nil, fmt.Errorf("restore learner: unknown treatment %q", tname)
		}
		if tw.Bias > 0 {
			l.gBias[t] = tw.Bias
		}
		for fname, v := range tw.Weights {
			i, ok := l.schema.Index(fname)
			if !ok || !(v > 0) || !finite(v) {
				return nil, fmt.Errorf("restore learner: accumulator %s/%s: unknown feature or invalid value: %w", tname, fname, ErrSchemaMismatch)
			}
			l.g[t][i] = v
		}
	}
	for tname, names := range state.Pinned {
		t, ok := features.ParseTreatment(tname)
		if !ok {
			return nil, fmt.Errorf("restore learner: unknown treatment %q", tname)
		}
		for _, fname := range names {
			if fname == BiasFeature {
				l.biasPinned[t] = true
				continue
			}
			i, ok := l.schema.Index(fname)
			if !ok {
				return nil, fmt.Errorf("restore learner: pinned %s/%s: unknown feature: %w", tname, fname, ErrSchemaMismatch)
			}
			l.pinned[t][i] = true
		}
	}
	return l, nil
}
