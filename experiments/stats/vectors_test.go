package stats

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"situ/internal/shareddata"
)

// vectorsFile holds GrowthBook's statistics vectors, outside the
// repository: shared/data/growthbook/stats_vectors.json beside the
// repository root, that is ../../../shared/... from this package.
const vectorsFile = "shared/data/growthbook/stats_vectors.json"

// findVectors looks for vectorsFile beside the repository root and, for a
// git worktree kept in a folder of its own, beside each directory above it.
func findVectors() string {
	return shareddata.Find(filepath.Join("..", "..", ".."), "growthbook/stats_vectors.json")
}

type vectors struct {
	Welch           []testVector `json:"welch"`
	Sequential      []testVector `json:"sequential"`
	CUPED           []testVector `json:"cuped"`
	MultipleTesting []struct {
		Source   string        `json:"source"`
		Method   string        `json:"method"`
		PValues  []float64     `json:"p_values"`
		Adjusted []json.Number `json:"adjusted"`
	} `json:"multiple_testing"`
	SRM struct {
		Cases []struct {
			Counts  []int       `json:"counts"`
			Weights []float64   `json:"weights"`
			Chi2    json.Number `json:"chi2"`
			PValue  json.Number `json:"p_value"`
		} `json:"cases"`
	} `json:"srm"`
}

type vectorArm struct {
	N                   int     `json:"n"`
	Sum                 float64 `json:"sum"`
	SumSquares          float64 `json:"sum_squares"`
	CovariateSum        float64 `json:"covariate_sum"`
	CovariateSumSquares float64 `json:"covariate_sum_squares"`
	SumProduct          float64 `json:"sum_product"`
}

type testVector struct {
	Source     string        `json:"source"`
	Kind       string        `json:"kind"`
	Difference string        `json:"difference"`
	Alpha      float64       `json:"alpha"`
	Tuning     float64       `json:"tuning"`
	A          vectorArm     `json:"a"`
	B          vectorArm     `json:"b"`
	Expected   json.Number   `json:"expected"`
	CI         []json.Number `json:"ci"`
	CILow      json.Number   `json:"ci_low"`
	StdDev     json.Number   `json:"stddev"`
	PValue     json.Number   `json:"p_value"`
}

func loadVectors(t *testing.T) vectors {
	t.Helper()
	path := findVectors()
	if path == "" {
		t.Skipf("GrowthBook statistics vectors not found: no %s beside the repository or above it", vectorsFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v vectors
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// decimals is the number of decimals a JSON number is printed with,
// exponent included: 2.0079e-05 has 9.
func decimals(s string) int {
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, err := strconv.Atoi(s[i+1:])
		if err != nil {
			panic(err)
		}
		exp = e
	}
	d := 0
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		d = len(mant) - i - 1
	}
	return max(d-exp, 0)
}

func format(x float64, d int) string {
	s := strconv.FormatFloat(x, 'f', d, 64)
	if strings.Trim(s, "-0.") == "" {
		s = strings.TrimPrefix(s, "-")
	}
	return s
}

// check compares got with the printed number want, both rounded to the
// decimals want is printed with, or to minDecimals when that is more (the
// source rounded to minDecimals and the file dropped trailing zeros).
// It returns false when want is absent.
func check(t *testing.T, name string, got float64, want json.Number, minDecimals int) bool {
	t.Helper()
	if want == "" {
		return false
	}
	w, err := want.Float64()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	d := max(decimals(want.String()), minDecimals)
	if g, e := format(got, d), format(w, d); g != e {
		t.Errorf("%s = %s (%.12g), want %s (%d decimals)", name, g, got, e, d)
	}
	return true
}

// sourceDecimals is how the gbstats test files round: 9 decimals in
// test_gbstats.py, 5 elsewhere.
func sourceDecimals(source string) int {
	if strings.Contains(source, "test_gbstats.py") {
		return 9
	}
	return 5
}

func vectorConfig(t *testing.T, v testVector, sequential bool) Config {
	t.Helper()
	c := Config{Alpha: v.Alpha, Sequential: sequential, Tuning: v.Tuning}
	switch v.Difference {
	case "relative":
		c.Difference = Relative
	case "absolute":
		c.Difference = Absolute
	default:
		t.Fatalf("unknown difference %q", v.Difference)
	}
	return c
}

func vectorSample(t *testing.T, kind string, a vectorArm) Sample {
	t.Helper()
	s := Sums{N: a.N, Sum: a.Sum, SumSquares: a.SumSquares}
	switch {
	case kind == "mean":
		return s.Sample()
	case strings.HasPrefix(kind, "proportion"):
		return s.Proportion()
	}
	t.Fatalf("unknown kind %q", kind)
	return Sample{}
}

// checkResult compares every field a vector prints and returns how many.
func checkResult(t *testing.T, r Result, v testVector) int {
	t.Helper()
	dec := sourceDecimals(v.Source)
	n := 0
	for _, c := range []struct {
		name string
		got  float64
		want json.Number
	}{
		{"expected", r.Expected, v.Expected},
		{"stddev", r.StdDev, v.StdDev},
		{"p_value", r.PValue, v.PValue},
		{"ci_low", r.CI[0], v.CILow},
	} {
		if check(t, c.name, c.got, c.want, dec) {
			n++
		}
	}
	if len(v.CI) > 0 {
		if len(v.CI) != 2 {
			t.Fatalf("ci has %d bounds", len(v.CI))
		}
		check(t, "ci[0]", r.CI[0], v.CI[0], dec)
		check(t, "ci[1]", r.CI[1], v.CI[1], dec)
		n += 2
	}
	if n == 0 {
		t.Fatal("vector prints no value to compare")
	}
	return n
}

func vectorName(i int, v testVector) string {
	return fmt.Sprintf("%d_%s_%s", i, strings.Fields(v.Kind)[0], v.Difference)
}

func TestWelchVectors(t *testing.T) {
	vs := loadVectors(t)
	if len(vs.Welch) == 0 {
		t.Fatal("no welch vectors")
	}
	for i, v := range vs.Welch {
		t.Run(vectorName(i, v), func(t *testing.T) {
			r, err := TTest(vectorSample(t, v.Kind, v.A), vectorSample(t, v.Kind, v.B), vectorConfig(t, v, false))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d values compared", v.Source, checkResult(t, r, v))
		})
	}
}

func TestSequentialVectors(t *testing.T) {
	vs := loadVectors(t)
	if len(vs.Sequential) == 0 {
		t.Fatal("no sequential vectors")
	}
	for i, v := range vs.Sequential {
		t.Run(vectorName(i, v), func(t *testing.T) {
			if v.Tuning <= 0 {
				t.Fatal("sequential vector without tuning parameter")
			}
			r, err := TTest(vectorSample(t, v.Kind, v.A), vectorSample(t, v.Kind, v.B), vectorConfig(t, v, true))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d values compared", v.Source, checkResult(t, r, v))
		})
	}
}

func TestCUPEDVectors(t *testing.T) {
	vs := loadVectors(t)
	if len(vs.CUPED) == 0 {
		t.Fatal("no cuped vectors")
	}
	for i, v := range vs.CUPED {
		t.Run(vectorName(i, v), func(t *testing.T) {
			prop := strings.HasPrefix(v.Kind, "proportion")
			arm := func(a vectorArm) CovariateSums {
				return CovariateSums{
					N: a.N, Sum: a.Sum, SumSquares: a.SumSquares,
					CovariateSum: a.CovariateSum, CovariateSumSquares: a.CovariateSumSquares,
					SumProduct: a.SumProduct, Proportion: prop,
				}
			}
			r, err := CUPEDTTest(arm(v.A), arm(v.B), vectorConfig(t, v, false))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d values compared", v.Source, checkResult(t, r, v))
		})
	}
}

func TestMultipleTestingVectors(t *testing.T) {
	vs := loadVectors(t)
	if len(vs.MultipleTesting) == 0 {
		t.Fatal("no multiple_testing vectors")
	}
	for i, v := range vs.MultipleTesting {
		t.Run(fmt.Sprintf("%d_%s", i, v.Method), func(t *testing.T) {
			var got []float64
			switch v.Method {
			case "holm-bonferroni":
				got = HolmBonferroni(v.PValues)
			case "benjamini-hochberg":
				got = BenjaminiHochberg(v.PValues)
			default:
				t.Fatalf("unknown method %q", v.Method)
			}
			if len(got) != len(v.Adjusted) {
				t.Fatalf("%d adjusted p-values, want %d", len(got), len(v.Adjusted))
			}
			for j := range got {
				check(t, fmt.Sprintf("adjusted[%d]", j), got[j], v.Adjusted[j], 0)
			}
		})
	}
}

func TestSRMVectors(t *testing.T) {
	vs := loadVectors(t)
	if len(vs.SRM.Cases) == 0 {
		t.Fatal("no srm vectors")
	}
	for i, v := range vs.SRM.Cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			r, err := SRM(v.Counts, v.Weights)
			if err != nil {
				t.Fatal(err)
			}
			check(t, "chi2", r.Chi2, v.Chi2, 0)
			check(t, "p_value", r.PValue, v.PValue, 0)
			if want := math.IsNaN(r.PValue) || r.PValue < SRMThreshold; r.Mismatch != want {
				t.Errorf("mismatch = %v with p-value %g", r.Mismatch, r.PValue)
			}
		})
	}
}

type bayesianVector struct {
	Source      string        `json:"source"`
	Prior       string        `json:"prior"`
	Kind        string        `json:"kind"`
	Difference  string        `json:"difference"`
	A           vectorArm     `json:"a"`
	B           vectorArm     `json:"b"`
	Expected    json.Number   `json:"expected"`
	CI          []json.Number `json:"ci"`
	StdDev      json.Number   `json:"stddev"`
	ChanceToWin json.Number   `json:"chance_to_win"`
	Risk        []json.Number `json:"risk"`
}

// parsePrior reads a vector's prior: "flat (improper)" or "normal mean M
// variance V (proper)".
func parsePrior(t *testing.T, s string) Prior {
	t.Helper()
	if strings.HasPrefix(s, "flat") {
		return Prior{}
	}
	var p Prior
	if _, err := fmt.Sscanf(s, "normal mean %g variance %g (proper)", &p.Mean, &p.Variance); err != nil {
		t.Fatalf("prior %q: %v", s, err)
	}
	p.Proper = true
	return p
}

func TestBayesianVectors(t *testing.T) {
	path := findVectors()
	if path == "" {
		t.Skipf("GrowthBook statistics vectors not found: no %s beside the repository or above it", vectorsFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v struct {
		Bayesian []bayesianVector `json:"bayesian"`
	}
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	if len(v.Bayesian) == 0 {
		t.Fatal("no bayesian vectors")
	}
	for i, bv := range v.Bayesian {
		t.Run(fmt.Sprintf("%d-%s-%s", i, bv.Kind, bv.Prior), func(t *testing.T) {
			c := vectorConfig(t, testVector{Difference: bv.Difference}, false)
			r, err := BayesianTest(vectorSample(t, bv.Kind, bv.A), vectorSample(t, bv.Kind, bv.B), parsePrior(t, bv.Prior), c)
			if err != nil {
				t.Fatal(err)
			}
			dec := sourceDecimals(bv.Source)
			n := 0
			for _, c := range []struct {
				name string
				got  float64
				want json.Number
			}{
				{"expected", r.Expected, bv.Expected},
				{"stddev", r.StdDev, bv.StdDev},
				{"chance_to_win", r.ChanceToWin, bv.ChanceToWin},
			} {
				if check(t, c.name, c.got, c.want, dec) {
					n++
				}
			}
			if len(bv.CI) != 2 || len(bv.Risk) != 2 {
				t.Fatalf("vector has %d ci bounds and %d risks, want 2 and 2", len(bv.CI), len(bv.Risk))
			}
			check(t, "ci[0]", r.CI[0], bv.CI[0], dec)
			check(t, "ci[1]", r.CI[1], bv.CI[1], dec)
			check(t, "risk[0]", r.Risk[0], bv.Risk[0], dec)
			check(t, "risk[1]", r.Risk[1], bv.Risk[1], dec)
			if n != 3 {
				t.Fatalf("checked %d scalar fields, want 3", n)
			}
		})
	}
}
