package policy_test

import (
	"errors"
	"strings"
	"testing"

	"situ/features"
	"situ/policy"
)

func TestCompileErrorsNameTheRule(t *testing.T) {
	cases := []struct{ name, doc, want string }{
		{"syntax error", "version: 1\nfloor: {human_escape: true}\nrules: [{id: broken, when: 'friction.transfers >', exclude: [self_service]}]", `"broken"`},
		{"unknown variable", "version: 1\nfloor: {human_escape: true}\nrules: [{id: typo, when: 'custmer.tier == \"gold\"', exclude: [self_service]}]", `"typo"`},
		{"not boolean", "version: 1\nfloor: {human_escape: true}\nrules: [{id: num, when: 'friction.transfers + 1', exclude: [self_service]}]", `"num"`},
		{"type mismatch", "version: 1\nfloor: {human_escape: true}\nrules: [{id: types, when: 'intent.name > 3', exclude: [self_service]}]", `"types"`},
		{"unknown treatment", "version: 1\nfloor: {human_escape: true}\nrules: [{id: t, when: 'true', exclude: [teleport]}]", "teleport"},
		{"no effect", "version: 1\nfloor: {human_escape: true}\nrules: [{id: idle, when: 'true'}]", `"idle"`},
		{"require and exclude same", "version: 1\nfloor: {human_escape: true}\nrules: [{id: both, when: 'true', exclude: [self_service], require: self_service}]", `"both"`},
		{"duplicate id", "version: 1\nfloor: {human_escape: true}\nrules: [{id: a, when: 'true', grant: [x]}, {id: a, when: 'true', grant: [y]}]", "twice"},
		{"bad id", "version: 1\nfloor: {human_escape: true}\nrules: [{id: 'Has Spaces', when: 'true', grant: [x]}]", "Has Spaces"},
		{"floor removed", "version: 1\nfloor: {human_escape: false}\nrules: []", "human_escape"},
		{"unknown key", "version: 1\nfloor: {human_escape: true}\nrulez: []", "rulez"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.Parse([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %s", err, tc.want)
			}
		})
	}
}

func TestDefaultPolicyRules(t *testing.T) {
	p, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	base := features.Context{Customer: features.Customer{Tier: "silver", AnnualSpend: 800}, Intent: features.Intent{Name: "general_question"}, Channel: "chat"}
	cases := []struct {
		name       string
		edit       func(*features.Context)
		candidates features.TreatmentSet
		fired      []string
		eligible   features.TreatmentSet
		noEligible bool
	}{
		{"nothing fires", func(*features.Context) {}, features.AllTreatments, nil, features.AllTreatments, false},
		{"two repeat contacts", func(c *features.Context) { c.Friction.RepeatContacts7d = 2 }, features.AllTreatments,
			[]string{"friction-no-self-service"}, features.AllTreatments.Without(features.SelfService), false},
		{"one repeat contact is not enough", func(c *features.Context) { c.Friction.RepeatContacts7d = 1 }, features.AllTreatments,
			nil, features.AllTreatments, false},
		{"failed self-service", func(c *features.Context) { c.Friction.FailedSelfService24h = 1 }, features.AllTreatments,
			[]string{"friction-no-self-service"}, features.AllTreatments.Without(features.SelfService), false},
		{"open complaint", func(c *features.Context) { c.Friction.OpenComplaint = true }, features.AllTreatments,
			[]string{"open-complaint-no-upsell"}, features.AllTreatments.Without(features.PamperUpsell), false},
		{"first contact with a problem", func(c *features.Context) { c.Customer.FirstContact = true; c.Intent.Name = "complaint" }, features.AllTreatments,
			[]string{"first-contact-floor"}, features.AllTreatments.Without(features.SelfService), false},
		{"first contact who prefers self-service", func(c *features.Context) {
			c.Customer.FirstContact, c.Customer.PrefersSelfService, c.Intent.Name = true, true, "complaint"
		}, features.AllTreatments, nil, features.AllTreatments, false},
		{"outage again requires fast resolution", func(c *features.Context) { c.Intent.Name = "service_outage"; c.Friction.RepeatContacts7d = 1 }, features.AllTreatments,
			[]string{"outage-repeat-fast"}, 1 << features.FastResolution, false},
		{"required treatment not offered", func(c *features.Context) { c.Intent.Name = "service_outage"; c.Friction.RepeatContacts7d = 1 },
			features.AllTreatments.Without(features.FastResolution), []string{"outage-repeat-fast"}, 0, true},
		{"high spend entitlement", func(c *features.Context) { c.Customer.AnnualSpend = 5000 }, features.AllTreatments,
			[]string{"priority-queue-high-spend"}, features.AllTreatments, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.edit(&c)
			res, err := p.Apply(&c, tc.candidates)
			shared, sharedErr := p.ApplyEnv(policy.NewEnv(&c, p.Uniform()), tc.candidates)
			if shared != res || (sharedErr == nil) != (err == nil) {
				t.Errorf("ApplyEnv gives %+v, %v; Apply %+v, %v", shared, sharedErr, res, err)
			}
			if tc.noEligible {
				var ne *policy.NoEligibleError
				if !errors.As(err, &ne) || len(ne.Rules) == 0 {
					t.Fatalf("error %v, want NoEligibleError naming rules", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var fired []string
			for i := 0; i < p.NumRules(); i++ {
				if res.Fired&(1<<i) != 0 {
					fired = append(fired, p.RuleID(i))
				}
			}
			if strings.Join(fired, ",") != strings.Join(tc.fired, ",") {
				t.Errorf("fired %v, want %v", fired, tc.fired)
			}
			if res.Eligible != tc.eligible {
				t.Errorf("eligible %s, want %s", res.Eligible, tc.eligible)
			}
			for _, tr := range features.Treatments() {
				if tc.candidates.Has(tr) && !res.Eligible.Has(tr) {
					if _, ok := res.Excluder(tr); !ok {
						t.Errorf("%s removed without a rule named", tr)
					}
				}
			}
			if res.Failed != 0 {
				t.Errorf("rules failed to evaluate: %b", res.Failed)
			}
		})
	}
}

func TestUniformModeBlindsRulesToValue(t *testing.T) {
	spec := mustDefault(t).Spec()
	spec.UniformMode = true
	p, err := policy.Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	c := features.Context{Customer: features.Customer{AnnualSpend: 50000, Tier: "platinum"}, Intent: features.Intent{Name: "x"}, Channel: "web"}
	res, err := p.Apply(&c, features.AllTreatments)
	if err != nil {
		t.Fatal(err)
	}
	if res.Fired != 0 {
		t.Errorf("uniform mode: value-based rule fired (%b)", res.Fired)
	}
}

func TestRuleRuntimeErrorHasNoEffect(t *testing.T) {
	p, err := policy.Parse([]byte(`
version: 1
floor: {human_escape: true}
rules:
  - id: divides
    when: attributes["missing"] > 1 || 7 % int(attributes["zero"]) == 0
    exclude: [self_service]
`))
	if err != nil {
		t.Fatal(err)
	}
	c := features.Context{Intent: features.Intent{Name: "ab"}, Channel: "web"}
	res, err := p.Apply(&c, features.AllTreatments)
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 1 {
		t.Errorf("failed bits %b, want the rule marked as failed", res.Failed)
	}
	if res.Eligible != features.AllTreatments {
		t.Errorf("a failing rule changed eligibility: %s (failed %b)", res.Eligible, res.Failed)
	}
}

func mustDefault(t *testing.T) *policy.Policy {
	t.Helper()
	p, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func BenchmarkApply(b *testing.B) {
	p, _ := policy.Default()
	c := features.Context{Customer: features.Customer{Tier: "gold", AnnualSpend: 1200}, Intent: features.Intent{Name: "billing_dispute"}, Channel: "phone",
		Friction: features.Friction{RepeatContacts7d: 2, OpenComplaint: true}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Apply(&c, features.AllTreatments); err != nil {
			b.Fatal(err)
		}
	}
}
