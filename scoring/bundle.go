package scoring

import (
	"errors"
	"fmt"

	"situ/models"
	"situ/policy"
)

// Bundle is everything a decision reads that can change while the engine
// runs: the model, the policy, the exploration settings and the version of
// the configuration they came from. The engine holds one Bundle and swaps
// it whole (Engine.Update), and Decide reads it once, so a decision never
// sees part of one change and part of another.
//
// A Bundle the engine holds is never modified: Update hands its function a
// copy, and the model and policy it points to are immutable themselves.
// Every part added later — weight overrides, per-treatment levers in
// reward units — joins as a field here, as a value or as a pointer to
// something immutable, and is checked by Validate.
type Bundle struct {
	// Model scores requests; required.
	Model *models.Model
	// Policy applies the service commitments; required.
	Policy *policy.Policy
	// Explorer turns scores into probabilities; required (NewEngine fills
	// in DefaultExplorer).
	Explorer Explorer
	// ConfigVersion is the version of the data team's configuration this
	// bundle applies; 0 until a control plane sets one.
	ConfigVersion int64
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
	return nil
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
		if err := next.Validate(); err != nil {
			return err
		}
		if e.bundle.CompareAndSwap(cur, &next) {
			return nil
		}
	}
}

// Model returns the model in use.
func (e *Engine) Model() *models.Model { return e.bundle.Load().Model }

// SetModel swaps the model and keeps the rest of the bundle; decisions
// already under way finish with the old one. A nil model is ignored.
func (e *Engine) SetModel(m *models.Model) {
	if m == nil {
		return
	}
	_ = e.Update(func(b Bundle) (Bundle, error) { b.Model = m; return b, nil })
}

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
