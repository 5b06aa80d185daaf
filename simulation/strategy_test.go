package simulation_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"situ/features"
	"situ/simulation"
)

func TestStrategiesRespectEligibility(t *testing.T) {
	p := newPopulation(t, 9)
	contacts := make([]features.Context, 500)
	for i := range contacts {
		contacts[i] = p.Contact(int64(i))
	}
	for _, s := range simulation.FixedStrategies() {
		t.Run(s.Name, func(t *testing.T) {
			for eligible := features.TreatmentSet(1); eligible <= features.AllTreatments; eligible++ {
				for i := range contacts {
					got := s.Choose(contacts[i], eligible)
					require.True(t, eligible.Has(got), "%s chose %s among %s", s.Name, got, eligible)
				}
			}
		})
	}
}

func TestStrategyChoices(t *testing.T) {
	const (
		fast   = features.FastResolution
		pamper = features.PamperUpsell
		self   = features.SelfService
	)
	all := features.AllTreatments
	noSelf := all.Without(self)
	noPamper := all.Without(pamper)
	tests := []struct {
		name     string
		strategy simulation.StrategyFunc
		c        features.Context
		eligible features.TreatmentSet
		want     features.Treatment
	}{
		{"always fast", simulation.AlwaysFast, situation("upgrade_inquiry", "app", "platinum"), all, fast},
		{"always fast when fast is excluded", simulation.AlwaysFast, situation("upgrade_inquiry", "app", "platinum"), all.Without(fast), self},
		{"always pamper", simulation.AlwaysPamper, situation("complaint", "phone", "basic"), all, pamper},
		{"always pamper under a no-upsell rule", simulation.AlwaysPamper, situation("complaint", "phone", "basic", complaint), noPamper, fast},
		{"always self-service", simulation.AlwaysSelfService, situation("billing_dispute", "phone", "gold"), all, self},
		{"always self-service under a no-self-service rule", simulation.AlwaysSelfService, situation("billing_dispute", "phone", "gold", repeats(2)), noSelf, fast},
		{"value tiers: calm platinum is pampered", simulation.ValueTierRules, situation("order_status", "app", "platinum"), all, pamper},
		{"value tiers: calm gold is pampered", simulation.ValueTierRules, situation("billing_dispute", "phone", "gold"), all, pamper},
		{"value tiers: platinum with friction gets speed", simulation.ValueTierRules, situation("upgrade_inquiry", "phone", "platinum", repeats(1)), all, fast},
		{"value tiers: gold in a bad mood gets speed", simulation.ValueTierRules, situation("upgrade_inquiry", "phone", "gold", sentiment(-0.5)), all, fast},
		{"value tiers: silver gets speed", simulation.ValueTierRules, situation("upgrade_inquiry", "phone", "silver"), all, fast},
		{"value tiers: basic gets self-service", simulation.ValueTierRules, situation("complaint", "phone", "basic"), all, self},
		{"value tiers: basic falls back to speed", simulation.ValueTierRules, situation("complaint", "phone", "basic"), noSelf, fast},
		{"uniform: problem intent gets speed", simulation.UniformRules, situation("payment_failed", "app", "platinum"), all, fast},
		{"uniform: friction gets speed", simulation.UniformRules, situation("upgrade_inquiry", "app", "basic", failedSelfService(1)), all, fast},
		{"uniform: simple intent in the app gets self-service", simulation.UniformRules, situation("password_reset", "app", "platinum"), all, self},
		{"uniform: simple intent on the phone is pampered", simulation.UniformRules, situation("password_reset", "phone", "basic"), all, pamper},
		{"uniform: browsing is pampered whatever the value", simulation.UniformRules, situation("upgrade_inquiry", "web", "basic"), all, pamper},
		{"uniform: simple intent in chat, self-service excluded", simulation.UniformRules, situation("order_status", "chat", "gold"), noSelf, fast},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.strategy(tt.c, tt.eligible))
		})
	}
}

// TestUniformRulesIgnoreValue: the uniform strategy chooses the same for
// every tier and value.
func TestUniformRulesIgnoreValue(t *testing.T) {
	p := newPopulation(t, 4)
	for i := int64(0); i < 2000; i++ {
		c := p.Contact(i)
		want := simulation.UniformRules(c, features.AllTreatments)
		for _, tier := range []string{"basic", "platinum"} {
			v := c
			v.Customer.Tier, v.Customer.LifetimeValue, v.Customer.AnnualSpend = tier, 1e6, 1e5
			require.Equal(t, want, simulation.UniformRules(v, features.AllTreatments))
		}
	}
}
