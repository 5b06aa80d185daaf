package experiments

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"situ/features"
)

// Experiment states.
const (
	StateRunning = "running"
	StateStopped = "stopped"
)

// What an experiment does when a guardrail is breached (Definition.OnBreach).
const (
	OnBreachReport = "report" // show the breach in the results; keep running
	OnBreachStop   = "stop"   // stop the experiment, audited, with the evidence
)

// Segments a guardrail may be checked in, besides the whole experiment.
const (
	SegmentTier         = "tier"
	SegmentFirstContact = "first_contact"
)

// Metrics are the names results report and guardrails and the primary
// metric may name: the reward, then the outcome KPIs in the outcome
// event's order.
var Metrics = []string{"reward", "resolved", "csat", "upsell_accepted", "revenue", "handle_seconds", "escalated", "recontact_7d", "churned"}

// LowerIsBetter reports whether a smaller value of metric is the better
// one: the cost and harm KPIs. A guardrail on one of them bounds a rise.
func LowerIsBetter(metric string) bool {
	switch metric {
	case "handle_seconds", "escalated", "recontact_7d", "churned":
		return true
	}
	return false
}

// Bounds of a definition.
const (
	MaxArms          = 8
	MaxGuardrails    = 16
	MaxTargetingLen  = 1024
	MaxHypothesisLen = 4096
)

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Definition is an experiment as an experimenter declares it: the body of
// POST /v1/admin/experiments without author and reason.
type Definition struct {
	// ID names the experiment: 1-64 characters of a-z, 0-9, '.', '_', '-'.
	ID         string `json:"id"`
	Hypothesis string `json:"hypothesis"`
	// Arms are the strategies compared; the first is the control.
	Arms []Arm `json:"arms"`
	// Coverage is the share of eligible units in the experiment, in
	// (0, 1]; 0 in a request means 1.
	Coverage float64 `json:"coverage"`
	// Seed of the assignment hash; "" in a request means the id.
	Seed string `json:"seed"`
	// Targeting is an expr-lang condition over the request, as service
	// policy rules see it (channel == 'chat'); "" means everyone.
	Targeting string `json:"targeting,omitempty"`
	// Namespace, when given, makes experiments in disjoint ranges of one
	// namespace mutually exclusive.
	Namespace *NamespaceSpec `json:"namespace,omitzero"`
	// Guardrails are checked continuously; OnBreach says what a breach does.
	Guardrails []Guardrail `json:"guardrails,omitempty"`
	// OnBreach is "report" or "stop"; "" in a request means "report".
	OnBreach string `json:"on_breach"`
	// PrimaryMetric is the metric the experiment is decided on; "" in a
	// request means "reward".
	PrimaryMetric string `json:"primary_metric"`
}

// Arm is one strategy of an experiment and its share of the traffic.
type Arm struct {
	Name     string  `json:"name"`
	Strategy string  `json:"strategy"`
	Weight   float64 `json:"weight"`
}

// NamespaceSpec is an experiment's part [Range[0], Range[1]) of a
// namespace.
type NamespaceSpec struct {
	ID    string     `json:"id"`
	Range [2]float64 `json:"range"`
}

// Guardrail bounds how much worse than the control an arm may be on one
// metric, overall and in every value of each segment. Exactly one of
// MaxRelativeDrop (for metrics where more is better) and MaxRelativeRise
// (for those where less is better, LowerIsBetter) is given.
type Guardrail struct {
	Metric          string   `json:"metric"`
	MaxRelativeDrop *float64 `json:"max_relative_drop,omitzero"`
	MaxRelativeRise *float64 `json:"max_relative_rise,omitzero"`
	// Segments, each "tier" or "first_contact": the guardrail holds in
	// every tier (first-contact and returning customers) too.
	Segments []string `json:"segments,omitempty"`
}

// Tolerance returns the guardrail's bound on the relative lift: for a drop
// d, a lift below -d breaches; for a rise r, a lift above r breaches.
func (g Guardrail) Tolerance() (bound float64, lowerIsWorse bool) {
	if g.MaxRelativeDrop != nil {
		return -*g.MaxRelativeDrop, true
	}
	if g.MaxRelativeRise != nil {
		return *g.MaxRelativeRise, false
	}
	return 0, true
}

// Experiment is an experiment in the configuration: its definition and its
// state. Stop is set once it is stopped.
type Experiment struct {
	Definition Definition `json:"definition"`
	State      string     `json:"state"`
	Stop       *Stop      `json:"stop,omitzero"`
}

// Running reports whether the experiment assigns units.
func (e Experiment) Running() bool { return e.State == StateRunning }

// Stop says who stopped an experiment and why.
type Stop struct {
	// By is the author of the change that stopped it ("situ-guardrails"
	// for an automatic stop).
	By     string `json:"by"`
	Reason string `json:"reason"`
	// Evidence are the breached guardrails of an automatic stop.
	Evidence []GuardrailStatus `json:"evidence,omitempty"`
}

// Guardrail statuses.
const (
	GuardrailOK       = "ok"       // the arm is within the bound with confidence
	GuardrailWatching = "watching" // not enough evidence either way
	GuardrailBreached = "breached" // the arm is beyond the bound with confidence
)

// GuardrailStatus is one guardrail's state for one arm in one segment: the
// results' "guardrails" entries and a stop's evidence.
type GuardrailStatus struct {
	Metric string `json:"metric"`
	Arm    string `json:"arm"`
	// Segment is "" for the whole experiment, else "tier=gold",
	// "first_contact=true" ….
	Segment string `json:"segment"`
	Status  string `json:"status"`
	// Bound is the relative lift the guardrail allows (-0.05 for a 5 %
	// drop).
	Bound float64 `json:"bound"`
	// Lift is the relative lift against the control, null without data.
	// CI is its two-sided sequential (anytime-valid) 90 % interval: each
	// side is a one-sided 95 % bound, and the side towards harm is the one
	// compared with Bound.
	Lift *float64   `json:"lift"`
	CI   [2]float64 `json:"ci"`
	// Units are the arm's and the control's units in the segment.
	Units        int64 `json:"units"`
	ControlUnits int64 `json:"control_units"`
}

func fieldErr(path, format string, args ...any) *features.FieldError {
	return &features.FieldError{Field: path, Message: fmt.Sprintf(format, args...)}
}

// Normalize fills a request's defaults: coverage 1, the id as the seed,
// "report" on breach, "reward" as the primary metric. It also trims the
// arms' names and strategies.
func (d *Definition) Normalize() {
	if d.Coverage == 0 {
		d.Coverage = 1
	}
	if d.Seed == "" {
		d.Seed = d.ID
	}
	if d.OnBreach == "" {
		d.OnBreach = OnBreachReport
	}
	if d.PrimaryMetric == "" {
		d.PrimaryMetric = "reward"
	}
	d.Targeting = strings.TrimSpace(d.Targeting)
	for i := range d.Arms {
		d.Arms[i].Name = strings.TrimSpace(d.Arms[i].Name)
		d.Arms[i].Strategy = strings.TrimSpace(d.Arms[i].Strategy)
	}
}

// Validate checks a normalized definition on its own; prefix is the JSON
// path of the definition ("experiment" …). Targeting is compiled by
// NewAssigner, not here. It does not know which models can be frozen:
// the caller checks model@VERSION strategies.
func (d Definition) Validate(prefix string) error {
	p := func(s string) string {
		if prefix == "" {
			return s
		}
		return prefix + "." + s
	}
	if !idPattern.MatchString(d.ID) {
		return fieldErr(p("id"), "must be 1-64 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit, got %q", d.ID)
	}
	if len(d.Hypothesis) > MaxHypothesisLen {
		return fieldErr(p("hypothesis"), "must be at most %d bytes", MaxHypothesisLen)
	}
	if len(d.Arms) < 2 || len(d.Arms) > MaxArms {
		return fieldErr(p("arms"), "must list 2 to %d arms, got %d", MaxArms, len(d.Arms))
	}
	names := map[string]bool{}
	total := 0.0
	for i, a := range d.Arms {
		ap := fmt.Sprintf("%s[%d]", p("arms"), i)
		if !idPattern.MatchString(a.Name) {
			return fieldErr(ap+".name", "must be 1-64 characters of a-z, 0-9, '.', '_', '-', got %q", a.Name)
		}
		if names[a.Name] {
			return fieldErr(ap+".name", "arm %q is listed twice", a.Name)
		}
		names[a.Name] = true
		if _, err := ParseStrategy(a.Strategy); err != nil {
			return fieldErr(ap+".strategy", "%s", err)
		}
		if !(a.Weight > 0 && a.Weight <= 1) {
			return fieldErr(ap+".weight", "must be a number in (0, 1], got %g", a.Weight)
		}
		total += a.Weight
	}
	if math.Abs(total-1) > 1e-9 {
		return fieldErr(p("arms"), "weights must sum to 1, got %g", total)
	}
	if !(d.Coverage > 0 && d.Coverage <= 1) {
		return fieldErr(p("coverage"), "must be a number in (0, 1], got %g", d.Coverage)
	}
	if d.Seed == "" || len(d.Seed) > 256 {
		return fieldErr(p("seed"), "must be 1-256 bytes")
	}
	if len(d.Targeting) > MaxTargetingLen {
		return fieldErr(p("targeting"), "must be at most %d bytes", MaxTargetingLen)
	}
	if ns := d.Namespace; ns != nil {
		if !idPattern.MatchString(ns.ID) {
			return fieldErr(p("namespace.id"), "must be 1-64 characters of a-z, 0-9, '.', '_', '-', got %q", ns.ID)
		}
		if r := ns.Range; !(r[0] >= 0 && r[0] < r[1] && r[1] <= 1) {
			return fieldErr(p("namespace.range"), "must be [start, end) with 0 <= start < end <= 1, got [%g, %g]", r[0], r[1])
		}
	}
	if len(d.Guardrails) > MaxGuardrails {
		return fieldErr(p("guardrails"), "at most %d guardrails, got %d", MaxGuardrails, len(d.Guardrails))
	}
	for i, g := range d.Guardrails {
		gp := fmt.Sprintf("%s[%d]", p("guardrails"), i)
		if !slices.Contains(Metrics, g.Metric) {
			return fieldErr(gp+".metric", "unknown metric %q; allowed: %s", g.Metric, strings.Join(Metrics, ", "))
		}
		switch {
		case (g.MaxRelativeDrop == nil) == (g.MaxRelativeRise == nil):
			return fieldErr(gp, "give exactly one of max_relative_drop and max_relative_rise")
		case g.MaxRelativeDrop != nil && LowerIsBetter(g.Metric):
			return fieldErr(gp+".max_relative_drop", "%s is better when lower: bound its rise with max_relative_rise", g.Metric)
		case g.MaxRelativeRise != nil && !LowerIsBetter(g.Metric):
			return fieldErr(gp+".max_relative_rise", "%s is better when higher: bound its drop with max_relative_drop", g.Metric)
		}
		for name, v := range map[string]*float64{"max_relative_drop": g.MaxRelativeDrop, "max_relative_rise": g.MaxRelativeRise} {
			if v != nil && !(*v >= 0 && *v < 10) {
				return fieldErr(gp+"."+name, "must be a number in [0, 10), got %g", *v)
			}
		}
		seen := map[string]bool{}
		for j, s := range g.Segments {
			if s != SegmentTier && s != SegmentFirstContact {
				return fieldErr(fmt.Sprintf("%s.segments[%d]", gp, j), "unknown segment %q; allowed: tier, first_contact", s)
			}
			if seen[s] {
				return fieldErr(fmt.Sprintf("%s.segments[%d]", gp, j), "segment %q is listed twice", s)
			}
			seen[s] = true
		}
	}
	if d.OnBreach != OnBreachReport && d.OnBreach != OnBreachStop {
		return fieldErr(p("on_breach"), "must be %q or %q, got %q", OnBreachReport, OnBreachStop, d.OnBreach)
	}
	if !slices.Contains(Metrics, d.PrimaryMetric) {
		return fieldErr(p("primary_metric"), "unknown metric %q; allowed: %s", d.PrimaryMetric, strings.Join(Metrics, ", "))
	}
	return nil
}

// Clone returns a copy of d that shares nothing mutable with it.
func (d Definition) Clone() Definition {
	d.Arms = slices.Clone(d.Arms)
	if d.Namespace != nil {
		ns := *d.Namespace
		d.Namespace = &ns
	}
	gs := make([]Guardrail, len(d.Guardrails))
	for i, g := range d.Guardrails {
		g.MaxRelativeDrop, g.MaxRelativeRise = clonePtr(g.MaxRelativeDrop), clonePtr(g.MaxRelativeRise)
		g.Segments = slices.Clone(g.Segments)
		gs[i] = g
	}
	if d.Guardrails != nil {
		d.Guardrails = gs
	}
	return d
}

// Clone returns a copy of e that shares nothing mutable with it.
func (e Experiment) Clone() Experiment {
	e.Definition = e.Definition.Clone()
	if e.Stop != nil {
		s := *e.Stop
		s.Evidence = slices.Clone(s.Evidence)
		for i := range s.Evidence {
			s.Evidence[i].Lift = clonePtr(s.Evidence[i].Lift)
		}
		e.Stop = &s
	}
	return e
}

func clonePtr(p *float64) *float64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
