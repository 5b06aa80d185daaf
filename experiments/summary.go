package experiments

import (
	"time"

	"situ/experiments/stats"
)

// How results are computed.
//
// Every metric, the 0/1 KPIs (resolved, upsell_accepted, escalated,
// recontact_7d, churned) included, is summarised over units with the
// unit-level sample mean and n−1 variance (stats.Sums.Sample): a unit's
// value is the mean of its joined decisions, a share in [0, 1] rather than
// a 0/1 outcome, so gbstats' p(1−p) variance of a proportion would
// overstate the spread of units with several decisions. For units with one
// decision each the two differ only by the factor n/(n−1).
const (
	// ResultsAlpha is the level of every two-sided interval of the results.
	ResultsAlpha = 0.05
	// GuardrailAlpha is the level of the two-sided sequential interval
	// whose sides are the guardrails' one-sided 95 % bounds.
	GuardrailAlpha = 0.10
	// GuardrailMinUnits is how many units with a value the arm and the
	// control each need in a segment before a guardrail there is decided
	// (ok or breached); with fewer it is watching.
	GuardrailMinUnits = 30
)

// sample returns the metric's summary over the cell's units.
func (c *cell) sample(m int) stats.Sample {
	s := c.metrics[m]
	return stats.Sums{N: s.n, Sum: s.sum, SumSquares: s.sumSq}.Sample()
}

// Results returns the results of experiment def as of now: the arms of the
// definition in its order (data of arms it does not name is left out),
// the SRM check, the segments by tier and first contact, and the status
// of every guardrail.
func (a *Aggregator) Results(def Experiment, now time.Time) Results {
	d := def.Definition
	e := a.exps[d.ID]
	if e == nil {
		e = &expAgg{arms: map[string]*armAgg{}}
	}
	arms := make([]*armAgg, len(d.Arms))
	for i, arm := range d.Arms {
		if arms[i] = e.arms[arm.Name]; arms[i] == nil {
			arms[i] = &armAgg{}
		}
	}
	r := Results{
		ID: d.ID, State: def.State, PrimaryMetric: d.PrimaryMetric, AsOf: now,
		Decisions: e.decisions, Outcomes: e.outcomes,
		Segments: map[string]map[string]SegmentResult{SegmentTier: {}, SegmentFirstContact: {}},
	}
	r.Arms = armResults(d, arms, cellAll)
	counts := make([]int, len(arms))
	weights := make([]float64, len(arms))
	for i, ar := range arms {
		counts[i] = int(ar.cells[cellAll].units)
		weights[i] = d.Arms[i].Weight
	}
	if srm, err := stats.SRM(counts, weights); err == nil {
		r.SRM = SRMCheck{PValue: srm.PValue, Mismatch: srm.Mismatch}
	} else {
		r.SRM = SRMCheck{PValue: 1}
	}
	for _, seg := range segmentCells() {
		if !anyUnits(arms, seg.cell) {
			continue
		}
		r.Segments[seg.name][seg.value] = SegmentResult{Arms: armResults(d, arms, seg.cell)}
	}
	r.Guardrails = guardrails(d, arms)
	return r
}

// segmentCell is one value of a segment and its cell.
type segmentCell struct {
	name, value string
	cell        int
}

func segmentCells() []segmentCell {
	out := make([]segmentCell, 0, numCells-1)
	for i, v := range TierValues {
		out = append(out, segmentCell{SegmentTier, v, cellTier + i})
	}
	for i, v := range FirstContactValues {
		out = append(out, segmentCell{SegmentFirstContact, v, cellFirst + i})
	}
	return out
}

func anyUnits(arms []*armAgg, c int) bool {
	for _, ar := range arms {
		if ar.cells[c].units > 0 {
			return true
		}
	}
	return false
}

// armResults returns the arms' tables over cell c: each metric's mean and
// interval, and for every arm but the control its lift with the fixed and
// the sequential test, Holm-adjusted across the arms per metric.
func armResults(d Definition, arms []*armAgg, c int) []ArmResult {
	out := make([]ArmResult, len(arms))
	for i, ar := range arms {
		cl := &ar.cells[c]
		out[i] = ArmResult{Name: d.Arms[i].Name, Strategy: d.Arms[i].Strategy,
			Units: cl.units, Exposures: cl.exposures, Joined: cl.joined,
			Metrics: make(map[string]MetricResult, NumMetrics)}
	}
	pvals := make([]float64, 0, len(arms))
	lifts := make([]*Lift, 0, len(arms))
	for m, name := range Metrics {
		control := arms[0].cells[c].sample(m)
		pvals, lifts = pvals[:0], lifts[:0]
		for i, ar := range arms {
			s := ar.cells[c].sample(m)
			mr := MetricResult{Units: int64(s.N), Mean: s.Mean, CI: stats.MeanCI(s, ResultsAlpha)}
			if i > 0 {
				mr.Lift = lift(control, s)
				if mr.Lift != nil {
					pvals = append(pvals, mr.Lift.PValue)
					lifts = append(lifts, mr.Lift)
				}
			}
			out[i].Metrics[name] = mr
		}
		for k, p := range stats.HolmBonferroni(pvals) {
			lifts[k].PValueHolm = p
		}
	}
	return out
}

// lift compares arm b with control a: nil when the test cannot (too few
// units, no variance, a zero control mean).
func lift(a, b stats.Sample) *Lift {
	fixed, err := stats.TTest(a, b, stats.Config{Difference: stats.Relative, Alpha: ResultsAlpha})
	if err != nil {
		return nil
	}
	seq, err := stats.TTest(a, b, stats.Config{Difference: stats.Relative, Alpha: ResultsAlpha, Sequential: true})
	if err != nil {
		return nil
	}
	return &Lift{Relative: fixed.Expected, CI: fixed.CI, PValue: fixed.PValue, PValueHolm: fixed.PValue,
		Sequential: SequentialLift{CI: seq.CI, PValue: seq.PValue}}
}
