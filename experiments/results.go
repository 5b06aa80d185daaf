package experiments

import "time"

// Results is an experiment's results: the answer of GET
// /v1/admin/experiments/{id}/results, and the value the results engine
// publishes per experiment. Metrics are computed over units (customers):
// a unit's value of a metric is the mean over its joined decisions in the
// arm; the first arm is the control.
type Results struct {
	ID    string `json:"id"`
	State string `json:"state"`
	// PrimaryMetric is the definition's primary metric.
	PrimaryMetric string `json:"primary_metric"`
	// AsOf is when the results were computed; Decisions and Outcomes the
	// experiment's decisions and joined outcomes counted by then.
	AsOf      time.Time   `json:"as_of"`
	Decisions int64       `json:"decisions"`
	Outcomes  int64       `json:"outcomes"`
	SRM       SRMCheck    `json:"srm"`
	Arms      []ArmResult `json:"arms"`
	// Segments holds the same per-arm tables by segment and value:
	// "tier" → "gold" …, "first_contact" → "true", "false". A unit is in
	// the segment of its first decision in the experiment.
	Segments map[string]map[string]SegmentResult `json:"segments"`
	// Guardrails are every guardrail's status, per arm (the control
	// excepted) and segment ("" for the whole experiment).
	Guardrails []GuardrailStatus `json:"guardrails"`
}

// SRMCheck is the sample-ratio-mismatch check: a chi-square test of the
// units per arm against the arms' weights, a mismatch at p < 0.001.
type SRMCheck struct {
	PValue   float64 `json:"p_value"`
	Mismatch bool    `json:"mismatch"`
}

// SegmentResult is the per-arm table of one segment value.
type SegmentResult struct {
	Arms []ArmResult `json:"arms"`
}

// ArmResult is one arm's table.
type ArmResult struct {
	Name     string `json:"name"`
	Strategy string `json:"strategy"`
	// Units are the customers assigned and exposed, Exposures their
	// decisions, Joined the decisions whose outcome arrived.
	Units     int64 `json:"units"`
	Exposures int64 `json:"exposures"`
	Joined    int64 `json:"joined"`
	// Metrics by name (Metrics): the reward and every outcome KPI.
	Metrics map[string]MetricResult `json:"metrics"`
}

// MetricResult is one metric of one arm over its units with a joined
// outcome.
type MetricResult struct {
	// Units is the number of units the mean is over.
	Units int64      `json:"units"`
	Mean  float64    `json:"mean"`
	CI    [2]float64 `json:"ci"`
	// Lift against the control; null for the control and without data.
	Lift *Lift `json:"lift"`
}

// Lift is an arm's relative lift on one metric against the control, by
// GrowthBook's frequentist engine (Welch t on the relative lift, delta
// method).
type Lift struct {
	Relative float64    `json:"relative"`
	CI       [2]float64 `json:"ci"`
	PValue   float64    `json:"p_value"`
	// PValueHolm is the p-value adjusted by Holm-Bonferroni across the
	// arms compared with the control on this metric.
	PValueHolm float64 `json:"p_value_holm"`
	// Sequential is the anytime-valid confidence sequence and its p-value,
	// safe to look at as often as one likes.
	Sequential SequentialLift `json:"sequential"`
}

// SequentialLift is the anytime-valid version of a lift's interval and
// p-value.
type SequentialLift struct {
	CI     [2]float64 `json:"ci"`
	PValue float64    `json:"p_value"`
}
