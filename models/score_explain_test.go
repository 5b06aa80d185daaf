package models_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"situ/features"
	"situ/internal/situtest"
	"situ/models"
)

// TestScoreExplainAllIsScoreAndExplain checks the one-pass
// ScoreExplainAll against Score and Explain on random models and vectors of the default
// and the interactions schema: the same score to the bit, the same
// contributions in the same order. Weights and values come from small
// sets as well as from the continuum, so that equal contributions (the
// order of ties), zero ones and missing indicators are frequent.
func TestScoreExplainAllIsScoreAndExplain(t *testing.T) {
	inter := situtest.TestdataSchema(t, "interactions.yaml")
	for _, tc := range []struct {
		name   string
		schema *features.Schema
	}{{"default schema", schema(t)}, {"interactions schema", inter}} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tc.schema.Len())))
			pick := func(set []float64) float64 {
				if i := rng.IntN(len(set) + 1); i < len(set) {
					return set[i]
				}
				return rng.NormFloat64()
			}
			base, err := models.DefaultModel(tc.schema)
			if err != nil {
				t.Fatal(err)
			}
			for round := range 200 {
				b := models.NewBuilder(base)
				for _, tr := range features.Treatments() {
					b.SetBias(tr, rng.NormFloat64())
					for i := range tc.schema.Len() {
						b.SetWeight(tr, int32(i), pick([]float64{0, 0.25, -0.25, 0.5, -0.5}))
					}
				}
				m := b.Build(int64(round))
				x := make([]features.Entry, rng.IntN(80))
				for i := range x {
					x[i] = features.Entry{Index: int32(rng.IntN(tc.schema.Len())), Value: pick([]float64{1, 2, -1, 0.5})}
				}
				for k := 0; k <= 8; k++ {
					var (
						scores [features.NumTreatments]float64
						top    [features.NumTreatments][]models.Contribution
						n      [features.NumTreatments]int
					)
					for _, tr := range features.Treatments() {
						// a treatment explained to k, one not explained
						if (int(tr)+k+round)%4 != 0 {
							top[tr] = make([]models.Contribution, k)
						}
					}
					m.ScoreExplainAll(x, &scores, &top, &n)
					for _, tr := range features.Treatments() {
						if s := m.Score(tr, x); math.Float64bits(scores[tr]) != math.Float64bits(s) {
							t.Fatalf("round %d, %s: score %v, Score says %v", round, tr, scores[tr], s)
						}
						want := make([]models.Contribution, len(top[tr]))
						wantN := 0
						if len(want) > 0 {
							wantN = m.Explain(tr, x, want)
						}
						if n[tr] != wantN {
							t.Fatalf("round %d, %s, top %d: %d contributions, Explain gives %d", round, tr, len(want), n[tr], wantN)
						}
						for i := range wantN {
							if top[tr][i] != want[i] {
								t.Fatalf("round %d, %s, top %d: contribution %d is %+v, Explain gives %+v", round, tr, len(want), i, top[tr][i], want[i])
							}
						}
					}
				}
			}
		})
	}
}

// BenchmarkScoreExplainAll scores and explains (top 3) the contract
// example's feature vector with the interactions schema and the default
// model, as a decision does, against Score and Explain per treatment.
func BenchmarkScoreExplainAll(b *testing.B) {
	s := situtest.TestdataSchema(b, "interactions.yaml")
	m, err := models.DefaultModel(s)
	if err != nil {
		b.Fatal(err)
	}
	c := situtest.ContractContext()
	x, err := s.Extract(&c, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	var buf [features.NumTreatments][3]models.Contribution
	b.Run("one-pass", func(b *testing.B) {
		var (
			scores [features.NumTreatments]float64
			n      [features.NumTreatments]int
		)
		top := [features.NumTreatments][]models.Contribution{buf[0][:], buf[1][:], buf[2][:]}
		for b.Loop() {
			m.ScoreExplainAll(x, &scores, &top, &n)
		}
	})
	b.Run("per-treatment", func(b *testing.B) {
		for b.Loop() {
			for _, tr := range features.Treatments() {
				_ = m.Score(tr, x)
				_ = m.Explain(tr, x, buf[tr][:])
			}
		}
	})
}
