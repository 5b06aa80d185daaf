package features_test

import (
	"math"
	"strings"
	"testing"

	"situ/features"
)

func lookup(t *testing.T, s *features.Schema, x []features.Entry) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	for _, e := range x {
		name := s.Name(e.Index)
		if _, dup := m[name]; dup {
			t.Fatalf("feature %s appears twice", name)
		}
		m[name] = e.Value
	}
	return m
}

func TestExtractDefaultSchema(t *testing.T) {
	s, err := features.DefaultSchema()
	if err != nil {
		t.Fatal(err)
	}
	conf := 0.8
	c := features.Context{
		Customer: features.Customer{LifetimeValue: 5400, AnnualSpend: 1200, TenureMonths: 38, Tier: "gold"},
		Intent:   features.Intent{Name: "billing_dispute", Confidence: &conf},
		Channel:  "phone",
		Friction: features.Friction{RepeatContacts7d: 9, FailedSelfService24h: 1, WaitSeconds: 180, Transfers: 1, OpenComplaint: true, Sentiment: -0.6},
	}
	cases := []struct {
		name    string
		edit    func(*features.Context)
		uniform bool
		want    map[string]float64 // features that must have these values
		absent  []string           // features that must be zero
	}{
		{
			name: "numeric transforms and one-hots",
			edit: func(*features.Context) {},
			want: map[string]float64{
				"customer.lifetime_value":                (math.Log1p(5400) - 7) / 1.6,
				"friction.repeat_contacts_7d":            5, // clipped
				"friction.failed_self_service_24h":       1,
				"friction.sentiment":                     -0.6,
				"intent.confidence":                      0.8,
				"friction.open_complaint":                1,
				"tier=gold":                              1,
				"intent=billing_dispute":                 1,
				"channel=phone":                          1,
				"intent_x_channel=billing_dispute|phone": 1,
				"value_x_friction":                       (math.Log1p(5400) - 7) / 1.6 * 5,
			},
			absent: []string{"customer.first_contact", "tier=basic", "channel=other"},
		},
		{
			name:   "unknown intent and channel count as other",
			edit:   func(c *features.Context) { c.Intent.Name = "warranty"; c.Channel = "fax" },
			want:   map[string]float64{"intent=other": 1, "channel=other": 1, "intent_x_channel=other|other": 1},
			absent: []string{"intent=billing_dispute", "channel=phone"},
		},
		{
			name:   "missing tier and confidence",
			edit:   func(c *features.Context) { c.Customer.Tier = ""; c.Intent.Confidence = nil },
			want:   map[string]float64{"tier=missing": 1, "intent.confidence": 1},
			absent: []string{"tier=other", "intent.confidence=missing"},
		},
		{
			name:    "uniform mode drops value features and their crosses",
			edit:    func(*features.Context) {},
			uniform: true,
			want:    map[string]float64{"friction.repeat_contacts_7d": 5, "intent=billing_dispute": 1},
			absent:  []string{"customer.lifetime_value", "customer.annual_spend", "tier=gold", "tier=other", "value_x_friction", "value_x_sentiment"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := c
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
				if math.Abs(got[name]-v) > 1e-12 {
					t.Errorf("%s = %g, want %g", name, got[name], v)
				}
			}
			for _, name := range tc.absent {
				if v, ok := got[name]; ok {
					t.Errorf("%s = %g, want absent", name, v)
				}
			}
		})
	}
}

func TestExtractRejectsUnknownTier(t *testing.T) {
	s, _ := features.DefaultSchema()
	c := features.Context{Customer: features.Customer{Tier: "diamond"}, Intent: features.Intent{Name: "x"}, Channel: "web"}
	_, err := s.Extract(&c, false, nil)
	fe, ok := err.(*features.FieldError)
	if !ok || fe.Field != "customer.tier" || !strings.Contains(fe.Message, "platinum") {
		t.Fatalf("error %v, want a field error on customer.tier listing the allowed tiers", err)
	}
}

// TestExtractReportsUnknownValues: the text fields whose value fell into
// "other" are reported; an absent value is not.
func TestExtractReportsUnknownValues(t *testing.T) {
	s, err := features.ParseSchema([]byte(`
version: 1
categorical:
  - {name: tier, source: customer.tier, vocabulary: [gold], value: true}
  - {name: intent, source: intent.name, vocabulary: [complaint]}
  - {name: channel, source: channel, vocabulary: [phone]}
`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name                  string
		tier, intent, channel string
		uniform               bool
		want                  []features.TextField
	}{
		{"all known", "gold", "complaint", "phone", false, nil},
		{"absent tier is not unknown", "", "complaint", "phone", false, nil},
		{"unknown intent", "gold", "warranty_claim", "phone", false, []features.TextField{features.FieldIntent}},
		{"unknown channel", "gold", "complaint", "fax", false, []features.TextField{features.FieldChannel}},
		{"all unknown", "bronze", "warranty_claim", "fax", false, []features.TextField{features.FieldTier, features.FieldIntent, features.FieldChannel}},
		{"unknown tier in uniform mode", "bronze", "complaint", "phone", true, []features.TextField{features.FieldTier}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := features.Context{Customer: features.Customer{Tier: tc.tier}, Intent: features.Intent{Name: tc.intent}, Channel: tc.channel}
			_, unknown, err := s.ExtractUnknown(&c, tc.uniform, nil)
			if err != nil {
				t.Fatal(err)
			}
			var want features.TextFieldSet
			for _, f := range tc.want {
				want = want.With(f)
			}
			if unknown != want {
				t.Errorf("unknown %b, want %b", unknown, want)
			}
		})
	}
}

func TestAttributesAsFeatures(t *testing.T) {
	s, err := features.ParseSchema([]byte(`
version: 2
numeric:
  - name: loyalty_points
    source: attributes.loyalty_points
    log1p: true
categorical:
  - {name: channel, source: channel, vocabulary: [phone, app]}
`))
	if err != nil {
		t.Fatal(err)
	}
	c := features.Context{Intent: features.Intent{Name: "x"}, Channel: "app", Attributes: map[string]float64{"loyalty_points": math.E - 1, "ignored": 3}}
	x, err := s.Extract(&c, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := lookup(t, s, x)
	if math.Abs(got["loyalty_points"]-1) > 1e-12 || got["channel=app"] != 1 || len(got) != 2 {
		t.Errorf("features %v", got)
	}
}

func TestSchemaErrorsNameTheFeature(t *testing.T) {
	cases := []struct{ name, doc, want string }{
		{"no version", `numeric: [{name: a, source: friction.transfers}]`, "version"},
		{"unknown source", "version: 1\nnumeric: [{name: a, source: customer.shoe_size}]", `"a"`},
		{"bad clip", "version: 1\nnumeric: [{name: friction.transfers, clip: [3, 1]}]", "friction.transfers"},
		{"zero std", "version: 1\nnumeric: [{name: friction.transfers, standardize: {mean: 1, std: 0}}]", "friction.transfers"},
		{"duplicate", "version: 1\nnumeric: [{name: friction.transfers}, {name: friction.transfers}]", "twice"},
		{"empty vocabulary", "version: 1\ncategorical: [{name: c, source: channel, vocabulary: []}]", `"c"`},
		{"other in vocabulary", "version: 1\ncategorical: [{name: c, source: channel, vocabulary: [other]}]", `"c"`},
		{"bad unknown policy", "version: 1\ncategorical: [{name: c, source: channel, vocabulary: [a], unknown: drop}]", `"c"`},
		{"capitalised vocabulary entry", "version: 1\ncategorical: [{name: c, source: channel, vocabulary: [phone, Chat]}]", `"Chat"`},
		{"padded vocabulary entry", "version: 1\ncategorical: [{name: c, source: channel, vocabulary: [' phone']}]", `" phone"`},
		{"cross of missing", "version: 1\ncrosses: [{name: x, of: [a, b]}]", `"x"`},
		{"mixed cross, numeric first", "version: 1\nnumeric: [{name: friction.transfers}]\ncategorical: [{name: c, source: channel, vocabulary: [a]}]\ncrosses: [{name: x, of: [friction.transfers, c]}]", `"x"`},
		{"binned without edges", "version: 1\nbinned: [{name: b, source: customer.tenure_months}]", `"b"`},
		{"binned edges not increasing", "version: 1\nbinned: [{name: b, source: customer.tenure_months, edges: [5, 5]}]", `"b"`},
		{"binned from a text field", "version: 1\nbinned: [{name: b, source: channel, edges: [1]}]", `"b"`},
		{"unknown key", "version: 1\nnumerics: []", "numerics"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := features.ParseSchema([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %s", err, tc.want)
			}
		})
	}
}

func TestParseTreatmentSet(t *testing.T) {
	cases := []struct {
		name  string
		in    []string
		want  features.TreatmentSet
		field string
	}{
		{"omitted means all", nil, features.AllTreatments, ""},
		{"subset", []string{"self_service", "fast_resolution"}, 1<<features.SelfService | 1<<features.FastResolution, ""},
		{"empty list", []string{}, 0, "treatments"},
		{"unknown", []string{"fast_resolution", "teleport"}, 0, "treatments[1]"},
		{"duplicate", []string{"self_service", "self_service"}, 0, "treatments[1]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := features.ParseTreatmentSet(tc.in)
			if tc.field != "" {
				fe, ok := err.(*features.FieldError)
				if !ok || fe.Field != tc.field {
					t.Fatalf("error %v, want field error on %s", err, tc.field)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %s, %v; want %s", got, err, tc.want)
			}
		})
	}
}

func BenchmarkExtract(b *testing.B) {
	s, _ := features.DefaultSchema()
	conf := 0.8
	c := features.Context{
		Customer: features.Customer{LifetimeValue: 5400, AnnualSpend: 1200, TenureMonths: 38, Tier: "gold"},
		Intent:   features.Intent{Name: "billing_dispute", Confidence: &conf},
		Channel:  "phone",
		Friction: features.Friction{RepeatContacts7d: 2, FailedSelfService24h: 1, WaitSeconds: 180, Transfers: 1, OpenComplaint: true, Sentiment: -0.6},
	}
	buf := make([]features.Entry, 0, s.MaxEntries())
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = s.Extract(&c, false, buf[:0])
	}
}
