package stats

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

// Reference quantiles of Student's t, computed with mpmath at 40 digits
// (inverting the regularized incomplete beta function).
var tQuantileReference = []struct{ p, nu, x float64 }{
	{0.975, 8, 2.3060041352041661},
	{0.975, 57.3, 2.0022382682313361},
	{0.975, 6862.4, 1.9603097356742968},
	{0.975, 1e6, 1.9599663568141067},
	{0.025, 200, -1.9718962236339094},
	{0.999999999, 200, 6.2863474321141554},
	{1e-9, 30, -8.4458627962742428},
	{0.6, 3000, 0.25336957166604225},
}

func TestTQuantile(t *testing.T) {
	for _, c := range tQuantileReference {
		if got := tQuantile(c.p, c.nu); math.Abs(got-c.x) > 1e-9*math.Abs(c.x) {
			t.Errorf("p %g nu %g: %.17g, want %.17g", c.p, c.nu, got, c.x)
		}
	}
	for _, nu := range []float64{1, 3.7, 8, 9.5, 20, 57.3, 200, 3000} {
		dist := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: nu}
		for _, p := range []float64{1e-6, 0.001, 0.025, 0.1, 0.5, 0.6, 0.9, 0.95, 0.975, 0.995, 0.9999} {
			got, want := tQuantile(p, nu), dist.Quantile(p)
			if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
				t.Errorf("nu %g p %g: %.15g, gonum %.15g", nu, p, got, want)
			}
		}
	}
}

func BenchmarkTQuantile(b *testing.B) {
	for b.Loop() {
		_ = tQuantile(0.975, 6862.4)
	}
}
