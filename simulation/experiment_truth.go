package simulation

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"situ/experiments"
	"situ/features"
	"situ/models"
)

// ExperimentTruth is what the ground truth says about one experiment the
// run's decisions were in: per arm, the expected metrics of the
// treatments served to its units and the metrics of the outcomes sent, and
// the arm the ground truth prefers on the reward. Averages are over units
// (customers) as the experiments' results average them: a unit's value is
// the mean over its decisions in the arm, an arm's the mean over its
// units; a unit is in the segment of its customer's tier and first-contact
// flag (which do not change within a run).
type ExperimentTruth struct {
	ID        string `json:"id"`
	Decisions int    `json:"decisions"`
	Units     int    `json:"units"`
	// Arms in the order of their names.
	Arms []ArmTruth `json:"arms"`
	// Winner is the arm with the highest expected reward over its units,
	// WinnerStrategy its strategy; RunnerUp the second, Margin how far
	// Winner leads it and MarginSE the standard error of that lead from
	// which units landed in which arm. A margin of a few MarginSE is a
	// winner results can be expected to find; "" and 0 with one arm.
	Winner         string  `json:"winner"`
	WinnerStrategy string  `json:"winner_strategy"`
	RunnerUp       string  `json:"runner_up"`
	Margin         float64 `json:"margin"`
	MarginSE       float64 `json:"margin_se"`
}

// ArmTruth is one arm of an ExperimentTruth: its strategy (as the score
// responses named it), its figures, and the same by segment: "tier" →
// "basic" … "platinum", "first_contact" → "true", "false".
type ArmTruth struct {
	Name     string `json:"name"`
	Strategy string `json:"strategy"`
	GroupTruth
	Segments map[string]map[string]GroupTruth `json:"segments"`
}

// GroupTruth holds the figures of a group of units.
type GroupTruth struct {
	Units     int `json:"units"`
	Decisions int `json:"decisions"`
	// Expected holds the unit means of the ground truth's expectations of
	// the served treatments (ExpectedMetrics): the true expected reward,
	// resolution rate, csat … of what the arm served.
	Expected Metrics `json:"expected"`
	// RewardSE and ResolvedSE are the standard errors of Expected.Reward
	// and Expected.Resolved over the units.
	RewardSE   float64 `json:"reward_se"`
	ResolvedSE float64 `json:"resolved_se"`
	// Realised holds the unit means of the outcomes the run sent: what
	// the results of an experiment that joined every outcome show. Its
	// CSAT is over the CSATUnits units with an answered survey.
	// RealisedRewardSE is the standard error of Realised.Reward over the
	// units: the noise the results' reward of the arm has.
	Realised         Metrics `json:"realised"`
	RealisedRewardSE float64 `json:"realised_reward_se"`
	CSATUnits        int     `json:"csat_units"`
}

// Experiment returns the ground truth of experiment id, or nil when no
// decision was in it.
func (r *Report) Experiment(id string) *ExperimentTruth {
	for i := range r.Experiments {
		if r.Experiments[i].ID == id {
			return &r.Experiments[i]
		}
	}
	return nil
}

// Arm returns arm name, or nil when no decision was in it.
func (e *ExperimentTruth) Arm(name string) *ArmTruth {
	for i := range e.Arms {
		if e.Arms[i].Name == name {
			return &e.Arms[i]
		}
	}
	return nil
}

// experimentAcc accumulates the decisions of one experiment.
type experimentAcc struct {
	decisions int
	arms      map[string]*armAcc
}

// armAcc accumulates the decisions of one arm.
type armAcc struct {
	strategy  string
	decisions int
	units     map[string]*unitAcc
}

// unitAcc accumulates one unit's decisions in one arm.
type unitAcc struct {
	tier      string
	first     bool
	decisions int
	expected  Metrics // sums
	realised  Metrics // sums; CSAT over the answered surveys
	surveyed  int
}

// experimentDecision is what one decision inside an experiment adds.
type experimentDecision struct {
	experiment, arm, strategy string
	customer                  string
	tier                      string
	first                     bool
	expected                  Metrics
	realised                  Metrics
	surveyed                  bool
}

// newExperimentDecision returns what the served decision d for contact c
// with outcome o adds to its experiment, or nil when d is in none.
func newExperimentDecision(world *World, c *features.Context, d *decision, o *models.Outcome, reward *models.RewardDefinition) *experimentDecision {
	if d.experiment == "" {
		return nil
	}
	truth := world.Response(c, d.treatment)
	real, surveyed := OutcomeMetrics(o, reward)
	return &experimentDecision{
		experiment: d.experiment, arm: d.arm, strategy: d.strategy,
		customer: c.Customer.ID, tier: c.Customer.Tier, first: c.Customer.FirstContact,
		expected: truth.ExpectedMetrics(reward), realised: real, surveyed: surveyed,
	}
}

// addExperimentDecision adds x to the run's experiments. r.mu must be held.
func (r *runner) addExperimentDecision(x *experimentDecision) {
	if r.experiments == nil {
		r.experiments = map[string]*experimentAcc{}
	}
	e := r.experiments[x.experiment]
	if e == nil {
		e = &experimentAcc{arms: map[string]*armAcc{}}
		r.experiments[x.experiment] = e
	}
	e.decisions++
	a := e.arms[x.arm]
	if a == nil {
		a = &armAcc{strategy: x.strategy, units: map[string]*unitAcc{}}
		e.arms[x.arm] = a
	}
	a.decisions++
	u := a.units[x.customer]
	if u == nil {
		u = &unitAcc{tier: x.tier, first: x.first}
		a.units[x.customer] = u
	}
	u.decisions++
	u.expected.add(&x.expected)
	u.realised.add(&x.realised) // CSAT is 0 when not surveyed
	if x.surveyed {
		u.surveyed++
	}
}

// experimentTruths summarises the run's experiments, in the order of
// their ids. r.mu must be held.
func (r *runner) experimentTruths() []ExperimentTruth {
	ids := make([]string, 0, len(r.experiments))
	for id := range r.experiments {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var out []ExperimentTruth
	for _, id := range ids {
		e := r.experiments[id]
		et := ExperimentTruth{ID: id, Decisions: e.decisions}
		names := make([]string, 0, len(e.arms))
		for n := range e.arms {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			a := e.arms[n]
			units := make([]*unitAcc, 0, len(a.units))
			for _, u := range a.units {
				units = append(units, u)
			}
			at := ArmTruth{Name: n, Strategy: a.strategy, GroupTruth: summarise(units), Segments: map[string]map[string]GroupTruth{}}
			at.Segments[experiments.SegmentTier] = segmentTruths(units, func(u *unitAcc) string { return u.tier })
			at.Segments[experiments.SegmentFirstContact] = segmentTruths(units, func(u *unitAcc) string { return strconv.FormatBool(u.first) })
			et.Units += at.Units
			et.Arms = append(et.Arms, at)
		}
		et.pickWinner()
		out = append(out, et)
	}
	return out
}

// pickWinner sets the winner and runner-up on the expected reward (the
// first by name on ties).
func (e *ExperimentTruth) pickWinner() {
	w, ru := -1, -1
	for i := range e.Arms {
		a := &e.Arms[i]
		switch {
		case w < 0 || a.Expected.Reward > e.Arms[w].Expected.Reward:
			w, ru = i, w
		case ru < 0 || a.Expected.Reward > e.Arms[ru].Expected.Reward:
			ru = i
		}
	}
	if w < 0 {
		return
	}
	e.Winner, e.WinnerStrategy = e.Arms[w].Name, e.Arms[w].Strategy
	if ru < 0 {
		return
	}
	e.RunnerUp = e.Arms[ru].Name
	e.Margin = e.Arms[w].Expected.Reward - e.Arms[ru].Expected.Reward
	e.MarginSE = math.Hypot(e.Arms[w].RewardSE, e.Arms[ru].RewardSE)
}

// segmentTruths groups units by key and summarises each group.
func segmentTruths(units []*unitAcc, key func(*unitAcc) string) map[string]GroupTruth {
	groups := map[string][]*unitAcc{}
	for _, u := range units {
		k := key(u)
		groups[k] = append(groups[k], u)
	}
	out := make(map[string]GroupTruth, len(groups))
	for k, g := range groups {
		out[k] = summarise(g)
	}
	return out
}

// summarise averages units: each unit's mean over its decisions, then the
// mean over units.
func summarise(units []*unitAcc) GroupTruth {
	var g GroupTruth
	g.Units = len(units)
	if g.Units == 0 {
		return g
	}
	var rewards, resolved, realised meanVar
	var realCSAT float64
	for _, u := range units {
		g.Decisions += u.decisions
		n := 1 / float64(u.decisions)
		e := u.expected.scaled(n)
		g.Expected.add(&e)
		rewards.add(e.Reward)
		resolved.add(e.Resolved)
		re := u.realised.scaled(n)
		if u.surveyed > 0 {
			realCSAT += u.realised.CSAT / float64(u.surveyed)
			g.CSATUnits++
		}
		re.CSAT = 0
		g.Realised.add(&re)
		realised.add(re.Reward)
	}
	k := 1 / float64(g.Units)
	g.Expected = g.Expected.scaled(k)
	g.Realised = g.Realised.scaled(k)
	if g.CSATUnits > 0 {
		g.Realised.CSAT = realCSAT / float64(g.CSATUnits)
	}
	g.RewardSE, g.ResolvedSE, g.RealisedRewardSE = rewards.se(), resolved.se(), realised.se()
	return g
}

// meanVar accumulates a mean and variance (Welford).
type meanVar struct {
	n       int
	mean, m float64
}

func (a *meanVar) add(x float64) {
	a.n++
	d := x - a.mean
	a.mean += d / float64(a.n)
	a.m += d * (x - a.mean)
}

// se returns the standard error of the mean; 0 below two values.
func (a *meanVar) se() float64 {
	if a.n < 2 {
		return 0
	}
	return math.Sqrt(a.m / float64(a.n-1) / float64(a.n))
}

// tierOrder is the order tiers are shown in.
var tierOrder = []string{"basic", "silver", "gold", "platinum"}

// WriteExperiments writes the "ground truth by experiment arm" tables:
// per experiment and arm, the units and decisions, the true expected
// reward and resolution rate over units (overall, per tier, for
// first-contact customers) and the realised ones, then the ground
// truth's winner on the reward. It writes nothing without experiments.
func (r *Report) WriteExperiments(w io.Writer) error {
	if len(r.Experiments) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("\nground truth by experiment arm (unit means; expected = under the ground truth, realised = the outcomes sent)\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"experiment", "arm", "strategy", "units", "decisions", "reward", "±se", "resolved"}
	for _, t := range tierOrder {
		head = append(head, "res_"+t)
	}
	head = append(head, "res_first", "realised_reward", "±se", "realised_resolved")
	for _, t := range tierOrder {
		head = append(head, "reward_"+t)
	}
	head = append(head, "reward_first")
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, e := range r.Experiments {
		for _, a := range e.Arms {
			row := []string{e.ID, a.Name, a.Strategy, fmt.Sprint(a.Units), fmt.Sprint(a.Decisions),
				f3(a.Expected.Reward), f3(a.RewardSE), pct(a.Expected.Resolved)}
			tiers, first := a.Segments[experiments.SegmentTier], a.Segments[experiments.SegmentFirstContact]
			for _, t := range tierOrder {
				row = append(row, segCell(tiers, t, func(g GroupTruth) string { return pct(g.Expected.Resolved) }))
			}
			row = append(row, segCell(first, "true", func(g GroupTruth) string { return pct(g.Expected.Resolved) }),
				f3(a.Realised.Reward), f3(a.RealisedRewardSE), pct(a.Realised.Resolved))
			for _, t := range tierOrder {
				row = append(row, segCell(tiers, t, func(g GroupTruth) string { return f3(g.Expected.Reward) }))
			}
			row = append(row, segCell(first, "true", func(g GroupTruth) string { return f3(g.Expected.Reward) }))
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	for _, e := range r.Experiments {
		switch {
		case e.Winner == "":
		case e.RunnerUp == "":
			fmt.Fprintf(&b, "%s: one arm only (%s)\n", e.ID, e.Winner)
		default:
			w := e.Arm(e.Winner)
			fmt.Fprintf(&b, "%s: ground truth winner on reward: %s (%s) %s, ahead of %s by %s ± %s\n",
				e.ID, e.Winner, e.WinnerStrategy, f3(w.Expected.Reward), e.RunnerUp, f3(e.Margin), f3(e.MarginSE))
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func segCell(seg map[string]GroupTruth, key string, f func(GroupTruth) string) string {
	g, ok := seg[key]
	if !ok || g.Units == 0 {
		return "-"
	}
	return f(g)
}

func pct(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }
