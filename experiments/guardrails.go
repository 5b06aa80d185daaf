package experiments

import (
	"fmt"

	"situ/experiments/stats"
)

// guardrails returns the status of every guardrail of d for every arm but
// the control: over the whole experiment (segment "") and in every value
// of each segment the guardrail names that holds units.
//
// A guardrail compares the arm's relative lift on its metric with the
// control against its bound b (Guardrail.Tolerance) by the anytime-valid
// sequential test, so that checking it continuously does not inflate the
// false alarms. Its two one-sided 95 % bounds are the sides of the
// two-sided 90 % confidence sequence (GuardrailAlpha), which is also the
// status's CI. For a bounded drop (b = −d) it is breached when the upper
// bound lies below b and ok when the lower bound lies above it; for a
// bounded rise (b = r) it is breached when the lower bound lies above b
// and ok when the upper bound lies below it; otherwise, and while either
// arm has fewer than GuardrailMinUnits units with a value, it is watching.
func guardrails(d Definition, arms []*armAgg) []GuardrailStatus {
	out := []GuardrailStatus{}
	for _, g := range d.Guardrails {
		m := metricIndex(g.Metric)
		if m < 0 {
			continue
		}
		cells := []segmentCell{{cell: cellAll}}
		for _, name := range g.Segments {
			for _, sc := range segmentCells() {
				if sc.name == name && anyUnits(arms, sc.cell) {
					cells = append(cells, sc)
				}
			}
		}
		for i := 1; i < len(arms); i++ {
			for _, sc := range cells {
				out = append(out, guardrailStatus(g, m, d.Arms[i].Name, sc, arms[0], arms[i]))
			}
		}
	}
	return out
}

func guardrailStatus(g Guardrail, m int, arm string, sc segmentCell, control, treated *armAgg) GuardrailStatus {
	bound, lowerIsWorse := g.Tolerance()
	a, b := control.cells[sc.cell].sample(m), treated.cells[sc.cell].sample(m)
	st := GuardrailStatus{Metric: g.Metric, Arm: arm, Bound: bound, Status: GuardrailWatching,
		Units: int64(b.N), ControlUnits: int64(a.N)}
	if sc.name != "" {
		st.Segment = sc.name + "=" + sc.value
	}
	res, err := stats.TTest(a, b, stats.Config{Difference: stats.Relative, Alpha: GuardrailAlpha, Sequential: true})
	if err != nil {
		return st
	}
	lift := res.Expected
	st.Lift, st.CI = &lift, res.CI
	if a.N < GuardrailMinUnits || b.N < GuardrailMinUnits {
		return st
	}
	lo, hi := res.CI[0], res.CI[1]
	switch {
	case lowerIsWorse && hi < bound, !lowerIsWorse && lo > bound:
		st.Status = GuardrailBreached
	case lowerIsWorse && lo > bound, !lowerIsWorse && hi < bound:
		st.Status = GuardrailOK
	}
	return st
}

func metricIndex(name string) int {
	for i, m := range Metrics {
		if m == name {
			return i
		}
	}
	return -1
}

// Breached returns the breached guardrails of r.
func (r Results) Breached() []GuardrailStatus {
	var out []GuardrailStatus
	for _, g := range r.Guardrails {
		if g.Status == GuardrailBreached {
			out = append(out, g)
		}
	}
	return out
}

// BreachReason says in one line what the first of breaches is: "guardrail
// breached: resolved in tier=gold of arm tiers: lift -0.12 [-0.2, -0.07]
// beyond bound -0.05" ("overall" for the whole experiment).
func BreachReason(breaches []GuardrailStatus) string {
	if len(breaches) == 0 {
		return ""
	}
	b := breaches[0]
	seg := b.Segment
	if seg == "" {
		seg = "overall"
	}
	lift := 0.0
	if b.Lift != nil {
		lift = *b.Lift
	}
	s := fmt.Sprintf("guardrail breached: %s in %s of arm %s: lift %.4g [%.4g, %.4g] beyond bound %.4g",
		b.Metric, seg, b.Arm, lift, b.CI[0], b.CI[1], b.Bound)
	if len(breaches) > 1 {
		s += fmt.Sprintf(" (and %d more)", len(breaches)-1)
	}
	return s
}
