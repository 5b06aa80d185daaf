package control

import (
	"fmt"
	"maps"
	"slices"

	"situ/experiments"
	"situ/features"
	"situ/models"
	"situ/policy"
	"situ/scoring"
)

// BiasIndex is the feature index of a treatment's bias in Override and
// Pin.
const BiasIndex int32 = -1

// Op is how an override changes a weight.
type Op uint8

// The override operations.
const (
	OpSet      Op = iota + 1 // serve Value
	OpMultiply               // serve the learned weight × Value
)

// Override is one compiled weight override.
type Override struct {
	Feature int32 // index in the schema, or BiasIndex
	Op      Op
	Value   float64
}

// Pin is one compiled pin: the learner holds the weight at Value.
type Pin struct {
	Treatment features.Treatment
	Feature   int32 // index in the schema, or BiasIndex
	Value     float64
}

// Applied is a configuration in the form the service uses: every name
// resolved, the policy compiled, the explorer built. It is immutable once
// built.
type Applied struct {
	// Schema is the feature schema the indices refer to.
	Schema *features.Schema
	// Policy is the compiled service policy.
	Policy *policy.Policy
	// Explorer is scoring.SquareCB or scoring.EpsilonGreedy.
	Explorer scoring.Explorer
	// Levers are added to each treatment's score before exploration.
	Levers [features.NumTreatments]float64
	// Overrides per treatment, sorted by feature index (the bias first).
	Overrides [features.NumTreatments][]Override
	// Pins sorted by treatment and feature index (the bias first).
	Pins []Pin
	// Reward is the reward definition the learner uses.
	Reward models.RewardDefinition
	// Experiments assigns units to the running experiments.
	Experiments *experiments.Assigner
	// Frozen are the frozen models of model@VERSION arms, by version.
	Frozen map[int64]*models.Model
}

// Compile checks cfg as a whole against env and builds its Applied form.
// Errors are *features.FieldError with the configuration's JSON path
// (weights[2].feature, levers.self_service, policy …): Apply never
// produces such a configuration, but one replayed into a service whose
// schema has changed may be one.
func Compile(cfg Config, env Env) (*Applied, error) {
	if err := env.check(); err != nil {
		return nil, err
	}
	a := &Applied{Schema: env.Schema, Reward: cfg.Reward}
	pol, err := policy.Parse([]byte(cfg.Policy))
	if err != nil {
		return nil, fieldErr("policy", "%s", err)
	}
	a.Policy = pol
	if err := checkExploration("exploration", cfg.Exploration, true); err != nil {
		return nil, err
	}
	switch x := cfg.Exploration; x.Explorer {
	case ExplorerSquareCB:
		a.Explorer = scoring.SquareCB{Gamma0: x.Gamma0, Epsilon: x.Epsilon}
	default:
		a.Explorer = scoring.EpsilonGreedy{Epsilon: x.Epsilon}
	}
	if err := checkReward("reward", cfg.Reward, env.rewardBounds()); err != nil {
		return nil, err
	}
	width := cfg.Reward.Clip[1] - cfg.Reward.Clip[0]
	for _, name := range slices.Sorted(maps.Keys(cfg.Levers)) {
		t, err := parseTreatment("levers."+name, name)
		if err != nil {
			return nil, err
		}
		v := cfg.Levers[name]
		if !finite(v) || v > width || v < -width {
			return nil, fieldErr("levers."+name, "must be a finite number within ±%g (the reward's range), got %g", width, v)
		}
		a.Levers[t] = v
	}
	seen := map[weightKey]bool{}
	for i, w := range cfg.Weights {
		path := fmt.Sprintf("weights[%d]", i)
		t, err := parseTreatment(path+".treatment", w.Treatment)
		if err != nil {
			return nil, err
		}
		fi, ok := featureIndex(env.Schema, w.Feature)
		if !ok {
			return nil, fieldErr(path+".feature", "unknown feature %q in feature schema version %d", w.Feature, env.Schema.Version())
		}
		key := weightKey{t, w.Feature}
		if seen[key] {
			return nil, fieldErr(path, "%s of %s is listed twice", w.Feature, w.Treatment)
		}
		seen[key] = true
		switch {
		case w.Set != nil && w.Multiply != nil:
			return nil, fieldErr(path, "give set or multiply, not both")
		case !w.hasOverride() && !w.Pinned():
			return nil, fieldErr(path, "has neither an override nor a pin")
		}
		for name, v := range map[string]*float64{"set": w.Set, "multiply": w.Multiply, "pinned_at": w.PinnedAt} {
			if v != nil && !finite(*v) {
				return nil, fieldErr(path+"."+name, "must be a finite number")
			}
		}
		switch {
		case w.Set != nil:
			a.Overrides[t] = append(a.Overrides[t], Override{Feature: fi, Op: OpSet, Value: *w.Set})
		case w.Multiply != nil:
			a.Overrides[t] = append(a.Overrides[t], Override{Feature: fi, Op: OpMultiply, Value: *w.Multiply})
		}
		if w.PinnedAt != nil {
			a.Pins = append(a.Pins, Pin{Treatment: t, Feature: fi, Value: *w.PinnedAt})
		}
	}
	if pol.Uniform() {
		if err := checkUniform(cfg, env.Schema, func(i int, _ Weight) string { return fmt.Sprintf("weights[%d].feature", i) }); err != nil {
			return nil, err
		}
		if err := checkExperimentsUniform(cfg, "experiments"); err != nil {
			return nil, err
		}
	}
	if err := compileExperiments(cfg, env, a); err != nil {
		return nil, err
	}
	for t := range a.Overrides {
		slices.SortFunc(a.Overrides[t], func(x, y Override) int { return int(x.Feature) - int(y.Feature) })
	}
	slices.SortFunc(a.Pins, func(x, y Pin) int {
		if x.Treatment != y.Treatment {
			return int(x.Treatment) - int(y.Treatment)
		}
		return int(x.Feature) - int(y.Feature)
	})
	return a, nil
}

// EffectiveModel returns the model the service scores with: learned, its
// terms summed with the configuration's reward definition
// (models.Model.WithReward: a changed definition applies at once), with
// every pinned weight at its pinned value and every override applied on
// top (set: the value; multiply: the pinned or learned weight × factor).
// It keeps learned's name, version and updates. Without terms, overrides
// and pins it returns learned itself. Build it once per model or
// configuration change: decisions then pay nothing for the configuration.
func EffectiveModel(learned *models.Model, a *Applied) (*models.Model, error) {
	if learned.Schema().Fingerprint() != a.Schema.Fingerprint() {
		return nil, fmt.Errorf("control: effective model: %w", models.ErrSchemaMismatch)
	}
	learned = learned.WithReward(&a.Reward)
	if len(a.Pins) == 0 && !slices.ContainsFunc(a.Overrides[:], func(o []Override) bool { return len(o) > 0 }) {
		return learned, nil
	}
	b := models.NewBuilder(learned)
	ref := func(t features.Treatment, fi int32) *float64 {
		if fi == BiasIndex {
			return b.BiasRef(t)
		}
		return &b.Weights(t)[fi]
	}
	for _, p := range a.Pins {
		*ref(p.Treatment, p.Feature) = p.Value
	}
	for _, t := range features.Treatments() {
		for _, o := range a.Overrides[t] {
			w := ref(t, o.Feature)
			switch o.Op {
			case OpSet:
				*w = o.Value
			case OpMultiply:
				*w *= o.Value
			}
		}
	}
	return b.Build(learned.Version()), nil
}

// WeightOverride is an override as GET /v1/admin/weights shows it: one of
// {"set": x} and {"multiply": x}.
type WeightOverride struct {
	Set      *float64 `json:"set,omitzero"`
	Multiply *float64 `json:"multiply,omitzero"`
}

// WeightRow is one weight of GET /v1/admin/weights.
type WeightRow struct {
	Treatment string `json:"treatment"`
	Feature   string `json:"feature"`
	// Learned is the learned model's weight.
	Learned float64 `json:"learned"`
	// Override is null without one.
	Override *WeightOverride `json:"override"`
	Pinned   bool            `json:"pinned"`
	// Effective is the weight the service scores with (EffectiveModel).
	Effective float64 `json:"effective"`
}

// WeightsTable lists every weight of the treatments in only (all when
// only is 0), treatment by treatment in index order, the bias first and
// then every feature in schema order, zero weights included, so that the
// table shows what can be overridden.
func WeightsTable(learned *models.Model, a *Applied, only features.TreatmentSet) ([]WeightRow, error) {
	eff, err := EffectiveModel(learned, a)
	if err != nil {
		return nil, err
	}
	learned = learned.WithReward(&a.Reward) // learned as the definition weighs it
	if only == 0 {
		only = features.AllTreatments
	}
	type state struct {
		override *WeightOverride
		pinned   bool
	}
	s := learned.Schema()
	var rows []WeightRow
	for _, t := range features.Treatments() {
		if !only.Has(t) {
			continue
		}
		st := map[int32]*state{}
		get := func(fi int32) *state {
			if st[fi] == nil {
				st[fi] = &state{}
			}
			return st[fi]
		}
		for _, o := range a.Overrides[t] {
			v := o.Value
			if o.Op == OpSet {
				get(o.Feature).override = &WeightOverride{Set: &v}
			} else {
				get(o.Feature).override = &WeightOverride{Multiply: &v}
			}
		}
		for _, p := range a.Pins {
			if p.Treatment == t {
				get(p.Feature).pinned = true
			}
		}
		row := func(fi int32, name string, learnedW, effW float64) {
			r := WeightRow{Treatment: t.String(), Feature: name, Learned: learnedW, Effective: effW}
			if x := st[fi]; x != nil {
				r.Override, r.Pinned = x.override, x.pinned
			}
			rows = append(rows, r)
		}
		row(BiasIndex, Bias, learned.Bias(t), eff.Bias(t))
		for i := int32(0); i < int32(s.Len()); i++ {
			row(i, s.Name(i), learned.Weight(t, i), eff.Weight(t, i))
		}
	}
	return rows, nil
}
