package control

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"situ/features"
	"situ/models"
	"situ/policy"
)

// Change is what a data team asks to change: the CHANGE of POST
// /v1/admin/changes. Every part is optional, but a change must change
// something.
type Change struct {
	// Weights are applied in order; two operations may name the same
	// weight.
	Weights []WeightChange `json:"weights,omitempty"`
	// Levers sets each named treatment's lever; 0 removes it. Levers not
	// named keep their value.
	Levers map[string]float64 `json:"levers,omitempty"`
	// Reward replaces the reward definition (give every field).
	Reward *models.RewardDefinition `json:"reward,omitzero"`
	// Policy replaces the service policy's YAML text.
	Policy *string `json:"policy,omitzero"`
	// Exploration changes the fields it gives and keeps the others.
	Exploration *ExplorationChange `json:"exploration,omitzero"`
	// Experiments starts or stops an experiment.
	Experiments *ExperimentsChange `json:"experiments,omitzero"`
}

// WeightChange is one operation on one weight. It holds exactly one of
// Set, Multiply, Pin, Unpin and Clear, with one exception: Pin may come
// with Set, which serves the value and holds the learner at it too (the
// weight is pinned at the set value). Overrides and pins are independent:
// Clear removes the override and keeps the pin, Unpin releases the pin
// and keeps the override.
type WeightChange struct {
	Treatment string `json:"treatment"`
	Feature   string `json:"feature"`
	// Set overrides the weight with a fixed value.
	Set *float64 `json:"set,omitzero"`
	// Multiply overrides the weight with the learned weight times this.
	Multiply *float64 `json:"multiply,omitzero"`
	// Pin makes the learner leave the weight where it is: at At when
	// given, else at Set when given, else at the learned model's value now
	// (Env.Model). Pinning a pinned weight without At keeps its value.
	Pin bool `json:"pin,omitzero"`
	// At is the value to pin at; only with Pin, and not with Set.
	At *float64 `json:"at,omitzero"`
	// Unpin lets the learner change the weight again.
	Unpin bool `json:"unpin,omitzero"`
	// Clear removes the override; the learned weight is served again.
	Clear bool `json:"clear,omitzero"`
}

// ExplorationChange changes the exploration settings; absent fields keep
// their value.
type ExplorationChange struct {
	Explorer *string  `json:"explorer,omitzero"`
	Epsilon  *float64 `json:"epsilon,omitzero"`
	Gamma0   *float64 `json:"gamma0,omitzero"`
}

// IsEmpty reports whether the change names nothing to change.
func (c Change) IsEmpty() bool {
	return len(c.Weights) == 0 && len(c.Levers) == 0 && c.Reward == nil && c.Policy == nil &&
		(c.Exploration == nil || *c.Exploration == ExplorationChange{}) && c.Experiments.isEmpty()
}

// Kinds returns the parts the change names, in the order Record.Kinds
// lists them (a record's Kinds are the parts that actually differ).
func (c Change) Kinds() []Kind {
	var out []Kind
	if len(c.Weights) > 0 {
		out = append(out, KindWeights)
	}
	if len(c.Levers) > 0 {
		out = append(out, KindLevers)
	}
	if c.Reward != nil {
		out = append(out, KindReward)
	}
	if c.Policy != nil {
		out = append(out, KindPolicy)
	}
	if c.Exploration != nil && *c.Exploration != (ExplorationChange{}) {
		out = append(out, KindExploration)
	}
	if !c.Experiments.isEmpty() {
		out = append(out, KindExperiments)
	}
	return out
}

// Validate reports whether change applies to base: Apply's error.
func Validate(base Config, change Change, env Env) error {
	_, err := Apply(base, change, env)
	return err
}

// Apply returns base with change applied. Every invalid part is a
// *features.FieldError whose Field is the JSON path of the culprit
// (change.weights[1].feature, change.levers.pamper_upsel,
// change.exploration.epsilon, change.policy, change.reward.clip …);
// then nothing is applied. It refuses: an empty change and one that
// changes nothing; unknown treatments and features; non-finite numbers;
// a weight operation with none or more than one of set, multiply, pin,
// unpin and clear (other than pin with set); a lever beyond the width
// of the reward's clip; an unknown explorer, epsilon outside [0, 1)
// (epsilon-greedy: (0, 1)) and gamma0 ≤ 0; a policy that does not parse
// or compile; a reward definition that does not validate or whose clip
// leaves Env.RewardBounds; and, while the policy is in uniform mode, an
// override of a feature that describes customer value (ValueFeatures).
// base is not modified.
func Apply(base Config, change Change, env Env) (Config, error) {
	if err := env.check(); err != nil {
		return Config{}, err
	}
	if change.IsEmpty() {
		return Config{}, fieldErr("change", "is empty: give at least one of weights, levers, reward, policy, exploration, experiments")
	}
	next := base.Clone()
	overrideBy, err := applyWeights(&next, change.Weights, env)
	if err != nil {
		return Config{}, err
	}
	if change.Reward != nil {
		if err := checkReward("change.reward", *change.Reward, env.rewardBounds()); err != nil {
			return Config{}, err
		}
		next.Reward = *change.Reward
	}
	if err := applyLevers(&next, change.Levers); err != nil {
		return Config{}, err
	}
	if change.Exploration != nil {
		if err := applyExploration(&next.Exploration, *change.Exploration); err != nil {
			return Config{}, err
		}
	}
	if change.Policy != nil {
		next.Policy = *change.Policy
	}
	if err := applyExperiments(&next, change.Experiments, env); err != nil {
		return Config{}, err
	}
	pol, err := policy.Parse([]byte(next.Policy))
	if err != nil {
		return Config{}, fieldErr("change.policy", "%s", err)
	}
	if pol.Uniform() {
		if err := checkUniform(next, env.Schema, func(i int, w Weight) string {
			if op, ok := overrideBy[keyOf(w)]; ok {
				return fmt.Sprintf("change.weights[%d].feature", op)
			}
			return "change.policy"
		}); err != nil {
			return Config{}, err
		}
		path := "change.policy"
		if change.Experiments != nil && change.Experiments.Create != nil {
			path = "change.experiments.create.arms"
		}
		if err := checkExperimentsUniform(next, path); err != nil {
			return Config{}, err
		}
	}
	if equalConfigs(next, base) {
		return Config{}, fieldErr("change", "changes nothing: the configuration after it equals the one before")
	}
	return next, nil
}

func fieldErr(path, format string, args ...any) *features.FieldError {
	return &features.FieldError{Field: path, Message: fmt.Sprintf(format, args...)}
}

// parseTreatment parses the treatment name found at path; an unknown one
// is a field error that lists the treatments.
func parseTreatment(path, name string) (features.Treatment, error) {
	t, ok := features.ParseTreatment(name)
	if !ok {
		return 0, fieldErr(path, "unknown treatment %q; allowed: %s", name, strings.Join(features.TreatmentNames(), ", "))
	}
	return t, nil
}

// canonical copies *p with -0 as 0: the two compare equal but encode
// differently, and equal configurations must encode to the same bytes.
func canonical(p *float64) *float64 {
	v := *p + 0
	return &v
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// applyWeights applies ops to cfg's weights and returns, per weight whose
// override the ops set, the index of the last op that set it.
func applyWeights(cfg *Config, ops []WeightChange, env Env) (map[weightKey]int, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	entries := make(map[weightKey]Weight, len(cfg.Weights)+len(ops))
	for _, w := range cfg.Weights {
		entries[keyOf(w)] = w.clone()
	}
	overrideBy := map[weightKey]int{}
	for i, op := range ops {
		path := fmt.Sprintf("change.weights[%d]", i)
		t, err := parseTreatment(path+".treatment", op.Treatment)
		if err != nil {
			return nil, err
		}
		fi, ok := featureIndex(env.Schema, op.Feature)
		if !ok {
			return nil, fieldErr(path+".feature", "unknown feature %q; give a feature of the schema (e.g. friction.wait_seconds, intent=order_status) or bias", op.Feature)
		}
		n := 0
		for _, given := range []bool{op.Set != nil, op.Multiply != nil, op.Pin, op.Unpin, op.Clear} {
			if given {
				n++
			}
		}
		if n == 0 || (n > 1 && !(n == 2 && op.Pin && op.Set != nil)) {
			return nil, fieldErr(path, "give exactly one of set, multiply, pin, unpin, clear (pin may come with set)")
		}
		for name, v := range map[string]*float64{"set": op.Set, "multiply": op.Multiply, "at": op.At} {
			if v != nil && !finite(*v) {
				return nil, fieldErr(path+"."+name, "must be a finite number")
			}
		}
		if op.At != nil && (!op.Pin || op.Set != nil) {
			return nil, fieldErr(path+".at", "is the value to pin at: give it with pin, and not with set (pin with set pins at the set value)")
		}
		key := weightKey{t, op.Feature}
		w, ok := entries[key]
		if !ok {
			w = Weight{Treatment: op.Treatment, Feature: op.Feature}
		}
		switch {
		case op.Set != nil:
			w.Set, w.Multiply = canonical(op.Set), nil
			overrideBy[key] = i
		case op.Multiply != nil:
			w.Set, w.Multiply = nil, canonical(op.Multiply)
			overrideBy[key] = i
		case op.Clear:
			w.Set, w.Multiply = nil, nil
			delete(overrideBy, key)
		case op.Unpin:
			w.PinnedAt = nil
		}
		if op.Pin {
			switch {
			case op.At != nil:
				w.PinnedAt = canonical(op.At)
			case op.Set != nil:
				w.PinnedAt = canonical(op.Set)
			case w.PinnedAt != nil: // pinned already: the learner holds it there
			case env.Model == nil:
				return nil, fieldErr(path+".pin", "no learned model is loaded to read the weight's value from; give the value to pin at as at")
			default:
				v := learnedWeight(env.Model, t, fi)
				w.PinnedAt = canonical(&v)
			}
		}
		if w.hasOverride() || w.Pinned() {
			entries[key] = w
		} else {
			delete(entries, key)
		}
	}
	cfg.Weights = make([]Weight, 0, len(entries))
	for _, w := range entries {
		cfg.Weights = append(cfg.Weights, w)
	}
	sortWeights(cfg.Weights)
	return overrideBy, nil
}

func learnedWeight(m *models.Model, t features.Treatment, fi int32) float64 {
	if fi == BiasIndex {
		return m.Bias(t)
	}
	return m.Weight(t, fi)
}

// applyLevers sets the levers of change and checks every lever against the
// reward's clip: a lever wider than the whole reward range would decide
// alone, which is what a policy's require is for.
func applyLevers(cfg *Config, change map[string]float64) error {
	for _, name := range slices.Sorted(maps.Keys(change)) {
		path := "change.levers." + name
		if _, err := parseTreatment(path, name); err != nil {
			return err
		}
		v := change[name]
		if !finite(v) {
			return fieldErr(path, "must be a finite number")
		}
		if v == 0 {
			delete(cfg.Levers, name)
		} else {
			cfg.Levers[name] = v + 0 // -0 is 0
		}
	}
	width := cfg.Reward.Clip[1] - cfg.Reward.Clip[0]
	for _, name := range slices.Sorted(maps.Keys(cfg.Levers)) {
		if v := cfg.Levers[name]; math.Abs(v) > width {
			if _, changed := change[name]; changed {
				return fieldErr("change.levers."+name, "%g is beyond the reward's range (clip %v): a lever must lie within ±%g", v, cfg.Reward.Clip, width)
			}
			return fieldErr("change.reward.clip", "%v is narrower than lever %s (%g): change the lever in the same change", cfg.Reward.Clip, name, v)
		}
	}
	return nil
}

func applyExploration(x *Exploration, c ExplorationChange) error {
	if c.Explorer != nil {
		x.Explorer = *c.Explorer
	}
	if c.Epsilon != nil {
		x.Epsilon = *c.Epsilon + 0 // -0 is 0
	}
	if c.Gamma0 != nil {
		x.Gamma0 = *c.Gamma0 + 0
	}
	return checkExploration("change.exploration", *x, c.Epsilon != nil)
}

// checkExploration checks x; epsilonGiven says whether the change gave
// epsilon (else the explorer made the current epsilon invalid).
func checkExploration(prefix string, x Exploration, epsilonGiven bool) error {
	switch x.Explorer {
	case ExplorerSquareCB:
		if !(x.Epsilon >= 0 && x.Epsilon < 1) {
			return fieldErr(prefix+".epsilon", "must be in [0, 1) for squarecb, got %g", x.Epsilon)
		}
	case ExplorerEpsilonGreedy:
		if !(x.Epsilon > 0 && x.Epsilon < 1) {
			if !epsilonGiven {
				return fieldErr(prefix+".epsilon", "epsilon-greedy needs epsilon in (0, 1); the current %g is not: give epsilon", x.Epsilon)
			}
			return fieldErr(prefix+".epsilon", "must be in (0, 1) for epsilon-greedy, got %g", x.Epsilon)
		}
	default:
		return fieldErr(prefix+".explorer", "unknown explorer %q; allowed: %s, %s", x.Explorer, ExplorerSquareCB, ExplorerEpsilonGreedy)
	}
	if !(x.Gamma0 > 0) || math.IsInf(x.Gamma0, 0) {
		return fieldErr(prefix+".gamma0", "must be a positive finite number, got %g", x.Gamma0)
	}
	return nil
}

// checkReward checks r field by field, so that the error names the field,
// then with RewardDefinition.Validate.
func checkReward(prefix string, r models.RewardDefinition, bounds [2]float64) error {
	if r.Version <= 0 {
		return fieldErr(prefix+".version", "must be a positive integer, got %d", r.Version)
	}
	w := r.Weights
	for _, term := range []struct {
		name string
		v    float64
	}{
		{"resolved", w.Resolved}, {"csat", w.CSAT}, {"upsell_accepted", w.UpsellAccepted}, {"revenue", w.Revenue},
		{"revenue_cap", w.RevenueCap}, {"handle_seconds", w.HandleSeconds}, {"escalated", w.Escalated},
		{"recontact_7d", w.Recontact7d}, {"churned", w.Churned},
	} {
		if !finite(term.v) {
			return fieldErr(prefix+".weights."+term.name, "must be a finite number")
		}
	}
	if w.RevenueCap < 0 {
		return fieldErr(prefix+".weights.revenue_cap", "must not be negative (0 = no cap), got %g", w.RevenueCap)
	}
	c := r.Clip
	if !finite(c[0]) || !finite(c[1]) || !(c[0] < c[1]) {
		return fieldErr(prefix+".clip", "must be [min, max] with finite min < max, got %v", c)
	}
	if c[0] < bounds[0] || c[1] > bounds[1] {
		return fieldErr(prefix+".clip", "%v leaves the declared reward bounds %v", c, bounds)
	}
	if err := r.Validate(); err != nil {
		return fieldErr(prefix, "%s", err)
	}
	return nil
}

// checkUniform refuses an override of a value feature; path names the
// field to blame for weight i. Pins are allowed: they only stop learning,
// and the value feature is not in the decision anyway. Levers are allowed:
// they are per treatment and do not see the customer. Policy rules need no
// check here: in uniform mode the policy reads the value fields as zero.
func checkUniform(cfg Config, s *features.Schema, path func(i int, w Weight) string) error {
	value := ValueFeatures(s)
	for i, w := range cfg.Weights {
		if w.hasOverride() && value[w.Feature] {
			return fieldErr(path(i, w), "%s describes customer value and the policy is in uniform mode, which removes customer value from the decision: no override (of %s) may use it; clear the override or leave uniform mode",
				w.Feature, w.Treatment)
		}
	}
	return nil
}
