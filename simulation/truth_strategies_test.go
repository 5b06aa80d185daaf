package simulation_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"situ/experiments"
	"situ/features"
	"situ/simulation"
)

// TestExpectedMetricsMatchDraws checks every exact expectation against
// the mean of many draws.
func TestExpectedMetricsMatchDraws(t *testing.T) {
	def := defaultReward(t)
	tests := []struct {
		name string
		c    features.Context
	}{
		{"platinum upgrade on the phone", situation("upgrade_inquiry", "phone", "platinum", sentiment(0.5))},
		{"angry repeat billing dispute", situation("billing_dispute", "phone", "gold", repeats(2), complaint, sentiment(-0.6))},
		{"failed payment through the IVR after a failure", situation("payment_failed", "ivr", "basic", failedSelfService(1))},
	}
	const n = 60_000
	for _, tt := range tests {
		for _, tr := range features.Treatments() {
			t.Run(tt.name+"/"+tr.String(), func(t *testing.T) {
				resp := simulation.TrueResponse(&tt.c, tr)
				want := resp.ExpectedMetrics(def)
				require.InDelta(t, resp.Expected(def), want.Reward, 1e-12, "the reward is Expected's")
				require.Equal(t, resp.Resolve, want.Resolved)
				r := rand.New(rand.NewPCG(11, uint64(tr)))
				var sum simulation.Metrics
				csat, surveyed := 0.0, 0
				for range n {
					o := resp.Draw(r)
					m, ok := simulation.OutcomeMetrics(&o, def)
					require.Equal(t, def.Reward(&o), m.Reward)
					sum.Reward += m.Reward
					sum.Resolved += m.Resolved
					sum.UpsellAccepted += m.UpsellAccepted
					sum.Revenue += m.Revenue
					sum.HandleSeconds += m.HandleSeconds
					sum.Escalated += m.Escalated
					sum.Recontact7d += m.Recontact7d
					sum.Churned += m.Churned
					if ok {
						csat += m.CSAT
						surveyed++
					} else {
						require.Zero(t, m.CSAT)
					}
				}
				prop := func(name string, p, got float64) {
					se := math.Sqrt(p*(1-p)/n) + 1e-9
					require.InDelta(t, p, got/n, 5*se, name)
				}
				prop("resolved", want.Resolved, sum.Resolved)
				prop("upsell_accepted", want.UpsellAccepted, sum.UpsellAccepted)
				prop("escalated", want.Escalated, sum.Escalated)
				prop("recontact_7d", want.Recontact7d, sum.Recontact7d)
				prop("churned", want.Churned, sum.Churned)
				require.InDelta(t, want.Reward, sum.Reward/n, 0.01, "reward")
				require.InDelta(t, want.HandleSeconds, sum.HandleSeconds/n, 0.02*want.HandleSeconds, "handle_seconds")
				require.InDelta(t, want.Revenue, sum.Revenue/n, 5*math.Sqrt(want.UpsellAccepted/n)*resp.Revenue+1e-9, "revenue")
				require.InDelta(t, want.CSAT, csat/float64(surveyed), 0.05, "csat given surveyed")
			})
		}
	}
}

func truthReport(t *testing.T, cfg simulation.TruthConfig) *simulation.TruthReport {
	t.Helper()
	rep, err := simulation.TruthStrategies(cfg)
	require.NoError(t, err)
	return rep
}

// TestTruthStrategiesRankTheFixedArms pins what an experiment of fixed
// strategies on the default population must find: uniform well ahead of
// value_tier, both far ahead of delight_first and efficiency_first, and
// the oracle above them all.
func TestTruthStrategiesRankTheFixedArms(t *testing.T) {
	rep := truthReport(t, simulation.TruthConfig{Seed: 1})
	require.Equal(t, 20_000, rep.Contacts)
	require.Equal(t, experiments.NameUniform, rep.Best)
	names := []string{}
	for _, s := range rep.Strategies {
		names = append(names, s.Strategy)
	}
	require.Equal(t, append(simulation.TruthStrategyNames(), simulation.OracleName), names)

	reward := func(name string) float64 { return rep.Strategy(name).PerUnit.Reward }
	tests := []struct {
		better, worse string
		margin        float64 // at least, in reward per unit
		// clear: the lead is more than 3 standard errors of two arms of
		// all the units each (an experiment has fewer)
		clear bool
	}{
		{simulation.OracleName, experiments.NameUniform, 0.02, true},
		{experiments.NameUniform, experiments.NameValueTier, 0.05, true},
		{experiments.NameValueTier, experiments.NameDelightFirst, 0.03, true},
		{experiments.NameDelightFirst, experiments.NameEfficiencyFirst, 0.005, false},
	}
	for _, tt := range tests {
		t.Run(tt.better+" beats "+tt.worse, func(t *testing.T) {
			d := reward(tt.better) - reward(tt.worse)
			se := math.Hypot(rep.Strategy(tt.better).PerUnitRewardSE, rep.Strategy(tt.worse).PerUnitRewardSE)
			require.Greater(t, d, tt.margin)
			if tt.clear {
				require.Greater(t, d, 3*se, "more than the noise of the units")
			}
		})
	}

	for _, s := range rep.Strategies {
		require.Equal(t, rep.Contacts, s.Contacts)
		require.Equal(t, rep.Units, s.Units)
		require.InDelta(t, 1, s.Mix[0]+s.Mix[1]+s.Mix[2], 1e-9)
		units, contacts := 0, 0
		for _, f := range s.Segments[experiments.SegmentTier] {
			units += f.Units
			contacts += f.Contacts
		}
		require.Equal(t, rep.Units, units, "%s: every unit in one tier", s.Strategy)
		require.Equal(t, rep.Contacts, contacts)
		require.LessOrEqual(t, s.PerContact.Reward, rep.Strategy(simulation.OracleName).PerContact.Reward+1e-12)
	}
	require.Equal(t, 1.0, rep.Strategy(experiments.NameUniform).Mix[features.FastResolution], "uniform is always fast")

	again := truthReport(t, simulation.TruthConfig{Seed: 1})
	require.Equal(t, rep, again, "deterministic for a seed")
}

// TestTruthStrategiesBreachAResolutionGuardrail: against uniform, the
// resolution rate of efficiency_first drops by far more than 5 % in every
// tier and of delight_first by more than 5 % in every tier, so a guardrail
// "resolved must not drop more than 5 %" breaches for both; value_tier
// breaches it for basic customers (sent to self-service) but not silver
// ones (served as uniform serves them).
func TestTruthStrategiesBreachAResolutionGuardrail(t *testing.T) {
	rep := truthReport(t, simulation.TruthConfig{Seed: 1})
	tests := []struct {
		strategy, segment, value string
		below, above             float64 // the relative change lies in (above, below)
	}{
		{experiments.NameEfficiencyFirst, "", "", -0.20, -0.35},
		{experiments.NameDelightFirst, "", "", -0.065, -0.10},
		{experiments.NameValueTier, "", "", -0.10, -0.17},
		{experiments.NameValueTier, experiments.SegmentTier, "basic", -0.20, -0.30},
		{experiments.NameValueTier, experiments.SegmentTier, "silver", 0.001, -0.001},
		{experiments.NameValueTier, experiments.SegmentTier, "platinum", -0.06, -0.10},
		{experiments.NameDelightFirst, experiments.SegmentFirstContact, "true", -0.06, -0.12},
		{experiments.NameEfficiencyFirst, experiments.SegmentFirstContact, "true", -0.12, -0.25},
	}
	for _, tier := range []string{"basic", "silver", "gold", "platinum"} {
		tests = append(tests,
			struct {
				strategy, segment, value string
				below, above             float64
			}{experiments.NameDelightFirst, experiments.SegmentTier, tier, -0.065, -0.10},
			struct {
				strategy, segment, value string
				below, above             float64
			}{experiments.NameEfficiencyFirst, experiments.SegmentTier, tier, -0.20, -0.35})
	}
	for _, tt := range tests {
		t.Run(tt.strategy+" "+tt.segment+" "+tt.value, func(t *testing.T) {
			lift, ok := rep.Lift(tt.strategy, experiments.NameUniform, "resolved", tt.segment, tt.value)
			require.True(t, ok)
			require.Greater(t, lift, tt.above)
			require.Less(t, lift, tt.below)
		})
	}
	_, ok := rep.Lift(experiments.NameDelightFirst, experiments.NameUniform, "happiness", "", "")
	require.False(t, ok, "an unknown metric")
	_, ok = rep.Lift(experiments.NameDelightFirst, experiments.NameLearned, "resolved", "", "")
	require.False(t, ok, "a strategy not evaluated")
}

// TestPopulationHasRepeatCustomers: contacts come from stable customer
// ids, most of which contact more than once, so experiments have units
// with several decisions.
func TestPopulationHasRepeatCustomers(t *testing.T) {
	tests := []struct {
		contacts, customers int
		minRepeatShare      float64 // units with two decisions or more
		minMax              int     // the busiest unit's decisions at least
	}{
		{20_000, 10_000, 0.6, 7},
		{2_000, 10_000, 0.05, 2},
		{20_000, 2_000, 0.99, 15},
	}
	for _, tt := range tests {
		t.Run("", func(t *testing.T) {
			rep := truthReport(t, simulation.TruthConfig{Seed: 1, Contacts: tt.contacts, Customers: tt.customers, Strategies: []string{experiments.NameUniform}})
			units, contacts := 0, 0
			for k, n := range rep.DecisionsPerUnit {
				units += n
				contacts += (k + 1) * n
			}
			require.Equal(t, rep.Units, units)
			require.Equal(t, tt.contacts, contacts)
			require.LessOrEqual(t, rep.Units, tt.customers)
			repeat := 1 - float64(rep.DecisionsPerUnit[0])/float64(rep.Units)
			require.Greater(t, repeat, tt.minRepeatShare)
			require.GreaterOrEqual(t, len(rep.DecisionsPerUnit), tt.minMax)
		})
	}
	p := newPopulation(t, 1)
	ids := map[string]features.Customer{}
	for i := int64(0); i < 5000; i++ {
		c := p.Contact(i)
		if prev, ok := ids[c.Customer.ID]; ok {
			require.Equal(t, prev, c.Customer, "a customer id is one customer")
		}
		ids[c.Customer.ID] = c.Customer
		require.Regexp(t, `^c-\d{6}$`, c.Customer.ID)
	}
}

func TestTruthStrategiesRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  simulation.TruthConfig
		want string
	}{
		{"the learned model", simulation.TruthConfig{Strategies: []string{experiments.NameLearned}}, "not a fixed rule"},
		{"a frozen model", simulation.TruthConfig{Strategies: []string{"model@3"}}, "not a fixed rule"},
		{"an unknown strategy", simulation.TruthConfig{Strategies: []string{"charm"}}, `unknown strategy "charm"`},
		{"negative contacts", simulation.TruthConfig{Contacts: -1}, "contacts must be positive"},
		{"negative customers", simulation.TruthConfig{Customers: -1}, "customers must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := simulation.TruthStrategies(tt.cfg)
			require.ErrorContains(t, err, tt.want)
		})
	}
}
