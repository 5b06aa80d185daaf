package control

import (
	"errors"
	"math"
	"strings"
	"testing"

	"situ/features"
	"situ/models"
	"situ/policy"
)

func TestApplyRefusesInvalidChanges(t *testing.T) {
	env := testEnv(t)
	reward := func(edit func(*models.RewardDefinition)) *models.RewardDefinition {
		r, err := models.DefaultReward()
		if err != nil {
			t.Fatal(err)
		}
		edit(&r)
		return &r
	}
	badRule := strings.Replace(string(policy.DefaultPolicyYAML()), "when: friction.open_complaint\n", "when: friction.open_complaint &&\n", 1)
	uniform := uniformPolicy(t)
	// a base with an override on a value feature, for switching uniform mode on
	valueBase := mustApply(t, defaultConfig(t), Change{Weights: []WeightChange{
		{Treatment: "pamper_upsell", Feature: "tier=gold", Set: f(0.2)},
	}}, env)
	uniformBase := mustApply(t, defaultConfig(t), Change{Policy: &uniform}, env)
	noModel := env
	noModel.Model = nil

	tests := []struct {
		name    string
		base    *Config // default configuration when nil
		env     *Env
		change  Change
		path    string
		message string // a part of the message
	}{
		{name: "empty change", change: Change{}, path: "change", message: "is empty"},
		{name: "empty exploration only", change: Change{Exploration: &ExplorationChange{}}, path: "change"},
		{name: "change that changes nothing", change: Change{Levers: map[string]float64{"self_service": 0}}, path: "change", message: "changes nothing"},
		{name: "unknown treatment", change: Change{Weights: []WeightChange{
			{Treatment: "fast_resolution", Feature: "bias", Set: f(0.1)},
			{Treatment: "fast_resolutoin", Feature: "bias", Set: f(0.1)},
		}}, path: "change.weights[1].treatment", message: "fast_resolution, pamper_upsell, self_service"},
		{name: "unknown feature", change: Change{Weights: []WeightChange{
			{Treatment: "fast_resolution", Feature: "bias", Set: f(0.1)},
			{Treatment: "fast_resolution", Feature: "friction.wait_secs", Set: f(0.1)},
		}}, path: "change.weights[1].feature", message: `"friction.wait_secs"`},
		{name: "no operation", change: Change{Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "bias"}}},
			path: "change.weights[0]", message: "exactly one of"},
		{name: "set and multiply", change: Change{Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "bias", Set: f(1), Multiply: f(2)}}},
			path: "change.weights[0]"},
		{name: "pin and unpin", change: Change{Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "bias", Pin: true, Unpin: true}}},
			path: "change.weights[0]"},
		{name: "clear and set", change: Change{Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "bias", Clear: true, Set: f(1)}}},
			path: "change.weights[0]"},
		{name: "pin and multiply", change: Change{Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "bias", Pin: true, Multiply: f(2)}}},
			path: "change.weights[0]"},
		{name: "non-finite set", change: Change{Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "bias", Set: f(math.NaN())}}},
			path: "change.weights[0].set", message: "finite"},
		{name: "non-finite multiply", change: Change{Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "bias", Multiply: f(math.Inf(1))}}},
			path: "change.weights[0].multiply"},
		{name: "non-finite pin value", change: Change{Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "bias", Pin: true, At: f(math.Inf(-1))}}},
			path: "change.weights[0].at"},
		{name: "at without pin", change: Change{Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "bias", Set: f(1), At: f(1)}}},
			path: "change.weights[0].at"},
		{name: "pin without a learned model", env: &noModel,
			change: Change{Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "bias", Pin: true}}},
			path:   "change.weights[0].pin", message: "at"},
		{name: "lever of an unknown treatment", change: Change{Levers: map[string]float64{"pamper_upsel": -0.05}},
			path: "change.levers.pamper_upsel", message: "allowed"},
		{name: "non-finite lever", change: Change{Levers: map[string]float64{"pamper_upsell": math.NaN()}},
			path: "change.levers.pamper_upsell", message: "finite"},
		{name: "lever beyond the reward range", change: Change{Levers: map[string]float64{"self_service": 2.5}},
			path: "change.levers.self_service", message: "±2"},
		{name: "clip narrower than a lever", base: func() *Config {
			c := mustApply(t, defaultConfig(t), Change{Levers: map[string]float64{"self_service": 1.5}}, env)
			return &c
		}(), change: Change{Reward: reward(func(r *models.RewardDefinition) { r.Clip = [2]float64{-0.5, 0.5} })},
			path: "change.reward.clip", message: "self_service"},
		{name: "epsilon of 1", change: Change{Exploration: &ExplorationChange{Epsilon: f(1)}},
			path: "change.exploration.epsilon", message: "[0, 1)"},
		{name: "negative epsilon", change: Change{Exploration: &ExplorationChange{Epsilon: f(-0.1)}},
			path: "change.exploration.epsilon"},
		{name: "NaN epsilon", change: Change{Exploration: &ExplorationChange{Epsilon: f(math.NaN())}},
			path: "change.exploration.epsilon"},
		{name: "epsilon-greedy with epsilon 0", change: Change{Exploration: &ExplorationChange{Explorer: s("epsilon-greedy"), Epsilon: f(0)}},
			path: "change.exploration.epsilon", message: "(0, 1)"},
		{name: "epsilon-greedy keeping an epsilon of 0", base: func() *Config {
			c := mustApply(t, defaultConfig(t), Change{Exploration: &ExplorationChange{Epsilon: f(0)}}, env)
			return &c
		}(), change: Change{Exploration: &ExplorationChange{Explorer: s("epsilon-greedy")}},
			path: "change.exploration.epsilon", message: "give epsilon"},
		{name: "gamma0 of 0", change: Change{Exploration: &ExplorationChange{Gamma0: f(0)}},
			path: "change.exploration.gamma0"},
		{name: "negative gamma0", change: Change{Exploration: &ExplorationChange{Gamma0: f(-5)}},
			path: "change.exploration.gamma0"},
		{name: "infinite gamma0", change: Change{Exploration: &ExplorationChange{Gamma0: f(math.Inf(1))}},
			path: "change.exploration.gamma0"},
		{name: "unknown explorer", change: Change{Exploration: &ExplorationChange{Explorer: s("thompson")}},
			path: "change.exploration.explorer", message: "squarecb, epsilon-greedy"},
		{name: "policy that does not parse", change: Change{Policy: s("version: [1")},
			path: "change.policy", message: "parse policy"},
		{name: "policy with a rule that does not compile", change: Change{Policy: &badRule},
			path: "change.policy", message: `"open-complaint-no-upsell"`},
		{name: "policy without a human escape", change: Change{Policy: s("version: 2\nfloor: {human_escape: false}\n")},
			path: "change.policy", message: "human_escape"},
		{name: "reward version 0", change: Change{Reward: reward(func(r *models.RewardDefinition) { r.Version = 0 })},
			path: "change.reward.version"},
		{name: "reward weight not finite", change: Change{Reward: reward(func(r *models.RewardDefinition) { r.Weights.CSAT = math.Inf(1) })},
			path: "change.reward.weights.csat"},
		{name: "negative revenue cap", change: Change{Reward: reward(func(r *models.RewardDefinition) { r.Weights.RevenueCap = -1 })},
			path: "change.reward.weights.revenue_cap"},
		{name: "reward clip reversed", change: Change{Reward: reward(func(r *models.RewardDefinition) { r.Clip = [2]float64{1, -1} })},
			path: "change.reward.clip", message: "min < max"},
		{name: "reward clip outside the declared bounds", change: Change{Reward: reward(func(r *models.RewardDefinition) { r.Clip = [2]float64{-1, 50} })},
			path: "change.reward.clip", message: "[-10 10]"},
		{name: "reward clip outside bounds the env declares", env: func() *Env { e := env; e.RewardBounds = [2]float64{-2, 2}; return &e }(),
			change: Change{Reward: reward(func(r *models.RewardDefinition) { r.Clip = [2]float64{-3, 1} })},
			path:   "change.reward.clip"},
		{name: "value override in uniform mode", base: &uniformBase,
			change: Change{Weights: []WeightChange{
				{Treatment: "fast_resolution", Feature: "friction.wait_seconds", Set: f(0.1)},
				{Treatment: "pamper_upsell", Feature: "customer.lifetime_value", Multiply: f(2)},
			}},
			path: "change.weights[1].feature", message: "uniform mode"},
		{name: "value override of a one-hot in uniform mode", base: &uniformBase,
			change: Change{Weights: []WeightChange{{Treatment: "pamper_upsell", Feature: "tier=platinum", Set: f(0.3)}}},
			path:   "change.weights[0].feature"},
		{name: "value override of a cross in uniform mode", base: &uniformBase,
			change: Change{Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "value_x_friction", Set: f(0.3)}}},
			path:   "change.weights[0].feature"},
		{name: "value override and uniform mode in one change",
			change: Change{Policy: &uniform, Weights: []WeightChange{{Treatment: "pamper_upsell", Feature: "customer.annual_spend", Set: f(0)}}},
			path:   "change.weights[0].feature"},
		{name: "uniform mode on with a value override present", base: &valueBase,
			change: Change{Policy: &uniform}, path: "change.policy", message: "tier=gold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := defaultConfig(t)
			if tt.base != nil {
				base = *tt.base
			}
			e := env
			if tt.env != nil {
				e = *tt.env
			}
			before := encodeConfig(t, base)
			h := NewHistory(base)
			_, err := h.Propose(tt.change, "ana", "test", nil, t0, e)
			var fe *features.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v, want a *features.FieldError", err)
			}
			if fe.Field != tt.path {
				t.Errorf("field %q, want %q (%v)", fe.Field, tt.path, err)
			}
			if !strings.Contains(fe.Message, tt.message) {
				t.Errorf("message %q does not say %q", fe.Message, tt.message)
			}
			if v, cur := h.Current(); v != 0 || string(encodeConfig(t, cur)) != string(before) || len(h.Records()) != 0 {
				t.Errorf("history changed by a refused change: version %d", v)
			}
			if string(encodeConfig(t, base)) != string(before) {
				t.Error("Apply modified its base")
			}
		})
	}
}

func TestApplyWeightOperations(t *testing.T) {
	env := testEnv(t)
	m := env.Model
	wait, _ := env.Schema.Index("friction.wait_seconds")
	tests := []struct {
		name   string
		steps  []Change
		want   []Weight
		levers map[string]float64
	}{
		{
			name:  "set and multiply",
			steps: []Change{{Weights: []WeightChange{{Treatment: "self_service", Feature: "intent=order_status", Set: f(0.4)}, {Treatment: "fast_resolution", Feature: "bias", Multiply: f(1.5)}}}},
			want:  []Weight{{Treatment: "fast_resolution", Feature: "bias", Multiply: f(1.5)}, {Treatment: "self_service", Feature: "intent=order_status", Set: f(0.4)}},
		},
		{
			name:  "a later operation on the same weight wins",
			steps: []Change{{Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "bias", Set: f(0.4)}, {Treatment: "fast_resolution", Feature: "bias", Multiply: f(2)}}}},
			want:  []Weight{{Treatment: "fast_resolution", Feature: "bias", Multiply: f(2)}},
		},
		{
			name:  "pin records the learned value",
			steps: []Change{{Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "friction.wait_seconds", Pin: true}, {Treatment: "pamper_upsell", Feature: "bias", Pin: true}}}},
			want: []Weight{{Treatment: "fast_resolution", Feature: "friction.wait_seconds", PinnedAt: f(m.Weight(features.FastResolution, wait))},
				{Treatment: "pamper_upsell", Feature: "bias", PinnedAt: f(m.Bias(features.PamperUpsell))}},
		},
		{
			name:  "pin at a value",
			steps: []Change{{Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "bias", Pin: true, At: f(0.25)}}}},
			want:  []Weight{{Treatment: "fast_resolution", Feature: "bias", PinnedAt: f(0.25)}},
		},
		{
			name:  "pin with set pins at the set value",
			steps: []Change{{Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "bias", Pin: true, Set: f(0.7)}}}},
			want:  []Weight{{Treatment: "fast_resolution", Feature: "bias", Set: f(0.7), PinnedAt: f(0.7)}},
		},
		{
			name: "pinning a pinned weight keeps its value",
			steps: []Change{
				{Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "bias", Pin: true, At: f(0.25)}}},
				{Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "bias", Pin: true}, {Treatment: "self_service", Feature: "bias", Set: f(0)}}},
			},
			want: []Weight{{Treatment: "fast_resolution", Feature: "bias", PinnedAt: f(0.25)}, {Treatment: "self_service", Feature: "bias", Set: f(0)}},
		},
		{
			name: "clear keeps the pin, unpin keeps the override",
			steps: []Change{
				{Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "bias", Pin: true, Set: f(0.7)}, {Treatment: "self_service", Feature: "bias", Pin: true, Set: f(0.1)}}},
				{Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "bias", Clear: true}, {Treatment: "self_service", Feature: "bias", Unpin: true}}},
			},
			want: []Weight{{Treatment: "fast_resolution", Feature: "bias", PinnedAt: f(0.7)}, {Treatment: "self_service", Feature: "bias", Set: f(0.1)}},
		},
		{
			name: "clear and unpin remove the entry",
			steps: []Change{
				{Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "bias", Pin: true, Set: f(0.7)}}},
				{Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "bias", Clear: true}, {Treatment: "fast_resolution", Feature: "bias", Unpin: true}}, Levers: map[string]float64{"pamper_upsell": -0.05}},
			},
			want:   []Weight{},
			levers: map[string]float64{"pamper_upsell": -0.05},
		},
		{
			name: "a lever of 0 removes it, others stay",
			steps: []Change{
				{Levers: map[string]float64{"pamper_upsell": -0.05, "self_service": 0.02}},
				{Levers: map[string]float64{"self_service": 0}},
			},
			want:   []Weight{},
			levers: map[string]float64{"pamper_upsell": -0.05},
		},
		{
			name:   "negative zero is zero",
			steps:  []Change{{Weights: []WeightChange{{Treatment: "fast_resolution", Feature: "bias", Set: f(math.Copysign(0, -1))}}}},
			want:   []Weight{{Treatment: "fast_resolution", Feature: "bias", Set: f(0)}},
			levers: map[string]float64{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig(t)
			for _, ch := range tt.steps {
				c = mustApply(t, c, ch, env)
			}
			want := defaultConfig(t)
			want.Weights = tt.want
			want.Levers = tt.levers
			sameConfig(t, c, want)
		})
	}
}

func TestApplyExplorationAndPolicy(t *testing.T) {
	env := testEnv(t)
	p := strings.Replace(string(policy.DefaultPolicyYAML()), "version: 1", "version: 2", 1)
	c := mustApply(t, defaultConfig(t), Change{
		Exploration: &ExplorationChange{Explorer: s("epsilon-greedy"), Epsilon: f(0.05)},
		Policy:      &p,
	}, env)
	want := Exploration{Explorer: "epsilon-greedy", Epsilon: 0.05, Gamma0: 50}
	if c.Exploration != want {
		t.Errorf("exploration %+v, want %+v", c.Exploration, want)
	}
	if c.Policy != p {
		t.Errorf("policy text not kept as written")
	}
	c = mustApply(t, c, Change{Exploration: &ExplorationChange{Gamma0: f(80)}}, env)
	if want.Gamma0 = 80; c.Exploration != want {
		t.Errorf("exploration %+v after a gamma0 change, want %+v", c.Exploration, want)
	}
}

func TestValueFeatures(t *testing.T) {
	env := testEnv(t)
	v := ValueFeatures(env.Schema)
	for _, name := range []string{"customer.lifetime_value", "customer.annual_spend", "tier=gold", "tier=other", "value_x_friction", "value_x_sentiment"} {
		if !v[name] {
			t.Errorf("%s is not a value feature", name)
		}
	}
	for _, name := range []string{"customer.tenure_months", "intent=order_status", "intent_x_channel=order_status|app", "friction.wait_seconds", "bias"} {
		if v[name] {
			t.Errorf("%s is a value feature", name)
		}
	}
}

func TestUniformModeAllowsLeversAndPins(t *testing.T) {
	env := testEnv(t)
	uniform := uniformPolicy(t)
	c := mustApply(t, defaultConfig(t), Change{
		Policy:  &uniform,
		Levers:  map[string]float64{"pamper_upsell": -0.05},
		Weights: []WeightChange{{Treatment: "pamper_upsell", Feature: "tier=gold", Pin: true}, {Treatment: "pamper_upsell", Feature: "intent=new_product", Set: f(0.5)}},
	}, env)
	if _, err := Compile(c, env); err != nil {
		t.Fatalf("compile: %v", err)
	}
	// leaving uniform mode makes the value override possible again
	c = mustApply(t, c, Change{Policy: s(string(policy.DefaultPolicyYAML())), Weights: []WeightChange{{Treatment: "pamper_upsell", Feature: "tier=gold", Set: f(0.1)}}}, env)
	if w, ok := weightOf(c, "pamper_upsell", "tier=gold"); !ok || w.Set == nil || *w.Set != 0.1 {
		t.Errorf("tier=gold entry %+v", w)
	}
}
