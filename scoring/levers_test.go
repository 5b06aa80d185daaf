package scoring_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"situ/features"
	"situ/models"
	"situ/scoring"
)

// setLevers puts levers in e's bundle.
func setLevers(t testing.TB, e *scoring.Engine, levers [features.NumTreatments]float64) {
	t.Helper()
	if err := e.Update(func(b scoring.Bundle) (scoring.Bundle, error) { b.Levers = levers; return b, nil }); err != nil {
		t.Fatal(err)
	}
}

// TestLeversMoveTheServedProbabilities: a lever changes what exploration
// sees, so the probabilities and the propensity are those of the model's
// score plus the lever, while Scores stay the model's.
func TestLeversMoveTheServedProbabilities(t *testing.T) {
	cases := []struct {
		name       string
		levers     [features.NumTreatments]float64
		treatments features.TreatmentSet
		// mostLikely is the treatment with the highest probability.
		mostLikely features.Treatment
	}{
		{"no levers: the model's favourite", [features.NumTreatments]float64{}, 0, features.PamperUpsell},
		{"a lever lifts another treatment above it", [features.NumTreatments]float64{features.SelfService: 3}, 0, features.SelfService},
		{"a negative lever sinks the favourite", [features.NumTreatments]float64{features.PamperUpsell: -3}, 0, features.FastResolution},
		{"a lever of a treatment the channel cannot deliver does nothing",
			[features.NumTreatments]float64{features.SelfService: 3}, features.AllTreatments.Without(features.SelfService), features.PamperUpsell},
	}
	plain := newTestEngine(t, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(t, nil)
			setLevers(t, e, tc.levers)
			req := openRequest()
			req.Treatments = tc.treatments
			d, err := e.Decide(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			base, err := plain.Decide(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if d.Scores != base.Scores {
				t.Errorf("scores %v, want the model's %v", d.Scores, base.Scores)
			}
			var served, want [features.NumTreatments]float64
			for _, tr := range features.Treatments() {
				if d.Candidates.Has(tr) {
					if d.Levers[tr] != tc.levers[tr] {
						t.Errorf("lever of %s %v, want %v", tr, d.Levers[tr], tc.levers[tr])
					}
					served[tr] = d.ServedScore(tr)
				} else if d.Levers[tr] != 0 {
					t.Errorf("lever of %s, not a candidate: %v, want 0", tr, d.Levers[tr])
				}
			}
			e.Explorer().Probabilities(&served, d.Eligible, d.Model.Updates(), &want)
			if d.Probabilities != want {
				t.Errorf("probabilities %v, want those of score + lever %v", d.Probabilities, want)
			}
			if d.Propensity != d.Probabilities[d.Treatment] {
				t.Errorf("propensity %v, probability of %s %v", d.Propensity, d.Treatment, d.Probabilities[d.Treatment])
			}
			if got := mostLikely(d); got != tc.mostLikely {
				t.Errorf("most likely %s, want %s (probabilities %v)", got, tc.mostLikely, d.Probabilities)
			}
		})
	}
}

func TestLeversMustBeFinite(t *testing.T) {
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		e := newTestEngine(t, nil)
		err := e.Update(func(b scoring.Bundle) (scoring.Bundle, error) { b.Levers[features.SelfService] = v; return b, nil })
		if err == nil {
			t.Errorf("lever %v accepted", v)
		}
		if e.Bundle().Levers != ([features.NumTreatments]float64{}) {
			t.Errorf("lever %v: levers %v after the refusal", v, e.Bundle().Levers)
		}
	}
}

// biasOverride sets the bias of every treatment to v and doubles every
// feature weight of self_service: an override of several weights.
func biasOverride(v float64) func(*models.Model) (*models.Model, error) {
	return func(learned *models.Model) (*models.Model, error) {
		b := models.NewBuilder(learned)
		for _, t := range features.Treatments() {
			b.SetBias(t, v)
		}
		for i := range b.Weights(features.SelfService) {
			b.Weights(features.SelfService)[i] *= 2
		}
		return b.Build(learned.Version()), nil
	}
}

var errOverride = errors.New("override refused")

// TestOverrideSurvivesANewLearnedModel: the follower's SetModel and
// SetLearned swap the learned model; the override stays and applies to it.
func TestOverrideSurvivesANewLearnedModel(t *testing.T) {
	refuseV3 := func(learned *models.Model) (*models.Model, error) {
		if learned.Version() == 3 {
			return nil, errOverride
		}
		return biasOverride(7)(learned)
	}
	cases := []struct {
		name     string
		override func(*models.Model) (*models.Model, error)
		set      func(e *scoring.Engine, m *models.Model) error
		next     int64 // version of the new learned model
		wantErr  error
		// served: learned and served version after the swap, and whether
		// the override shows in the served model.
		learned, served int64
		overridden      bool
	}{
		{"SetModel keeps the override", biasOverride(7), func(e *scoring.Engine, m *models.Model) error { e.SetModel(m); return nil },
			2, nil, 2, 2, true},
		{"SetLearned keeps the override", biasOverride(7), (*scoring.Engine).SetLearned, 2, nil, 2, 2, true},
		{"no override: the learned model is served", nil, (*scoring.Engine).SetLearned, 2, nil, 2, 2, false},
		{"the override refuses the new model: the old bundle stays", refuseV3, (*scoring.Engine).SetLearned, 3, errOverride, 1, 1, true},
		{"SetModel ignores what the override refuses", refuseV3, func(e *scoring.Engine, m *models.Model) error { e.SetModel(m); return nil },
			3, nil, 1, 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(t, nil)
			prior := e.Learned()
			if err := e.Update(func(b scoring.Bundle) (scoring.Bundle, error) { return b.WithOverride(tc.override) }); err != nil {
				t.Fatal(err)
			}
			next := modelVersion(prior, tc.next)
			if err := tc.set(e, next); !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			b := e.Bundle()
			if b.Learned.Version() != tc.learned || b.Model.Version() != tc.served {
				t.Errorf("learned v%d, served v%d; want v%d, v%d", b.Learned.Version(), b.Model.Version(), tc.learned, tc.served)
			}
			if tc.wantErr == nil && tc.learned == tc.next && b.Learned != next {
				t.Errorf("the learned model is not the one set")
			}
			if got := b.Model.Bias(features.PamperUpsell) == 7; got != tc.overridden {
				t.Errorf("override applied to the served model: %v, want %v", got, tc.overridden)
			}
			if b.Learned.Bias(features.PamperUpsell) == 7 {
				t.Errorf("the override changed the learned model")
			}
			d, err := e.Decide(context.Background(), openRequest())
			if err != nil {
				t.Fatal(err)
			}
			if d.Model != b.Model || d.ModelVersion != tc.served {
				t.Errorf("decision scored with v%d, not the served model v%d", d.ModelVersion, tc.served)
			}
		})
	}
}

func TestWithOverride(t *testing.T) {
	cases := []struct {
		name     string
		override func(*models.Model) (*models.Model, error)
		wantErr  error
		bias     float64 // served bias of pamper_upsell; NaN: the learned one
	}{
		{"override applied", biasOverride(7), nil, 7},
		{"override removed", nil, nil, math.NaN()},
		{"override fails", func(*models.Model) (*models.Model, error) { return nil, errOverride }, errOverride, 5},
		{"override returns no model", func(*models.Model) (*models.Model, error) { return nil, nil }, errAny, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(t, nil)
			learned := e.Learned()
			if err := e.Update(func(b scoring.Bundle) (scoring.Bundle, error) { return b.WithOverride(biasOverride(5)) }); err != nil {
				t.Fatal(err)
			}
			err := e.Update(func(b scoring.Bundle) (scoring.Bundle, error) { return b.WithOverride(tc.override) })
			switch {
			case tc.wantErr == nil && err != nil, tc.wantErr == errAny && err == nil,
				tc.wantErr != nil && tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			b := e.Bundle()
			if b.Learned != learned {
				t.Errorf("the learned model changed")
			}
			want := tc.bias
			if math.IsNaN(want) {
				want = learned.Bias(features.PamperUpsell)
			}
			if got := b.Model.Bias(features.PamperUpsell); got != want {
				t.Errorf("served bias %v, want %v", got, want)
			}
		})
	}
}

// TestLeversAndOverridesAllocateNothingMore: a decision with levers and an
// override allocates as much as one without.
func TestLeversAndOverridesAllocateNothingMore(t *testing.T) {
	// One id for every decision: sequential ids allocate more once they
	// have three digits, which would make the counts depend on the order.
	fixedID := func() *scoring.Engine {
		e := newTestEngine(t, nil)
		b := e.Bundle()
		fixed, err := scoring.NewEngine(scoring.Config{Model: b.Model, Policy: b.Policy, NewID: func() string { return "d-1" }})
		if err != nil {
			t.Fatal(err)
		}
		return fixed
	}
	plain, configured := fixedID(), fixedID()
	setLevers(t, configured, [features.NumTreatments]float64{features.PamperUpsell: -0.05, features.SelfService: 0.1})
	if err := configured.Update(func(b scoring.Bundle) (scoring.Bundle, error) { return b.WithOverride(biasOverride(0.5)) }); err != nil {
		t.Fatal(err)
	}
	allocs := func(e *scoring.Engine) float64 {
		req := realisticRequest()
		return testing.AllocsPerRun(200, func() {
			if _, err := e.Decide(context.Background(), req); err != nil {
				t.Fatal(err)
			}
		})
	}
	if p, c := allocs(plain), allocs(configured); c > p {
		t.Errorf("a decision with levers and an override allocates %v times, without %v", c, p)
	}
}
