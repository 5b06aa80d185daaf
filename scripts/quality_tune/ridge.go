package main

import (
	"errors"
	"fmt"

	"gonum.org/v1/gonum/mat"

	"situ/features"
	"situ/models"
)

// ridgeConfig tunes ridgeLearner (-learner ridge). Zero fields take the
// defaults.
type ridgeConfig struct {
	// Window is the effective window of the estimate, in decisions: each
	// decision learned multiplies the weight of every earlier one by
	// λ = 1 − 1/Window, so a decision counts e⁻¹ as much Window decisions
	// later. Default 8000.
	Window float64
	// Ridge ρ pulls each treatment's weights towards the prior's (the
	// base model's terms) with the weight of ρ decisions of unit
	// features. Default 20.
	Ridge float64
	// SolveEvery K: the weights are solved again every K decisions
	// learned (by count, so that learning is deterministic). Default 1000.
	SolveEvery int64
	// MaxImportanceWeight clips the weight min(1/propensity, it) a
	// decision enters the statistics with. Default 1: unweighted.
	MaxImportanceWeight float64
	// Experience, when positive, caps the updates the model reports
	// (SquareCB's experience, which sets γ) at Experience × Window, the
	// decisions a full window holds. Default 0: no cap.
	Experience float64
}

func (c *ridgeConfig) fill() error {
	if c.Window == 0 {
		c.Window = 8000
	}
	if c.Ridge == 0 {
		c.Ridge = 20
	}
	if c.SolveEvery == 0 {
		c.SolveEvery = 1000
	}
	if c.MaxImportanceWeight == 0 {
		c.MaxImportanceWeight = 1
	}
	switch {
	case !(c.Window >= 1):
		return fmt.Errorf("ridge learner: window must be ≥ 1, got %g", c.Window)
	case !(c.Ridge > 0):
		return fmt.Errorf("ridge learner: ridge must be positive, got %g", c.Ridge)
	case c.SolveEvery < 1:
		return fmt.Errorf("ridge learner: solve every must be ≥ 1, got %d", c.SolveEvery)
	case !(c.MaxImportanceWeight >= 1):
		return fmt.Errorf("ridge learner: max importance weight must be ≥ 1, got %g", c.MaxImportanceWeight)
	}
	return nil
}

// rescaleAt is the scale past which the statistics are renormalised.
const rescaleAt = 1e60

// ridgeLearner learns one linear model per term per treatment, as
// models.TermLearner does, but by ridge least squares over an
// exponentially weighted window of the decisions learned: per treatment
// t the statistics A = Σ λ^(n−i) x̃ᵢx̃ᵢᵀ over t's decisions i (x̃: the
// features and a 1 for the bias) and, per term k, b = Σ λ^(n−i) x̃ᵢ yᵢₖ
// (models.TermTarget); every K decisions it solves (A + ρI) w = b + ρ w₀
// per treatment by Cholesky, w₀ being the base model's term. One A serves
// every term: a decision's features do not depend on the term. The decay
// is applied lazily (each outer product enters times a scale that grows
// by 1/λ per decision), so an update costs O(nnz²). The model served is
// the last solution.
type ridgeLearner struct {
	cfg     ridgeConfig
	base    *models.Model
	schema  *features.Schema
	updates int64
	lambda  float64
	scale   float64
	a       [features.NumTreatments]*mat.SymDense
	b       [models.NumTerms][features.NumTreatments][]float64
	dirty   [features.NumTreatments]bool
	w0      [models.NumTerms][features.NumTreatments][]float64
	w       [models.NumTerms][features.NumTreatments][]float64
	chol    mat.Cholesky
}

func newRidgeLearner(base *models.Model, cfg ridgeConfig) (*ridgeLearner, error) {
	if base == nil {
		return nil, errors.New("ridge learner: a base model is required")
	}
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	schema := base.Schema()
	n := schema.Len() + 1
	l := &ridgeLearner{cfg: cfg, base: base, schema: schema, lambda: 1 - 1/cfg.Window, scale: 1}
	spec := base.Spec()
	for t := range features.NumTreatments {
		l.a[t] = mat.NewSymDense(n, nil)
	}
	for k := range models.Term(models.NumTerms) {
		for _, t := range features.Treatments() {
			w := make([]float64, n)
			var tw models.TreatmentWeights
			switch {
			case spec.Terms != nil:
				tw = spec.Terms[k.String()][t.String()]
			case k == models.TermPrior:
				tw = spec.Treatments[t.String()]
			}
			for f, v := range tw.Weights {
				i, _ := schema.Index(f)
				w[i] = v
			}
			w[n-1] = tw.Bias
			l.w0[k][t] = w
			l.w[k][t] = append([]float64(nil), w...)
			l.b[k][t] = make([]float64, n)
		}
	}
	return l, nil
}

// Learn applies one match as models.TermLearner.Learn does: a decision's
// first part (prior set) adds its features to A and the prior's target
// to the prior's b; every field in fields adds its target to its term's b.
func (l *ridgeLearner) Learn(t features.Treatment, x []features.Entry, propensity float64, fields models.OutcomeFields, o *models.Outcome, r *models.RewardDefinition, prior bool, priorTarget float64) {
	s := l.scale
	if iw := l.cfg.MaxImportanceWeight; propensity > 0 && iw > 1 {
		s *= min(iw, 1/propensity)
	}
	bias := l.schema.Len()
	addB := func(k models.Term, y float64) {
		if y == 0 {
			return
		}
		b := l.b[k][t]
		sy := s * y
		for _, e := range x {
			b[e.Index] += sy * e.Value
		}
		b[bias] += sy
	}
	for f := range models.OutcomeField(models.NumOutcomeFields) {
		if fields.Has(f) {
			addB(models.Term(f), models.TermTarget(f, o, r))
		}
	}
	if prior {
		addB(models.TermPrior, priorTarget)
		raw := l.a[t].RawSymmetric()
		d, stride := raw.Data, raw.Stride
		for p, ep := range x {
			i := int(ep.Index)
			sv := s * ep.Value
			for _, eq := range x[p:] {
				j := int(eq.Index)
				if j >= i {
					d[i*stride+j] += sv * eq.Value
				} else {
					d[j*stride+i] += sv * eq.Value
				}
			}
			d[i*stride+bias] += sv
		}
		d[bias*stride+bias] += s
		l.dirty[t] = true
		l.scale /= l.lambda
		if l.scale > rescaleAt {
			l.rescale()
		}
	}
	l.updates++
	if l.updates%l.cfg.SolveEvery == 0 {
		l.solve()
	}
}

// rescale divides the statistics by the scale and sets it to 1.
func (l *ridgeLearner) rescale() {
	inv := 1 / l.scale
	for t := range features.NumTreatments {
		raw := l.a[t].RawSymmetric()
		for i := range raw.N {
			for j := i; j < raw.N; j++ {
				raw.Data[i*raw.Stride+j] *= inv
			}
		}
		for k := range models.NumTerms {
			for i := range l.b[k][t] {
				l.b[k][t][i] *= inv
			}
		}
	}
	l.scale = 1
}

// solve solves every treatment whose statistics changed since the last.
func (l *ridgeLearner) solve() {
	n := l.schema.Len() + 1
	inv, rho := 1/l.scale, l.cfg.Ridge
	m := mat.NewSymDense(n, nil)
	rhs := mat.NewVecDense(n, nil)
	var sol mat.VecDense
	for t := range features.NumTreatments {
		if !l.dirty[t] {
			continue
		}
		l.dirty[t] = false
		src, dst := l.a[t].RawSymmetric(), m.RawSymmetric()
		for i := range n {
			for j := i; j < n; j++ {
				dst.Data[i*dst.Stride+j] = src.Data[i*src.Stride+j] * inv
			}
			dst.Data[i*dst.Stride+i] += rho
		}
		if !l.chol.Factorize(m) {
			continue // not with ρ > 0; keep the last weights
		}
		for k := range models.NumTerms {
			b, w0 := l.b[k][t], l.w0[k][t]
			for i := range n {
				rhs.SetVec(i, b[i]*inv+rho*w0[i])
			}
			if err := l.chol.SolveVecTo(&sol, rhs); err == nil {
				copy(l.w[k][t], sol.RawVector().Data)
			}
		}
	}
}

// Updates returns how many matches the learner has applied.
func (l *ridgeLearner) Updates() int64 { return l.updates }

// Model returns the last solution's terms as a model scoring with r.
func (l *ridgeLearner) Model(version int64, r *models.RewardDefinition) (*models.Model, error) {
	spec := l.base.Spec()
	spec.Version, spec.Updates = version, l.base.Updates()+l.updates
	if c := l.cfg.Experience; c > 0 {
		spec.Updates = min(spec.Updates, int64(c*l.cfg.Window))
	}
	spec.Treatments, spec.TermWeights = nil, nil
	spec.Terms = map[string]map[string]models.TreatmentWeights{}
	n := l.schema.Len()
	for k := range models.Term(models.NumTerms) {
		byT := map[string]models.TreatmentWeights{}
		for _, t := range features.Treatments() {
			tw := models.TreatmentWeights{Bias: l.w[k][t][n], Weights: map[string]float64{}}
			for i, v := range l.w[k][t][:n] {
				if v != 0 {
					tw.Weights[l.schema.Name(int32(i))] = v
				}
			}
			byT[t.String()] = tw
		}
		spec.Terms[k.String()] = byT
	}
	m, err := models.Bind(spec, l.schema)
	if err != nil {
		return nil, fmt.Errorf("ridge learner: %w", err)
	}
	return m.WithReward(r), nil
}
