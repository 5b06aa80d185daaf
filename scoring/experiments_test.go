package scoring_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"situ/experiments"
	"situ/features"
	"situ/models"
	"situ/policy"
	"situ/scoring"
)

// newAssigner compiles running experiments of defs (defaults filled in).
func newAssigner(tb testing.TB, defs ...experiments.Definition) *experiments.Assigner {
	tb.Helper()
	exps := make([]experiments.Experiment, len(defs))
	for i, d := range defs {
		d.Normalize()
		exps[i] = experiments.Experiment{Definition: d, State: experiments.StateRunning}
	}
	a, err := experiments.NewAssigner(exps)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// everyoneOn is an experiment that takes every request with a customer
// id and gives it strategy, whichever of its two arms the id hashes to.
func everyoneOn(strategy string) experiments.Definition {
	return experiments.Definition{ID: "all-" + strings.ReplaceAll(strategy, "@", "-"), Arms: []experiments.Arm{
		{Name: "a", Strategy: strategy, Weight: 0.5}, {Name: "b", Strategy: strategy, Weight: 0.5}}}
}

// frozenModel is a model of version v, the served model's schema, with
// the biases of bias and updates experience.
func frozenModel(live *models.Model, v int64, bias float64, updates int64) *models.Model {
	b := models.NewBuilder(live)
	for _, t := range features.Treatments() {
		b.SetBias(t, bias*float64(t+1))
	}
	b.SetUpdates(updates)
	return b.Build(v)
}

// withExperiments sets the bundle's experiments and frozen models.
func withExperiments(tb testing.TB, e *scoring.Engine, a *experiments.Assigner, frozen map[int64]*models.Model) {
	tb.Helper()
	if err := e.Update(func(b scoring.Bundle) (scoring.Bundle, error) {
		b.Experiments, b.Frozen = a, frozen
		return b, nil
	}); err != nil {
		tb.Fatal(err)
	}
}

// TestEveryStrategyKeepsTheServicePolicy: whatever the arm's strategy, the
// decision serves an eligible treatment, excluded treatments have
// probability 0, and the probabilities sum to 1.
func TestEveryStrategyKeepsTheServicePolicy(t *testing.T) {
	strategies := []string{"learned", "model@7", "value_tier", "uniform", "efficiency_first", "delight_first"}
	contexts := map[string]func(c *features.Context){
		"open complaint, repeat contact": func(c *features.Context) {},
		"outage again requires fast": func(c *features.Context) {
			c.Intent.Name, c.Friction.RepeatContacts7d = "service_outage", 1
		},
		"first contact with a problem": func(c *features.Context) {
			*c = features.Context{Customer: features.Customer{ID: c.Customer.ID, FirstContact: true, Tier: "basic"},
				Intent: features.Intent{Name: "payment_failed"}, Channel: "chat"}
		},
		"platinum, complaint": func(c *features.Context) { c.Customer.Tier = "platinum" },
		"basic, failed self-service": func(c *features.Context) {
			c.Customer.Tier, c.Friction = "basic", features.Friction{FailedSelfService24h: 1}
		},
	}
	offers := map[string]features.TreatmentSet{
		"all":                      0,
		"pamper and self-service":  features.AllTreatments.Without(features.FastResolution),
		"fast and self-service":    features.AllTreatments.Without(features.PamperUpsell),
		"pamper and fast":          features.AllTreatments.Without(features.SelfService),
		"self-service or anything": features.AllTreatments,
	}
	for _, s := range strategies {
		t.Run(s, func(t *testing.T) {
			e := newTestEngine(t, nil)
			withExperiments(t, e, newAssigner(t, everyoneOn(s)), map[int64]*models.Model{7: frozenModel(e.Model(), 7, 0.3, 40)})
			for cname, edit := range contexts {
				for oname, offer := range offers {
					for i := range 20 {
						req := realisticRequest()
						req.Context.Customer.ID = fmt.Sprintf("c-%d", i)
						edit(&req.Context)
						req.Treatments = offer
						d, err := e.Decide(context.Background(), req)
						var none *policy.NoEligibleError
						if errors.As(err, &none) {
							continue
						}
						if err != nil {
							t.Fatalf("%s, %s: %v", cname, oname, err)
						}
						if d.Strategy != s || d.Experiment == "" {
							t.Fatalf("%s, %s: strategy %q experiment %q, want %s in an experiment", cname, oname, d.Strategy, d.Experiment, s)
						}
						if !d.Eligible.Has(d.Treatment) {
							t.Errorf("%s, %s: served %s, not eligible in %v (rules %v)", cname, oname, d.Treatment, d.Eligible, d.RuleIDs(nil))
						}
						sum := 0.0
						for _, tr := range features.Treatments() {
							if !d.Eligible.Has(tr) && d.Probabilities[tr] != 0 {
								t.Errorf("%s, %s: excluded %s has probability %g", cname, oname, tr, d.Probabilities[tr])
							}
							sum += d.Probabilities[tr]
						}
						if math.Abs(sum-1) > 1e-12 || d.Propensity != d.Probabilities[d.Treatment] {
							t.Errorf("%s, %s: probabilities %v sum to %g, propensity %g", cname, oname, d.Probabilities, sum, d.Propensity)
						}
					}
				}
			}
		})
	}
}

// TestFixedStrategiesServeTheirChoiceForSure: a fixed arm serves its
// choice among the eligible treatments with probability 1, without
// exploring; its scores are the served model's.
func TestFixedStrategiesServeTheirChoiceForSure(t *testing.T) {
	open := func(tier string) scoring.Request {
		req := openRequest()
		req.Context.Customer.Tier = tier
		return req
	}
	complaint := func(tier string) scoring.Request {
		req := open(tier)
		req.Context.Friction.OpenComplaint = true // no upsell
		return req
	}
	cases := []struct {
		strategy string
		req      scoring.Request
		want     features.Treatment
	}{
		{"uniform", open("platinum"), features.FastResolution},
		{"uniform", open("basic"), features.FastResolution},
		{"efficiency_first", open("gold"), features.SelfService},
		{"delight_first", open("basic"), features.PamperUpsell},
		{"delight_first", complaint("basic"), features.FastResolution},
		{"value_tier", open("gold"), features.PamperUpsell},
		{"value_tier", open("silver"), features.FastResolution},
		{"value_tier", open("basic"), features.SelfService},
		{"value_tier", complaint("platinum"), features.FastResolution},
	}
	for _, tc := range cases {
		t.Run(tc.strategy+"/"+tc.req.Context.Customer.Tier+fmt.Sprint(tc.req.Context.Friction.OpenComplaint), func(t *testing.T) {
			e := newTestEngine(t, nil)
			live, err := newTestEngine(t, nil).Decide(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			withExperiments(t, e, newAssigner(t, everyoneOn(tc.strategy)), nil)
			d, err := e.Decide(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if d.Treatment != tc.want || d.Propensity != 1 || d.Probabilities[tc.want] != 1 {
				t.Errorf("served %s with propensity %g (%v), want %s for sure", d.Treatment, d.Propensity, d.Probabilities, tc.want)
			}
			if d.Explorer != scoring.ExplorerNone {
				t.Errorf("explorer %q, want %q", d.Explorer, scoring.ExplorerNone)
			}
			if d.Scores != live.Scores || d.ModelVersion != live.ModelVersion {
				t.Errorf("scores %v of model v%d, want the served model's %v of v%d", d.Scores, d.ModelVersion, live.Scores, live.ModelVersion)
			}
		})
	}
}

// TestFrozenArmScoresWithTheFrozenModel: a model@V arm scores with the
// frozen model, levers added, the weight overrides of the configuration
// not applied, and explores with the frozen model's experience.
func TestFrozenArmScoresWithTheFrozenModel(t *testing.T) {
	e := newTestEngine(t, nil)
	frozen := frozenModel(e.Model(), 3, 0.2, 0)
	levers := [features.NumTreatments]float64{features.SelfService: 0.1}
	setLevers(t, e, levers)
	if err := e.Update(func(b scoring.Bundle) (scoring.Bundle, error) { return b.WithOverride(biasOverride(0.5)) }); err != nil {
		t.Fatal(err)
	}
	withExperiments(t, e, newAssigner(t, everyoneOn("model@3")), map[int64]*models.Model{3: frozen})
	req := openRequest()
	d, err := e.Decide(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if d.Model != frozen || d.ModelVersion != 3 || d.Strategy != "model@3" {
		t.Fatalf("decided by %s v%d, want model@3", d.Strategy, d.ModelVersion)
	}
	var served [features.NumTreatments]float64
	for _, tr := range features.Treatments() {
		if want := frozen.Score(tr, d.Features); d.Scores[tr] != want {
			t.Errorf("%s score %g, want the frozen model's %g (no override)", tr, d.Scores[tr], want)
		}
		if d.Levers[tr] != levers[tr] {
			t.Errorf("%s lever %g, want %g", tr, d.Levers[tr], levers[tr])
		}
		served[tr] = d.Scores[tr] + d.Levers[tr]
	}
	var want [features.NumTreatments]float64
	e.Explorer().Probabilities(&served, d.Eligible, frozen.Updates(), &want)
	if d.Probabilities != want {
		t.Errorf("probabilities %v, want %v (explorer over frozen scores plus levers, frozen experience)", d.Probabilities, want)
	}
}

// TestAssignmentReachesTheDecision: the arm and the experiment are on the
// decision and its event; requests without a customer id, or outside the
// experiment's targeting, are learned and in none.
func TestAssignmentReachesTheDecision(t *testing.T) {
	e := newTestEngine(t, nil)
	def := experiments.Definition{ID: "philosophy", Targeting: "channel == 'phone'", Arms: []experiments.Arm{
		{Name: "control", Strategy: "learned", Weight: 0.5}, {Name: "same", Strategy: "uniform", Weight: 0.5}}}
	withExperiments(t, e, newAssigner(t, def), nil)
	cases := []struct {
		name   string
		edit   func(*features.Context)
		inside bool
	}{
		{"targeted", func(*features.Context) {}, true},
		{"no customer id", func(c *features.Context) { c.Customer.ID = "" }, false},
		{"not targeted", func(c *features.Context) { c.Channel = "chat" }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			arms := map[string]int{}
			for i := range 200 {
				req := realisticRequest()
				req.Context.Customer.ID = fmt.Sprintf("c-%d", i)
				tc.edit(&req.Context)
				d, err := e.Decide(context.Background(), req)
				if err != nil {
					t.Fatal(err)
				}
				b, err := d.AppendEventJSON(nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				ev, err := models.DecodeDecisionEvent(b)
				if err != nil {
					t.Fatal(err)
				}
				if ev.Experiment != d.Experiment || ev.Arm != d.Arm || ev.Strategy != d.Strategy {
					t.Fatalf("event %q/%q/%q, decision %q/%q/%q", ev.Experiment, ev.Arm, ev.Strategy, d.Experiment, d.Arm, d.Strategy)
				}
				if !tc.inside {
					if d.Experiment != "" || d.Arm != "" || d.Strategy != scoring.StrategyLearned {
						t.Fatalf("in %q arm %q strategy %q, want learned in none", d.Experiment, d.Arm, d.Strategy)
					}
					continue
				}
				arms[d.Arm]++
				want := map[string]string{"control": "learned", "same": "uniform"}[d.Arm]
				if d.Experiment != "philosophy" || d.Strategy != want {
					t.Fatalf("in %q arm %q strategy %q", d.Experiment, d.Arm, d.Strategy)
				}
			}
			if tc.inside && (arms["control"] < 60 || arms["same"] < 60) {
				t.Errorf("arms %v of 200 ids, want about half each", arms)
			}
		})
	}
}

// TestBundleRefusesExperimentsItCannotServe: a model@V arm needs its
// frozen model on the served schema; value_tier is refused in uniform
// mode.
func TestBundleRefusesExperimentsItCannotServe(t *testing.T) {
	schema2, err := features.ParseSchema([]byte(strings.Replace(string(features.DefaultSchemaYAML()),
		"numeric:\n", "numeric:\n  - name: attributes.extra\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	other, err := models.DefaultModel(schema2)
	if err != nil {
		t.Fatal(err)
	}
	spec := mustDefaultPolicy(t).Spec()
	spec.UniformMode = true
	uniform, err := policy.Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		strategy string
		frozen   func(live *models.Model) map[int64]*models.Model
		policy   *policy.Policy
		want     string
	}{
		{"frozen model missing", "model@4", func(*models.Model) map[int64]*models.Model { return nil }, nil, "not frozen"},
		{"frozen model of another version", "model@4", func(m *models.Model) map[int64]*models.Model {
			return map[int64]*models.Model{5: frozenModel(m, 5, 0, 0)}
		}, nil, "not frozen"},
		{"frozen model on another schema", "model@4", func(*models.Model) map[int64]*models.Model {
			return map[int64]*models.Model{4: other}
		}, nil, "schema"},
		{"value tier in uniform mode", "value_tier", func(*models.Model) map[int64]*models.Model { return nil }, uniform, "uniform mode"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(t, nil)
			before := e.Bundle()
			err := e.Update(func(b scoring.Bundle) (scoring.Bundle, error) {
				b.Experiments, b.Frozen = newAssigner(t, everyoneOn(tc.strategy)), tc.frozen(b.Model)
				if tc.policy != nil {
					b.Policy = tc.policy
				}
				return b, nil
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if e.Bundle().Experiments != before.Experiments {
				t.Error("the refused bundle was swapped in")
			}
		})
	}
}

// TestDecideWithoutExperimentsAllocatesNoMore: an empty assigner costs a
// decision no allocation.
func TestDecideWithoutExperimentsAllocatesNoMore(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	plain, empty := newTestEngine(t, nil), newTestEngine(t, nil)
	withExperiments(t, empty, newAssigner(t), nil)
	req := realisticRequest()
	allocs := func(e *scoring.Engine) float64 {
		return testing.AllocsPerRun(200, func() {
			if _, err := e.Decide(context.Background(), req); err != nil {
				t.Fatal(err)
			}
		})
	}
	if a, b := allocs(plain), allocs(empty); b > a {
		t.Errorf("%g allocations with an empty assigner, %g without", b, a)
	}
}

// TestLearnedIsOneName: the strategy name arms write, decisions carry and
// the learner reads is one.
func TestLearnedIsOneName(t *testing.T) {
	if scoring.StrategyLearned != experiments.NameLearned || models.StrategyLearned != experiments.NameLearned {
		t.Errorf("learned is %q in scoring, %q in models, %q in experiments", scoring.StrategyLearned, models.StrategyLearned, experiments.NameLearned)
	}
}
