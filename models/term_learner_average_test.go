package models_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"situ/features"
	"situ/models"
)

// TestTermLearnerServesTheAverage: the model a term learner serves is the
// moving average of the weights it learns (every AverageEvery updates,
// AverageEvery/AverageUpdates of the way to them), not its last weights;
// a pin shows in the served model at once; and a learner restored from a
// checkpoint's model and state (through their JSON) goes on exactly as
// the uninterrupted one, average and last weights both.
func TestTermLearnerServesTheAverage(t *testing.T) {
	sch := schema(t)
	r := defaultReward(t)
	const horizon = 500
	avg, err := models.NewTermLearner(defaultModel(t), models.LearnerConfig{AverageUpdates: horizon})
	if err != nil {
		t.Fatal(err)
	}
	last, _ := models.NewTermLearner(defaultModel(t), models.LearnerConfig{AverageUpdates: 1})
	rng := rand.New(rand.NewPCG(9, 10))
	draw := func() ([]features.Entry, features.Treatment, models.Outcome) {
		x := []features.Entry{{Index: int32(rng.IntN(8)), Value: 1}, {Index: int32(8 + rng.IntN(8)), Value: rng.Float64()}}
		return x, features.Treatment(rng.IntN(features.NumTreatments)), randomOutcome(rng, &r)
	}
	// the average computed here from the last weights, as the learner must
	want := last.Model(0, &r)
	wb, ww := biasAndWeights(want, sch.Len())
	for i := 1; i <= 3000; i++ {
		x, tr, o := draw()
		avg.Learn(tr, x, 0.5, o.Held(), &o, &r, true, 0)
		last.Learn(tr, x, 0.5, o.Held(), &o, &r, true, 0)
		if i%models.AverageEvery != 0 {
			continue
		}
		lb, lw := biasAndWeights(last.Model(0, &r), sch.Len())
		for k := range wb {
			wb[k] += models.AverageEvery / float64(horizon) * (lb[k] - wb[k])
			for j := range ww[k] {
				ww[k][j] += models.AverageEvery / float64(horizon) * (lw[k][j] - ww[k][j])
			}
		}
	}
	gb, gw := biasAndWeights(avg.Model(1, &r), sch.Len())
	lb, _ := biasAndWeights(last.Model(1, &r), sch.Len())
	moved := false
	for k := range gb {
		if math.Abs(gb[k]-wb[k]) > 1e-9 {
			t.Fatalf("served bias %d: %g, the average of the learned weights %g", k, gb[k], wb[k])
		}
		moved = moved || math.Abs(gb[k]-lb[k]) > 1e-3
		for j := range gw[k] {
			if math.Abs(gw[k][j]-ww[k][j]) > 1e-9 {
				t.Fatalf("served weight %d/%s: %g, the average %g", k, sch.Name(int32(j)), gw[k][j], ww[k][j])
			}
		}
	}
	if !moved {
		t.Fatal("the served biases equal the last ones: nothing averaged")
	}

	// a pin is served at once, not averaged in
	if err := avg.Pin(features.PamperUpsell, sch.Name(3), 0.7); err != nil {
		t.Fatal(err)
	}
	if err := avg.Pin(features.SelfService, models.BiasFeature, -0.2); err != nil {
		t.Fatal(err)
	}
	if m := avg.Model(2, &r); m.Weight(features.PamperUpsell, 3) != 0.7 || m.Bias(features.SelfService) != -0.2 {
		t.Fatalf("pinned weight served as %g, bias as %g", m.Weight(features.PamperUpsell, 3), m.Bias(features.SelfService))
	}

	// restore from what a checkpoint holds, through JSON, mid-way between folds
	for range 17 {
		x, tr, o := draw()
		avg.Learn(tr, x, 0.5, o.Held(), &o, &r, true, 0)
	}
	snap := models.NewSnapshot(avg.Model(3, &r), 1, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	state := avg.State()
	if state.Iterate == nil {
		t.Fatal("the state does not hold the last weights")
	}
	bm, st := throughTheWire(t, snap, state, sch)
	resumed, err := models.RestoreTermLearner(bm, st, models.LearnerConfig{AverageUpdates: horizon})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		x, tr, o := draw()
		avg.Learn(tr, x, 0.5, o.Held(), &o, &r, true, 0)
		resumed.Learn(tr, x, 0.5, o.Held(), &o, &r, true, 0)
		if i%97 != 0 && i != 499 {
			continue
		}
		a, b := avg.Model(4, &r), resumed.Model(4, &r)
		for _, tr := range features.Treatments() {
			if a.Bias(tr) != b.Bias(tr) {
				t.Fatalf("after %d more updates: %s bias resumed %g, uninterrupted %g", i+1, tr, b.Bias(tr), a.Bias(tr))
			}
			for k := range int32(sch.Len()) {
				if a.Weight(tr, k) != b.Weight(tr, k) {
					t.Fatalf("after %d more updates: %s weight %s resumed %g, uninterrupted %g", i+1, tr, sch.Name(k), b.Weight(tr, k), a.Weight(tr, k))
				}
			}
		}
	}
}

// biasAndWeights returns m's served biases and weights per treatment.
func biasAndWeights(m *models.Model, n int) ([]float64, [][]float64) {
	b := make([]float64, features.NumTreatments)
	w := make([][]float64, features.NumTreatments)
	for _, tr := range features.Treatments() {
		b[tr] = m.Bias(tr)
		w[tr] = make([]float64, n)
		for k := range w[tr] {
			w[tr][k] = m.Weight(tr, int32(k))
		}
	}
	return b, w
}
