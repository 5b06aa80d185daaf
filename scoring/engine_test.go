package scoring_test

import (
	"context"
	"errors"
	"math"
	"strconv"
	"testing"

	"situ/features"
	"situ/models"
	"situ/policy"
	"situ/scoring"
)

func TestExplorersKeepProbabilitiesValid(t *testing.T) {
	explorers := []scoring.Explorer{
		scoring.SquareCB{Gamma0: 50, Epsilon: 0.05},
		scoring.SquareCB{Gamma0: 1, Epsilon: 0},
		scoring.EpsilonGreedy{Epsilon: 0.1},
	}
	cases := []struct {
		name       string
		scores     [features.NumTreatments]float64
		eligible   features.TreatmentSet
		experience int64
	}{
		{"all eligible, clear winner", [3]float64{1, 0, -1}, features.AllTreatments, 0},
		{"all eligible, ties", [3]float64{0.2, 0.2, 0.2}, features.AllTreatments, 10},
		{"two eligible", [3]float64{0.1, 0.9, 5}, features.AllTreatments.Without(features.SelfService), 1000},
		{"one eligible", [3]float64{0.1, 0.9, 5}, 0 | 1<<features.SelfService, 0},
		{"huge experience", [3]float64{0.5, 0.49, 0.1}, features.AllTreatments, 1 << 40},
	}
	for _, ex := range explorers {
		for _, tc := range cases {
			t.Run(ex.Name()+"/"+tc.name, func(t *testing.T) {
				var p [features.NumTreatments]float64
				ex.Probabilities(&tc.scores, tc.eligible, tc.experience, &p)
				sum := 0.0
				for _, tr := range features.Treatments() {
					if !tc.eligible.Has(tr) && p[tr] != 0 {
						t.Errorf("ineligible %s has probability %g", tr, p[tr])
					}
					if tc.eligible.Has(tr) && !(p[tr] > 0) && !(ex.Name() == "squarecb" && tc.name == "huge experience") {
						t.Errorf("eligible %s has probability %g, want > 0", tr, p[tr])
					}
					if p[tr] < 0 || p[tr] > 1 || math.IsNaN(p[tr]) {
						t.Errorf("%s probability %g out of [0,1]", tr, p[tr])
					}
					sum += p[tr]
				}
				if math.Abs(sum-1) > 1e-12 {
					t.Errorf("probabilities sum to %g, want 1", sum)
				}
			})
		}
	}
}

func TestSquareCBNarrowsWithExperienceButKeepsTheFloor(t *testing.T) {
	ex := scoring.SquareCB{Gamma0: 10, Epsilon: 0.06}
	scores := [3]float64{0.5, 0.3, 0.1}
	var early, late [3]float64
	ex.Probabilities(&scores, features.AllTreatments, 0, &early)
	ex.Probabilities(&scores, features.AllTreatments, 100000, &late)
	if !(late[features.FastResolution] > early[features.FastResolution]) {
		t.Errorf("best treatment probability should grow with experience: %v → %v", early, late)
	}
	if !(early[features.PamperUpsell] > early[features.SelfService]) {
		t.Errorf("the closer competitor should be explored more: %v", early)
	}
	for _, tr := range []features.Treatment{features.PamperUpsell, features.SelfService} {
		if late[tr] < 0.06/3-1e-12 {
			t.Errorf("%s probability %g fell below the floor ε/K = %g", tr, late[tr], 0.02)
		}
	}
}

func TestDecideIsDeterministicForASeed(t *testing.T) {
	a, b := newTestEngine(t, nil), newTestEngine(t, nil)
	req := realisticRequest()
	req.Context.Friction = features.Friction{}
	req.Context.Intent.Name = "general_question"
	for i := 0; i < 50; i++ {
		da, err := a.Decide(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		db, err := b.Decide(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if da.ID != db.ID || da.Treatment != db.Treatment || da.Probabilities != db.Probabilities {
			t.Fatalf("decision %d differs between engines with the same seed: %v/%s vs %v/%s", i, da.Treatment, da.ID, db.Treatment, db.ID)
		}
	}
}

// TestSamplingFollowsProbabilities checks the chosen treatments' frequencies
// against the announced probabilities (the propensities the learner uses).
func TestSamplingFollowsProbabilities(t *testing.T) {
	schema, _ := features.DefaultSchema()
	model, _ := models.DefaultModel(schema)
	pol, _ := policy.Default()
	n := 0
	e, err := scoring.NewEngine(scoring.Config{Model: model, Policy: pol, Seed: 7,
		Explorer: scoring.EpsilonGreedy{Epsilon: 0.3},
		NewID:    func() string { n++; return "id-" + strconv.Itoa(n) }})
	if err != nil {
		t.Fatal(err)
	}
	req := scoring.Request{Context: features.Context{Intent: features.Intent{Name: "general_question"}, Channel: "chat"}}
	const draws = 30000
	var counts [3]float64
	var p [3]float64
	for i := 0; i < draws; i++ {
		d, err := e.Decide(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		counts[d.Treatment]++
		p = d.Probabilities
		if d.Propensity != d.Probabilities[d.Treatment] {
			t.Fatalf("propensity %g is not the chosen treatment's probability %g", d.Propensity, d.Probabilities[d.Treatment])
		}
	}
	for _, tr := range features.Treatments() {
		got := counts[tr] / draws
		sd := math.Sqrt(p[tr] * (1 - p[tr]) / draws)
		if math.Abs(got-p[tr]) > 5*sd+1e-9 {
			t.Errorf("%s chosen %.4f of the time, announced %.4f (5σ = %.4f)", tr, got, p[tr], 5*sd)
		}
	}
}

func TestDecideRejectsBadInput(t *testing.T) {
	e := newTestEngine(t, nil)
	nan := math.NaN()
	cases := []struct {
		name  string
		edit  func(c *features.Context)
		field string
	}{
		{"missing intent", func(c *features.Context) { c.Intent.Name = "" }, "intent.name"},
		{"missing channel", func(c *features.Context) { c.Channel = "" }, "channel"},
		{"blank intent", func(c *features.Context) { c.Intent.Name = " \t" }, "intent.name"},
		{"blank channel", func(c *features.Context) { c.Channel = "  " }, "channel"},
		{"negative lifetime value", func(c *features.Context) { c.Customer.LifetimeValue = -1 }, "customer.lifetime_value"},
		{"NaN spend", func(c *features.Context) { c.Customer.AnnualSpend = nan }, "customer.annual_spend"},
		{"infinite wait", func(c *features.Context) { c.Friction.WaitSeconds = math.Inf(1) }, "friction.wait_seconds"},
		{"negative repeat contacts", func(c *features.Context) { c.Friction.RepeatContacts7d = -2 }, "friction.repeat_contacts_7d"},
		{"negative transfers", func(c *features.Context) { c.Friction.Transfers = -1 }, "friction.transfers"},
		{"confidence above 1", func(c *features.Context) { v := 1.2; c.Intent.Confidence = &v }, "intent.confidence"},
		{"sentiment below -1", func(c *features.Context) { c.Friction.Sentiment = -1.5 }, "friction.sentiment"},
		{"unknown tier", func(c *features.Context) { c.Customer.Tier = "diamond" }, "customer.tier"},
		{"NaN attribute", func(c *features.Context) { c.Attributes = map[string]float64{"x": nan} }, "attributes.x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := realisticRequest()
			tc.edit(&req.Context)
			_, err := e.Decide(context.Background(), req)
			var fe *features.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v, want *features.FieldError", err)
			}
			if fe.Field != tc.field {
				t.Errorf("field %q, want %q (%v)", fe.Field, tc.field, err)
			}
		})
	}
}

func TestDecideAppliesPolicy(t *testing.T) {
	e := newTestEngine(t, nil)
	cases := []struct {
		name       string
		treatments features.TreatmentSet
		edit       func(c *features.Context)
		wantErr    bool
		rules      []string
		eligible   features.TreatmentSet
		entitled   []string
	}{
		{
			name: "contract example", treatments: features.AllTreatments, edit: func(*features.Context) {},
			rules:    []string{"friction-no-self-service", "open-complaint-no-upsell"},
			eligible: 1 << features.FastResolution,
		},
		{
			name: "channel offers only self-service, policy excludes it", treatments: 1 << features.SelfService,
			edit: func(*features.Context) {}, wantErr: true,
		},
		{
			name: "high spender waiting long: entitlements", treatments: features.AllTreatments,
			edit: func(c *features.Context) {
				c.Customer.AnnualSpend = 9000
				c.Friction = features.Friction{WaitSeconds: 900}
				c.Intent.Name = "general_question"
			},
			rules:    []string{"priority-queue-high-spend", "callback-long-wait"},
			eligible: features.AllTreatments,
			entitled: []string{"priority_queue", "callback_offer"},
		},
		{
			name: "channel narrows candidates", treatments: features.AllTreatments.Without(features.PamperUpsell),
			edit:     func(c *features.Context) { c.Friction = features.Friction{}; c.Intent.Name = "order_status" },
			eligible: features.AllTreatments.Without(features.PamperUpsell),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := realisticRequest()
			req.Treatments = tc.treatments
			tc.edit(&req.Context)
			d, err := e.Decide(context.Background(), req)
			if tc.wantErr {
				var ne *policy.NoEligibleError
				if !errors.As(err, &ne) {
					t.Fatalf("error %v, want *policy.NoEligibleError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := d.RuleIDs(nil); !equal(got, tc.rules) {
				t.Errorf("rules %v, want %v", got, tc.rules)
			}
			if d.Eligible != tc.eligible {
				t.Errorf("eligible %s, want %s", d.Eligible, tc.eligible)
			}
			if got := d.Entitlements(nil); !equal(got, tc.entitled) {
				t.Errorf("entitlements %v, want %v", got, tc.entitled)
			}
			if !d.Eligible.Has(d.Treatment) {
				t.Errorf("chose ineligible %s", d.Treatment)
			}
			for _, tr := range features.Treatments() {
				if !d.Candidates.Has(tr) && (d.Scores[tr] != 0 || d.ExplainN[tr] != 0) {
					t.Errorf("non-candidate %s was scored", tr)
				}
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestUniformModeIgnoresCustomerValue: in uniform mode two customers who
// differ only in value get the same scores, probabilities and rules.
func TestUniformModeIgnoresCustomerValue(t *testing.T) {
	spec := mustDefaultPolicy(t).Spec()
	spec.UniformMode = true
	uniform, err := policy.Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		pol  *policy.Policy
		same bool
	}{{"uniform mode", uniform, true}, {"value-aware default", mustDefaultPolicy(t), false}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(t, tc.pol)
			rich, poor := realisticRequest(), realisticRequest()
			for _, r := range []*scoring.Request{&rich, &poor} {
				r.Context.Friction = features.Friction{}
				r.Context.Intent.Name = "upgrade_inquiry"
			}
			rich.Context.Customer = features.Customer{LifetimeValue: 90000, AnnualSpend: 20000, TenureMonths: 38, Tier: "platinum"}
			poor.Context.Customer = features.Customer{LifetimeValue: 50, AnnualSpend: 10, TenureMonths: 38, Tier: "basic"}
			dr, err := e.Decide(context.Background(), rich)
			if err != nil {
				t.Fatal(err)
			}
			dp, err := e.Decide(context.Background(), poor)
			if err != nil {
				t.Fatal(err)
			}
			same := dr.Scores == dp.Scores && dr.Probabilities == dp.Probabilities && equal(dr.RuleIDs(nil), dp.RuleIDs(nil))
			if same != tc.same {
				t.Errorf("same decision for rich and poor = %v, want %v (scores %v vs %v, rules %v vs %v)", same, tc.same, dr.Scores, dp.Scores, dr.RuleIDs(nil), dp.RuleIDs(nil))
			}
			if tc.same {
				for _, tr := range features.Treatments() {
					for _, c := range dr.Explanation[tr][:dr.ExplainN[tr]] {
						name := dr.Model.Schema().Name(c.Feature)
						for _, v := range []string{"customer.lifetime_value", "customer.annual_spend", "tier=", "value_x"} {
							if len(name) >= len(v) && name[:len(v)] == v {
								t.Errorf("uniform decision explained by value feature %s", name)
							}
						}
					}
				}
			}
		})
	}
}

func mustDefaultPolicy(t *testing.T) *policy.Policy {
	t.Helper()
	p, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSetModelSwapsAtomically(t *testing.T) {
	e := newTestEngine(t, nil)
	b := models.NewBuilder(e.Model())
	b.SetBias(features.SelfService, 10)
	next := b.Build(2)
	e.SetModel(next)
	req := realisticRequest()
	req.Context.Friction = features.Friction{}
	req.Context.Intent.Name = "general_question"
	d, err := e.Decide(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if d.ModelVersion != 2 || mostLikely(d) != features.SelfService {
		t.Errorf("after swap: version %d, most likely %s; want 2, self_service", d.ModelVersion, mostLikely(d))
	}
}

func TestDecisionLogCarriesWhatTheLearnerNeeds(t *testing.T) {
	e := newTestEngine(t, nil)
	d, err := e.Decide(context.Background(), realisticRequest())
	if err != nil {
		t.Fatal(err)
	}
	l := d.Event(newTestHasher(t))
	if err := l.Validate(e.Model().Schema()); err != nil {
		t.Fatalf("decision event does not validate: %v", err)
	}
	if l.Treatment != d.Treatment.String() || l.Propensity != d.Propensity || len(l.Features) == 0 || l.ModelVersion != 1 {
		t.Errorf("log %+v does not match decision", l)
	}
	if len(l.Rules) != 2 || features.TreatmentSet(l.Eligible).Len() != 1 || features.TreatmentSet(l.Candidates).Len() != 3 {
		t.Errorf("rules %v eligible %v candidates %v", l.Rules, l.Eligible, l.Candidates)
	}
}

func TestDecideHonoursCancelledContext(t *testing.T) {
	e := newTestEngine(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Decide(ctx, realisticRequest()); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}
