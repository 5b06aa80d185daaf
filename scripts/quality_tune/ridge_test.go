package main

import (
	"math"
	"os"
	"testing"

	"situ/features"
	"situ/models"
	"situ/simulation"
)

// TestRidgeLearner: with no data the model is the prior; with data the
// revenue term fits the revenue's linear function of a feature, and the
// window forgets what it learned before a change.
func TestRidgeLearner(t *testing.T) {
	schema, err := features.DefaultSchema()
	if err != nil {
		t.Fatal(err)
	}
	base, err := models.DefaultModel(schema)
	if err != nil {
		t.Fatal(err)
	}
	reward, err := models.DefaultReward()
	if err != nil {
		t.Fatal(err)
	}
	pop, err := simulation.NewPopulation(simulation.PopulationConfig{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	const n = 6000
	xs := make([][]features.Entry, n)
	for i := range xs {
		c := pop.Contact(int64(i))
		if xs[i], err = schema.Extract(&c, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	feat := xs[0][0].Index // a feature of the first contact
	value := func(x []features.Entry) float64 {
		for _, e := range x {
			if e.Index == feat {
				return e.Value
			}
		}
		return 0
	}
	tr := features.Treatments()[0]
	revenueOnly := models.AllOutcomeFields &^ (models.OutcomeFields(0).With(models.FieldRevenue))
	for _, tc := range []struct {
		name   string
		window float64
		// revenue of decision i with features x; want: the revenue term's
		// score at x after the n decisions, in revenue units
		revenue, want func(i int, x []features.Entry) float64
		// mean: compare the mean of the scores over the n decisions (a
		// least-squares fit with a bias predicts the targets' mean there),
		// not each score
		mean bool
	}{
		{"linear in one feature", 1e9,
			func(_ int, x []features.Entry) float64 { return 100 + 20*value(x) },
			func(_ int, x []features.Entry) float64 { return 100 + 20*value(x) }, false},
		{"a change, forgotten", 300,
			func(i int, _ []features.Entry) float64 { return map[bool]float64{true: 200, false: 50}[i < n/2] },
			func(int, []features.Entry) float64 { return 50 }, false},
		{"a change, never forgotten", 1e9,
			func(i int, _ []features.Entry) float64 { return map[bool]float64{true: 200, false: 50}[i < n/2] },
			func(int, []features.Entry) float64 { return 125 }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := newRidgeLearner(base, ridgeConfig{Window: tc.window, Ridge: 1e-3, SolveEvery: n})
			if err != nil {
				t.Fatal(err)
			}
			m, err := l.Model(1, &reward)
			if err != nil {
				t.Fatal(err)
			}
			want0 := base.WithReward(&reward)
			for _, x := range xs[:10] {
				if got, want := m.Score(tr, x), want0.Score(tr, x); math.Abs(got-want) > 1e-9 {
					t.Fatalf("before any data: score %g, want the prior's %g", got, want)
				}
			}
			for i, x := range xs {
				o := &models.Outcome{Revenue: tc.revenue(i, x), Missing: revenueOnly}
				l.Learn(tr, x, 1, o.Held(), o, &reward, true, 0)
			}
			if m, err = l.Model(2, &reward); err != nil {
				t.Fatal(err)
			}
			var terms [models.NumTerms]float64
			if tc.mean {
				sum := 0.0
				for _, x := range xs {
					m.Terms(tr, x, &terms)
					sum += terms[models.FieldRevenue] / 0.001
				}
				if got, want := sum/n, tc.want(n, nil); math.Abs(got-want) > 0.005*want {
					t.Errorf("mean revenue term %g, want %g", got, want)
				}
				return
			}
			for _, x := range xs[:20] {
				m.Terms(tr, x, &terms)
				got, want := terms[models.FieldRevenue]/0.001, tc.want(n, x)
				if math.Abs(got-want) > 0.01*want {
					t.Errorf("revenue term at %v: %g, want %g", x[:2], got, want)
				}
			}
		})
	}
}

// BenchmarkRidgeLearn: one decision's whole outcome learned, the solve
// (every 1,000 decisions, of the treatments learned) amortised over them
// ("solve"), or never solved ("update": the O(nnz²) update alone), for
// the default schema and the crossed one.
func BenchmarkRidgeLearn(b *testing.B) {
	for _, file := range []string{"", "../../features/testdata/thresholds.yaml"} {
		name := "default"
		if file != "" {
			name = "thresholds"
		}
		for _, k := range []int64{1000, math.MaxInt64} {
			sub := name + "/solve"
			if k == math.MaxInt64 {
				sub = name + "/update"
			}
			b.Run(sub, func(b *testing.B) {
				schema, err := features.DefaultSchema()
				if file != "" {
					var doc []byte
					if doc, err = os.ReadFile(file); err == nil {
						schema, err = features.ParseSchema(doc)
					}
				}
				if err != nil {
					b.Fatal(err)
				}
				base, err := models.DefaultModel(schema)
				if err != nil {
					b.Fatal(err)
				}
				reward, err := models.DefaultReward()
				if err != nil {
					b.Fatal(err)
				}
				pop, err := simulation.NewPopulation(simulation.PopulationConfig{Seed: 1})
				if err != nil {
					b.Fatal(err)
				}
				xs := make([][]features.Entry, 1000)
				nnz := 0
				for i := range xs {
					c := pop.Contact(int64(i))
					if xs[i], err = schema.Extract(&c, false, nil); err != nil {
						b.Fatal(err)
					}
					nnz += len(xs[i])
				}
				l, err := newRidgeLearner(base, ridgeConfig{SolveEvery: k})
				if err != nil {
					b.Fatal(err)
				}
				csat := 4.0
				o := &models.Outcome{Resolved: true, CSAT: &csat, Revenue: 30, HandleSeconds: 300}
				ts := features.Treatments()
				b.ResetTimer()
				for i := range b.N {
					l.Learn(ts[i%len(ts)], xs[i%len(xs)], 1, o.Held(), o, &reward, true, 0)
				}
				b.ReportMetric(float64(nnz)/float64(len(xs)), "nnz")
			})
		}
	}
}
