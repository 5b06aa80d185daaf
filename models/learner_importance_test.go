package models_test

import (
	"testing"

	"situ/features"
	"situ/models"
)

// TestLearnerImportanceWeights: by default an update does not depend on
// the decision's propensity (no importance weights); with
// MaxImportanceWeight W, the gradient of a decision served with
// probability p is min(1/p, W) times that of one served for sure, and
// so is its step different.
func TestLearnerImportanceWeights(t *testing.T) {
	x := []features.Entry{{Index: 0, Value: 1}}
	// step returns how far one update moves the bias and the first
	// weight of a fresh learner towards reward 1.
	step := func(cfg models.LearnerConfig, propensity float64) float64 {
		l, err := models.NewOnlineLearner(zeroModel(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		l.Update(features.FastResolution, x, propensity, 1)
		m := l.Model(1)
		return m.Bias(features.FastResolution) + m.Weight(features.FastResolution, 0)
	}
	for _, tc := range []struct {
		name       string
		cfg        models.LearnerConfig
		propensity float64
		same       bool // the same step as propensity 1
	}{
		{"default, explored decision", models.LearnerConfig{}, 0.01, true},
		{"default, likely decision", models.LearnerConfig{}, 0.5, true},
		{"clip 20, explored decision", models.LearnerConfig{MaxImportanceWeight: 20}, 0.01, false},
		{"clip 20, served for sure", models.LearnerConfig{MaxImportanceWeight: 20}, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, sure := step(tc.cfg, tc.propensity), step(tc.cfg, 1)
			if (got == sure) != tc.same {
				t.Errorf("step %g with propensity %g, %g served for sure: want the same: %t", got, tc.propensity, sure, tc.same)
			}
		})
	}
}
