package experiments_test

import (
	"fmt"
	"math"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"

	"situ/experiments"
	"situ/experiments/stats"
	"situ/features"
)

// units is the number of customer ids the statistical tests assign.
const units = 100_000

func unitID(i int) string { return fmt.Sprintf("cust-%06d", i) }

// running is the running experiment of d, its defaults filled in.
func running(d experiments.Definition) experiments.Experiment {
	d.Normalize()
	return experiments.Experiment{Definition: d, State: experiments.StateRunning}
}

// def is an experiment named id with one arm per weight (arm-0 the
// control, all learned).
func def(id string, weights ...float64) experiments.Definition {
	d := experiments.Definition{ID: id}
	for i, w := range weights {
		d.Arms = append(d.Arms, experiments.Arm{Name: fmt.Sprintf("arm-%d", i), Strategy: experiments.NameLearned, Weight: w})
	}
	return d
}

func newAssigner(t *testing.T, exps ...experiments.Experiment) *experiments.Assigner {
	t.Helper()
	a, err := experiments.NewAssigner(exps)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// contextOf is a chat request of customer id.
func contextOf(id string) *features.Context {
	return &features.Context{Customer: features.Customer{ID: id, LifetimeValue: 3000, Tier: "gold"}, Intent: features.Intent{Name: "order_status"}, Channel: "chat"}
}

// assignAll assigns the first n units and returns each one's arm index
// (-1: in none) and the experiment of each.
func assignAll(a *experiments.Assigner, n int) (arms []int, exps []string) {
	arms, exps = make([]int, n), make([]string, n)
	for i := range n {
		got, ok := a.Assign(contextOf(unitID(i)), false)
		arms[i], exps[i] = -1, ""
		if ok {
			arms[i], exps[i] = got.ArmIndex, got.Experiment
		}
	}
	return arms, exps
}

// TestArmsFollowTheirWeights: over 100,000 ids the arms' counts pass the
// chi-square test against the weights (the SRM check), each share is
// within a point of its weight, and assignment is sticky: a new assigner
// of the same definition gives every id the same arm.
func TestArmsFollowTheirWeights(t *testing.T) {
	cases := []struct {
		name    string
		weights []float64
	}{
		{"two equal", []float64{0.5, 0.5}},
		{"the contract example", []float64{0.4, 0.3, 0.3}},
		{"four unequal", []float64{0.1, 0.2, 0.3, 0.4}},
		{"eight", []float64{0.125, 0.125, 0.125, 0.125, 0.125, 0.125, 0.125, 0.125}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := running(def("weights", tc.weights...))
			arms, _ := assignAll(newAssigner(t, e), units)
			again, _ := assignAll(newAssigner(t, e), units)
			counts := make([]int, len(tc.weights))
			for i, a := range arms {
				if a < 0 {
					t.Fatalf("%s is in no arm at coverage 1", unitID(i))
				}
				if again[i] != a {
					t.Fatalf("%s is in arm %d, then %d", unitID(i), a, again[i])
				}
				counts[a]++
			}
			srm, err := stats.SRM(counts, tc.weights)
			if err != nil {
				t.Fatal(err)
			}
			if srm.Mismatch || srm.PValue < 0.001 {
				t.Errorf("counts %v against weights %v: chi² %.2f, p %.4g", counts, tc.weights, srm.Chi2, srm.PValue)
			}
			for i, w := range tc.weights {
				if share := float64(counts[i]) / units; math.Abs(share-w) > 0.01 {
					t.Errorf("arm %d has %.4f of the units, weight %g", i, share, w)
				}
			}
		})
	}
}

// TestConcurrentExperimentsAreIndependent: two experiments of different
// seeds, each assigned on its own, split the same 100,000 ids
// independently: the contingency table of their arms passes the
// chi-square test of independence.
func TestConcurrentExperimentsAreIndependent(t *testing.T) {
	cases := []struct {
		name  string
		a, b  experiments.Definition
		seedA string
	}{
		{"two by two", def("first", 0.5, 0.5), def("second", 0.5, 0.5), ""},
		{"three by two", def("philosophy", 0.4, 0.3, 0.3), def("tone", 0.5, 0.5), ""},
		{"same id, other seed", def("same", 0.5, 0.5), def("same", 0.5, 0.5), "another-seed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.a.Seed = tc.seedA
			x, _ := assignAll(newAssigner(t, running(tc.a)), units)
			y, _ := assignAll(newAssigner(t, running(tc.b)), units)
			table := make([][]float64, len(tc.a.Arms))
			for i := range table {
				table[i] = make([]float64, len(tc.b.Arms))
			}
			for i := range units {
				table[x[i]][y[i]]++
			}
			chi2, df := contingencyChi2(table)
			p := distuv.ChiSquared{K: float64(df)}.Survival(chi2)
			if p < 0.001 {
				t.Errorf("arms are not independent: table %v, chi² %.2f (df %d), p %.4g", table, chi2, df, p)
			}
		})
	}
}

// contingencyChi2 is Pearson's chi-square statistic of independence of a
// table of counts, and its degrees of freedom.
func contingencyChi2(table [][]float64) (float64, int) {
	rows, cols := make([]float64, len(table)), make([]float64, len(table[0]))
	total := 0.0
	for i, row := range table {
		for j, n := range row {
			rows[i] += n
			cols[j] += n
			total += n
		}
	}
	chi2 := 0.0
	for i, row := range table {
		for j, n := range row {
			want := rows[i] * cols[j] / total
			chi2 += (n - want) * (n - want) / want
		}
	}
	return chi2, (len(rows) - 1) * (len(cols) - 1)
}

// TestNamespaceExcludes: experiments in disjoint ranges of one namespace
// never share a unit, each takes its range's share of the units, and in
// one assigner the second takes the units the first's range leaves.
func TestNamespaceExcludes(t *testing.T) {
	in := func(id string, lo, hi float64) experiments.Experiment {
		d := def(id, 0.5, 0.5)
		d.Namespace = &experiments.NamespaceSpec{ID: "checkout", Range: [2]float64{lo, hi}}
		return running(d)
	}
	low, high := in("low", 0, 0.3), in("high", 0.3, 1)
	x, _ := assignAll(newAssigner(t, low), units)
	y, _ := assignAll(newAssigner(t, high), units)
	_, both := assignAll(newAssigner(t, low, high), units)
	var nLow, nHigh int
	for i := range units {
		switch {
		case x[i] >= 0 && y[i] >= 0:
			t.Fatalf("%s is in both experiments of namespace checkout", unitID(i))
		case x[i] < 0 && y[i] < 0:
			t.Fatalf("%s is in neither, though the ranges cover the namespace", unitID(i))
		case x[i] >= 0:
			nLow++
			if both[i] != "low" {
				t.Fatalf("%s: in %q with both, want low", unitID(i), both[i])
			}
		default:
			nHigh++
			if both[i] != "high" {
				t.Fatalf("%s: in %q with both, want high", unitID(i), both[i])
			}
		}
	}
	if share := float64(nLow) / units; math.Abs(share-0.3) > 0.01 {
		t.Errorf("low takes %.4f of the units, its range 0.3", share)
	}
	if share := float64(nHigh) / units; math.Abs(share-0.7) > 0.01 {
		t.Errorf("high takes %.4f of the units, its range 0.7", share)
	}
}

// TestCoverageIsHonoured: an experiment takes its coverage's share of the
// units, split between the arms by their weights.
func TestCoverageIsHonoured(t *testing.T) {
	for _, coverage := range []float64{0.05, 0.3, 0.5, 0.9, 1} {
		t.Run(fmt.Sprint(coverage), func(t *testing.T) {
			d := def("covered", 0.6, 0.4)
			d.Coverage = coverage
			arms, _ := assignAll(newAssigner(t, running(d)), units)
			counts := make([]int, 2)
			in := 0
			for _, a := range arms {
				if a >= 0 {
					counts[a]++
					in++
				}
			}
			if share := float64(in) / units; math.Abs(share-coverage) > 0.01 {
				t.Errorf("%.4f of the units are in, coverage %g", share, coverage)
			}
			if srm, _ := stats.SRM(counts, []float64{0.6, 0.4}); srm.PValue < 0.001 {
				t.Errorf("arms %v of the units in do not follow the weights 0.6, 0.4: p %.4g", counts, srm.PValue)
			}
		})
	}
}

// TestTargetingIsHonoured: only requests meeting the targeting condition
// are in, as the service policy would see them (uniform mode hides the
// customer's value).
func TestTargetingIsHonoured(t *testing.T) {
	cases := []struct {
		name      string
		targeting string
		edit      func(c *features.Context)
		uniform   bool
		in        bool
	}{
		{"chat targeted, chat", "channel == 'chat'", func(*features.Context) {}, false, true},
		{"chat targeted, phone", "channel == 'chat'", func(c *features.Context) { c.Channel = "phone" }, false, false},
		{"gold only, gold", "customer.tier == 'gold'", func(*features.Context) {}, false, true},
		{"gold only, silver", "customer.tier == 'gold'", func(c *features.Context) { c.Customer.Tier = "silver" }, false, false},
		{"by value, value seen", "customer.lifetime_value > 1000", func(*features.Context) {}, false, true},
		{"by value, uniform mode hides it", "customer.lifetime_value > 1000", func(*features.Context) {}, true, false},
		{"complaints", "friction.open_complaint && intent.name == 'order_status'", func(c *features.Context) { c.Friction.OpenComplaint = true }, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := def("targeted", 0.5, 0.5)
			d.Targeting = tc.targeting
			a := newAssigner(t, running(d))
			for i := range 1000 {
				c := contextOf(unitID(i))
				tc.edit(c)
				if _, ok := a.Assign(c, tc.uniform); ok != tc.in {
					t.Fatalf("%s in: %v, want %v", unitID(i), ok, tc.in)
				}
			}
		})
	}
}

// TestEarlierExperimentTakesPrecedence: a unit two experiments would both
// take is in the earlier one only, in the arm the earlier alone gives it;
// the later takes only units the earlier leaves.
func TestEarlierExperimentTakesPrecedence(t *testing.T) {
	first := def("first", 0.5, 0.5)
	first.Coverage = 0.4
	second := def("second", 0.2, 0.8)
	alone, _ := assignAll(newAssigner(t, running(first)), units)
	secondAlone, _ := assignAll(newAssigner(t, running(second)), units)
	arms, exps := assignAll(newAssigner(t, running(first), running(second)), units)
	var nFirst, nSecond int
	for i := range units {
		switch {
		case alone[i] >= 0:
			nFirst++
			if exps[i] != "first" || arms[i] != alone[i] {
				t.Fatalf("%s: %q arm %d, want first arm %d", unitID(i), exps[i], arms[i], alone[i])
			}
		default:
			nSecond++
			if exps[i] != "second" || arms[i] != secondAlone[i] {
				t.Fatalf("%s: %q arm %d, want second arm %d", unitID(i), exps[i], arms[i], secondAlone[i])
			}
		}
	}
	if nFirst == 0 || nSecond == 0 {
		t.Errorf("first %d, second %d units: both should take some", nFirst, nSecond)
	}
}

// TestWhoIsInNone: stopped experiments assign nothing, and a request
// without a customer id is in no experiment.
func TestWhoIsInNone(t *testing.T) {
	stopped := running(def("stopped", 0.5, 0.5))
	stopped.State, stopped.Stop = experiments.StateStopped, &experiments.Stop{By: "ana", Reason: "done"}
	cases := []struct {
		name string
		exps []experiments.Experiment
		id   string
		len  int
	}{
		{"a stopped experiment", []experiments.Experiment{stopped}, "cust-1", 0},
		{"no experiment", nil, "cust-1", 0},
		{"no customer id", []experiments.Experiment{running(def("everyone", 0.5, 0.5))}, "", 1},
		{"stopped before a running one, no customer id", []experiments.Experiment{stopped, running(def("everyone", 0.5, 0.5))}, "", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newAssigner(t, tc.exps...)
			if a.Len() != tc.len {
				t.Errorf("%d running experiments, want %d", a.Len(), tc.len)
			}
			for i := range 1000 {
				id := tc.id
				if id != "" {
					id = unitID(i)
				}
				if got, ok := a.Assign(contextOf(id), false); ok {
					t.Fatalf("%q assigned to %+v", id, got)
				}
			}
		})
	}
	var none *experiments.Assigner
	if _, ok := none.Assign(contextOf("cust-1"), false); ok || none.Len() != 0 {
		t.Error("a nil assigner assigns")
	}
}
