package features_test

import (
	"testing"

	"situ/features"
	"situ/internal/situtest"
)

// TestInteractions: binned features and situation × customer crosses of
// features/testdata/interactions.yaml; value crosses leave in uniform
// mode, crosses with an absent operand have no feature.
func TestInteractions(t *testing.T) {
	s := situtest.TestdataSchema(t, "interactions.yaml")
	base := features.Context{
		Customer: features.Customer{LifetimeValue: 3000, TenureMonths: 12, Tier: "gold", PrefersSelfService: true},
		Intent:   features.Intent{Name: "order_status"},
		Channel:  "web",
		Friction: features.Friction{RepeatContacts7d: 2, WaitSeconds: 90, Sentiment: -0.5},
	}
	cases := []extractionCase{
		{
			name: "bins: a value on an edge falls in the bin above",
			edit: func(*features.Context) {},
			want: map[string]float64{
				"tenure_bin=12-36": 1, "value_bin=2500-8000": 1, "wait_bin=90-180": 1, "sentiment_bin=-0.5--0.1": 1,
				"intent_x_tenure=order_status|12-36": 1, "channel_x_value=web|2500-8000": 1, "wait_x_tier=90-180|gold": 1,
				"intent_x_prefers_self=order_status": 1, "tier_x_repeat=gold": 2, "tenure_x_repeat=12-36": 2,
				"prefers_self_x_repeat": 2,
			},
			absent: []string{"tenure_bin=3-12", "tier_x_failed=gold"},
		},
		{
			name:    "uniform mode leaves out value bins and their crosses",
			edit:    func(*features.Context) {},
			uniform: true,
			want:    map[string]float64{"intent_x_tenure=order_status|12-36": 1, "tenure_x_repeat=12-36": 2},
			absent:  []string{"value_bin=2500-8000", "channel_x_value=web|2500-8000", "wait_x_tier=90-180|gold", "tier_x_repeat=gold"},
		},
		{
			name: "an absent operand: no bin, no cross",
			edit: func(c *features.Context) {
				c.Customer.TenureMonths, c.Friction.WaitSeconds = 0, 0
				c.Absent = c.Absent.With(features.FieldTenureMonths).With(features.FieldWaitSeconds)
			},
			want:   map[string]float64{"customer.tenure_months=missing": 1, "value_bin=2500-8000": 1},
			absent: []string{"tenure_bin=<3", "intent_x_tenure=order_status|<3", "wait_bin=<30", "wait_x_tier=<30|gold", "tenure_x_repeat=<3"},
		},
	}
	checkExtractions(t, s, base, cases)
}
