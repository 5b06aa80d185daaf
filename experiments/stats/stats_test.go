package stats

import (
	"errors"
	"math"
	"testing"
)

func TestSumsConventions(t *testing.T) {
	s := MeanSample([]float64{1, 2, 3, 4})
	if s.N != 4 || s.Mean != 2.5 || math.Abs(s.Var-5.0/3) > 1e-15 {
		t.Errorf("MeanSample = %+v, want n−1 variance 5/3", s)
	}
	p := ProportionSample(10, 3)
	if p.Mean != 0.3 || math.Abs(p.Var-0.21) > 1e-15 {
		t.Errorf("ProportionSample = %+v, want p(1−p) = 0.21 with no n−1", p)
	}
	var a, b Sums
	for _, x := range []float64{1, 2} {
		a.Observe(x)
	}
	for _, x := range []float64{3, 4} {
		b.Observe(x)
	}
	if got := a.Add(b).Sample(); got != s {
		t.Errorf("Add = %+v, want %+v", got, s)
	}
	if got := (Sums{N: 1, Sum: 3, SumSquares: 9}).Sample(); got.Var != 0 {
		t.Errorf("one unit: variance %g, want 0", got.Var)
	}
	if got := (Sums{}).Proportion(); got.Mean != 0 || got.Var != 0 {
		t.Errorf("no units: %+v", got)
	}
}

func TestTTestErrors(t *testing.T) {
	good := Sums{N: 100, Sum: 50, SumSquares: 40}.Sample()
	for name, c := range map[string]struct {
		a, b Sample
		cfg  Config
		err  error
	}{
		"zero variance a": {Sample{N: 100, Mean: 1}, good, Config{}, ErrZeroVariance},
		"one unit":        {Sample{N: 1, Mean: 1, Var: 1}, good, Config{}, ErrZeroVariance},
		// As in gbstats, the relative lift's variance is 0 first.
		"zero baseline":           {Sample{N: 100, Mean: 0, Var: 1}, good, Config{}, ErrZeroVariance},
		"zero baseline, absolute": {Sample{N: 100, Mean: 0, Var: 1}, good, Config{Difference: Absolute}, ErrBaselineZero},
		"alpha":                   {good, good, Config{Alpha: 1.5}, ErrAlpha},
		"tuning":                  {good, good, Config{Sequential: true, Tuning: -1}, ErrTuning},
	} {
		r, err := TTest(c.a, c.b, c.cfg)
		if !errors.Is(err, c.err) {
			t.Errorf("%s: error %v, want %v", name, err, c.err)
		}
		if r != (Result{PValue: 1}) {
			t.Errorf("%s: result %+v, want the uninformative default", name, r)
		}
	}
}

func TestTTestProperties(t *testing.T) {
	a := Sums{N: 1000, Sum: 700, SumSquares: 700}.Proportion()
	b := Sums{N: 1000, Sum: 700, SumSquares: 700}.Proportion()
	r, err := TTest(a, b, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Expected != 0 || r.PValue != 1 || !(r.CI[0] < 0 && r.CI[1] > 0) {
		t.Errorf("identical arms: %+v", r)
	}
	// A negative baseline keeps the sign of the lift: (b − a)/|a|.
	r, err = TTest(Sample{N: 50, Mean: -2, Var: 1}, Sample{N: 50, Mean: -1, Var: 1}, Config{})
	if err != nil || r.Expected != 0.5 {
		t.Errorf("negative baseline: %+v, %v", r, err)
	}
	// The sequential interval is wider than the fixed-horizon one.
	x := Sums{N: 3000, Sum: 1396.87, SumSquares: 52377.9767}.Sample()
	y := Sums{N: 3461, Sum: 2422.7, SumSquares: 134698.29}.Sample()
	fixed, _ := TTest(x, y, Config{})
	seq, _ := TTest(x, y, Config{Sequential: true})
	if !(seq.CI[1]-seq.CI[0] > fixed.CI[1]-fixed.CI[0]) || seq.PValue < fixed.PValue {
		t.Errorf("sequential %+v not more conservative than fixed %+v", seq, fixed)
	}
}

func TestCUPEDWithoutCovariateVarianceIsTTest(t *testing.T) {
	a := CovariateSums{N: 100, Sum: 270, SumSquares: 848.79, CovariateSum: 100, CovariateSumSquares: 100, SumProduct: 270}
	b := CovariateSums{N: 120, Sum: 300, SumSquares: 869, CovariateSum: 120, CovariateSumSquares: 120, SumProduct: 300}
	got, err := CUPEDTTest(a, b, Config{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := TTest(Sums{N: 100, Sum: 270, SumSquares: 848.79}.Sample(), Sums{N: 120, Sum: 300, SumSquares: 869}.Sample(), Config{})
	if got != want {
		t.Errorf("constant covariate: %+v, want the plain test %+v", got, want)
	}
}

func TestMultipleTestingEdges(t *testing.T) {
	if got := HolmBonferroni(nil); len(got) != 0 {
		t.Errorf("Holm of nothing: %v", got)
	}
	if got := BenjaminiHochberg([]float64{0.02}); got[0] != 0.02 {
		t.Errorf("BH of one: %v", got)
	}
	in := []float64{0.04, 0.01}
	HolmBonferroni(in)
	BenjaminiHochberg(in)
	if in[0] != 0.04 || in[1] != 0.01 {
		t.Errorf("input modified: %v", in)
	}
}

func TestSRMEdges(t *testing.T) {
	if _, err := SRM([]int{1, 2}, []float64{1}); !errors.Is(err, ErrSRMInput) {
		t.Errorf("length mismatch: %v", err)
	}
	if r, err := SRM([]int{0, 0}, []float64{0.5, 0.5}); err != nil || r.PValue != 1 {
		t.Errorf("no units: %+v, %v", r, err)
	}
	// A strong imbalance is not flagged before every arm has its units.
	if r, _ := SRM([]int{7, 10000}, []float64{0.5, 0.5}); r.Mismatch || r.PValue >= SRMThreshold {
		t.Errorf("small arm: %+v", r)
	}
	if r, _ := SRM([]int{1000, 1200}, []float64{0.5, 0.5}); !r.Mismatch {
		t.Errorf("1000 vs 1200 not flagged: %+v", r)
	}
	if r, _ := SRM([]int{500, 500}, []float64{1, 1}); r.Chi2 != 0 || r.PValue != 1 {
		t.Errorf("weights are normalised: %+v", r)
	}
}

func TestMeanCI(t *testing.T) {
	s := MeanSample([]float64{1, 2, 3, 4, 5})
	ci := MeanCI(s, 0)
	// t_{0.975, 4} = 2.776445105; se = sqrt(2.5/5).
	half := 2.776445105 * math.Sqrt(0.5)
	if math.Abs(ci[0]-(3-half)) > 1e-8 || math.Abs(ci[1]-(3+half)) > 1e-8 {
		t.Errorf("MeanCI = %v, want 3 ± %g", ci, half)
	}
	if ci := MeanCI(Sample{N: 1, Mean: 2}, 0); ci != [2]float64{2, 2} {
		t.Errorf("one unit: %v", ci)
	}
}
