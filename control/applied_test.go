package control

import (
	"errors"
	"reflect"
	"testing"

	json "github.com/go-json-experiment/json"

	"situ/features"
	"situ/scoring"
)

func TestCompile(t *testing.T) {
	env := testEnv(t)
	wait, _ := env.Schema.Index("friction.wait_seconds")
	order, _ := env.Schema.Index("intent=order_status")
	learnedWait := env.Model.Weight(features.FastResolution, wait)
	tests := []struct {
		name      string
		change    Change
		explorer  scoring.Explorer
		levers    [features.NumTreatments]float64
		overrides [features.NumTreatments][]Override
		pins      []Pin
	}{
		{
			name:     "default",
			change:   Change{},
			explorer: scoring.DefaultExplorer,
		},
		{
			name: "every part",
			change: Change{
				Weights: []WeightChange{
					{Treatment: "self_service", Feature: "intent=order_status", Set: f(0.4)},
					{Treatment: "self_service", Feature: "bias", Multiply: f(0.5)},
					{Treatment: "fast_resolution", Feature: "friction.wait_seconds", Pin: true},
					{Treatment: "fast_resolution", Feature: "bias", Pin: true, Set: f(0.3)},
				},
				Levers:      map[string]float64{"pamper_upsell": -0.05, "self_service": 0.01},
				Exploration: &ExplorationChange{Explorer: s("epsilon-greedy"), Epsilon: f(0.1)},
			},
			explorer: scoring.EpsilonGreedy{Epsilon: 0.1},
			levers:   [features.NumTreatments]float64{features.PamperUpsell: -0.05, features.SelfService: 0.01},
			overrides: [features.NumTreatments][]Override{
				features.FastResolution: {{Feature: BiasIndex, Op: OpSet, Value: 0.3}},
				features.SelfService:    {{Feature: BiasIndex, Op: OpMultiply, Value: 0.5}, {Feature: order, Op: OpSet, Value: 0.4}},
			},
			pins: []Pin{{features.FastResolution, BiasIndex, 0.3}, {features.FastResolution, wait, learnedWait}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig(t)
			if !tt.change.IsEmpty() {
				c = mustApply(t, c, tt.change, env)
			}
			a, err := Compile(c, env)
			if err != nil {
				t.Fatal(err)
			}
			if a.Explorer != tt.explorer {
				t.Errorf("explorer %#v, want %#v", a.Explorer, tt.explorer)
			}
			if a.Levers != tt.levers {
				t.Errorf("levers %v, want %v", a.Levers, tt.levers)
			}
			for tr := range a.Overrides {
				if len(a.Overrides[tr]) != len(tt.overrides[tr]) || (len(tt.overrides[tr]) > 0 && !reflect.DeepEqual(a.Overrides[tr], tt.overrides[tr])) {
					t.Errorf("overrides of %s %+v, want %+v", features.Treatment(tr), a.Overrides[tr], tt.overrides[tr])
				}
			}
			if len(a.Pins) != len(tt.pins) || (len(tt.pins) > 0 && !reflect.DeepEqual(a.Pins, tt.pins)) {
				t.Errorf("pins %+v, want %+v", a.Pins, tt.pins)
			}
			if a.Policy == nil || a.Policy.NumRules() == 0 {
				t.Error("policy not compiled")
			}
			if err := (scoring.Bundle{Model: env.Model, Policy: a.Policy, Explorer: a.Explorer}).Validate(); err != nil {
				t.Errorf("bundle of the applied configuration: %v", err)
			}
		})
	}
}

func TestCompileRefusesInvalidConfigurations(t *testing.T) {
	env := testEnv(t)
	tests := []struct {
		name string
		edit func(*Config)
		path string
	}{
		{"unknown feature", func(c *Config) { c.Weights = []Weight{{Treatment: "fast_resolution", Feature: "gone", Set: f(1)}} }, "weights[0].feature"},
		{"unknown treatment", func(c *Config) { c.Weights = []Weight{{Treatment: "callback", Feature: "bias", Set: f(1)}} }, "weights[0].treatment"},
		{"set and multiply", func(c *Config) {
			c.Weights = []Weight{{Treatment: "fast_resolution", Feature: "bias", Set: f(1), Multiply: f(1)}}
		}, "weights[0]"},
		{"empty entry", func(c *Config) { c.Weights = []Weight{{Treatment: "fast_resolution", Feature: "bias"}} }, "weights[0]"},
		{"twice", func(c *Config) {
			c.Weights = []Weight{{Treatment: "fast_resolution", Feature: "bias", Set: f(1)}, {Treatment: "fast_resolution", Feature: "bias", Set: f(2)}}
		}, "weights[1]"},
		{"lever of an unknown treatment", func(c *Config) { c.Levers = map[string]float64{"upsell": 0.1} }, "levers.upsell"},
		{"bad policy", func(c *Config) { c.Policy = "rules: 3" }, "policy"},
		{"bad explorer", func(c *Config) { c.Exploration.Explorer = "ucb" }, "exploration.explorer"},
		{"bad reward", func(c *Config) { c.Reward.Clip = [2]float64{0, 0} }, "reward.clip"},
		{"value override in uniform mode", func(c *Config) {
			c.Policy = uniformPolicy(t)
			c.Weights = []Weight{{Treatment: "fast_resolution", Feature: "bias", Set: f(1)}, {Treatment: "pamper_upsell", Feature: "tier=gold", Set: f(1)}}
		}, "weights[1].feature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig(t)
			tt.edit(&c)
			_, err := Compile(c, env)
			var fe *features.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.path {
				t.Errorf("error %v, want a field error on %s", err, tt.path)
			}
		})
	}
}

func TestEffectiveModel(t *testing.T) {
	env := testEnv(t)
	m := env.Model
	idx := func(name string) int32 {
		i, ok := env.Schema.Index(name)
		if !ok {
			t.Fatalf("no feature %s", name)
		}
		return i
	}
	wait, complaint, order, upgrade := idx("friction.wait_seconds"), idx("friction.open_complaint"), idx("intent=order_status"), idx("intent=upgrade_inquiry")
	c := mustApply(t, defaultConfig(t), Change{Weights: []WeightChange{
		{Treatment: "fast_resolution", Feature: "friction.wait_seconds", Set: f(0.5)},
		{Treatment: "fast_resolution", Feature: "friction.open_complaint", Multiply: f(2)},
		{Treatment: "pamper_upsell", Feature: "bias", Set: f(-0.1)},
		{Treatment: "self_service", Feature: "intent=order_status", Pin: true, At: f(0.9)},
		{Treatment: "pamper_upsell", Feature: "intent=upgrade_inquiry", Pin: true, At: f(0.2)},
		{Treatment: "pamper_upsell", Feature: "intent=upgrade_inquiry", Multiply: f(3)},
	}}, env)
	a, err := Compile(c, env)
	if err != nil {
		t.Fatal(err)
	}
	pinnedUpgrade := 0.2
	eff, err := EffectiveModel(m, a)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		treatment features.Treatment
		feature   int32
		want      float64
	}{
		{"set", features.FastResolution, wait, 0.5},
		{"multiply", features.FastResolution, complaint, 2 * m.Weight(features.FastResolution, complaint)},
		{"set bias", features.PamperUpsell, BiasIndex, -0.1},
		{"pinned value is served", features.SelfService, order, 0.9},
		{"multiply applies to the pinned value", features.PamperUpsell, upgrade, pinnedUpgrade * 3},
		{"other weight unchanged", features.PamperUpsell, complaint, m.Weight(features.PamperUpsell, complaint)},
		{"other bias unchanged", features.FastResolution, BiasIndex, m.Bias(features.FastResolution)},
		{"same feature of another treatment unchanged", features.SelfService, wait, m.Weight(features.SelfService, wait)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := eff.Bias(tt.treatment)
			if tt.feature != BiasIndex {
				got = eff.Weight(tt.treatment, tt.feature)
			}
			if got != tt.want {
				t.Errorf("%s weight %d: %v, want %v", tt.treatment, tt.feature, got, tt.want)
			}
		})
	}
	if eff.Version() != m.Version() || eff.Name() != m.Name() || eff.Updates() != m.Updates() {
		t.Error("effective model does not keep the learned model's identity")
	}
	if m.Weight(features.FastResolution, wait) == 0.5 {
		t.Error("the learned model was modified")
	}
}

func TestWeightsTable(t *testing.T) {
	env := testEnv(t)
	m := env.Model
	wait, _ := env.Schema.Index("friction.wait_seconds")
	c := mustApply(t, defaultConfig(t), Change{Weights: []WeightChange{
		{Treatment: "fast_resolution", Feature: "friction.wait_seconds", Set: f(0.5)},
		{Treatment: "pamper_upsell", Feature: "bias", Multiply: f(2)},
		{Treatment: "pamper_upsell", Feature: "friction.wait_seconds", Pin: true},
	}}, env)
	a, err := Compile(c, env)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		only features.TreatmentSet
		n    int
	}{
		{"all", 0, features.NumTreatments * (1 + env.Schema.Len())},
		{"one treatment", features.TreatmentSet(0).With(features.PamperUpsell), 1 + env.Schema.Len()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := WeightsTable(m, a, tt.only)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != tt.n {
				t.Errorf("%d rows, want %d", len(rows), tt.n)
			}
		})
	}
	rows, err := WeightsTable(m, a, 0)
	if err != nil {
		t.Fatal(err)
	}
	find := func(tr, feature string) WeightRow {
		for _, r := range rows {
			if r.Treatment == tr && r.Feature == feature {
				return r
			}
		}
		t.Fatalf("no row %s/%s", tr, feature)
		return WeightRow{}
	}
	if rows[0].Treatment != "fast_resolution" || rows[0].Feature != Bias {
		t.Errorf("first row %+v, want fast_resolution's bias", rows[0])
	}
	pb := m.Bias(features.PamperUpsell)
	pw := m.Weight(features.PamperUpsell, wait)
	want := []WeightRow{
		{Treatment: "fast_resolution", Feature: "friction.wait_seconds", Learned: m.Weight(features.FastResolution, wait), Override: &WeightOverride{Set: f(0.5)}, Effective: 0.5},
		{Treatment: "pamper_upsell", Feature: "bias", Learned: pb, Override: &WeightOverride{Multiply: f(2)}, Effective: 2 * pb},
		{Treatment: "pamper_upsell", Feature: "friction.wait_seconds", Learned: pw, Pinned: true, Effective: pw},
		{Treatment: "self_service", Feature: "bias", Learned: m.Bias(features.SelfService), Effective: m.Bias(features.SelfService)},
	}
	for _, w := range want {
		if got := find(w.Treatment, w.Feature); !reflect.DeepEqual(got, w) {
			t.Errorf("row\n got %+v\nwant %+v", got, w)
		}
	}
	// the wire shape of GET /v1/admin/weights
	for _, tt := range []struct {
		row  WeightRow
		want string
	}{
		{WeightRow{Treatment: "self_service", Feature: "bias", Learned: 0.1, Effective: 0.1},
			`{"treatment":"self_service","feature":"bias","learned":0.1,"override":null,"pinned":false,"effective":0.1}`},
		{WeightRow{Treatment: "self_service", Feature: "bias", Learned: 0.1, Override: &WeightOverride{Multiply: f(2)}, Pinned: true, Effective: 0.2},
			`{"treatment":"self_service","feature":"bias","learned":0.1,"override":{"multiply":2},"pinned":true,"effective":0.2}`},
	} {
		b, err := json.Marshal(tt.row)
		if err != nil || string(b) != tt.want {
			t.Errorf("row JSON %s (%v), want %s", b, err, tt.want)
		}
	}
}
