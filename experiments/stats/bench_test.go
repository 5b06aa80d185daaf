package stats

import "testing"

// BenchmarkResults3Arms8Metrics computes what an experiment's results need
// from sums: 3 arms × 8 metrics (4 means, 4 proportions), each treatment
// against the control with its interval and p-value, the arms' mean
// intervals, Holm-adjusted p-values over the 16 comparisons and the SRM.
func BenchmarkResults3Arms8Metrics(b *testing.B) {
	const arms, metrics = 3, 8
	var sums [arms][metrics]Sums
	counts := make([]int, arms)
	for a := range arms {
		n := 3000 + 37*a
		counts[a] = n
		for m := range metrics {
			mean := 0.3 + 0.01*float64(a) + 0.05*float64(m)
			sums[a][m] = Sums{N: n, Sum: mean * float64(n), SumSquares: (mean*mean + 0.2) * float64(n)}
		}
	}
	weights := []float64{0.4, 0.3, 0.3}
	pvals := make([]float64, (arms-1)*metrics)
	b.ReportAllocs()
	for b.Loop() {
		k := 0
		for m := range metrics {
			var samples [arms]Sample
			for a := range arms {
				if m%2 == 0 {
					samples[a] = sums[a][m].Sample()
				} else {
					samples[a] = sums[a][m].Proportion()
				}
				_ = MeanCI(samples[a], 0)
			}
			for a := 1; a < arms; a++ {
				r, err := TTest(samples[0], samples[a], Config{})
				if err != nil {
					b.Fatal(err)
				}
				pvals[k] = r.PValue
				k++
			}
		}
		_ = HolmBonferroni(pvals)
		if _, err := SRM(counts, weights); err != nil {
			b.Fatal(err)
		}
	}
}
