package models_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"situ/features"
	"situ/models"
)

func schema(t testing.TB) *features.Schema {
	t.Helper()
	s, err := features.DefaultSchema()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBindErrors(t *testing.T) {
	s := schema(t)
	cases := []struct {
		name     string
		spec     models.Spec
		want     string
		mismatch bool
	}{
		{"no name", models.Spec{SchemaVersion: 1}, "name", false},
		{"wrong schema version", models.Spec{Name: "m", SchemaVersion: 9}, "schema version", true},
		{"unknown treatment", models.Spec{Name: "m", SchemaVersion: 1, Treatments: map[string]models.TreatmentWeights{"teleport": {}}}, "teleport", false},
		{"unknown feature", models.Spec{Name: "m", SchemaVersion: 1, Treatments: map[string]models.TreatmentWeights{"self_service": {Weights: map[string]float64{"shoe_size": 1}}}}, "shoe_size", true},
		{"NaN weight", models.Spec{Name: "m", SchemaVersion: 1, Treatments: map[string]models.TreatmentWeights{"self_service": {Weights: map[string]float64{"channel=app": math.NaN()}}}}, "finite", false},
		{"infinite bias", models.Spec{Name: "m", SchemaVersion: 1, Treatments: map[string]models.TreatmentWeights{"self_service": {Bias: math.Inf(1)}}}, "finite", false},
		{"negative version", models.Spec{Name: "m", SchemaVersion: 1, Version: -1}, "negative", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := models.Bind(tc.spec, s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
			if errors.Is(err, models.ErrSchemaMismatch) != tc.mismatch {
				t.Errorf("errors.Is(ErrSchemaMismatch) = %v, want %v", !tc.mismatch, tc.mismatch)
			}
		})
	}
}

func TestSpecRoundTrip(t *testing.T) {
	s := schema(t)
	m, err := models.DefaultModel(s)
	if err != nil {
		t.Fatal(err)
	}
	again, err := models.Bind(m.Spec(), s)
	if err != nil {
		t.Fatal(err)
	}
	x := []features.Entry{{Index: 0, Value: 1.5}, {Index: 20, Value: 1}, {Index: int32(s.Len() - 1), Value: 1}}
	for _, tr := range features.Treatments() {
		if m.Score(tr, x) != again.Score(tr, x) {
			t.Errorf("%s: score changed after a spec round trip", tr)
		}
	}
}

func TestExplainTopContributions(t *testing.T) {
	s := schema(t)
	spec := models.Spec{Name: "m", SchemaVersion: 1, Treatments: map[string]models.TreatmentWeights{
		"fast_resolution": {Bias: 1, Weights: map[string]float64{
			"friction.transfers": 0.1, "friction.sentiment": -0.5, "channel=phone": 0.3, "intent=complaint": 0.2, "tier=gold": 0,
		}},
	}}
	m, err := models.Bind(spec, s)
	if err != nil {
		t.Fatal(err)
	}
	idx := func(n string) int32 { i, _ := s.Index(n); return i }
	x := []features.Entry{{Index: idx("friction.transfers"), Value: 2}, {Index: idx("friction.sentiment"), Value: 0.8}, {Index: idx("channel=phone"), Value: 1}, {Index: idx("intent=complaint"), Value: 1}, {Index: idx("tier=gold"), Value: 1}}
	cases := []struct {
		k    int
		want []string
	}{
		{1, []string{"friction.sentiment"}},
		{3, []string{"friction.sentiment", "channel=phone", "friction.transfers"}},
		{8, []string{"friction.sentiment", "channel=phone", "friction.transfers", "intent=complaint"}},
	}
	for _, tc := range cases {
		top := make([]models.Contribution, tc.k)
		n := m.Explain(features.FastResolution, x, top)
		var got []string
		for _, c := range top[:n] {
			got = append(got, s.Name(c.Feature))
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("top %d: %v, want %v", tc.k, got, tc.want)
		}
	}
	if got := m.Score(features.FastResolution, x); math.Abs(got-(1+0.2-0.4+0.3+0.2)) > 1e-12 {
		t.Errorf("score %g", got)
	}
}

func TestBuilderDoesNotMutateBase(t *testing.T) {
	s := schema(t)
	base, _ := models.DefaultModel(s)
	b := models.NewBuilder(base)
	b.SetWeight(features.SelfService, 0, 42)
	b.SetBias(features.SelfService, 7)
	b.SetUpdates(10)
	next := b.Build(base.Version() + 1)
	if base.Weight(features.SelfService, 0) == 42 || base.Bias(features.SelfService) == 7 {
		t.Fatal("builder changed the base model")
	}
	if next.Weight(features.SelfService, 0) != 42 || next.Version() != 2 || next.Updates() != 10 {
		t.Fatal("builder lost the change")
	}
}

func TestOutcomeValidate(t *testing.T) {
	good := models.Outcome{OutcomeID: "o1", DecisionID: "d1", OccurredAt: time.Now()}
	csat := func(v float64) *float64 { return &v }
	cases := []struct {
		name  string
		edit  func(*models.Outcome)
		field string
	}{
		{"valid", func(*models.Outcome) {}, ""},
		{"valid with csat", func(o *models.Outcome) { o.CSAT = csat(5) }, ""},
		{"missing outcome id", func(o *models.Outcome) { o.OutcomeID = "" }, "outcome_id"},
		{"missing decision id", func(o *models.Outcome) { o.DecisionID = "" }, "decision_id"},
		{"csat 9", func(o *models.Outcome) { o.CSAT = csat(9) }, "csat"},
		{"negative revenue", func(o *models.Outcome) { o.Revenue = -5 }, "revenue"},
		{"NaN handle time", func(o *models.Outcome) { o.HandleSeconds = math.NaN() }, "handle_seconds"},
		{"missing time", func(o *models.Outcome) { o.OccurredAt = time.Time{} }, "occurred_at"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := good
			tc.edit(&o)
			err := o.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var oe *features.FieldError
			if !errors.As(err, &oe) || oe.Field != tc.field {
				t.Fatalf("error %v, want field %s", err, tc.field)
			}
		})
	}
}
