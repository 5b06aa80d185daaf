package control

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"situ/models"
	"situ/policy"
)

func TestDiff(t *testing.T) {
	env := testEnv(t)
	a := mustApply(t, defaultConfig(t), Change{
		Weights: []WeightChange{
			{Treatment: "self_service", Feature: "bias", Set: f(0.1)},
			{Treatment: "fast_resolution", Feature: "friction.wait_seconds", Multiply: f(2)},
		},
		Levers: map[string]float64{"pamper_upsell": -0.05},
	}, env)
	reward, _ := models.DefaultReward()
	reward.Version, reward.Weights.CSAT, reward.Clip = 2, 0.2, [2]float64{-2, 2}
	p := strings.Replace(string(policy.DefaultPolicyYAML()), "version: 1", "version: 2", 1)
	b := mustApply(t, a, Change{
		Weights: []WeightChange{
			{Treatment: "self_service", Feature: "bias", Clear: true},
			{Treatment: "fast_resolution", Feature: "friction.wait_seconds", Multiply: f(3)},
			{Treatment: "fast_resolution", Feature: "bias", Pin: true, At: f(0.3)},
		},
		Levers:      map[string]float64{"pamper_upsell": 0, "self_service": 0.02},
		Reward:      &reward,
		Policy:      &p,
		Exploration: &ExplorationChange{Epsilon: f(0.05)},
	}, env)
	want := []Difference{
		{Path: "weights[fast_resolution][bias]", After: Weight{Treatment: "fast_resolution", Feature: "bias", PinnedAt: f(0.3)}},
		{Path: "weights[fast_resolution][friction.wait_seconds]",
			Before: Weight{Treatment: "fast_resolution", Feature: "friction.wait_seconds", Multiply: f(2)},
			After:  Weight{Treatment: "fast_resolution", Feature: "friction.wait_seconds", Multiply: f(3)}},
		{Path: "weights[self_service][bias]", Before: Weight{Treatment: "self_service", Feature: "bias", Set: f(0.1)}},
		{Path: "levers.pamper_upsell", Before: -0.05},
		{Path: "levers.self_service", After: 0.02},
		{Path: "reward.version", Before: int64(1), After: int64(2)},
		{Path: "reward.weights.csat", Before: 0.1, After: 0.2},
		{Path: "reward.clip", Before: [2]float64{-1, 1}, After: [2]float64{-2, 2}},
		{Path: "policy", Before: string(policy.DefaultPolicyYAML()), After: p},
		{Path: "exploration.epsilon", Before: 0.01, After: 0.05},
	}
	got := Diff(a, b)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("diff\n got %+v\nwant %+v", got, want)
	}
	if d := Diff(b, b); len(d) != 0 {
		t.Errorf("diff of a configuration with itself: %+v", d)
	}
	if k := kinds(got); !reflect.DeepEqual(k, []Kind{KindWeights, KindLevers, KindReward, KindPolicy, KindExploration}) {
		t.Errorf("kinds %v", k)
	}
}

// Rolling back to any version gives that version's configuration, byte
// for byte: overrides, pins with their values, levers, reward, policy
// text and exploration.
func TestRollbackIsByteIdentical(t *testing.T) {
	env := testEnv(t)
	reward, _ := models.DefaultReward()
	reward.Version, reward.Weights.Resolved = 2, 0.5
	p2 := strings.Replace(string(policy.DefaultPolicyYAML()), "version: 1", "version: 2", 1)
	uniform := uniformPolicy(t)
	h := NewHistory(defaultConfig(t))
	steps := []Change{
		{Weights: []WeightChange{
			{Treatment: "fast_resolution", Feature: "friction.wait_seconds", Set: f(0.2)},
			{Treatment: "pamper_upsell", Feature: "tier=gold", Multiply: f(0.5)},
			{Treatment: "self_service", Feature: "bias", Pin: true},
		}, Levers: map[string]float64{"pamper_upsell": -0.05}},
		{Weights: []WeightChange{
			{Treatment: "fast_resolution", Feature: "friction.wait_seconds", Pin: true}, // pinned at the learned value, set stays
			{Treatment: "self_service", Feature: "bias", Multiply: f(1.2)},
		}, Reward: &reward, Policy: &p2},
		{Weights: []WeightChange{
			{Treatment: "pamper_upsell", Feature: "tier=gold", Clear: true},
			{Treatment: "fast_resolution", Feature: "friction.wait_seconds", Unpin: true},
		}, Policy: &uniform, Exploration: &ExplorationChange{Explorer: s("epsilon-greedy"), Epsilon: f(0.08)}, Levers: map[string]float64{"self_service": 0.03}},
		{Weights: []WeightChange{
			{Treatment: "fast_resolution", Feature: "bias", Pin: true, Set: f(0.35)},
		}, Levers: map[string]float64{"pamper_upsell": 0}, Exploration: &ExplorationChange{Explorer: s("squarecb"), Gamma0: f(70)}},
	}
	for i, ch := range steps {
		if _, err := h.Propose(ch, "ana", "step", nil, t0.Add(time.Duration(i)*time.Minute), env); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	last, _ := h.Current()
	for target := int64(0); target < last; target++ {
		t.Run(fmt.Sprintf("to version %d", target), func(t *testing.T) {
			ch, err := h.Rollback(target)
			if err != nil {
				t.Fatal(err)
			}
			_, cur := h.Current()
			got, err := Apply(cur, ch, Env{Schema: env.Schema}) // no learned model: pins carry their values
			if err != nil {
				t.Fatalf("apply rollback: %v", err)
			}
			want, _ := h.At(target)
			if g, w := encodeConfig(t, got), encodeConfig(t, want); !bytes.Equal(g, w) {
				t.Errorf("rollback to %d\n got %s\nwant %s", target, g, w)
			}
		})
	}
	if _, err := h.Rollback(last); err == nil {
		t.Error("rollback to the current version is not refused")
	}
	if _, err := h.Rollback(last + 1); err == nil {
		t.Error("rollback to an unknown version is not refused")
	}
	r, err := h.ProposeRollback(1, "ana", "back to 1", i64(last), t0.Add(time.Hour), env)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := h.At(1)
	if r.Version != last+1 || *r.RollbackOf != 1 {
		t.Errorf("rollback record version %d, rollback_of %d", r.Version, *r.RollbackOf)
	}
	sameConfig(t, r.After, want)
}
