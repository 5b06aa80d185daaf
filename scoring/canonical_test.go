package scoring_test

import (
	"context"
	"errors"
	"testing"

	"situ/features"
	"situ/scoring"
)

// TestSpellingsDecideAlike: a capitalised or space-padded intent, channel
// or tier fires exactly the rules, leaves the treatments, builds the
// features and gets the scores and probabilities of the canonical text.
func TestSpellingsDecideAlike(t *testing.T) {
	base := func() scoring.Request {
		return scoring.Request{Context: features.Context{
			Customer: features.Customer{ID: "c-1", Tier: "gold", FirstContact: true},
			Intent:   features.Intent{Name: "billing_dispute"},
			Channel:  "phone",
		}}
	}
	cases := []struct {
		name string
		edit func(c *features.Context)
	}{
		{"capitalised intent", func(c *features.Context) { c.Intent.Name = "Billing_Dispute" }},
		{"upper-case intent", func(c *features.Context) { c.Intent.Name = "BILLING_DISPUTE" }},
		{"space-padded intent", func(c *features.Context) { c.Intent.Name = "  billing_dispute\t" }},
		{"capitalised channel", func(c *features.Context) { c.Channel = "Phone" }},
		{"space-padded channel", func(c *features.Context) { c.Channel = " phone\n" }},
		{"capitalised tier", func(c *features.Context) { c.Customer.Tier = "Gold" }},
		{"everything at once", func(c *features.Context) {
			c.Intent.Name = " Billing_Dispute"
			c.Channel = "PHONE "
			c.Customer.Tier = " GOLD "
		}},
	}
	want, err := newTestEngine(t, nil).Decide(context.Background(), base())
	if err != nil {
		t.Fatal(err)
	}
	if rules := want.RuleIDs(nil); !equal(rules, []string{"first-contact-floor"}) {
		t.Fatalf("canonical request fired %v, want [first-contact-floor]", rules)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := base()
			tc.edit(&req.Context)
			got, err := newTestEngine(t, nil).Decide(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if r, w := got.RuleIDs(nil), want.RuleIDs(nil); !equal(r, w) {
				t.Errorf("rules %v, want %v", r, w)
			}
			if got.Eligible != want.Eligible {
				t.Errorf("eligible %s, want %s", got.Eligible, want.Eligible)
			}
			if len(got.Features) != len(want.Features) {
				t.Fatalf("%d features, want %d", len(got.Features), len(want.Features))
			}
			for i := range got.Features {
				if got.Features[i] != want.Features[i] {
					t.Errorf("feature %d is %v, want %v", i, got.Features[i], want.Features[i])
				}
			}
			if got.Scores != want.Scores || got.Probabilities != want.Probabilities || got.Treatment != want.Treatment {
				t.Errorf("scores %v probabilities %v treatment %s, want %v %v %s",
					got.Scores, got.Probabilities, got.Treatment, want.Scores, want.Probabilities, want.Treatment)
			}
			if got.Unknown != 0 {
				t.Errorf("unknown %b, want none: the canonical text is in the vocabulary", got.Unknown)
			}
		})
	}
}

// TestDecideReportsUnknownValues: values the schema does not know are
// reported in the decision.
func TestDecideReportsUnknownValues(t *testing.T) {
	e := newTestEngine(t, nil)
	cases := []struct {
		name            string
		intent, channel string
		want            features.TextFieldSet
	}{
		{"known", "billing_dispute", "phone", 0},
		{"unknown intent", "warranty_claim", "phone", features.TextFieldSet(0).With(features.FieldIntent)},
		{"unknown channel", "billing_dispute", "carrier_pigeon", features.TextFieldSet(0).With(features.FieldChannel)},
		{"both unknown", "warranty_claim", "fax", features.TextFieldSet(0).With(features.FieldIntent).With(features.FieldChannel)},
		{"a misspelling is unknown", "billing_disput", "Phone", features.TextFieldSet(0).With(features.FieldIntent)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := realisticRequest()
			req.Context.Intent.Name, req.Context.Channel = tc.intent, tc.channel
			d, err := e.Decide(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if d.Unknown != tc.want {
				t.Errorf("unknown %b, want %b", d.Unknown, tc.want)
			}
		})
	}
}

// TestDecideTiers: tiers fold to their canonical form; an unknown tier is
// still an input error naming customer.tier; a blank one is absent.
func TestDecideTiers(t *testing.T) {
	e := newTestEngine(t, nil)
	cases := []struct {
		tier    string
		wantErr bool
	}{
		{"gold", false},
		{"Gold", false},
		{" PLATINUM ", false},
		{"", false},
		{"   ", false},
		{"goldd", true},
		{"Goldd", true},
		{"diamond", true},
	}
	for _, tc := range cases {
		t.Run(tc.tier, func(t *testing.T) {
			req := realisticRequest()
			req.Context.Customer.Tier = tc.tier
			_, err := e.Decide(context.Background(), req)
			var fe *features.FieldError
			switch {
			case tc.wantErr && (!errors.As(err, &fe) || fe.Field != "customer.tier"):
				t.Errorf("error %v, want a *features.FieldError on customer.tier", err)
			case !tc.wantErr && err != nil:
				t.Errorf("error %v, want none", err)
			}
		})
	}
}
