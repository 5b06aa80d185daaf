package experiments

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"

	"situ/experiments/stats"
	"situ/models"
)

// simDecision is one decision of a simulated experiment and its outcome
// (nil: none arrived).
type simDecision struct {
	id           string
	arm          string
	unit         string
	tier         string
	firstContact bool
	time         time.Time
	outcome      *models.Outcome
}

// simArm sets an arm's outcome rates in a simulation.
type simArm struct {
	name     string
	weight   float64
	resolved float64 // P(resolved)
	handle   float64 // mean handle seconds
}

// simulate draws units split by the arms' weights, each with 1–4
// decisions at random times, most with an outcome.
func simulate(seed uint64, units int, arms []simArm) []simDecision {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	tiers := []string{"basic", "silver", "gold", "platinum", ""}
	start := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	var out []simDecision
	for u := range units {
		x, a := rng.Float64(), 0
		for acc := 0.0; a < len(arms)-1; a++ {
			if acc += arms[a].weight; x < acc {
				break
			}
		}
		arm := arms[a]
		for k := range 1 + rng.IntN(4) {
			d := simDecision{
				id: fmt.Sprintf("d-%d-%d", u, k), arm: arm.name, unit: fmt.Sprintf("u-%06d", u),
				tier: tiers[rng.IntN(len(tiers))], firstContact: rng.IntN(3) == 0,
				time: start.Add(time.Duration(rng.IntN(86400)) * time.Second),
			}
			if rng.Float64() < 0.85 {
				o := &models.Outcome{
					OutcomeID: "o-" + d.id, DecisionID: d.id,
					Resolved:       rng.Float64() < arm.resolved,
					UpsellAccepted: rng.Float64() < 0.1,
					Revenue:        math.Round(rng.ExpFloat64()*40*100) / 100,
					HandleSeconds:  math.Round(arm.handle * (0.5 + rng.Float64())),
					Escalated:      rng.Float64() < 0.08,
					Recontact7d:    rng.Float64() < 0.2,
					Churned:        rng.Float64() < 0.03,
					OccurredAt:     d.time.Add(10 * time.Minute),
				}
				if rng.Float64() < 0.6 {
					c := float64(1 + rng.IntN(5))
					o.CSAT = &c
				}
				d.outcome = o
			}
			out = append(out, d)
		}
	}
	return out
}

func simDefinition(id string, arms []simArm, guardrails ...Guardrail) Experiment {
	d := Definition{ID: id, Guardrails: guardrails, OnBreach: OnBreachStop}
	for _, a := range arms {
		d.Arms = append(d.Arms, Arm{Name: a.name, Strategy: "learned", Weight: a.weight})
	}
	d.Normalize()
	return Experiment{Definition: d, State: StateRunning}
}

// feed gives the decisions to a in a shuffled order, each outcome some
// decisions after its exposure, so that units change segments after their
// values arrived.
func feed(seed uint64, a *Aggregator, exp string, ds []simDecision, reward models.RewardDefinition) {
	rng := rand.New(rand.NewPCG(seed, 7))
	order := rng.Perm(len(ds))
	var waiting []simDecision
	flush := func() {
		for _, d := range waiting {
			a.AddObservation(Observation{Experiment: exp, Arm: d.arm, Unit: d.unit, DecisionID: d.id,
				Values: ValuesOf(d.outcome, reward.Reward(d.outcome))})
		}
		waiting = waiting[:0]
	}
	for i, k := range order {
		d := ds[k]
		a.AddExposure(Exposure{Experiment: exp, Arm: d.arm, Unit: d.unit, Tier: d.tier, FirstContact: d.firstContact, DecisionID: d.id, Time: d.time})
		if d.outcome != nil {
			waiting = append(waiting, d)
		}
		if i%7 == 0 {
			flush()
		}
	}
	flush()
}

// refArm is the reference computation of one arm in one segment.
type refArm struct {
	units, exposures, joined int64
	values                   [NumMetrics][]float64 // unit means
}

// reference recomputes the per-arm tables of every segment straight from
// the decisions, with plain loops: "" is the whole arm, "tier=gold" ….
func reference(ds []simDecision, arms []string, reward models.RewardDefinition) map[string][]refArm {
	type unitKey struct{ arm, unit string }
	byUnit := map[unitKey][]simDecision{}
	for _, d := range ds {
		k := unitKey{d.arm, d.unit}
		byUnit[k] = append(byUnit[k], d)
	}
	keys := make([]unitKey, 0, len(byUnit))
	for k := range byUnit {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].unit < keys[j].unit })
	out := map[string][]refArm{}
	add := func(seg string, ai int, decisions []simDecision, means [NumMetrics]*float64) {
		if out[seg] == nil {
			out[seg] = make([]refArm, len(arms))
		}
		r := &out[seg][ai]
		r.units++
		for _, d := range decisions {
			r.exposures++
			if d.outcome != nil {
				r.joined++
			}
		}
		for m := range NumMetrics {
			if means[m] != nil {
				r.values[m] = append(r.values[m], *means[m])
			}
		}
	}
	for _, k := range keys {
		decisions := byUnit[k]
		first := decisions[0]
		for _, d := range decisions[1:] {
			if d.time.Before(first.time) {
				first = d
			}
		}
		var sums [NumMetrics]float64
		var counts [NumMetrics]int
		for _, d := range decisions {
			o := d.outcome
			if o == nil {
				continue
			}
			b := func(x bool) float64 {
				if x {
					return 1
				}
				return 0
			}
			vals := [NumMetrics]float64{reward.Reward(o), b(o.Resolved), 0, b(o.UpsellAccepted), o.Revenue, o.HandleSeconds, b(o.Escalated), b(o.Recontact7d), b(o.Churned)}
			for m := range NumMetrics {
				if m == MetricCSAT {
					if o.CSAT == nil {
						continue
					}
					vals[m] = *o.CSAT
				}
				sums[m] += vals[m]
				counts[m]++
			}
		}
		var means [NumMetrics]*float64
		for m := range NumMetrics {
			if counts[m] > 0 {
				v := sums[m] / float64(counts[m])
				means[m] = &v
			}
		}
		ai := -1
		for i, a := range arms {
			if a == k.arm {
				ai = i
			}
		}
		tier := first.tier
		if tier == "" {
			tier = "none"
		}
		add("", ai, decisions, means)
		add("tier="+tier, ai, decisions, means)
		add(fmt.Sprintf("first_contact=%t", first.firstContact), ai, decisions, means)
	}
	return out
}

// refSample summarises unit means with gonum: mean and n−1 variance.
func refSample(xs []float64) stats.Sample {
	if len(xs) == 0 {
		return stats.Sample{}
	}
	s := stats.Sample{N: len(xs), Mean: stat.Mean(xs, nil)}
	if len(xs) > 1 {
		s.Var = stat.Variance(xs, nil)
	}
	return s
}

// refMeanCI is mean ± t_{0.975, n−1}·sd/√n.
func refMeanCI(s stats.Sample) [2]float64 {
	if s.N <= 1 || s.Var == 0 {
		return [2]float64{s.Mean, s.Mean}
	}
	half := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(s.N - 1)}.Quantile(0.975) * math.Sqrt(s.Var/float64(s.N))
	return [2]float64{s.Mean - half, s.Mean + half}
}

// refHolm is Holm–Bonferroni by plain loops: sorted ascending, the i-th
// times (m−i), a running maximum, capped at 1.
func refHolm(p []float64) []float64 {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return p[idx[a]] < p[idx[b]] })
	out := make([]float64, len(p))
	running := 0.0
	for i, j := range idx {
		v := math.Min(1, p[j]*float64(len(p)-i))
		running = math.Max(running, v)
		out[j] = running
	}
	return out
}

func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func requireNear(t *testing.T, what string, want, got float64) {
	t.Helper()
	if !near(want, got) {
		t.Fatalf("%s: want %.15g, got %.15g", what, want, got)
	}
}

func TestResultsMatchAnIndependentComputation(t *testing.T) {
	reward, err := models.DefaultReward()
	if err != nil {
		t.Fatal(err)
	}
	arms := []simArm{
		{name: "control", weight: 0.4, resolved: 0.7, handle: 300},
		{name: "tiers", weight: 0.3, resolved: 0.65, handle: 280},
		{name: "same", weight: 0.3, resolved: 0.72, handle: 330},
	}
	ds := simulate(1, 3000, arms)
	def := simDefinition("philosophy", arms)
	agg := NewAggregator()
	feed(2, agg, def.Definition.ID, ds, reward)
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	res := agg.Results(def, now)

	names := []string{"control", "tiers", "same"}
	ref := reference(ds, names, reward)
	var joined int64
	for _, d := range ds {
		if d.outcome != nil {
			joined++
		}
	}
	if res.Decisions != int64(len(ds)) || res.Outcomes != joined || !res.AsOf.Equal(now) || res.ID != "philosophy" || res.State != StateRunning {
		t.Fatalf("header: %+v", res)
	}

	check := func(seg string, got []ArmResult) {
		t.Helper()
		want := ref[seg]
		if len(got) != len(want) {
			t.Fatalf("%s: %d arms, want %d", seg, len(got), len(want))
		}
		for i := range want {
			w, g := want[i], got[i]
			if g.Name != names[i] || g.Units != w.units || g.Exposures != w.exposures || g.Joined != w.joined {
				t.Fatalf("%s arm %s: units/exposures/joined %d/%d/%d, want %d/%d/%d", seg, g.Name, g.Units, g.Exposures, g.Joined, w.units, w.exposures, w.joined)
			}
		}
		for m, metric := range Metrics {
			control := refSample(want[0].values[m])
			var pvals []float64
			var withLift []int
			for i := range want {
				s := refSample(want[i].values[m])
				g := got[i].Metrics[metric]
				what := fmt.Sprintf("%s arm %s %s", seg, names[i], metric)
				if g.Units != int64(s.N) {
					t.Fatalf("%s: units %d, want %d", what, g.Units, s.N)
				}
				requireNear(t, what+" mean", s.Mean, g.Mean)
				ci := refMeanCI(s)
				requireNear(t, what+" ci lo", ci[0], g.CI[0])
				requireNear(t, what+" ci hi", ci[1], g.CI[1])
				if i == 0 {
					if g.Lift != nil {
						t.Fatalf("%s: the control has a lift", what)
					}
					continue
				}
				fixed, err := stats.TTest(control, s, stats.Config{})
				seq, _ := stats.TTest(control, s, stats.Config{Sequential: true})
				if err != nil {
					if g.Lift != nil {
						t.Fatalf("%s: lift %+v where the test cannot run (%v)", what, g.Lift, err)
					}
					continue
				}
				if g.Lift == nil {
					t.Fatalf("%s: no lift", what)
				}
				requireNear(t, what+" lift", (s.Mean-control.Mean)/math.Abs(control.Mean), g.Lift.Relative)
				requireNear(t, what+" lift ci lo", fixed.CI[0], g.Lift.CI[0])
				requireNear(t, what+" lift ci hi", fixed.CI[1], g.Lift.CI[1])
				requireNear(t, what+" p", fixed.PValue, g.Lift.PValue)
				requireNear(t, what+" seq lo", seq.CI[0], g.Lift.Sequential.CI[0])
				requireNear(t, what+" seq hi", seq.CI[1], g.Lift.Sequential.CI[1])
				requireNear(t, what+" seq p", seq.PValue, g.Lift.Sequential.PValue)
				pvals = append(pvals, fixed.PValue)
				withLift = append(withLift, i)
			}
			for k, p := range refHolm(pvals) {
				requireNear(t, fmt.Sprintf("%s arm %s %s holm", seg, names[withLift[k]], metric), p, got[withLift[k]].Metrics[metric].Lift.PValueHolm)
			}
		}
	}
	check("", res.Arms)
	segs := 0
	for name, values := range res.Segments {
		for value, sr := range values {
			check(name+"="+value, sr.Arms)
			segs++
		}
	}
	if segs != len(ref)-1 {
		t.Fatalf("%d segment values, the reference has %d", segs, len(ref)-1)
	}

	// SRM: chi-square of the units against the weights, by hand.
	var total float64
	for i := range names {
		total += float64(ref[""][i].units)
	}
	chi2 := 0.0
	for i, a := range arms {
		e := a.weight * total
		d := float64(ref[""][i].units) - e
		chi2 += d * d / e
	}
	requireNear(t, "srm p", distuv.ChiSquared{K: 2}.Survival(chi2), res.SRM.PValue)
	if res.SRM.Mismatch {
		t.Fatalf("SRM flagged on a split drawn by the weights: p = %g", res.SRM.PValue)
	}
}

func TestSRM(t *testing.T) {
	for _, tc := range []struct {
		name     string
		a, b     int
		mismatch bool
	}{
		{"55/45 of 20k units on 50/50 weights", 11000, 9000, true},
		{"50.3/49.7 of 20k units", 10060, 9940, false},
		{"too few units to tell", 7, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			def := simDefinition("srm", []simArm{{name: "a", weight: 0.5}, {name: "b", weight: 0.5}})
			agg := NewAggregator()
			for i := range tc.a + tc.b {
				arm := "a"
				if i >= tc.a {
					arm = "b"
				}
				agg.AddExposure(Exposure{Experiment: "srm", Arm: arm, Unit: fmt.Sprint(i), Tier: "gold"})
			}
			r := agg.Results(def, time.Time{})
			if r.SRM.Mismatch != tc.mismatch {
				t.Fatalf("mismatch %v (p %g), want %v", r.SRM.Mismatch, r.SRM.PValue, tc.mismatch)
			}
		})
	}
}

func ptr(x float64) *float64 { return &x }

func TestGuardrails(t *testing.T) {
	reward, err := models.DefaultReward()
	if err != nil {
		t.Fatal(err)
	}
	drop := func(d float64, segments ...string) Guardrail {
		return Guardrail{Metric: "resolved", MaxRelativeDrop: ptr(d), Segments: segments}
	}
	rise := func(r float64) Guardrail { return Guardrail{Metric: "handle_seconds", MaxRelativeRise: ptr(r)} }
	for _, tc := range []struct {
		name      string
		units     int
		treated   simArm
		guardrail Guardrail
		// overall is the status over the whole experiment; breachedAny
		// whether any segment may be breached.
		overall     string
		breachedAny bool
	}{
		{"a 30 % drop in resolution breaches a 5 % bound", 6000, simArm{resolved: 0.49, handle: 300}, drop(0.05, "tier"), GuardrailBreached, true},
		{"no effect stays ok within a 10 % bound", 40000, simArm{resolved: 0.7, handle: 300}, drop(0.10, "tier", "first_contact"), GuardrailOK, false},
		{"a 50 % rise in handle time breaches a 10 % bound", 4000, simArm{resolved: 0.7, handle: 450}, rise(0.10), GuardrailBreached, true},
		{"a drop among too few units is only watched", 40, simArm{resolved: 0.1, handle: 300}, drop(0.05), GuardrailWatching, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			control := simArm{name: "control", weight: 0.5, resolved: 0.7, handle: 300}
			treated := tc.treated
			treated.name, treated.weight = "treated", 0.5
			arms := []simArm{control, treated}
			def := simDefinition("g", arms, tc.guardrail)
			agg := NewAggregator()
			feed(3, agg, "g", simulate(4, tc.units, arms), reward)
			r := agg.Results(def, time.Time{})
			if len(r.Guardrails) == 0 || r.Guardrails[0].Segment != "" {
				t.Fatalf("no overall status first: %+v", r.Guardrails)
			}
			g := r.Guardrails[0]
			if g.Status != tc.overall || g.Arm != "treated" || g.Metric != tc.guardrail.Metric {
				t.Fatalf("overall %+v (lift %v), want %s", g, deref(g.Lift), tc.overall)
			}
			wantStatuses := 1
			for _, s := range tc.guardrail.Segments {
				wantStatuses += map[string]int{SegmentTier: 5, SegmentFirstContact: 2}[s]
			}
			if len(r.Guardrails) != wantStatuses {
				t.Fatalf("%d statuses, want %d: %+v", len(r.Guardrails), wantStatuses, r.Guardrails)
			}
			for _, s := range r.Guardrails {
				if s.Status == GuardrailBreached && !tc.breachedAny {
					t.Fatalf("breached in %s: %+v", s.Segment, s)
				}
				if s.Lift != nil && !(s.CI[0] <= *s.Lift && *s.Lift <= s.CI[1]) {
					t.Fatalf("lift outside its interval: %+v", s)
				}
			}
			if tc.overall == GuardrailBreached {
				if len(r.Breached()) == 0 || BreachReason(r.Breached()) == "" {
					t.Fatal("no breach reported")
				}
			}
		})
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestResultsWithoutData(t *testing.T) {
	def := simDefinition("empty", []simArm{{name: "a", weight: 0.5}, {name: "b", weight: 0.5}}, Guardrail{Metric: "resolved", MaxRelativeDrop: ptr(0.05), Segments: []string{"tier"}})
	r := NewAggregator().Results(def, time.Time{})
	if len(r.Arms) != 2 || r.Arms[1].Metrics["resolved"].Lift != nil || r.SRM.PValue != 1 || r.SRM.Mismatch {
		t.Fatalf("empty results: %+v", r)
	}
	if len(r.Segments[SegmentTier]) != 0 || len(r.Guardrails) != 1 || r.Guardrails[0].Status != GuardrailWatching {
		t.Fatalf("empty results: %+v", r)
	}
}
