package models_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	json "github.com/go-json-experiment/json"

	"situ/features"
	"situ/models"
)

func defaultReward(t testing.TB) models.RewardDefinition {
	t.Helper()
	r, err := models.DefaultReward()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func defaultModel(t testing.TB) *models.Model {
	t.Helper()
	m, err := models.DefaultModel(schema(t))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestTermLearnerStartsAtTheBaseModel: before any learning, the term
// model scores exactly as the model it started from, under the default
// reward definition, whatever the definition's weights (the prior is not
// a reward term).
func TestTermLearnerStartsAtTheBaseModel(t *testing.T) {
	base := defaultModel(t)
	l, err := models.NewTermLearner(base, models.LearnerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r := defaultReward(t)
	m := l.Model(1, &r)
	other := r
	other.Weights.Resolved, other.Weights.Churned = 2, -5
	m2 := m.WithReward(&other)
	x := []features.Entry{{Index: 0, Value: 1}, {Index: 3, Value: 0.5}}
	for _, tr := range features.Treatments() {
		if got, want := m.Score(tr, x), base.Score(tr, x); got != want {
			t.Errorf("%s: score %g, base model %g", tr, got, want)
		}
		if got, want := m2.Score(tr, x), base.Score(tr, x); got != want {
			t.Errorf("%s: score under another definition %g, base model %g", tr, got, want)
		}
	}
}

// TestRewardChangeAppliesToPendingDecisions: the terms learned from
// decisions whose outcomes are still coming are weighed by the reward
// definition at the time of scoring: changing the definition changes
// every score at once, exactly as the terms say, with no relearning; and
// a score is the sum of its terms.
func TestRewardChangeAppliesToPendingDecisions(t *testing.T) {
	l, err := models.NewTermLearner(zeroModel(t), models.LearnerConfig{AverageUpdates: 1})
	if err != nil {
		t.Fatal(err)
	}
	r := defaultReward(t)
	x := []features.Entry{{Index: 1, Value: 1}}
	csat := 5.0
	// pending decisions: resolved and csat known, churned not yet
	part := models.Outcome{Resolved: true, CSAT: &csat, Missing: models.AllOutcomeFields &^ (1<<models.FieldResolved | 1<<models.FieldCSAT)}
	for range 200 {
		l.Learn(features.FastResolution, x, 0.5, part.Held(), &part, &r, true, 0)
	}
	m := l.Model(1, &r)
	var terms [models.NumTerms]float64
	if !m.Terms(features.FastResolution, x, &terms) {
		t.Fatal("a term learner's model has no terms")
	}
	if terms[models.FieldResolved] < 0.3 || terms[models.FieldCSAT] < 0.15 || terms[models.FieldChurned] != 0 {
		t.Fatalf("terms %v: want resolved near 0.4, csat near 0.2, churned 0", terms)
	}
	sum := 0.0
	for _, v := range terms {
		sum += v
	}
	if s := m.Score(features.FastResolution, x); math.Abs(s-sum) > 1e-12 {
		t.Fatalf("score %g, sum of terms %g", s, sum)
	}
	// the data team doubles the weight of resolution and stops counting csat
	changed := r
	changed.Version++
	changed.Weights.Resolved *= 2
	changed.Weights.CSAT = 0
	m2 := m.WithReward(&changed)
	want := m.Score(features.FastResolution, x) + terms[models.FieldResolved] - terms[models.FieldCSAT]
	if got := m2.Score(features.FastResolution, x); math.Abs(got-want) > 1e-12 {
		t.Fatalf("score after the change %g, want %g (resolved counted twice, csat not)", got, want)
	}
	// the late field arrives for the pending decisions: only its term moves
	late := models.Outcome{Churned: true, Missing: models.AllOutcomeFields &^ (1 << models.FieldChurned)}
	for range 200 {
		l.Learn(features.FastResolution, x, 0.5, late.Held(), &late, &changed, false, 0)
	}
	var after [models.NumTerms]float64
	l.Model(2, &changed).Terms(features.FastResolution, x, &after)
	if after[models.FieldChurned] > -0.5 || after[models.FieldResolved] != 2*terms[models.FieldResolved] {
		t.Fatalf("after the late field: terms %v, want churned near -0.8 and resolved unchanged", after)
	}
}

// TestTermTargets: each term learns its field as the reward counts it;
// the revenue cap bounds the revenue term with the definition in force.
func TestTermTargets(t *testing.T) {
	r := defaultReward(t)
	csat := 5.0
	o := models.Outcome{Resolved: true, CSAT: &csat, Revenue: 1000, HandleSeconds: 300, Churned: true}
	cases := []struct {
		f    models.OutcomeField
		want float64
	}{
		{models.FieldResolved, 0.4},
		{models.FieldCSAT, 0.2},
		{models.FieldUpsellAccepted, 0},
		{models.FieldRevenue, 0.3}, // 1000 × 0.001 = 1, capped at 0.3
		{models.FieldHandleSeconds, -0.06},
		{models.FieldChurned, -0.8},
	}
	for _, tc := range cases {
		if got := models.TermTarget(tc.f, &o, &r); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: %g, want %g", tc.f, got, tc.want)
		}
	}
	o.Missing = 1 << models.FieldResolved
	if got := models.TermTarget(models.FieldResolved, &o, &r); got != 0 {
		t.Errorf("a field the part does not hold: %g, want 0", got)
	}
	// under the default definition the terms of a complete outcome add
	// up to its reward (when the clip does not bind)
	o.Missing = 0
	sum := 0.0
	for f := range models.OutcomeField(models.NumOutcomeFields) {
		sum += models.TermTarget(f, &o, &r)
	}
	o.Churned = false
	sum += 0.8
	if got := r.Reward(&o); math.Abs(got-sum) > 1e-12 {
		t.Errorf("terms sum to %g, reward %g", sum, got)
	}
}

// TestTermModelRoundTrip: a term model survives its snapshot, terms and
// term weights included; the snapshot and the learner's state stay far
// below the topics' message limit (their sizes are logged).
func TestTermModelRoundTrip(t *testing.T) {
	sch := schema(t)
	l, err := models.NewTermLearner(defaultModel(t), models.LearnerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r := defaultReward(t)
	rng := rand.New(rand.NewPCG(3, 4))
	csat := 4.0
	full := models.Outcome{Resolved: true, CSAT: &csat, Revenue: 20, HandleSeconds: 200, Escalated: true, Recontact7d: true}
	// every feature touched in every term: the largest snapshot
	for i := range 20_000 {
		x := []features.Entry{{Index: int32(i % sch.Len()), Value: rng.Float64()}, {Index: int32(rng.IntN(sch.Len())), Value: 1}}
		l.Learn(features.Treatment(i%3), x, 0.5, models.AllOutcomeFields, &full, &r, true, 0)
	}
	changed := r
	changed.Weights.Churned = -2
	m := l.Model(7, &changed)
	snap := models.NewSnapshot(m, 1, time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC))
	b, err := snap.Encode()
	if err != nil {
		t.Fatal(err)
	}
	// the same stream learned by one model of the scalar reward
	single, _ := models.NewOnlineLearner(defaultModel(t), models.LearnerConfig{})
	rng = rand.New(rand.NewPCG(3, 4))
	for i := range 20_000 {
		x := []features.Entry{{Index: int32(i % sch.Len()), Value: rng.Float64()}, {Index: int32(rng.IntN(sch.Len())), Value: 1}}
		single.Update(features.Treatment(i%3), x, 0.5, r.Reward(&full))
	}
	one := models.NewSnapshot(single.Model(7), 1, snap.CreatedAt)
	ob, _ := one.Encode()
	t.Logf("snapshot: %d bytes with %d terms, every feature learned (one model of the scalar reward: %d bytes; schema: %d features)", len(b), models.NumTerms, len(ob), sch.Len())
	if len(b) > 512<<10 {
		t.Fatalf("snapshot %d bytes: not well under the 1 MiB message limit", len(b))
	}
	back, err := models.DecodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	bm, err := back.Bind(sch)
	if err != nil {
		t.Fatal(err)
	}
	if !bm.HasTerms() || bm.TermWeights() != m.TermWeights() {
		t.Fatalf("terms lost: %v %v", bm.HasTerms(), bm.TermWeights())
	}
	x := []features.Entry{{Index: 2, Value: 1}, {Index: 5, Value: 0.3}}
	for _, tr := range features.Treatments() {
		if got, want := bm.Score(tr, x), m.Score(tr, x); math.Abs(got-want) > 1e-12 {
			t.Errorf("%s: %g after the round trip, %g before", tr, got, want)
		}
	}
	// resuming from the checkpointed state learns exactly as going on
	state := l.State()
	sb, err := json.Marshal(state, models.WireEncode)
	if err != nil {
		t.Fatal(err)
	}
	// the checkpoint holds it beside the snapshot: accumulators, and the
	// last weights of which the snapshot's are the average
	t.Logf("learner state: %d bytes (the last weights: %d terms)", len(sb), len(state.Iterate))
	if len(state.Iterate) == 0 || len(sb) > 512<<10 {
		t.Fatalf("learner state %d bytes with %d terms of last weights: want them, well under the 1 MiB message limit", len(sb), len(state.Iterate))
	}
	var st models.LearnerState
	if err := json.Unmarshal(sb, &st, models.WireDecode); err != nil {
		t.Fatal(err)
	}
	resumed, err := models.RestoreTermLearner(bm, st, models.LearnerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	step := func(l *models.TermLearner) *models.Model {
		l.Learn(features.SelfService, x, 0.25, models.AllOutcomeFields, &full, &r, false, 0)
		return l.Model(8, &changed)
	}
	a, c := step(l), step(resumed)
	for _, tr := range features.Treatments() {
		if got, want := c.Score(tr, x), a.Score(tr, x); math.Abs(got-want) > 1e-12 {
			t.Errorf("%s: resumed %g, uninterrupted %g", tr, got, want)
		}
	}
}
