package experiments

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"situ/models"
)

var joinT0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// partsHarness feeds an aggregator through a PartsJoin as the results
// engine does: exposure first, then the decision; each change rewarded
// from the decision's latest fields.
type partsHarness struct {
	t      *testing.T
	join   *PartsJoin[UnitRef]
	agg    *Aggregator
	reward models.RewardDefinition
	emits  int
}

func newPartsHarness(t *testing.T, cfg models.JoinConfig) *partsHarness {
	t.Helper()
	r, err := models.DefaultReward()
	require.NoError(t, err)
	return &partsHarness{t: t, join: NewPartsJoin[UnitRef](cfg), agg: NewAggregator(), reward: r}
}

func (h *partsHarness) observe(c *Change[UnitRef]) {
	h.emits++
	after := ValuesOf(&c.After, h.reward.Reward(&c.After))
	if c.First() {
		h.agg.Observe(c.Decision.Ref, &after)
		return
	}
	before := ValuesOf(&c.Before, h.reward.Reward(&c.Before))
	h.agg.Replace(c.Decision.Ref, &before, &after)
}

// decide adds decision id of unit in arm at t0+at.
func (h *partsHarness) decide(id, arm, unit string, at time.Duration) {
	if h.join.Holds(id) {
		h.join.AddDecision(JoinDecision[UnitRef]{ID: id, Time: joinT0.Add(at)}, h.observe)
		return
	}
	u := h.agg.AddExposure(Exposure{Experiment: "e", Arm: arm, Unit: unit, Tier: "gold", DecisionID: id, Time: joinT0.Add(at)})
	require.True(h.t, h.join.AddDecision(JoinDecision[UnitRef]{ID: id, Time: joinT0.Add(at), Ref: u, ConfigVersion: 1}, h.observe))
}

func (h *partsHarness) part(o models.Outcome) { h.join.AddOutcome(&o, h.observe) }

// metric returns arm's mean and units of metric m.
func (h *partsHarness) metric(arm, m string) (float64, int64) {
	res := h.agg.Results(simDefinition("e", []simArm{{name: "a", weight: 0.5}, {name: "b", weight: 0.5}}), time.Time{})
	for _, a := range res.Arms {
		if a.Name == arm {
			return a.Metrics[m].Mean, a.Metrics[m].Units
		}
	}
	h.t.Fatalf("no arm %s", arm)
	return 0, 0
}

// part builds an outcome part of decision d holding only the fields set.
type partSpec struct {
	id, decision string
	at           time.Duration // occurred_at after t0
	resolved     *bool
	csat         *float64
	handle       *float64
	recontact    *bool
	churned      *bool
}

func (p partSpec) outcome() models.Outcome {
	o := models.Outcome{OutcomeID: p.id, DecisionID: p.decision, OccurredAt: joinT0.Add(p.at), Missing: models.AllOutcomeFields}
	if p.resolved != nil {
		o.Resolved, o.Missing = *p.resolved, o.Missing&^(1<<models.FieldResolved)
	}
	if p.csat != nil {
		o.CSAT, o.Missing = p.csat, o.Missing&^(1<<models.FieldCSAT)
	}
	if p.handle != nil {
		o.HandleSeconds, o.Missing = *p.handle, o.Missing&^(1<<models.FieldHandleSeconds)
	}
	if p.recontact != nil {
		o.Recontact7d, o.Missing = *p.recontact, o.Missing&^(1<<models.FieldRecontact7d)
	}
	if p.churned != nil {
		o.Churned, o.Missing = *p.churned, o.Missing&^(1<<models.FieldChurned)
	}
	return o
}

func bp(b bool) *bool          { return &b }
func fp(f float64) *float64    { return &f }
func approx(a, b float64) bool { return math.Abs(a-b) <= 1e-12 }

// TestPartsJoinScenarios plays decisions and outcome parts through the
// join into the aggregator and checks the metrics of the arms after each
// scenario. Arm a's unit u1 has two decisions (its values are their mean);
// arm b's unit u2 one.
func TestPartsJoinScenarios(t *testing.T) {
	type step struct {
		decision          string // add this decision (d1, d2 of u1 in a; d3 of u2 in b; dx of no experiment is never added)
		decisionAt        time.Duration
		part              *partSpec
		streamTo          time.Duration // add a decision of another unit at this time, to move stream time
		wantEmitsAfterAll int
	}
	reward := func(resolved bool, csat float64, handle float64, recontact, churned bool) float64 {
		r, _ := models.DefaultReward()
		o := models.Outcome{Resolved: resolved, CSAT: &csat, HandleSeconds: handle, Recontact7d: recontact, Churned: churned}
		if csat == 0 {
			o.CSAT = nil
		}
		return r.Reward(&o)
	}
	cases := []struct {
		name  string
		steps []step
		want  map[string][2]float64 // "arm/metric" → mean, units (units 0: no value)
		stats func(t *testing.T, s models.JoinStats)
	}{
		{
			name: "a partial outcome then its late field update the early and the late metric of the same unit",
			steps: []step{
				{decision: "d1"},
				{part: &partSpec{id: "o1", decision: "d1", at: time.Hour, resolved: bp(true), handle: fp(300)}},
				{part: &partSpec{id: "o2", decision: "d1", at: 3 * time.Hour, csat: fp(5)}},
				{streamTo: 5 * 24 * time.Hour}, // the early window has closed, the late one not
				{part: &partSpec{id: "o3", decision: "d1", at: 5 * 24 * time.Hour, recontact: bp(true), churned: bp(false)}},
			},
			want: map[string][2]float64{
				"a/resolved": {1, 1}, "a/csat": {5, 1}, "a/handle_seconds": {300, 1},
				"a/recontact_7d": {1, 1}, "a/churned": {0, 1},
				"a/reward":    {reward(true, 5, 300, true, false), 1},
				"a/escalated": {0, 0}, // never reported: no value, not 0
			},
		},
		{
			name: "the unit's value is the mean over its decisions, each with its latest fields",
			steps: []step{
				{decision: "d1"}, {decision: "d2", decisionAt: time.Minute},
				{part: &partSpec{id: "o1", decision: "d1", at: time.Hour, resolved: bp(false)}},
				{part: &partSpec{id: "o2", decision: "d2", at: time.Hour, resolved: bp(true), csat: fp(2)}},
				{part: &partSpec{id: "o3", decision: "d1", at: 2 * time.Hour, resolved: bp(true)}}, // the case reopened and was resolved
				{part: &partSpec{id: "o4", decision: "d2", at: 2 * time.Hour, csat: fp(4)}},
			},
			want: map[string][2]float64{
				"a/resolved": {1, 1}, "a/csat": {4, 1},
				"a/reward": {(reward(true, 0, 0, false, false) + reward(true, 4, 0, false, false)) / 2, 1},
			},
		},
		{
			name: "an older part after a newer one changes nothing",
			steps: []step{
				{decision: "d1"},
				{part: &partSpec{id: "new", decision: "d1", at: 2 * time.Hour, resolved: bp(true), csat: fp(5)}},
				{part: &partSpec{id: "old", decision: "d1", at: time.Hour, resolved: bp(false), csat: fp(1)}},
			},
			want: map[string][2]float64{"a/resolved": {1, 1}, "a/csat": {5, 1}, "a/reward": {reward(true, 5, 0, false, false), 1}},
			stats: func(t *testing.T, s models.JoinStats) {
				require.Equal(t, int64(1), s.Joined)
				require.Equal(t, int64(1), s.Stale)
			},
		},
		{
			name: "an older part still brings a field the newer one did not have",
			steps: []step{
				{decision: "d1"},
				{part: &partSpec{id: "new", decision: "d1", at: 2 * time.Hour, resolved: bp(true)}},
				{part: &partSpec{id: "old", decision: "d1", at: time.Hour, resolved: bp(false), csat: fp(2)}},
			},
			want: map[string][2]float64{"a/resolved": {1, 1}, "a/csat": {2, 1}, "a/reward": {reward(true, 2, 0, false, false), 1}},
		},
		{
			name: "a duplicate part counts once",
			steps: []step{
				{decision: "d1"}, {decision: "d3"},
				{part: &partSpec{id: "o1", decision: "d1", at: time.Hour, resolved: bp(true), handle: fp(100)}},
				{part: &partSpec{id: "o1", decision: "d1", at: time.Hour, resolved: bp(true), handle: fp(100)}},
				{part: &partSpec{id: "o3", decision: "d3", at: time.Hour, resolved: bp(false)}},
				{part: &partSpec{id: "o3", decision: "d3", at: time.Hour, resolved: bp(false)}},
			},
			want: map[string][2]float64{"a/resolved": {1, 1}, "a/handle_seconds": {100, 1}, "b/resolved": {0, 1}},
			stats: func(t *testing.T, s models.JoinStats) {
				require.Equal(t, int64(2), s.Joined)
				require.Equal(t, int64(2), s.Duplicates)
			},
		},
		{
			name: "parts that come before their decision join when it comes",
			steps: []step{
				{part: &partSpec{id: "o1", decision: "d1", at: time.Hour, resolved: bp(true)}},
				{part: &partSpec{id: "o2", decision: "d1", at: 2 * time.Hour, csat: fp(3)}},
				{part: &partSpec{id: "o2", decision: "d1", at: 2 * time.Hour, csat: fp(3)}},
				{decision: "d1"},
			},
			want: map[string][2]float64{"a/resolved": {1, 1}, "a/csat": {3, 1}},
		},
		{
			name: "parts of decisions outside any experiment are ignored",
			steps: []step{
				{decision: "d1"},
				{part: &partSpec{id: "ox", decision: "dx", at: time.Hour, resolved: bp(false), csat: fp(1)}},
				{part: &partSpec{id: "oy", decision: "dx", at: 2 * time.Hour, churned: bp(true)}},
				{part: &partSpec{id: "o1", decision: "d1", at: time.Hour, resolved: bp(true)}},
				{streamTo: 2 * 24 * time.Hour},
			},
			want: map[string][2]float64{"a/resolved": {1, 1}, "a/csat": {0, 0}, "b/resolved": {0, 0}},
			// each part of dx is an outcome that never met its decision
			stats: func(t *testing.T, s models.JoinStats) { require.Equal(t, int64(2), s.EarlyExpired) },
		},
		{
			name: "an early field after its window is not applied, a late one within its window is",
			steps: []step{
				{decision: "d1"},
				{part: &partSpec{id: "o1", decision: "d1", at: time.Hour, resolved: bp(false)}},
				{streamTo: 2 * 24 * time.Hour},
				{part: &partSpec{id: "o2", decision: "d1", at: 2 * 24 * time.Hour, resolved: bp(true), recontact: bp(true)}},
			},
			want: map[string][2]float64{"a/resolved": {0, 1}, "a/recontact_7d": {1, 1}},
		},
		{
			name: "a late field after the late window is not applied",
			steps: []step{
				{decision: "d1"},
				{part: &partSpec{id: "o1", decision: "d1", at: time.Hour, resolved: bp(true)}},
				{streamTo: 8 * 24 * time.Hour},
				{part: &partSpec{id: "o2", decision: "d1", at: 8 * 24 * time.Hour, recontact: bp(true)}},
			},
			want: map[string][2]float64{"a/resolved": {1, 1}, "a/recontact_7d": {0, 0}},
			stats: func(t *testing.T, s models.JoinStats) {
				require.Equal(t, int64(1), s.Late)
				require.Equal(t, int64(1), s.Closed)
			},
		},
		{
			name: "a decision read twice is one decision",
			steps: []step{
				{decision: "d1"}, {decision: "d1"},
				{part: &partSpec{id: "o1", decision: "d1", at: time.Hour, resolved: bp(true)}},
			},
			want:  map[string][2]float64{"a/resolved": {1, 1}},
			stats: func(t *testing.T, s models.JoinStats) { require.Equal(t, int64(1), s.Duplicates) },
		},
	}
	units := map[string][2]string{"d1": {"a", "u1"}, "d2": {"a", "u1"}, "d3": {"b", "u2"}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newPartsHarness(t, models.JoinConfig{})
			for i, s := range tc.steps {
				switch {
				case s.decision != "":
					h.decide(s.decision, units[s.decision][0], units[s.decision][1], s.decisionAt)
				case s.part != nil:
					h.part(s.part.outcome())
				default:
					h.decide(fmt.Sprintf("clock-%d", i), "b", fmt.Sprintf("clock-%d", i), s.streamTo)
				}
			}
			for key, want := range tc.want {
				var arm, metric string
				_, err := fmt.Sscanf(key[:1], "%s", &arm)
				require.NoError(t, err)
				metric = key[2:]
				mean, n := h.metric(arm, metric)
				require.Equal(t, int64(want[1]), n, "%s: units with a value", key)
				if n > 0 {
					require.True(t, approx(want[0], mean), "%s: mean %v, want %v", key, mean, want[0])
				}
			}
			if tc.stats != nil {
				tc.stats(t, h.join.Stats())
			}
		})
	}
}

// TestPartsJoinCapsPendingDecisions: beyond MaxPending the oldest
// decision is dropped, and its later parts are not applied.
func TestPartsJoinCapsPendingDecisions(t *testing.T) {
	h := newPartsHarness(t, models.JoinConfig{MaxPending: 2})
	for i := range 3 {
		h.decide(fmt.Sprintf("d%d", i), "a", fmt.Sprintf("u%d", i), time.Duration(i)*time.Minute)
	}
	require.Equal(t, 2, h.join.Pending())
	require.Equal(t, int64(1), h.join.Stats().DroppedPending)
	h.part(partSpec{id: "o0", decision: "d0", at: time.Hour, resolved: bp(true)}.outcome())
	h.part(partSpec{id: "o1", decision: "d1", at: time.Hour, resolved: bp(true)}.outcome())
	_, n := h.metric("a", "resolved")
	require.Equal(t, int64(1), n, "d0 was dropped")
}

// TestReplacedObservationsEqualAFreshAggregation replaces observations at
// random, many times over, and compares every table with an aggregator
// given only the final values: within 1e-9 relative, the tolerance of the
// results engine's own comparisons (requireSameResults), which the
// aggregator's re-summing keeps the drift well inside (see Aggregator).
func TestReplacedObservationsEqualAFreshAggregation(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const units, decisions, replacements = 300, 900, 200_000
	arms := []simArm{{name: "a", weight: 0.5}, {name: "b", weight: 0.5}}
	def := simDefinition("e", arms, Guardrail{Metric: "handle_seconds", MaxRelativeRise: ptr(0.1), Segments: []string{SegmentTier}})
	tiers := []string{"basic", "silver", "gold", "platinum", ""}
	random := func() Values {
		var v Values
		for m := range NumMetrics {
			v.Present[m] = m == MetricReward || rng.IntN(4) > 0
			switch m {
			case MetricReward:
				v.V[m] = rng.Float64()*2 - 1
			case MetricRevenue:
				v.V[m] = math.Round(rng.ExpFloat64()*4000) / 100
			case MetricHandleSeconds:
				v.V[m] = 100 + rng.Float64()*600
			case MetricCSAT:
				v.V[m] = float64(1 + rng.IntN(5))
			default:
				v.V[m] = float64(rng.IntN(2))
			}
		}
		return v
	}
	type dec struct {
		arm, unit string
		v         Values
	}
	ds := make([]dec, decisions)
	live := NewAggregator()
	for i := range ds {
		u := rng.IntN(units)
		ds[i] = dec{arm: arms[u%2].name, unit: fmt.Sprint(u), v: random()}
		live.AddExposure(Exposure{Experiment: "e", Arm: ds[i].arm, Unit: ds[i].unit, Tier: tiers[u%5], Time: joinT0})
		live.AddObservation(Observation{Experiment: "e", Arm: ds[i].arm, Unit: ds[i].unit, Values: ds[i].v})
	}
	for range replacements {
		i := rng.IntN(decisions)
		v := random()
		live.ReplaceObservation(Observation{Experiment: "e", Arm: ds[i].arm, Unit: ds[i].unit, Values: v}, ds[i].v)
		ds[i].v = v
	}
	fresh := NewAggregator()
	for i := range ds {
		u := ds[i].unit
		var n int
		_, _ = fmt.Sscan(u, &n)
		fresh.AddExposure(Exposure{Experiment: "e", Arm: ds[i].arm, Unit: u, Tier: tiers[n%5], Time: joinT0})
		fresh.AddObservation(Observation{Experiment: "e", Arm: ds[i].arm, Unit: u, Values: ds[i].v})
	}
	want, got := fresh.Results(def, time.Time{}), live.Results(def, time.Time{})
	require.Equal(t, want.Outcomes, got.Outcomes, "a replaced decision still counts once")
	requireSameTables(t, want, got, 1e-9)
}

// requireSameTables compares every arm's counts and metrics, overall and
// per segment, numbers within tol relative.
func requireSameTables(t *testing.T, want, got Results, tol float64) {
	t.Helper()
	near := func(what string, a, b float64) {
		require.LessOrEqual(t, math.Abs(a-b), tol*math.Max(1, math.Abs(a)), "%s: %v vs %v", what, a, b)
	}
	cmpArms := func(where string, wa, ga []ArmResult) {
		require.Len(t, ga, len(wa), where)
		for i := range wa {
			w, g := wa[i], ga[i]
			require.Equal(t, [3]int64{w.Units, w.Exposures, w.Joined}, [3]int64{g.Units, g.Exposures, g.Joined}, "%s %s", where, w.Name)
			for name, wm := range w.Metrics {
				gm := g.Metrics[name]
				what := fmt.Sprintf("%s %s %s", where, w.Name, name)
				require.Equal(t, wm.Units, gm.Units, what)
				near(what+" mean", wm.Mean, gm.Mean)
				near(what+" ci lo", wm.CI[0], gm.CI[0])
				near(what+" ci hi", wm.CI[1], gm.CI[1])
				require.Equal(t, wm.Lift == nil, gm.Lift == nil, what)
				if wm.Lift != nil {
					near(what+" lift", wm.Lift.Relative, gm.Lift.Relative)
					near(what+" p", wm.Lift.PValue, gm.Lift.PValue)
				}
			}
		}
	}
	cmpArms("overall", want.Arms, got.Arms)
	for seg, values := range want.Segments {
		for v, sr := range values {
			cmpArms(seg+"="+v, sr.Arms, got.Segments[seg][v].Arms)
		}
	}
	require.Len(t, got.Guardrails, len(want.Guardrails))
	for i := range want.Guardrails {
		require.Equal(t, want.Guardrails[i].Status, got.Guardrails[i].Status)
	}
}

// TestAggregatorResumsItsSums: after many moves of unit means an arm's
// sums are taken afresh from its units, so they equal those of the
// current means closely however long the experiment ran.
func TestAggregatorResumsItsSums(t *testing.T) {
	a := NewAggregator()
	a.AddExposure(Exposure{Experiment: "e", Arm: "a", Unit: "u", Tier: "gold", Time: joinT0})
	v := Values{}
	v.V[MetricRevenue], v.Present[MetricRevenue] = 0.1, true
	a.AddObservation(Observation{Experiment: "e", Arm: "a", Unit: "u", Values: v})
	for i := range 5000 {
		w := v
		w.V[MetricRevenue] = 0.1 + float64(i%7)*1e6 // large swings: each move rounds the sums
		a.ReplaceObservation(Observation{Experiment: "e", Arm: "a", Unit: "u", Values: w}, v)
		v = w
	}
	ar := a.exps["e"].arms["a"]
	require.Less(t, ar.updates, 5000, "re-summed along the way")
	ar.resum()
	s := ar.cells[cellAll].metrics[MetricRevenue]
	require.Equal(t, 1, s.n)
	require.Equal(t, v.V[MetricRevenue], s.sum, "taken afresh: exactly the unit's mean")
}

// TestValuesOfAPart: a field a part does not hold is absent, not 0.
func TestValuesOfAPart(t *testing.T) {
	o := partSpec{id: "o", decision: "d", resolved: bp(true), recontact: bp(false)}.outcome()
	v := ValuesOf(&o, 0.4)
	for m, name := range Metrics {
		want := name == "reward" || name == "resolved" || name == "recontact_7d"
		require.Equal(t, want, v.Present[m], name)
	}
	require.Equal(t, [3]float64{0.4, 1, 0}, [3]float64{v.V[MetricReward], v.V[MetricResolved], v.V[MetricRecontact7d]})
	o = partSpec{id: "o", decision: "d", csat: nil}.outcome()
	o.Missing &^= 1 << models.FieldCSAT // "csat": null, no survey
	require.False(t, ValuesOf(&o, 0).Present[MetricCSAT])
}

// TestGuardrailsSeeLateParts: a guardrail on recontact_7d watches while
// only the early parts are in, and is breached once the late parts show
// the treated arm's customers coming back.
func TestGuardrailsSeeLateParts(t *testing.T) {
	h := newPartsHarness(t, models.JoinConfig{})
	def := simDefinition("e", []simArm{{name: "a", weight: 0.5}, {name: "b", weight: 0.5}},
		Guardrail{Metric: "recontact_7d", MaxRelativeRise: ptr(0.1)})
	const units = 400
	for u := range units {
		arm := []string{"a", "b"}[u%2]
		id := fmt.Sprintf("d%d", u)
		h.decide(id, arm, fmt.Sprintf("u%d", u), time.Duration(u)*time.Second)
		h.part(partSpec{id: id + "-early", decision: id, at: time.Hour, resolved: bp(true)}.outcome())
	}
	status := func() string {
		res := h.agg.Results(def, time.Time{})
		require.Len(t, res.Guardrails, 1)
		return res.Guardrails[0].Status
	}
	require.Equal(t, GuardrailWatching, status(), "no recontact_7d yet")
	h.decide("clock", "a", "clock", 6*24*time.Hour)
	for u := range units {
		id := fmt.Sprintf("d%d", u)
		back := u%2 == 1 && u%10 != 1 || u%2 == 0 && u%10 == 0 // b: 80 %, a: 20 %
		h.part(partSpec{id: id + "-week", decision: id, at: 6 * 24 * time.Hour, recontact: bp(back), churned: bp(false)}.outcome())
	}
	require.Equal(t, GuardrailBreached, status())
	res := h.agg.Results(def, time.Time{})
	require.Equal(t, int64(units/2), res.Arms[1].Metrics["recontact_7d"].Units)
	require.Equal(t, [2]int64{units/2 + 1, units / 2}, [2]int64{res.Arms[0].Units, res.Arms[0].Joined}, "the clock's decision has no part: a unit, not joined")
}
