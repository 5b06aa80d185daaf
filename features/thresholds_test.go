package features_test

import (
	"testing"

	"situ/features"
	"situ/internal/situtest"
)

// TestThresholdCrosses: features/testdata/thresholds.yaml codes each of
// tenure, value, wait and sentiment by two one-edge bins (which side of
// each threshold), crossed situation × customer; a value on an edge is
// on its upper side, uniform mode leaves out every cross of a value
// threshold or the tier, and an absent field has no side.
func TestThresholdCrosses(t *testing.T) {
	s := situtest.TestdataSchema(t, "thresholds.yaml")
	base := features.Context{
		Customer: features.Customer{LifetimeValue: 1000, TenureMonths: 33, Tier: "gold"},
		Intent:   features.Intent{Name: "order_status"},
		Channel:  "web",
		Friction: features.Friction{RepeatContacts7d: 2, WaitSeconds: 30, Sentiment: -0.5},
	}
	cases := []extractionCase{
		{
			name: "each threshold says its side; a value on an edge is above it",
			edit: func(*features.Context) {},
			want: map[string]float64{
				"tenure_11=>=11": 1, "tenure_33=>=33": 1, "value_550=>=550": 1, "value_2200=<2200": 1,
				"wait_16=>=16": 1, "wait_62=<62": 1, "sentiment_m033=<-0.33": 1, "sentiment_033=<0.33": 1,
				"intent_x_tenure_33=order_status|>=33": 1, "channel_x_value_2200=web|<2200": 1,
				"wait_62_x_tier=<62|gold": 1, "sentiment_m033_x_value_550=<-0.33|>=550": 1,
				"tenure_11_x_repeat_contacts_7d=>=11": 2, "tier_x_repeat_contacts_7d=gold": 2,
			},
			absent: []string{"tenure_33=<33", "wait_16=<16", "intent_x_prefers_self_service=order_status"},
		},
		{
			name:    "uniform mode leaves out value thresholds, the tier and their crosses",
			edit:    func(*features.Context) {},
			uniform: true,
			want:    map[string]float64{"intent_x_tenure_11=order_status|>=11": 1, "wait_16_x_tenure_33=>=16|>=33": 1},
			absent:  []string{"value_550=>=550", "intent_x_value_550=order_status|>=550", "wait_62_x_tier=<62|gold", "tier_x_repeat_contacts_7d=gold"},
		},
		{
			name: "an absent field has no side and no cross",
			edit: func(c *features.Context) {
				c.Customer.TenureMonths = 0
				c.Absent = c.Absent.With(features.FieldTenureMonths)
			},
			want:   map[string]float64{"customer.tenure_months=missing": 1, "intent_x_value_550=order_status|>=550": 1},
			absent: []string{"tenure_11=<11", "intent_x_tenure_11=order_status|<11", "wait_16_x_tenure_33=>=16|<33"},
		},
	}
	checkExtractions(t, s, base, cases)
}
