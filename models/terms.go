package models

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"situ/features"
)

// Term is one part of the score: the linear model of one outcome field's
// reward term (the eight outcome fields, in their order), or the prior.
//
// The learner keeps one linear model per term per treatment and trains
// each on its own term when that outcome field arrives; the served score
// is Σ weight × term, the weights being the reward definition's. The
// sum is collapsed into one weight vector per treatment whenever the
// model or the reward definition changes (Model.WithReward), so a
// decision costs what it cost with one model, and a changed reward
// definition applies at once to every decision, pending ones included,
// without relearning.
type Term uint8

// TermPrior is the prior term: the default model's weights (the model
// the learner started from), forgotten as decisions are learned from —
// it learns 0 from each decision's first outcome part, and the default
// reward from a decision whose window closed without any part.
const TermPrior = Term(NumOutcomeFields)

// NumTerms is the number of terms: one per outcome field and the prior.
const NumTerms = NumOutcomeFields + 1

// String returns the term's name: the outcome field's, or "prior".
func (t Term) String() string {
	if t == TermPrior {
		return "prior"
	}
	return OutcomeField(t).String()
}

// ParseTerm returns the term named s.
func ParseTerm(s string) (Term, bool) {
	for t := range Term(NumTerms) {
		if t.String() == s {
			return t, true
		}
	}
	return 0, false
}

// termScale is the unit each term's model learns in: the default reward
// definition's weight of the field, so that under the default definition
// each term's model learns exactly its part of the reward and the sum of
// the terms is the one model of a scalar reward. A definition's weight w
// then counts the term w / termScale times (termRatio).
var termScale = [NumOutcomeFields]float64{0.4, 0.1, 0.3, 0.001, -0.0002, -0.2, -0.3, -0.8}

// termRatio returns how many times the definition r counts each term's
// model: w_f / termScale_f, and 1 for the prior.
func termRatio(r *RewardDefinition) [NumTerms]float64 {
	w := &r.Weights
	ws := [NumOutcomeFields]float64{w.Resolved, w.CSAT, w.UpsellAccepted, w.Revenue, w.HandleSeconds, w.Escalated, w.Recontact7d, w.Churned}
	var out [NumTerms]float64
	for f, v := range ws {
		out[f] = v / termScale[f]
	}
	out[TermPrior] = 1
	return out
}

// TermTarget is what term f's model learns from outcome part o under the
// definition r, in the term's unit (termScale): the field's value as the
// reward counts it (true 1, csat − 3, revenue up to the revenue cap of r,
// handle seconds), times the unit. A part that does not hold f, or holds
// csat null (no survey), gives 0: the zero value an unreported field is
// learned as when a window closes with a default reward.
func TermTarget(f OutcomeField, o *Outcome, r *RewardDefinition) float64 {
	if o == nil || !o.Holds(f) {
		return 0
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	var v float64
	switch f {
	case FieldResolved:
		v = b(o.Resolved)
	case FieldCSAT:
		if o.CSAT != nil {
			v = *o.CSAT - 3
		}
	case FieldUpsellAccepted:
		v = b(o.UpsellAccepted)
	case FieldRevenue:
		// the cap bounds the revenue term in reward units: in revenue,
		// cap / |weight| under the definition in force when it arrives
		v = o.Revenue
		if w := math.Abs(r.Weights.Revenue); r.Weights.RevenueCap > 0 && w > 0 {
			v = min(v, r.Weights.RevenueCap/w)
		}
	case FieldHandleSeconds:
		v = o.HandleSeconds
	case FieldEscalated:
		v = b(o.Escalated)
	case FieldRecontact7d:
		v = b(o.Recontact7d)
	case FieldChurned:
		v = b(o.Churned)
	}
	return v * termScale[f]
}

// termWeights are a model's per-term linear models; immutable once built.
type termWeights struct {
	bias    [NumTerms][features.NumTreatments]float64
	weights [NumTerms][features.NumTreatments][]float64
}

// HasTerms reports whether the model keeps one linear model per term (a
// learner's model); a model without them (a YAML model, a snapshot from
// before terms) has one weight vector per treatment and no breakdown.
func (m *Model) HasTerms() bool { return m.terms != nil }

// TermWeights returns how many times the model's score counts each term:
// the reward definition it was collapsed with (WithReward), w / unit.
func (m *Model) TermWeights() [NumTerms]float64 { return m.ratio }

// WithReward returns the model scoring with reward definition r: its
// weights are Σ over terms of (r's weight / unit) × the term's weights.
// A model without terms is returned as it is; so is one already collapsed
// with the same weights.
func (m *Model) WithReward(r *RewardDefinition) *Model {
	if m.terms == nil {
		return m
	}
	ratio := termRatio(r)
	if ratio == m.ratio {
		return m
	}
	c := *m
	c.ratio = ratio
	c.collapse()
	return &c
}

// collapse computes the weights from the terms and the ratios.
func (m *Model) collapse() {
	n := m.schema.Len()
	for t := range features.NumTreatments {
		w := make([]float64, n)
		b := 0.0
		for k := range NumTerms {
			r := m.ratio[k]
			if r == 0 {
				continue
			}
			b += r * m.terms.bias[k][t]
			for i, v := range m.terms.weights[k][t] {
				w[i] += r * v
			}
		}
		m.bias[t], m.weights[t] = b, w
	}
}

// Terms writes into out each term's part of treatment t's score for x:
// (weight / unit) × (term bias + term weights · x), summing to Score of
// the model as learned (before the configuration's overrides and pins,
// which act on the sum). It returns false for a model without terms.
func (m *Model) Terms(t features.Treatment, x []features.Entry, out *[NumTerms]float64) bool {
	if m.terms == nil {
		return false
	}
	for k := range NumTerms {
		r := m.ratio[k]
		if r == 0 {
			out[k] = 0
			continue
		}
		w := m.terms.weights[k][t]
		s := m.terms.bias[k][t]
		for _, e := range x {
			s += w[e.Index] * e.Value
		}
		out[k] = r * s
	}
	return true
}

// bindTerms builds the per-term models of spec for m.
func bindTerms(m *Model, spec Spec, schema *features.Schema) error {
	tw := &termWeights{}
	for k := range NumTerms {
		for t := range features.NumTreatments {
			tw.weights[k][t] = make([]float64, schema.Len())
		}
	}
	for _, name := range slices.Sorted(maps.Keys(spec.Terms)) {
		k, ok := ParseTerm(name)
		if !ok {
			return fmt.Errorf("model %q: unknown term %q", spec.Name, name)
		}
		for tname, w := range spec.Terms[name] {
			t, ok := features.ParseTreatment(tname)
			if !ok {
				return fmt.Errorf("model %q: term %s: unknown treatment %q", spec.Name, name, tname)
			}
			if !finite(w.Bias) {
				return fmt.Errorf("model %q: term %s: %s: bias must be finite", spec.Name, name, tname)
			}
			tw.bias[k][t] = w.Bias
			for fname, v := range w.Weights {
				i, ok := schema.Index(fname)
				if !ok {
					return fmt.Errorf("model %q: term %s: %s: unknown feature %q: %w", spec.Name, name, tname, fname, ErrSchemaMismatch)
				}
				if !finite(v) {
					return fmt.Errorf("model %q: term %s: %s: weight of %q must be finite", spec.Name, name, tname, fname)
				}
				tw.weights[k][t][i] = v
			}
		}
	}
	m.terms = tw
	for k := range NumTerms {
		m.ratio[k] = 1
	}
	for name, v := range spec.TermWeights {
		k, ok := ParseTerm(name)
		if !ok || !finite(v) {
			return fmt.Errorf("model %q: term weight %q: unknown term or not finite", spec.Name, name)
		}
		m.ratio[k] = v
	}
	return nil
}
