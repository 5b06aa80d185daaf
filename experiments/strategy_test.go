package experiments

import (
	"testing"

	"situ/features"
)

func TestParseStrategy(t *testing.T) {
	for _, c := range []struct {
		name    string
		kind    StrategyKind
		version int64
		ok      bool
	}{
		{"learned", Learned, 0, true},
		{"value_tier", ValueTier, 0, true},
		{"uniform", Uniform, 0, true},
		{"efficiency_first", EfficiencyFirst, 0, true},
		{"delight_first", DelightFirst, 0, true},
		{"model@17", Frozen, 17, true},
		{"model@0", 0, 0, false},
		{"model@017", 0, 0, false},
		{"model@-3", 0, 0, false},
		{"model@", 0, 0, false},
		{"model@", 0, 0, false},
		{"Learned", 0, 0, false},
		{"", 0, 0, false},
	} {
		s, err := ParseStrategy(c.name)
		if (err == nil) != c.ok {
			t.Errorf("%q: error %v, want ok=%v", c.name, err, c.ok)
			continue
		}
		if c.ok && (s.Kind != c.kind || s.ModelVersion != c.version || s.Name != c.name) {
			t.Errorf("%q: got %+v", c.name, s)
		}
	}
}

func TestChooseFollowsPreferenceWithinEligible(t *testing.T) {
	fast, pamper, self := features.FastResolution, features.PamperUpsell, features.SelfService
	all := features.AllTreatments
	ctx := func(tier string, value float64) *features.Context {
		return &features.Context{Customer: features.Customer{Tier: tier, LifetimeValue: value}}
	}
	for _, c := range []struct {
		name     string
		kind     StrategyKind
		c        *features.Context
		eligible features.TreatmentSet
		want     features.Treatment
	}{
		{"uniform ignores tier", Uniform, ctx("platinum", 90000), all, fast},
		{"uniform falls back", Uniform, ctx("basic", 0), all.Without(fast), self},
		{"efficiency", EfficiencyFirst, ctx("gold", 0), all, self},
		{"efficiency without self-service", EfficiencyFirst, ctx("gold", 0), all.Without(self), fast},
		{"delight", DelightFirst, ctx("basic", 0), all, pamper},
		{"delight under a no-upsell rule", DelightFirst, ctx("basic", 0), all.Without(pamper), fast},
		{"platinum premium", ValueTier, ctx("platinum", 0), all, pamper},
		{"gold premium", ValueTier, ctx("gold", 0), all, pamper},
		{"silver standard", ValueTier, ctx("silver", 0), all, fast},
		{"basic self-service", ValueTier, ctx("basic", 90000), all, self},
		{"no tier, high value", ValueTier, ctx("", PremiumValue), all, pamper},
		{"no tier, middle value", ValueTier, ctx("", StandardValue), all, fast},
		{"no tier, low value", ValueTier, ctx("", 10), all, self},
		{"premium, no upsell allowed", ValueTier, ctx("gold", 0), all.Without(pamper), fast},
		{"only one left", ValueTier, ctx("basic", 0), features.TreatmentSet(0).With(pamper), pamper},
	} {
		got, ok := Choose(c.kind, c.c, c.eligible)
		if !ok || got != c.want {
			t.Errorf("%s: got %v %v, want %v", c.name, got, ok, c.want)
		}
	}
	if _, ok := Choose(Learned, ctx("", 0), all); ok {
		t.Error("learned is not a fixed strategy")
	}
	if _, ok := Choose(Uniform, ctx("", 0), 0); ok {
		t.Error("nothing eligible, nothing chosen")
	}
}
