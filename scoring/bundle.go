package scoring

import (
	"errors"
	"fmt"
	"math"

	"situ/experiments"
	"situ/features"
	"situ/models"
	"situ/policy"
)

// Bundle is everything a decision reads that can change while the engine
// runs: the model, the policy, the exploration settings, the levers and
// the version of the configuration they came from. The engine holds one Bundle and swaps
// it whole (Engine.Update), and Decide reads it once, so a decision never
// sees part of one change and part of another.
//
// A Bundle the engine holds is never modified: Update hands its function a
// copy, and the models and policy it points to are immutable themselves.
// Every part added later joins as a field here, as a value or as a pointer
// to something immutable, and is checked by Validate.
//
// The weight overrides of the configuration cost decisions nothing: Model
// is built from Learned by Override once per change of either (SetLearned,
// WithLearned, WithOverride), not per request.
type Bundle struct {
	// Model scores requests: Override(Learned), or Learned itself without
	// an override; required. Set it through WithLearned and WithOverride,
	// which keep it in step with Learned and Override.
	Model *models.Model
	// Learned is the learner's model as received, before any override.
	// Update fills it with Model when it is nil.
	Learned *models.Model
	// Override builds the model decisions score with from the learned one
	// (control.EffectiveModel with the applied configuration); nil: none.
	// It must not modify learned, and must be free of side effects: Update
	// may call it more than once.
	Override func(learned *models.Model) (*models.Model, error)
	// Levers are added to each candidate treatment's model score before
	// exploration, in reward units (finite; 0: none).
	Levers [features.NumTreatments]float64
	// Policy applies the service commitments; required.
	Policy *policy.Policy
	// Explorer turns scores into probabilities; required (NewEngine fills
	// in DefaultExplorer).
	Explorer Explorer
	// ConfigVersion is the version of the data team's configuration this
	// bundle applies; 0 until a control plane sets one.
	ConfigVersion int64
	// Experiments assigns requests to the running experiments, whose arm's
	// strategy then decides (Engine.Decide); nil: no experiment, every
	// decision is learned.
	Experiments *experiments.Assigner
	// Frozen are the frozen models of the model@VERSION arms, by version:
	// each arm's model must be here, on the served model's schema.
	Frozen map[int64]*models.Model
}

// Validate checks that every required part is there and that the explorer's
// parameters are valid.
func (b Bundle) Validate() error {
	if b.Model == nil {
		return errors.New("scoring: a model is required")
	}
	if b.Policy == nil {
		return errors.New("scoring: a policy is required")
	}
	if b.Explorer == nil {
		return errors.New("scoring: an explorer is required")
	}
	if v, ok := b.Explorer.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("scoring: %w", err)
		}
	}
	if b.ConfigVersion < 0 {
		return fmt.Errorf("scoring: config version must not be negative, got %d", b.ConfigVersion)
	}
	if b.Learned != nil && b.Learned.Schema().Fingerprint() != b.Model.Schema().Fingerprint() {
		return fmt.Errorf("scoring: learned and served model: %w", models.ErrSchemaMismatch)
	}
	for _, s := range b.Experiments.Strategies() {
		switch {
		case s.Kind == experiments.ValueTier && b.Policy.Uniform():
			return fmt.Errorf("scoring: strategy %s serves by customer value and the policy is in uniform mode", s.Name)
		case s.Kind != experiments.Frozen:
			continue
		}
		m := b.Frozen[s.ModelVersion]
		if m == nil {
			return fmt.Errorf("scoring: strategy %s: model version %d is not frozen", s.Name, s.ModelVersion)
		}
		if m.Schema().Fingerprint() != b.Model.Schema().Fingerprint() {
			return fmt.Errorf("scoring: strategy %s and served model: %w", s.Name, models.ErrSchemaMismatch)
		}
	}
	for t, v := range b.Levers {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("scoring: lever of %s must be a finite number, got %g", features.Treatment(t), v)
		}
	}
	return nil
}

// WithLearned returns b serving learned: Learned is learned and Model is
// Override(learned), or learned without an override. An error of the
// override returns b unchanged with the error.
func (b Bundle) WithLearned(learned *models.Model) (Bundle, error) {
	if learned == nil {
		return b, errors.New("scoring: a model is required")
	}
	served, err := applyOverride(b.Override, learned)
	if err != nil {
		return b, err
	}
	b.Learned, b.Model = learned, served
	return b, nil
}

// WithOverride returns b with override in place (nil: none) and Model
// rebuilt from Learned (Model when Learned is nil). An error of the
// override returns b unchanged with the error.
func (b Bundle) WithOverride(override func(learned *models.Model) (*models.Model, error)) (Bundle, error) {
	learned := b.Learned
	if learned == nil {
		learned = b.Model
	}
	if learned == nil {
		return b, errors.New("scoring: a model is required")
	}
	served, err := applyOverride(override, learned)
	if err != nil {
		return b, err
	}
	b.Learned, b.Model, b.Override = learned, served, override
	return b, nil
}

func applyOverride(override func(*models.Model) (*models.Model, error), learned *models.Model) (*models.Model, error) {
	if override == nil {
		return learned, nil
	}
	served, err := override(learned)
	switch {
	case err != nil:
		return nil, fmt.Errorf("scoring: override of model %s v%d: %w", learned.Name(), learned.Version(), err)
	case served == nil:
		return nil, fmt.Errorf("scoring: override of model %s v%d returned no model", learned.Name(), learned.Version())
	}
	return served, nil
}

// Bundle returns the bundle decisions use now.
func (e *Engine) Bundle() Bundle { return *e.bundle.Load() }

// Update replaces the bundle with change(current) in one atomic swap:
// decisions see either the old bundle or the new one, never a mix. If
// another update lands first, change is called again on the newer bundle,
// so concurrent updates never lose one another; change must therefore be
// free of side effects. An error from change, or a bundle that does not
// validate, leaves the current bundle in place.
func (e *Engine) Update(change func(Bundle) (Bundle, error)) error {
	for {
		cur := e.bundle.Load()
		next, err := change(*cur)
		if err != nil {
			return err
		}
		if next.Learned == nil {
			next.Learned = next.Model
		}
		if err := next.Validate(); err != nil {
			return err
		}
		if e.bundle.CompareAndSwap(cur, &next) {
			return nil
		}
	}
}

// Model returns the model decisions score with: the learned model with
// the configuration's overrides applied.
func (e *Engine) Model() *models.Model { return e.bundle.Load().Model }

// Learned returns the learned model in use, before any override.
func (e *Engine) Learned() *models.Model { return e.bundle.Load().Learned }

// SetLearned serves a new learned model and keeps the rest of the bundle,
// the override included: decisions score with Override(m) from then on;
// decisions already under way finish with the old model. When m is nil or
// the override fails on m, the current bundle stays and the error says
// why.
func (e *Engine) SetLearned(m *models.Model) error {
	return e.Update(func(b Bundle) (Bundle, error) { return b.WithLearned(m) })
}

// SetModel is SetLearned without the error: a nil model, or one the
// override refuses, is ignored and the current bundle stays.
func (e *Engine) SetModel(m *models.Model) { _ = e.SetLearned(m) }

// Policy returns the policy in use.
func (e *Engine) Policy() *policy.Policy { return e.bundle.Load().Policy }

// SetPolicy swaps the policy and keeps the rest of the bundle. A nil
// policy is ignored.
func (e *Engine) SetPolicy(p *policy.Policy) {
	if p == nil {
		return
	}
	_ = e.Update(func(b Bundle) (Bundle, error) { b.Policy = p; return b, nil })
}

// Explorer returns the explorer in use.
func (e *Engine) Explorer() Explorer { return e.bundle.Load().Explorer }

// SetExplorer swaps the explorer and keeps the rest of the bundle. It
// refuses, and keeps the current one, an explorer that is nil or whose
// parameters do not validate.
func (e *Engine) SetExplorer(x Explorer) error {
	return e.Update(func(b Bundle) (Bundle, error) { b.Explorer = x; return b, nil })
}
