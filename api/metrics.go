package api

import (
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"situ/features"
	"situ/policy"
	"situ/scoring"
)

// LatencyBuckets are the bounds (seconds) of the request duration
// histogram: the score endpoint answers in tens of microseconds, so the
// buckets start at 25µs and reach 1s.
var LatencyBuckets = []float64{
	0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
}

// metrics are the Prometheus series the API keeps.
type metrics struct {
	requests    *prometheus.HistogramVec // route, method, code
	decisions   [features.NumTreatments]prometheus.Counter
	unknown     [features.NumTextFields]prometheus.Counter // field
	rulesFired  *prometheus.CounterVec                     // rule
	ruleErrors  *prometheus.CounterVec                     // rule
	ruleCounter atomic.Pointer[ruleCounters]
}

// ruleCounters are the per-rule counters of one policy, resolved once per
// policy rather than once per decision.
type ruleCounters struct {
	policy *policy.Policy
	fired  []prometheus.Counter
	failed []prometheus.Counter
}

// newMetrics registers the request histogram and, with decisions, the
// decision, unknown-value and policy-rule counters.
func newMetrics(reg prometheus.Registerer, decisions bool) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "situ_http_request_duration_seconds",
			Help:    "Time from receiving a request to writing its answer, by route, method and status code.",
			Buckets: LatencyBuckets,
		}, []string{"route", "method", "code"}),
		rulesFired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "situ_policy_rules_fired_total",
			Help: "Decisions in which a service-policy rule's condition held, by rule.",
		}, []string{"rule"}),
		ruleErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "situ_policy_rule_errors_total",
			Help: "Decisions in which a service-policy rule's condition could not be evaluated (the rule had no effect), by rule.",
		}, []string{"rule"}),
	}
	decided := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "situ_decisions_total",
		Help: "Decisions made, by chosen treatment.",
	}, []string{"treatment"})
	for _, t := range features.Treatments() {
		m.decisions[t] = decided.WithLabelValues(t.String())
	}
	unknown := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "situ_context_unknown_values_total",
		Help: "Decisions whose context held a text value the feature schema does not know (counted as other), by field.",
	}, []string{"field"})
	for _, f := range features.TextFields() {
		m.unknown[f] = unknown.WithLabelValues(f.String())
	}
	collectors := []prometheus.Collector{m.requests}
	if decisions {
		collectors = append(collectors, decided, unknown, m.rulesFired, m.ruleErrors)
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if errors.As(err, &already) {
				return nil, fmt.Errorf("register metrics: %w (one registry per server)", err)
			}
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// observeDecision counts a decision, the text fields whose value it did
// not know and the rules it fired or failed.
func (m *metrics) observeDecision(d *scoring.Decision) {
	if int(d.Treatment) < features.NumTreatments {
		m.decisions[d.Treatment].Inc()
	}
	if d.Unknown != 0 {
		for _, f := range features.TextFields() {
			if d.Unknown.Has(f) {
				m.unknown[f].Inc()
			}
		}
	}
	if d.Policy == nil || d.Rules.Fired|d.Rules.Failed == 0 {
		return
	}
	rc := m.ruleCounter.Load()
	if rc == nil || rc.policy != d.Policy {
		rc = m.countersFor(d.Policy)
		m.ruleCounter.Store(rc)
	}
	for i := range rc.fired {
		if d.Rules.Fired&(1<<i) != 0 {
			rc.fired[i].Inc()
		}
		if d.Rules.Failed&(1<<i) != 0 {
			rc.failed[i].Inc()
		}
	}
}

func (m *metrics) countersFor(p *policy.Policy) *ruleCounters {
	rc := &ruleCounters{policy: p}
	for i := 0; i < p.NumRules(); i++ {
		rc.fired = append(rc.fired, m.rulesFired.WithLabelValues(p.RuleID(i)))
		rc.failed = append(rc.failed, m.ruleErrors.WithLabelValues(p.RuleID(i)))
	}
	return rc
}

// statusCodes holds the label value of every HTTP status code.
var statusCodes = func() (s [600]string) {
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

func statusLabel(code int) string {
	if code >= 0 && code < len(statusCodes) {
		return statusCodes[code]
	}
	return strconv.Itoa(code)
}
