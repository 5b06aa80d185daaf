package models_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	json "github.com/go-json-experiment/json"

	"situ/features"
	"situ/models"
)

// throughTheWire is what a restore reads of a checkpoint: snap encoded and
// decoded, bound to sch, and state through its JSON.
func throughTheWire(t testing.TB, snap models.Snapshot, state models.LearnerState, sch *features.Schema) (*models.Model, models.LearnerState) {
	t.Helper()
	b, err := snap.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := models.DecodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	m, err := back.Bind(sch)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := json.Marshal(state, models.WireEncode)
	if err != nil {
		t.Fatal(err)
	}
	var st models.LearnerState
	if err := json.Unmarshal(sb, &st, models.WireDecode); err != nil {
		t.Fatal(err)
	}
	return m, st
}

func zeroModel(t testing.TB) *models.Model {
	t.Helper()
	m, err := models.Bind(models.Spec{Name: "m", SchemaVersion: 1}, schema(t))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestLearnerRecoversTrueWeights: rewards come from a known linear model
// per treatment plus noise, treatments are chosen by a skewed logging
// policy; the learner recovers each treatment's weights.
func TestLearnerRecoversTrueWeights(t *testing.T) {
	s := schema(t)
	l, err := models.NewOnlineLearner(zeroModel(t), models.LearnerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	idx := func(n string) int32 { i, _ := s.Index(n); return i }
	feats := []int32{idx("friction.repeat_contacts_7d"), idx("channel=app"), idx("intent=complaint")}
	truth := [3][4]float64{ // bias, then feats
		{0.3, 0.1, -0.2, 0.4},
		{0.1, -0.15, 0.05, -0.5},
		{0.2, -0.1, 0.3, -0.3},
	}
	logging := [3]float64{0.6, 0.3, 0.1}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 200000; n++ {
		x := []features.Entry{{Index: feats[0], Value: float64(rng.IntN(4))}}
		if rng.Float64() < 0.5 {
			x = append(x, features.Entry{Index: feats[1], Value: 1})
		}
		if rng.Float64() < 0.3 {
			x = append(x, features.Entry{Index: feats[2], Value: 1})
		}
		u, tr := rng.Float64(), features.SelfService
		switch {
		case u < logging[0]:
			tr = features.FastResolution
		case u < logging[0]+logging[1]:
			tr = features.PamperUpsell
		}
		r := truth[tr][0]
		for _, e := range x {
			for j, f := range feats {
				if f == e.Index {
					r += truth[tr][j+1] * e.Value
				}
			}
		}
		l.Update(tr, x, logging[tr], r+rng.NormFloat64()*0.1)
	}
	m := l.Model(2)
	for tr := features.Treatment(0); tr < 3; tr++ {
		if got := m.Bias(tr); math.Abs(got-truth[tr][0]) > 0.03 {
			t.Errorf("%s bias %.3f, want %.3f", tr, got, truth[tr][0])
		}
		for j, f := range feats {
			if got := m.Weight(tr, f); math.Abs(got-truth[tr][j+1]) > 0.03 {
				t.Errorf("%s %s = %.3f, want %.3f", tr, s.Name(f), got, truth[tr][j+1])
			}
		}
	}
	if m.Updates() != 200000 || m.Version() != 2 {
		t.Errorf("updates %d version %d", m.Updates(), m.Version())
	}
}

func TestPinnedWeightsDoNotMove(t *testing.T) {
	l, _ := models.NewOnlineLearner(zeroModel(t), models.LearnerConfig{})
	if err := l.Pin(features.SelfService, "channel=app", 0.7); err != nil {
		t.Fatal(err)
	}
	if err := l.Pin(features.SelfService, "shoe_size", 1); err == nil {
		t.Error("pinning an unknown feature must fail")
	}
	i, _ := l.Schema().Index("channel=app")
	j, _ := l.Schema().Index("channel=web")
	for n := 0; n < 1000; n++ {
		l.Update(features.SelfService, []features.Entry{{Index: i, Value: 1}, {Index: j, Value: 1}}, 0.5, -1)
	}
	m := l.Model(2)
	if m.Weight(features.SelfService, i) != 0.7 {
		t.Errorf("pinned weight moved to %g", m.Weight(features.SelfService, i))
	}
	if m.Weight(features.SelfService, j) >= 0 {
		t.Errorf("unpinned weight did not learn: %g", m.Weight(features.SelfService, j))
	}
}

// TestRestoreResumesExactly: learning, snapshotting, restoring and going on
// gives bit-identical weights to learning without interruption.
func TestRestoreResumesExactly(t *testing.T) {
	s := schema(t)
	stream := func(seed uint64, n int) [][]features.Entry {
		rng := rand.New(rand.NewPCG(seed, 0))
		out := make([][]features.Entry, n)
		for k := range out {
			out[k] = []features.Entry{{Index: int32(rng.IntN(s.Len())), Value: rng.NormFloat64()}, {Index: int32(rng.IntN(s.Len())), Value: 1}}
		}
		return out
	}
	xs := stream(3, 5000)
	apply := func(l *models.OnlineLearner, from, to int) {
		for k := from; k < to; k++ {
			l.Update(features.Treatment(k%3), xs[k], 0.25+0.5*float64(k%2), math.Sin(float64(k)))
		}
	}
	whole, _ := models.NewOnlineLearner(zeroModel(t), models.LearnerConfig{})
	_ = whole.Pin(features.FastResolution, "channel=phone", 0.2)
	apply(whole, 0, len(xs))

	part, _ := models.NewOnlineLearner(zeroModel(t), models.LearnerConfig{})
	_ = part.Pin(features.FastResolution, "channel=phone", 0.2)
	apply(part, 0, 2345)
	snap := models.NewSnapshot(part.Model(7), 1, time.Unix(0, 0))
	m, state := throughTheWire(t, snap, part.State(), s)
	resumed, err := models.RestoreLearner(m, state, models.LearnerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	apply(resumed, 2345, len(xs))
	a, r := whole.Model(1), resumed.Model(1)
	for _, tr := range features.Treatments() {
		if a.Bias(tr) != r.Bias(tr) {
			t.Errorf("%s bias differs: %v vs %v", tr, a.Bias(tr), r.Bias(tr))
		}
		for i := 0; i < s.Len(); i++ {
			if a.Weight(tr, int32(i)) != r.Weight(tr, int32(i)) {
				t.Fatalf("%s weight %s differs: %v vs %v", tr, s.Name(int32(i)), a.Weight(tr, int32(i)), r.Weight(tr, int32(i)))
			}
		}
	}
	if resumed.Updates() != whole.Updates() {
		t.Errorf("updates %d vs %d", resumed.Updates(), whole.Updates())
	}
}

// TestSnapshotDecodesStrictly: a replica reads only the served model, in
// the current format, and nothing it does not know.
func TestSnapshotDecodesStrictly(t *testing.T) {
	s := schema(t)
	l, _ := models.NewOnlineLearner(zeroModel(t), models.LearnerConfig{})
	i, _ := s.Index("channel=app")
	l.Update(features.SelfService, []features.Entry{{Index: i, Value: 1}}, 0.5, 1)
	snap := models.NewSnapshot(l.Model(3), 1, time.Unix(0, 0))
	b, err := snap.Encode()
	if err != nil {
		t.Fatal(err)
	}
	served, err := models.DecodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	m, err := served.Bind(s)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version() != 3 || m.Weight(features.SelfService, i) != l.Model(3).Weight(features.SelfService, i) {
		t.Errorf("served model differs: version %d", m.Version())
	}
	again, _ := served.Encode()
	if string(again) != string(b) {
		t.Error("encoding is not deterministic")
	}
	withState := strings.Replace(string(b), `"format_version":2`, `"format_version":2,"learner":{"accumulators":{}}`, 1)
	cases := []struct {
		name  string
		value string
		want  string
	}{
		{"broken", "{broken", "decode snapshot"},
		{"learner state of the old format", withState, "unknown"},
		{"another format version", strings.Replace(string(b), `"format_version":2`, `"format_version":1`, 1), "format_version 1"},
		{"duplicate member", strings.Replace(string(b), `"format_version":2`, `"format_version":2,"format_version":2`, 1), "duplicate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := models.DecodeSnapshot([]byte(tc.value))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestSnapshotRejectsOtherSchema(t *testing.T) {
	snap := models.NewSnapshot(zeroModel(t), 1, time.Unix(0, 0))
	other, err := features.ParseSchema([]byte("version: 1\nnumeric: [{name: friction.transfers}]"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snap.Bind(other); err == nil {
		t.Fatal("binding a snapshot to another schema layout must fail")
	}
}

func TestLearnerConfigValidation(t *testing.T) {
	for _, cfg := range []models.LearnerConfig{
		{LearningRate: -1}, {L2: -0.1}, {MaxImportanceWeight: 0.5}, {InitialAccumulator: math.NaN()},
	} {
		if _, err := models.NewOnlineLearner(zeroModel(t), cfg); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
}

func TestDefaultReward(t *testing.T) {
	def, err := models.DefaultReward()
	if err != nil {
		t.Fatal(err)
	}
	csat := func(v float64) *float64 { return &v }
	cases := []struct {
		name string
		o    models.Outcome
		want float64
	}{
		{"nothing happened", models.Outcome{}, 0},
		{"resolved, happy, quick", models.Outcome{Resolved: true, CSAT: csat(5), HandleSeconds: 100}, 0.4 + 0.2 - 0.02},
		{"upsell with big revenue is capped", models.Outcome{Resolved: true, UpsellAccepted: true, Revenue: 5000, HandleSeconds: 600}, 0.4 + 0.3 + 0.3 - 0.12},
		{"everything bad is clipped", models.Outcome{CSAT: csat(1), Escalated: true, Recontact7d: true, Churned: true, HandleSeconds: 1200}, -1},
		{"everything good is clipped", models.Outcome{Resolved: true, CSAT: csat(5), UpsellAccepted: true, Revenue: 1000}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := def.Reward(&tc.o); math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("reward %g, want %g", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"version: 0\nclip: [-1, 1]", "version: 1\nclip: [1, -1]", "version: 1\nweights: {bonus: 1}\nclip: [-1, 1]"} {
		if _, err := models.ParseReward([]byte(bad)); err == nil {
			t.Errorf("reward definition %q accepted", bad)
		}
	}
}

func BenchmarkLearnerUpdate(b *testing.B) {
	s := schema(b)
	m, _ := models.DefaultModel(s)
	// a realistic vector: the contract example has 19 non-zero features
	x := make([]features.Entry, 19)
	for k := range x {
		x[k] = features.Entry{Index: int32(k * 7 % s.Len()), Value: 0.5}
	}
	b.Run("single", func(b *testing.B) {
		l, _ := models.NewOnlineLearner(m, models.LearnerConfig{})
		b.ReportAllocs()
		k := 0
		for b.Loop() {
			l.Update(features.Treatment(k%3), x, 0.5, 0.3)
			k++
		}
	})
	// situ serve's learner with a whole outcome: all nine terms learn
	b.Run("terms", func(b *testing.B) { benchTerms(b, m, x, models.LearnerConfig{}) })
	// the same, serving the last weights: the moving average's cost is the
	// difference
	b.Run("terms-last-weights", func(b *testing.B) { benchTerms(b, m, x, models.LearnerConfig{AverageUpdates: 1}) })
}

// benchTerms times situ serve's learner on whole outcomes.
func benchTerms(b *testing.B, m *models.Model, x []features.Entry, cfg models.LearnerConfig) {
	l, _ := models.NewTermLearner(m, cfg)
	r, _ := models.DefaultReward()
	csat := 4.0
	o := models.Outcome{Resolved: true, CSAT: &csat, HandleSeconds: 300}
	b.ReportAllocs()
	k := 0
	for b.Loop() {
		l.Learn(features.Treatment(k%3), x, 0.5, o.Held(), &o, &r, true, 0)
		k++
	}
}

// TestPinnedBiasDoesNotMove: a pinned bias stays at its value through
// updates and restores; unpinned, it learns again.
func TestPinnedBiasDoesNotMove(t *testing.T) {
	l, err := models.NewOnlineLearner(zeroModel(t), models.LearnerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tr := features.Treatment(0)
	if err := l.Pin(tr, models.BiasFeature, 0.25); err != nil {
		t.Fatal(err)
	}
	x := []features.Entry{{Index: 0, Value: 1}}
	for range 200 {
		l.Update(tr, x, 0.5, 1)
	}
	if got := l.Model(1).Bias(tr); got != 0.25 {
		t.Fatalf("pinned bias moved to %v", got)
	}
	restored, err := models.RestoreLearner(l.Model(1), l.State(), models.LearnerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	restored.Update(tr, x, 0.5, 1)
	if got := restored.Model(1).Bias(tr); got != 0.25 {
		t.Fatalf("pinned bias moved after a restore to %v", got)
	}
	restored.Unpin(tr, models.BiasFeature)
	restored.Update(tr, x, 0.5, 1)
	if got := restored.Model(1).Bias(tr); got == 0.25 {
		t.Fatal("unpinned bias did not learn")
	}
}

// TestLearnerFollowsAChange: a bias learned at 0.5 for 20,000 updates
// must move to a new reward of -0.5; how far it gets in 300 updates
// says whether the step size decayed to nothing.
func TestLearnerFollowsAChange(t *testing.T) {
	cases := []struct {
		name    string
		cfg     models.LearnerConfig
		minMove float64 // of the 1.0 it has to travel
		maxMove float64
	}{
		{"adagrad: the step decays with the updates", models.LearnerConfig{}, 0.2, 0.35},
		{"a floor keeps the step", models.LearnerConfig{MinStepRate: 0.002}, 0.4, 0.55},
		{"forgetting keeps the step", models.LearnerConfig{Forgetting: 0.999}, 0.6, 0.85},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := models.NewOnlineLearner(zeroModel(t), tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			for range 20000 {
				l.Update(features.FastResolution, nil, 1, 0.5+0.3*rng.NormFloat64())
			}
			before := l.Model(1).Bias(features.FastResolution)
			for range 300 {
				l.Update(features.FastResolution, nil, 1, -0.5+0.3*rng.NormFloat64())
			}
			moved := before - l.Model(2).Bias(features.FastResolution)
			if moved < tc.minMove || moved > tc.maxMove {
				t.Errorf("bias moved %.3f from %.3f, want %.2f … %.2f", moved, before, tc.minMove, tc.maxMove)
			}
		})
	}
}

func TestLearnerConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  models.LearnerConfig
		want string
	}{
		{"negative floor", models.LearnerConfig{MinStepRate: -1}, "min step rate"},
		{"floor above the learning rate", models.LearnerConfig{MinStepRate: 0.1}, "min step rate"},
		{"forgetting above 1", models.LearnerConfig{Forgetting: 1.5}, "forgetting"},
		{"negative forgetting", models.LearnerConfig{Forgetting: -0.5}, "forgetting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := models.NewOnlineLearner(zeroModel(t), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one about %s", err, tc.want)
			}
		})
	}
}

// TestSnapshotOfTheLayoutBeforeTheIndicators: a snapshot (or checkpoint)
// written for the default schema before it gained its missing indicators
// binds to it with every weight in place; a snapshot of another layout
// still does not.
func TestSnapshotOfTheLayoutBeforeTheIndicators(t *testing.T) {
	current, err := features.DefaultSchema()
	if err != nil {
		t.Fatal(err)
	}
	before, err := features.ParseSchema([]byte(strings.Replace(string(features.DefaultSchemaYAML()), "missing_indicators: true", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if before.Fingerprint() == current.Fingerprint() || before.Len() >= current.Len() {
		t.Fatal("the layout without indicators is the same layout")
	}
	reordered, err := features.ParseSchema([]byte("version: 1\nnumeric: [{name: friction.transfers}]\nmissing_indicators: true"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		schema *features.Schema
		ok     bool
	}{
		{"the layout before the indicators", before, true},
		{"the current layout", current, true},
		{"another layout", reordered, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := models.DefaultModel(tc.schema)
			if err != nil { // the default model does not fit another layout
				m, err = models.Bind(models.Spec{Name: "m", SchemaVersion: 1}, tc.schema)
			}
			if err != nil {
				t.Fatal(err)
			}
			snap := models.NewSnapshot(m, 1, time.Unix(0, 0))
			got, err := snap.Bind(current)
			if (err == nil) != tc.ok {
				t.Fatalf("bind: %v, want ok %v", err, tc.ok)
			}
			if err != nil {
				return
			}
			for _, tr := range features.Treatments() {
				for i := range tc.schema.Indicators() {
					if got.Weight(tr, i) != m.Weight(tr, i) || current.Name(i) != tc.schema.Name(i) {
						t.Fatalf("%s: feature %d: %s %g, was %s %g", tr, i, current.Name(i), got.Weight(tr, i), tc.schema.Name(i), m.Weight(tr, i))
					}
				}
			}
		})
	}
}
