package models_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"situ/features"
	"situ/models"
)

// randomOutcome draws a whole outcome whose default reward is within the
// clip (the terms' sum is linear; the clip is not).
func randomOutcome(rng *rand.Rand, r *models.RewardDefinition) models.Outcome {
	for {
		o := models.Outcome{Resolved: rng.IntN(2) == 0, UpsellAccepted: rng.IntN(4) == 0, Escalated: rng.IntN(5) == 0,
			Recontact7d: rng.IntN(4) == 0, Churned: rng.IntN(10) == 0, HandleSeconds: 600 * rng.Float64()}
		if o.UpsellAccepted {
			o.Revenue = 400 * rng.Float64()
		}
		if rng.IntN(3) == 0 {
			csat := float64(1 + rng.IntN(5))
			o.CSAT = &csat
		}
		sum := 0.0
		for f := range models.OutcomeField(models.NumOutcomeFields) {
			sum += models.TermTarget(f, &o, r)
		}
		if math.Abs(sum-r.Reward(&o)) < 1e-12 {
			return o
		}
	}
}

// TestTermSumIsTheSingleModel: under the default reward definition, with
// whole outcomes, the per-term learner's served model follows the one
// model of the scalar reward step by step — bias and every weight of
// every treatment — whatever the learner's configuration, pins included:
// its terms share one AdaGrad accumulator per weight, so their sum takes
// the single model's step. (Served as learned: AverageUpdates 1; the
// average of TestTermLearnerServesTheAverage is of these weights.)
func TestTermSumIsTheSingleModel(t *testing.T) {
	tests := []struct {
		name string
		cfg  models.LearnerConfig
	}{
		{"the defaults", models.LearnerConfig{AverageUpdates: 1}},
		{"importance weights up to 20", models.LearnerConfig{MaxImportanceWeight: 20, AverageUpdates: 1}},
		{"forgetting and a step floor", models.LearnerConfig{Forgetting: 0.999, MinStepRate: 0.002, L2: 1e-3, AverageUpdates: 1}},
	}
	r := defaultReward(t)
	sch := schema(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			single, err := models.NewOnlineLearner(defaultModel(t), tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			terms, err := models.NewTermLearner(defaultModel(t), tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			pinned, _ := sch.Index(sch.Name(3))
			for _, pin := range []func(tr features.Treatment, f string, v float64) error{single.Pin, terms.Pin} {
				if err := pin(features.PamperUpsell, sch.Name(pinned), 0.5); err != nil {
					t.Fatal(err)
				}
				if err := pin(features.SelfService, models.BiasFeature, -0.1); err != nil {
					t.Fatal(err)
				}
			}
			rng := rand.New(rand.NewPCG(5, 6))
			for i := range 5000 {
				x := []features.Entry{{Index: int32(rng.IntN(sch.Len())), Value: 1}, {Index: int32(rng.IntN(sch.Len())), Value: rng.Float64()}, {Index: pinned, Value: 1}}
				if x[0].Index == x[1].Index {
					x = x[1:]
				}
				tr := features.Treatment(rng.IntN(features.NumTreatments))
				p := []float64{0.01, 0.3, 0.9}[rng.IntN(3)]
				o := randomOutcome(rng, &r)
				single.Update(tr, x, p, r.Reward(&o))
				terms.Learn(tr, x, p, o.Held(), &o, &r, true, 0)
				if i%1000 != 999 {
					continue
				}
				a, b := single.Model(1), terms.Model(1, &r)
				for _, tr := range features.Treatments() {
					if d := math.Abs(a.Bias(tr) - b.Bias(tr)); d > 1e-9 {
						t.Fatalf("after %d updates: %s bias %g, single model %g", i+1, tr, b.Bias(tr), a.Bias(tr))
					}
					for k := range int32(sch.Len()) {
						if d := math.Abs(a.Weight(tr, k) - b.Weight(tr, k)); d > 1e-9 {
							t.Fatalf("after %d updates: %s weight %s %g, single model %g", i+1, tr, sch.Name(k), b.Weight(tr, k), a.Weight(tr, k))
						}
					}
				}
			}
			if got := terms.Model(1, &r).Weight(features.PamperUpsell, pinned); got != 0.5 {
				t.Errorf("pinned weight moved to %g", got)
			}
		})
	}
}

// TestTermLearnerRestoresPerTermAccumulators: a checkpoint's state from
// before the terms shared their accumulators (the prior's in
// Accumulators, the fields' in Terms) restores, the prior's becoming the
// shared ones; an unknown term is refused.
func TestTermLearnerRestoresPerTermAccumulators(t *testing.T) {
	sch := schema(t)
	l, _ := models.NewTermLearner(defaultModel(t), models.LearnerConfig{})
	r := defaultReward(t)
	o := models.Outcome{Resolved: true}
	x := []features.Entry{{Index: 1, Value: 1}}
	l.Learn(features.FastResolution, x, 0.5, o.Held(), &o, &r, true, 0)
	m := l.Model(1, &r)
	shared := l.State()
	if len(shared.Terms) != 0 {
		t.Fatalf("state writes per-term accumulators: %v", shared.Terms)
	}
	old := shared
	old.Terms = map[string]map[string]models.TreatmentWeights{"resolved": {"fast_resolution": {Bias: 7, Weights: map[string]float64{sch.Name(1): 9}}}}
	a, err := models.RestoreTermLearner(m, old, models.LearnerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := models.RestoreTermLearner(m, shared, models.LearnerConfig{})
	a.Learn(features.FastResolution, x, 0.5, o.Held(), &o, &r, true, 0)
	b.Learn(features.FastResolution, x, 0.5, o.Held(), &o, &r, true, 0)
	if ga, gb := a.Model(2, &r).Score(features.FastResolution, x), b.Model(2, &r).Score(features.FastResolution, x); ga != gb {
		t.Errorf("old state learns to %g, shared state to %g", ga, gb)
	}
	old.Terms = map[string]map[string]models.TreatmentWeights{"nope": {}}
	if _, err := models.RestoreTermLearner(m, old, models.LearnerConfig{}); err == nil {
		t.Error("an unknown term restored")
	}
}
