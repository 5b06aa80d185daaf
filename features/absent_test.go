package features_test

import (
	"math"
	"testing"

	"situ/features"
)

// TestExtractAbsentIsUnknown: a field the caller did not send takes the
// schema's centre and its missing indicator, never the value 0 would have.
func TestExtractAbsentIsUnknown(t *testing.T) {
	s, err := features.DefaultSchema()
	if err != nil {
		t.Fatal(err)
	}
	full := features.Context{
		Customer: features.Customer{LifetimeValue: 5400, AnnualSpend: 1200, TenureMonths: 38, Tier: "gold"},
		Intent:   features.Intent{Name: "billing_dispute"},
		Channel:  "phone",
		Friction: features.Friction{RepeatContacts7d: 2, FailedSelfService24h: 1, WaitSeconds: 180, Transfers: 1, Sentiment: -0.6},
	}
	ltv := (math.Log1p(5400) - 7) / 1.6
	cases := []struct {
		name    string
		edit    func(*features.Context)
		uniform bool
		want    map[string]float64 // features that must have these values
		absent  []string           // features that must not be in the vector
	}{
		{
			name:   "everything sent: no indicator",
			edit:   func(*features.Context) {},
			want:   map[string]float64{"customer.lifetime_value": ltv, "value_x_friction": ltv * 2},
			absent: []string{"customer.lifetime_value=missing", "tier=missing", "friction.sentiment=missing"},
		},
		{
			name: "absent lifetime value is the centre, not 4.4 sd below it",
			edit: func(c *features.Context) {
				c.Customer.LifetimeValue = 0
				c.Absent = c.Absent.With(features.FieldLifetimeValue)
			},
			want:   map[string]float64{"customer.lifetime_value=missing": 1, "friction.repeat_contacts_7d": 2},
			absent: []string{"customer.lifetime_value", "value_x_friction", "value_x_sentiment", "customer.annual_spend=missing"},
		},
		{
			name: "a sent 0 is a value",
			edit: func(c *features.Context) { c.Customer.LifetimeValue = 0 },
			want: map[string]float64{"customer.lifetime_value": -7 / 1.6},
		},
		{
			name: "absent counts take the transform of 0 and an indicator",
			edit: func(c *features.Context) {
				c.Friction = features.Friction{}
				c.Absent = c.Absent.With(features.FieldRepeatContacts7d).With(features.FieldWaitSeconds).With(features.FieldSentiment)
			},
			want:   map[string]float64{"friction.repeat_contacts_7d=missing": 1, "friction.wait_seconds=missing": 1, "friction.sentiment=missing": 1},
			absent: []string{"friction.repeat_contacts_7d", "friction.wait_seconds", "friction.sentiment", "friction.transfers=missing", "value_x_friction"},
		},
		{
			name:   "absent tier is its own indicator, not other, and in no cross",
			edit:   func(c *features.Context) { c.Customer.Tier = "" },
			want:   map[string]float64{"tier=missing": 1},
			absent: []string{"tier=other"},
		},
		{
			name: "uniform mode drops the indicators of value features",
			edit: func(c *features.Context) {
				c.Customer = features.Customer{}
				c.Absent = features.AllNumericFields
			},
			uniform: true,
			want:    map[string]float64{"customer.tenure_months=missing": 1, "friction.transfers=missing": 1},
			absent:  []string{"customer.lifetime_value=missing", "customer.annual_spend=missing", "tier=missing"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := full
			tc.edit(&ctx)
			if err := ctx.Validate(); err != nil {
				t.Fatal(err)
			}
			x, err := s.Extract(&ctx, tc.uniform, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(x) > s.MaxEntries() {
				t.Errorf("%d entries, MaxEntries %d", len(x), s.MaxEntries())
			}
			got := lookup(t, s, x)
			for name, v := range tc.want {
				if g, ok := got[name]; !ok || math.Abs(g-v) > 1e-12 {
					t.Errorf("%s = %g (present %v), want %g", name, g, ok, v)
				}
			}
			for _, name := range tc.absent {
				if v, ok := got[name]; ok {
					t.Errorf("%s = %g, want absent", name, v)
				}
			}
			for _, e := range x {
				if s.Explained(e.Index) == (e.Index >= s.Indicators()) {
					t.Errorf("%s: Explained disagrees with Indicators", s.Name(e.Index))
				}
			}
		})
	}
}

// TestMissingIndicatorsLayout: indicators come after every other feature,
// one per optional field, only when the schema asks for them; attributes
// are absent when the context does not hold them.
func TestMissingIndicatorsLayout(t *testing.T) {
	doc := `
version: 1
numeric:
  - {name: customer.lifetime_value, log1p: true, standardize: {mean: 7, std: 1.6}}
  - {name: intent.confidence}
  - {name: age, source: attributes.age, clip: [18, 99]}
categorical:
  - {name: tier, source: customer.tier, vocabulary: [gold]}
  - {name: channel, source: channel, vocabulary: [phone]}
`
	cases := []struct {
		name       string
		indicators bool
		attrs      map[string]float64
		want       map[string]float64
		names      []string // the indicator features, in order
	}{
		{"off: absent attribute takes the transform of 0", false, nil,
			map[string]float64{"age": 18, "tier=other": 1, "channel=phone": 1, "intent.confidence": 1}, nil},
		{"on: absent attribute", true, nil,
			map[string]float64{"age": 18, "age=missing": 1, "tier=missing": 1, "channel=phone": 1, "intent.confidence": 1, "customer.lifetime_value=missing": 1},
			[]string{"customer.lifetime_value=missing", "age=missing", "tier=missing"}},
		{"on: sent attribute", true, map[string]float64{"age": 40},
			map[string]float64{"age": 40, "tier=missing": 1, "channel=phone": 1, "intent.confidence": 1, "customer.lifetime_value=missing": 1},
			[]string{"customer.lifetime_value=missing", "age=missing", "tier=missing"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := doc
			if tc.indicators {
				d += "missing_indicators: true\n"
			}
			s, err := features.ParseSchema([]byte(d))
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Names()[s.Indicators():]; len(got) != len(tc.names) {
				t.Fatalf("indicators %v, want %v", got, tc.names)
			} else {
				for i := range got {
					if got[i] != tc.names[i] {
						t.Fatalf("indicators %v, want %v", got, tc.names)
					}
				}
			}
			c := features.Context{Intent: features.Intent{Name: "x"}, Channel: "phone", Attributes: tc.attrs, Absent: features.AllNumericFields}
			x, err := s.Extract(&c, false, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := lookup(t, s, x)
			if len(got) != len(tc.want) {
				t.Errorf("features %v, want %v", got, tc.want)
			}
			for name, v := range tc.want {
				if got[name] != v {
					t.Errorf("%s = %g, want %g (all: %v)", name, got[name], v, got)
				}
			}
		})
	}
}
