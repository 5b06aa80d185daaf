package models

import (
	"errors"
	"fmt"

	"situ/features"
)

// TermLearner learns one linear model per term (Term) per treatment: each
// outcome field's model learns that field's reward term when the field
// arrives, with OnlineLearner's update (importance-weighted least squares
// on the chosen treatment, AdaGrad, L2), and the prior starts at the base
// model's weights. Its Model is the terms' sum under a reward definition.
// Pinned weights never change: the prior holds the pinned value and every
// field's model 0, so that the sum is the pinned value under any reward
// definition. It is not safe for concurrent use.
type TermLearner struct {
	name    string
	schema  *features.Schema
	updates int64
	terms   [NumTerms]*OnlineLearner
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
// optimiser state (TermLearner.State). A model and state from before
// terms (one vector per treatment) restore as the prior, the fields'
// models starting at 0.
func RestoreTermLearner(m *Model, state LearnerState, cfg LearnerConfig) (*TermLearner, error) {
	if m == nil {
		return nil, errors.New("learner: a base model is required")
	}
	l := &TermLearner{name: m.name, schema: m.schema, updates: m.updates}
	for k := range Term(NumTerms) {
		s := LearnerState{Pinned: state.Pinned}
		if k == TermPrior {
			s.Accumulators = state.Accumulators
		} else {
			s.Accumulators = state.Terms[k.String()]
		}
		var err error
		if l.terms[k], err = RestoreLearner(termModel(m, k), s, cfg); err != nil {
			return nil, fmt.Errorf("term %s: %w", k, err)
		}
	}
	for name := range state.Terms {
		if k, ok := ParseTerm(name); !ok || k == TermPrior {
			return nil, fmt.Errorf("restore learner: unknown term %q", name)
		}
	}
	return l, nil
}

// Updates returns how many matches the learner has applied.
func (l *TermLearner) Updates() int64 { return l.updates }

// Schema returns the feature schema the learner is bound to.
func (l *TermLearner) Schema() *features.Schema { return l.schema }

// Learn applies one match of treatment t, chosen with propensity for
// features x: every field in fields learns its term target from part o
// under reward definition r (TermTarget; o nil: the zero value), and when
// prior is set the prior learns priorTarget (0 for a decision's first
// part, the default reward for a window that closed without any).
func (l *TermLearner) Learn(t features.Treatment, x []features.Entry, propensity float64, fields OutcomeFields, o *Outcome, r *RewardDefinition, prior bool, priorTarget float64) {
	for f := range OutcomeField(NumOutcomeFields) {
		if fields.Has(f) {
			l.terms[f].Update(t, x, propensity, TermTarget(f, o, r))
		}
	}
	if prior {
		l.terms[TermPrior].Update(t, x, propensity, priorTarget)
	}
	l.updates++
}

// Pin fixes the named weight of treatment t at value (the prior holds it,
// every field's model 0); Unpin releases it. BiasFeature names the bias.
func (l *TermLearner) Pin(t features.Treatment, feature string, value float64) error {
	for k, tl := range l.terms {
		v := 0.0
		if Term(k) == TermPrior {
			v = value
		}
		if err := tl.Pin(t, feature, v); err != nil {
			return err
		}
	}
	return nil
}

// Unpin lets the learner change the weight again.
func (l *TermLearner) Unpin(t features.Treatment, feature string) {
	for _, tl := range l.terms {
		tl.Unpin(t, feature)
	}
}

// Model returns an immutable model with the learner's current terms,
// scoring with reward definition r.
func (l *TermLearner) Model(version int64, r *RewardDefinition) *Model {
	m := &Model{name: l.name, version: version, updates: l.updates, schema: l.schema, terms: &termWeights{}}
	for k, tl := range l.terms {
		m.terms.bias[k] = tl.bias
		for t := range tl.w {
			m.terms.weights[k][t] = append([]float64(nil), tl.w[t]...)
		}
	}
	m.ratio = termRatio(r)
	m.collapse()
	return m
}

// State returns what a checkpoint must hold to resume learning exactly:
// the prior's accumulators in Accumulators, each field's in Terms, and the
// pins.
func (l *TermLearner) State() LearnerState {
	s := l.terms[TermPrior].State()
	s.Terms = map[string]map[string]TreatmentWeights{}
	for k := range Term(NumOutcomeFields) {
		s.Terms[k.String()] = l.terms[k].State().Accumulators
	}
	return s
}
