package api

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"situ/features"
	"situ/internal/situtest"
	"situ/models"
	"situ/scoring"
)

func TestRoundContribution(t *testing.T) {
	cases := []struct {
		name string
		in   float64
		want string // as the answer writes it
	}{
		{"repeating decimals", -0.09333333333333332, "-0.0933"},
		{"binary noise", -0.08000000000000002, "-0.08"},
		{"half rounds away from zero", 0.26975, "0.2698"},
		{"already short", 0.45, "0.45"},
		{"tiny positive is 0", 0.00004, "0"},
		{"tiny negative is 0, not -0", -0.00004, "0"},
		{"smallest step", 0.00005, "0.0001"},
		{"large", 12345.678912, "12345.6789"},
		{"too large to scale", 1e20, "100000000000000000000"},
		{"not a number", math.NaN(), "null"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var d scoring.Decision
			d.Candidates = 1
			d.ExplainN[0] = 1
			d.Explanation[0][0].Contribution = tc.in
			got := string(appendDecision(nil, &d))
			want := `"contribution":` + tc.want + `}`
			if !strings.Contains(got, want) {
				t.Errorf("answer %s, want it to contain %s", got, want)
			}
		})
	}
}

// TestAppendDecisionAllocatesNothing: writing unknown fields and rounded
// contributions keeps the answer allocation-free.
func TestAppendDecisionAllocatesNothing(t *testing.T) {
	var req scoreRequest
	if err := decodeScoreRequest([]byte(`{"intent":{"name":"warranty_claim"},"channel":"Fax","friction":{"sentiment":0.3,"wait_seconds":200}}`), &req); err != nil {
		t.Fatal(err)
	}
	d, err := newInternalEngine(t).Decide(context.Background(), scoring.Request{Context: req.Context})
	if err != nil {
		t.Fatal(err)
	}
	if d.Unknown == 0 {
		t.Fatal("the decision reports no unknown field")
	}
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = appendDecision(buf[:0], &d) }); n != 0 {
		t.Errorf("appendDecision allocates %v times, want 0", n)
	}
	if !strings.Contains(string(buf), `"unknown":["intent.name","channel"]`) {
		t.Errorf("answer %s does not list the unknown fields", buf)
	}
}

// TestAnswerShowsTermsOfALearnedModel: with a model the learner
// published, every candidate's score is split by outcome term, and the
// terms add up to its score; the model file or prior writes no terms.
func TestAnswerShowsTermsOfALearnedModel(t *testing.T) {
	schema, err := features.DefaultSchema()
	if err != nil {
		t.Fatal(err)
	}
	prior, err := models.DefaultModel(schema)
	if err != nil {
		t.Fatal(err)
	}
	// served as learned (AverageUpdates 1): a few outcomes show in the terms
	l, err := models.NewTermLearner(prior, models.LearnerConfig{AverageUpdates: 1})
	if err != nil {
		t.Fatal(err)
	}
	reward, err := models.DefaultReward()
	if err != nil {
		t.Fatal(err)
	}
	var req scoreRequest
	if err := decodeScoreRequest([]byte(`{"intent":{"name":"billing_dispute"},"channel":"phone","friction":{"sentiment":-0.5,"open_complaint":true}}`), &req); err != nil {
		t.Fatal(err)
	}
	x, _, err := schema.ExtractUnknown(&req.Context, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := models.Outcome{Resolved: true, HandleSeconds: 400, Missing: models.AllOutcomeFields &^ (1<<models.FieldResolved | 1<<models.FieldHandleSeconds)}
	for range 5 {
		l.Learn(features.FastResolution, x, 0.5, o.Held(), &o, &reward, true, 0)
	}
	for _, tc := range []struct {
		name  string
		model *models.Model
		terms bool
	}{{"learned", l.Model(3, &reward), true}, {"prior", prior, false}} {
		t.Run(tc.name, func(t *testing.T) {
			e := situtest.Engine(t, situtest.EngineOptions{Seed: 1, Model: tc.model})
			d, err := e.Decide(context.Background(), scoring.Request{Context: req.Context})
			if err != nil {
				t.Fatal(err)
			}
			var answer struct {
				Scores map[string]float64            `json:"scores"`
				Terms  map[string]map[string]float64 `json:"terms"`
			}
			b := appendDecision(nil, &d)
			if err := json.Unmarshal(b, &answer); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			if !tc.terms {
				if answer.Terms != nil {
					t.Fatalf("a model without terms answered terms: %s", b)
				}
				return
			}
			if len(answer.Terms) != len(answer.Scores) {
				t.Fatalf("terms for %d candidates, scores for %d: %s", len(answer.Terms), len(answer.Scores), b)
			}
			fr := answer.Terms["fast_resolution"]
			if fr["resolved"] <= 0 || fr["handle_seconds"] >= 0 || fr["prior"] == 0 {
				t.Fatalf("fast_resolution's terms %v: want resolved > 0, handle_seconds < 0 and what is left of the prior", fr)
			}
			for tr, parts := range answer.Terms {
				sum := 0.0
				for _, v := range parts {
					sum += v
				}
				if math.Abs(sum-answer.Scores[tr]) > 5e-4 {
					t.Errorf("%s: terms %v sum to %g, score %g", tr, parts, sum, answer.Scores[tr])
				}
			}
		})
	}
}
