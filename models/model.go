package models

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"situ/features"
)

//go:embed default_model.yaml
var defaultModelYAML []byte

// DefaultModelYAML returns the embedded default model document.
func DefaultModelYAML() []byte { return append([]byte(nil), defaultModelYAML...) }

// DefaultModel binds the embedded default model to schema.
func DefaultModel(schema *features.Schema) (*Model, error) {
	spec, err := ParseSpec(defaultModelYAML)
	if err != nil {
		return nil, err
	}
	return Bind(spec, schema)
}

// Spec is the declarative (YAML/JSON) form of a model: weights by feature
// name. Features without a weight have weight 0.
type Spec struct {
	Name          string                      `yaml:"name" json:"name"`
	Version       int64                       `yaml:"version" json:"version"`
	SchemaVersion int                         `yaml:"schema_version" json:"schema_version"`
	Updates       int64                       `yaml:"updates,omitempty" json:"updates,omitempty"`
	Treatments    map[string]TreatmentWeights `yaml:"treatments" json:"treatments"`
	// Terms are a learner's per-term models (Term: the outcome fields
	// and the prior), by term and treatment; Treatments then holds their
	// sum weighted by TermWeights. Absent: a model of one weight vector
	// per treatment.
	Terms map[string]map[string]TreatmentWeights `yaml:"terms,omitempty" json:"terms,omitempty"`
	// TermWeights are how many times Treatments counts each term (the
	// reward definition's weight over the term's unit); a term not
	// listed counts once.
	TermWeights map[string]float64 `yaml:"term_weights,omitempty" json:"term_weights,omitempty"`
}

// TreatmentWeights is one treatment's linear model.
type TreatmentWeights struct {
	Bias    float64            `yaml:"bias" json:"bias"`
	Weights map[string]float64 `yaml:"weights" json:"weights"`
}

// ParseSpec parses a YAML (or JSON) model document.
func ParseSpec(doc []byte) (Spec, error) {
	var spec Spec
	dec := yaml.NewDecoder(strings.NewReader(string(doc)))
	dec.KnownFields(true)
	if err := dec.Decode(&spec); err != nil {
		return Spec{}, fmt.Errorf("parse model: %w", err)
	}
	return spec, nil
}

// Model scores a feature vector per treatment: bias + Σ weight·value. A
// Model is immutable once built; learners publish new versions.
type Model struct {
	name    string
	version int64
	updates int64
	schema  *features.Schema
	bias    [features.NumTreatments]float64
	weights [features.NumTreatments][]float64
	// terms, when not nil, are the per-term models weights and bias are
	// the sum of, each counted ratio times (terms.go).
	terms *termWeights
	ratio [NumTerms]float64
}

// ErrSchemaMismatch means a model was built for another feature schema.
var ErrSchemaMismatch = errors.New("model does not match the feature schema")

// Bind builds a model from spec for schema. Unknown treatments and
// features, non-finite weights and a schema version other than the
// schema's are errors naming the culprit.
func Bind(spec Spec, schema *features.Schema) (*Model, error) {
	if spec.Name == "" {
		return nil, errors.New("model: name is required")
	}
	if spec.Version < 0 || spec.Updates < 0 {
		return nil, fmt.Errorf("model %q: version and updates must not be negative", spec.Name)
	}
	if spec.SchemaVersion != schema.Version() {
		return nil, fmt.Errorf("model %q: schema version %d, service schema version %d: %w", spec.Name, spec.SchemaVersion, schema.Version(), ErrSchemaMismatch)
	}
	m := &Model{name: spec.Name, version: spec.Version, updates: spec.Updates, schema: schema}
	for t := range m.weights {
		m.weights[t] = make([]float64, schema.Len())
	}
	for tname, tw := range spec.Treatments {
		t, ok := features.ParseTreatment(tname)
		if !ok {
			return nil, fmt.Errorf("model %q: unknown treatment %q (allowed: %s)", spec.Name, tname, strings.Join(features.TreatmentNames(), ", "))
		}
		if !finite(tw.Bias) {
			return nil, fmt.Errorf("model %q: %s: bias must be finite", spec.Name, tname)
		}
		m.bias[t] = tw.Bias
		for fname, w := range tw.Weights {
			i, ok := schema.Index(fname)
			if !ok {
				return nil, fmt.Errorf("model %q: %s: unknown feature %q: %w", spec.Name, tname, fname, ErrSchemaMismatch)
			}
			if !finite(w) {
				return nil, fmt.Errorf("model %q: %s: weight of %q must be finite", spec.Name, tname, fname)
			}
			m.weights[t][i] = w
		}
	}
	if len(spec.Terms) > 0 {
		if err := bindTerms(m, spec, schema); err != nil {
			return nil, err
		}
		m.collapse()
	}
	return m, nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Name returns the model's name (its key in the models topic).
func (m *Model) Name() string { return m.name }

// Version returns the model's version; every published change increments it.
func (m *Model) Version() int64 { return m.version }

// Updates returns how many outcomes the model has learned from.
func (m *Model) Updates() int64 { return m.updates }

// Schema returns the feature schema the model is bound to.
func (m *Model) Schema() *features.Schema { return m.schema }

// Bias returns treatment t's bias.
func (m *Model) Bias(t features.Treatment) float64 { return m.bias[t] }

// Weight returns treatment t's weight for feature i.
func (m *Model) Weight(t features.Treatment, i int32) float64 { return m.weights[t][i] }

// Score returns bias + w·x for treatment t.
func (m *Model) Score(t features.Treatment, x []features.Entry) float64 {
	w := m.weights[t]
	s := m.bias[t]
	for _, e := range x {
		s += w[e.Index] * e.Value
	}
	return s
}

// Contribution is one feature's part of a treatment's score.
type Contribution struct {
	Feature      int32
	Contribution float64
}

// Explain writes into top the features with the largest absolute
// contribution to treatment t's score, largest first, and returns how many
// it wrote. Zero contributions are left out, and so are the schema's
// missing indicators: an explanation names only what the caller sent (an
// indicator's part is in the score, as the bias is).
func (m *Model) Explain(t features.Treatment, x []features.Entry, top []Contribution) int {
	w := m.weights[t]
	end := m.schema.Indicators()
	n := 0
	for _, e := range x {
		c := w[e.Index] * e.Value
		if c == 0 || e.Index >= end {
			continue
		}
		a := math.Abs(c)
		// insertion into the fixed-size, sorted top list
		pos := n
		for pos > 0 && math.Abs(top[pos-1].Contribution) < a {
			pos--
		}
		if pos >= len(top) {
			continue
		}
		end := n
		if end == len(top) {
			end--
		}
		copy(top[pos+1:end+1], top[pos:end])
		top[pos] = Contribution{Feature: e.Index, Contribution: c}
		if n < len(top) {
			n++
		}
	}
	return n
}

// ScoreExplainAll is Score and Explain of every treatment in one pass
// over x: it writes Score(t, x) into scores[t] and what
// Explain(t, x, top[t]) writes into top[t], and its count into n[t] —
// the same values to the bit, in the same order. A nil (or empty) top[t]
// explains nothing. A decision needs both for every candidate: one pass
// reads each entry once, and the treatments' sums, independent of one
// another, overlap in the processor instead of waiting for each other.
func (m *Model) ScoreExplainAll(x []features.Entry, scores *[features.NumTreatments]float64, top *[features.NumTreatments][]Contribution, n *[features.NumTreatments]int) {
	// The three treatments are written out: one variable per sum.
	var _ = [1]struct{}{}[features.NumTreatments-3]
	w0, w1, w2 := m.weights[0], m.weights[1], m.weights[2]
	// of one length, so that one bounds check covers the three reads
	w1, w2 = w1[:len(w0)], w2[:len(w0)]
	s0, s1, s2 := m.bias[0], m.bias[1], m.bias[2]
	t0, t1, t2 := top[0], top[1], top[2]
	// n0… count the contributions in each list; low0… are the bars a
	// contribution's magnitude must pass to enter it (lowestToEnter)
	n0, n1, n2 := 0, 0, 0
	low0, low1, low2 := lowestToEnter(t0, 0), lowestToEnter(t1, 0), lowestToEnter(t2, 0)
	end := m.schema.Indicators()
	for _, e := range x {
		i := e.Index
		// the same expressions as Score's, for the same rounding
		s0 += w0[i] * e.Value
		s1 += w1[i] * e.Value
		s2 += w2[i] * e.Value
		if i >= end {
			continue
		}
		if c := w0[i] * e.Value; math.Abs(c) > low0 {
			n0, low0 = insertTop(t0, n0, i, c)
		}
		if c := w1[i] * e.Value; math.Abs(c) > low1 {
			n1, low1 = insertTop(t1, n1, i, c)
		}
		if c := w2[i] * e.Value; math.Abs(c) > low2 {
			n2, low2 = insertTop(t2, n2, i, c)
		}
	}
	*scores = [features.NumTreatments]float64{s0, s1, s2}
	*n = [features.NumTreatments]int{n0, n1, n2}
}

// lowestToEnter returns what the magnitude of a contribution must exceed
// to enter the sorted list top holding n contributions, as in Explain:
// 0 while it has room (every non-zero contribution enters; a weight and
// a value being finite, a contribution is never NaN), then the magnitude
// of its last, since insertion stops above an equal one; +Inf for a
// list of length 0.
func lowestToEnter(top []Contribution, n int) float64 {
	switch {
	case len(top) == 0:
		return math.Inf(1)
	case n < len(top):
		return 0
	}
	return math.Abs(top[n-1].Contribution)
}

// insertTop puts contribution c of feature i in its place in top, which
// holds n contributions, as Explain does: below every contribution at
// least as large, the last one dropped when the list is full (c's
// magnitude passed lowestToEnter). It returns the new count and bar.
func insertTop(top []Contribution, n int, i int32, c float64) (int, float64) {
	a := math.Abs(c)
	j := n
	if j == len(top) {
		j--
	} else {
		n++
	}
	for j > 0 && math.Abs(top[j-1].Contribution) < a {
		top[j] = top[j-1]
		j--
	}
	top[j] = Contribution{Feature: i, Contribution: c}
	return n, lowestToEnter(top, n)
}

// Spec returns the model's declarative form with its non-zero weights.
func (m *Model) Spec() Spec {
	spec := Spec{Name: m.name, Version: m.version, SchemaVersion: m.schema.Version(), Updates: m.updates, Treatments: map[string]TreatmentWeights{}}
	for _, t := range features.Treatments() {
		tw := TreatmentWeights{Bias: m.bias[t], Weights: map[string]float64{}}
		for i, w := range m.weights[t] {
			if w != 0 {
				tw.Weights[m.schema.Name(int32(i))] = w
			}
		}
		spec.Treatments[t.String()] = tw
	}
	if m.terms != nil {
		spec.Terms, spec.TermWeights = map[string]map[string]TreatmentWeights{}, map[string]float64{}
		for k := range Term(NumTerms) {
			byTreatment := map[string]TreatmentWeights{}
			for _, t := range features.Treatments() {
				tw := TreatmentWeights{Bias: m.terms.bias[k][t], Weights: map[string]float64{}}
				for i, w := range m.terms.weights[k][t] {
					if w != 0 {
						tw.Weights[m.schema.Name(int32(i))] = w
					}
				}
				byTreatment[t.String()] = tw
			}
			spec.Terms[k.String()] = byTreatment
			if m.ratio[k] != 1 {
				spec.TermWeights[k.String()] = m.ratio[k]
			}
		}
	}
	return spec
}

// Builder makes a new model version from an existing one. It copies the
// weights once; the model it builds shares nothing mutable.
type Builder struct {
	m *Model
}

// NewBuilder starts a new version from base.
func NewBuilder(base *Model) *Builder {
	m := *base
	for t := range m.weights {
		m.weights[t] = append([]float64(nil), base.weights[t]...)
	}
	return &Builder{m: &m}
}

// SetBias sets treatment t's bias.
func (b *Builder) SetBias(t features.Treatment, v float64) { b.m.bias[t] = v }

// SetWeight sets treatment t's weight of feature i.
func (b *Builder) SetWeight(t features.Treatment, i int32, v float64) { b.m.weights[t][i] = v }

// Weights returns treatment t's weights for in-place updates.
func (b *Builder) Weights(t features.Treatment) []float64 { return b.m.weights[t] }

// BiasRef returns a pointer to treatment t's bias for in-place updates.
func (b *Builder) BiasRef(t features.Treatment) *float64 { return &b.m.bias[t] }

// SetUpdates sets the number of outcomes learned from.
func (b *Builder) SetUpdates(n int64) { b.m.updates = n }

// Build returns the model with the given version. The builder must not be
// used afterwards.
func (b *Builder) Build(version int64) *Model {
	m := b.m
	b.m = nil
	m.version = version
	return m
}

// FeatureWeights lists a treatment's non-zero weights sorted by name, for
// reports and the admin API.
func (m *Model) FeatureWeights(t features.Treatment) []NamedWeight {
	var out []NamedWeight
	for i, w := range m.weights[t] {
		if w != 0 {
			out = append(out, NamedWeight{Feature: m.schema.Name(int32(i)), Weight: w})
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Feature < out[b].Feature })
	return out
}

// NamedWeight is a feature name with its weight.
type NamedWeight struct {
	Feature string  `json:"feature"`
	Weight  float64 `json:"weight"`
}
