package scoring_test

import (
	"context"
	"strings"
	"testing"

	"situ/features"
	"situ/scoring"
)

// mostLikely returns the treatment with the highest probability.
func mostLikely(d scoring.Decision) features.Treatment {
	best := features.Treatment(0)
	for _, t := range features.Treatments() {
		if d.Probabilities[t] > d.Probabilities[best] {
			best = t
		}
	}
	return best
}

// TestDefaultModelMakesSensibleDecisions is the contact-centre lead's
// table: before any learning, the default schema, model and policy must
// pick what an experienced lead would pick.
func TestDefaultModelMakesSensibleDecisions(t *testing.T) {
	platinum := features.Customer{ID: "c-1", LifetimeValue: 40000, AnnualSpend: 8000, TenureMonths: 96, Tier: "platinum"}
	gold := features.Customer{ID: "c-2", LifetimeValue: 9000, AnnualSpend: 2400, TenureMonths: 48, Tier: "gold"}
	basic := features.Customer{ID: "c-3", LifetimeValue: 300, AnnualSpend: 120, TenureMonths: 6, Tier: "basic"}
	newcomer := features.Customer{ID: "c-4", LifetimeValue: 0, AnnualSpend: 0, TenureMonths: 0, Tier: "basic", FirstContact: true}
	diy := basic
	diy.PrefersSelfService = true

	cases := []struct {
		name     string
		ctx      features.Context
		want     features.Treatment
		excluded []features.Treatment
		minP     float64 // default 0.8
	}{
		{
			name: "platinum, third failed payment, on the phone: fix it fast",
			ctx: features.Context{Customer: platinum, Intent: features.Intent{Name: "payment_failed"}, Channel: "phone",
				Friction: features.Friction{RepeatContacts7d: 2, WaitSeconds: 240, Sentiment: -0.5}},
			want: features.FastResolution, excluded: []features.Treatment{features.SelfService},
		},
		{
			name: "same platinum customer browsing upgrades in the app: pamper",
			ctx: features.Context{Customer: platinum, Intent: features.Intent{Name: "upgrade_inquiry"}, Channel: "app",
				Friction: features.Friction{Sentiment: 0.4}},
			want: features.PamperUpsell,
		},
		{
			name: "gold customer asking about a new product in the store: pamper",
			ctx: features.Context{Customer: gold, Intent: features.Intent{Name: "new_product"}, Channel: "store",
				Friction: features.Friction{Sentiment: 0.2}},
			want: features.PamperUpsell,
		},
		{
			name: "basic customer resetting a password in the app: self-service",
			ctx:  features.Context{Customer: basic, Intent: features.Intent{Name: "password_reset"}, Channel: "app"},
			want: features.SelfService,
		},
		{
			name: "customer who prefers self-service checking an order on the web",
			ctx:  features.Context{Customer: diy, Intent: features.Intent{Name: "order_status"}, Channel: "web"},
			want: features.SelfService,
		},
		{
			name: "password reset after a failed self-service attempt: a person fixes it",
			ctx: features.Context{Customer: basic, Intent: features.Intent{Name: "password_reset"}, Channel: "app",
				Friction: features.Friction{FailedSelfService24h: 1, Sentiment: -0.3}},
			want: features.FastResolution, excluded: []features.Treatment{features.SelfService},
		},
		{
			name: "gold customer with an open complaint asking about upgrades: no upsell now",
			ctx: features.Context{Customer: gold, Intent: features.Intent{Name: "upgrade_inquiry"}, Channel: "phone",
				Friction: features.Friction{OpenComplaint: true, Sentiment: -0.2}},
			want: features.FastResolution, excluded: []features.Treatment{features.PamperUpsell},
		},
		{
			name: "service outage, second contact: required fast resolution",
			ctx: features.Context{Customer: basic, Intent: features.Intent{Name: "service_outage"}, Channel: "chat",
				Friction: features.Friction{RepeatContacts7d: 1}},
			want: features.FastResolution, excluded: []features.Treatment{features.PamperUpsell, features.SelfService},
		},
		{
			name: "first-time customer with a billing dispute on chat: a person, never a deflection",
			ctx:  features.Context{Customer: newcomer, Intent: features.Intent{Name: "billing_dispute"}, Channel: "chat"},
			want: features.FastResolution, excluded: []features.Treatment{features.SelfService},
		},
		{
			name: "angry customer wanting to cancel: fast resolution",
			ctx: features.Context{Customer: gold, Intent: features.Intent{Name: "cancel_service"}, Channel: "phone",
				Friction: features.Friction{RepeatContacts7d: 1, Transfers: 2, Sentiment: -0.8}},
			want: features.FastResolution,
		},
		{
			name: "address change in the app for a happy silver customer: self-service",
			ctx: features.Context{Customer: features.Customer{LifetimeValue: 2000, AnnualSpend: 500, TenureMonths: 20, Tier: "silver"},
				Intent: features.Intent{Name: "address_change"}, Channel: "app", Friction: features.Friction{Sentiment: 0.3}},
			want: features.SelfService,
		},
		{
			name: "unknown intent on an unknown channel still gets a sensible default",
			ctx:  features.Context{Customer: basic, Intent: features.Intent{Name: "warranty_claim"}, Channel: "carrier_pigeon"},
			want: features.FastResolution,
			minP: 0.6, // an unknown situation is explored more
		},
	}
	e := newTestEngine(t, nil)
	for _, tc := range cases {
		for _, sent := range []string{"every field sent", "zeros not sent"} {
			if sent == "zeros not sent" {
				// the same situation from a caller that leaves out what is 0
				tc.ctx.Absent = zeroFields(&tc.ctx)
			}
			t.Run(tc.name+"/"+sent, func(t *testing.T) { checkSensible(t, e, tc.ctx, tc.want, tc.excluded, tc.minP) })
		}
	}
}

// zeroFields returns the optional numeric fields of c that are 0.
func zeroFields(c *features.Context) features.NumericFieldSet {
	var s features.NumericFieldSet
	for f, v := range map[features.NumericField]float64{
		features.FieldLifetimeValue: c.Customer.LifetimeValue, features.FieldAnnualSpend: c.Customer.AnnualSpend,
		features.FieldTenureMonths: c.Customer.TenureMonths, features.FieldRepeatContacts7d: float64(c.Friction.RepeatContacts7d),
		features.FieldFailedSelfService24h: float64(c.Friction.FailedSelfService24h), features.FieldWaitSeconds: c.Friction.WaitSeconds,
		features.FieldTransfers: float64(c.Friction.Transfers), features.FieldSentiment: c.Friction.Sentiment,
	} {
		if v == 0 {
			s = s.With(f)
		}
	}
	return s
}

func checkSensible(t *testing.T, e *scoring.Engine, ctx features.Context, want features.Treatment, excluded []features.Treatment, minP float64) {
	t.Helper()
	d, err := e.Decide(context.Background(), scoring.Request{Context: ctx})
	if err != nil {
		t.Fatal(err)
	}
	if got := mostLikely(d); got != want {
		t.Errorf("most likely treatment %s, want %s (scores %v, probabilities %v, rules %v)", got, want, d.Scores, d.Probabilities, d.RuleIDs(nil))
	}
	if minP == 0 {
		minP = 0.8
	}
	if p := d.Probabilities[want]; p < minP {
		t.Errorf("probability of %s is %.3f, want ≥ %.2f before any learning", want, p, minP)
	}
	for _, x := range excluded {
		if d.Eligible.Has(x) || d.Probabilities[x] != 0 {
			t.Errorf("%s must be excluded by policy, probabilities %v", x, d.Probabilities)
		}
		if _, ok := d.Rules.Excluder(x); !ok {
			t.Errorf("no rule named for excluding %s", x)
		}
	}
	if !d.HumanEscape {
		t.Error("human_escape must always be true")
	}
}

// TestAbsentFieldsAreNotExplained: a minimal request (intent and channel
// only) is scored as a customer of unknown value, not as one 4.4 standard
// deviations below the mean, and no explanation names a field it did not
// send.
func TestAbsentFieldsAreNotExplained(t *testing.T) {
	e := newTestEngine(t, nil)
	cases := []struct {
		name string
		ctx  features.Context
		sent []string // prefixes of the features an explanation may name
	}{
		{"intent and channel only", features.Context{Intent: features.Intent{Name: "upgrade_inquiry"}, Channel: "app", Absent: features.AllNumericFields},
			[]string{"intent", "channel"}},
		{"a value but no friction", features.Context{Customer: features.Customer{LifetimeValue: 9000, Tier: "gold"}, Intent: features.Intent{Name: "order_status"}, Channel: "web",
			Absent: features.AllNumericFields &^ (1 << features.FieldLifetimeValue)}, []string{"intent", "channel", "customer.lifetime_value", "tier="}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := e.Decide(context.Background(), scoring.Request{Context: tc.ctx})
			if err != nil {
				t.Fatal(err)
			}
			schema := d.Model.Schema()
			for _, tr := range features.Treatments() {
				for _, c := range d.Explanation[tr][:d.ExplainN[tr]] {
					name := schema.Name(c.Feature)
					ok := false
					for _, p := range tc.sent {
						ok = ok || strings.HasPrefix(name, p)
					}
					if !ok {
						t.Errorf("%s is explained by %s (%.3f), which the request did not send", tr, name, c.Contribution)
					}
				}
			}
			if tc.ctx.Absent.Has(features.FieldLifetimeValue) && d.Scores[features.PamperUpsell] < d.Model.Bias(features.PamperUpsell) {
				t.Errorf("pamper score %.3f below its bias: the absent lifetime value counts against it", d.Scores[features.PamperUpsell])
			}
		})
	}
}
