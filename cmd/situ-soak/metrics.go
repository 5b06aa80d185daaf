package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape is one reading of the child's /metrics.
type scrape map[string]*dto.MetricFamily

// scrapeMetrics reads url's /metrics.
func scrapeMetrics(ctx context.Context, client *http.Client, url string) (scrape, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape: /metrics answered %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	return scrape(fams), nil
}

// value returns the sum of the counters or gauges called name whose labels
// include every pair of labels ("k=v"); 0 when there are none.
func (s scrape) value(name string, labels ...string) float64 {
	fam, ok := s[name]
	if !ok {
		return 0
	}
	total := 0.0
	for _, m := range fam.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Untyped != nil:
			total += m.Untyped.GetValue()
		}
	}
	return total
}

// requests returns the count of the request histogram's observations for
// route whose status code satisfies code.
func (s scrape) requests(route string, code func(string) bool) float64 {
	fam, ok := s["situ_http_request_duration_seconds"]
	if !ok {
		return 0
	}
	total := 0.0
	for _, m := range fam.GetMetric() {
		if m.Histogram == nil || !hasLabels(m, []string{"route=" + route}) {
			continue
		}
		for _, l := range m.GetLabel() {
			if l.GetName() == "code" && code(l.GetValue()) {
				total += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return total
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for _, want := range labels {
		k, v, _ := strings.Cut(want, "=")
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == k && l.GetValue() == v {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// is5xx matches a 5xx status code label.
func is5xx(code string) bool { return strings.HasPrefix(code, "5") }

// learnerCounts are the child's counters the accounting reads.
type learnerCounts struct {
	// API side
	decisions, dropped           float64 // situ_decisions_total, situ_decisions_dropped_total
	decisionsWritten             float64 // situ_kafka_records_written_total{topic=nba.decisions}
	outcomesPublished, dedupHTTP float64 // situ_outcomes_published_total, situ_outcomes_deduplicated_total
	outcomePublishErrors         float64
	server5xx                    float64 // 5xx answers on every route
	server5xxRoutes              string  // which: "route (child) n, …"
	// learner side
	decisionsRead, decisionsInvalid, outcomesRead float64
	joined, expired, unknown, duplicate           float64
	droppedPending, droppedEarly                  float64
	droppedLate, closed, stale, late              float64
	lateNotFound, lateNotUUID                     float64
	pending, lateDecisions, early                 float64
	dlqJSON, dlqInvalid, dlqWriteErrors           float64
	updates, restarts                             float64
}

// counts reads the counters from s.
func (s scrape) counts() learnerCounts {
	join := func(result string) float64 { return s.value("situ_learner_join_total", "result="+result) }
	c := learnerCounts{
		decisions:            s.value("situ_decisions_total"),
		dropped:              s.value("situ_decisions_dropped_total"),
		decisionsWritten:     s.value("situ_kafka_records_written_total", "topic=nba.decisions"),
		outcomesPublished:    s.value("situ_outcomes_published_total"),
		dedupHTTP:            s.value("situ_outcomes_deduplicated_total"),
		outcomePublishErrors: s.value("situ_outcomes_publish_errors_total"),
		decisionsRead:        s.value("situ_learner_decisions_read_total"),
		decisionsInvalid:     s.value("situ_learner_decisions_invalid_total"),
		outcomesRead:         s.value("situ_learner_outcomes_read_total"),
		joined:               join("joined"),
		expired:              join("expired"),
		unknown:              join("unknown_decision"),
		duplicate:            join("duplicate"),
		droppedPending:       join("dropped_pending_cap"),
		droppedEarly:         join("dropped_early_cap"),
		droppedLate:          join("dropped_late_cap"),
		closed:               join("closed"),
		stale:                join("stale_part"),
		late:                 join("late_part"),
		lateNotFound:         join("late_not_found"),
		lateNotUUID:          join("late_not_uuidv7"),
		pending:              s.value("situ_learner_pending_decisions"),
		lateDecisions:        s.value("situ_learner_late_decisions"),
		early:                s.value("situ_learner_early_outcomes"),
		dlqJSON:              s.value("situ_outcomes_dlq_total", "reason=invalid_json"),
		dlqInvalid:           s.value("situ_outcomes_dlq_total", "reason=invalid_outcome"),
		dlqWriteErrors:       s.value("situ_outcomes_dlq_write_errors_total"),
		updates:              s.value("situ_learner_updates_total"),
		restarts:             s.value("situ_learner_restarts_total"),
	}
	for _, route := range s.routes() {
		c.server5xx += s.requests(route, is5xx)
	}
	c.server5xxRoutes = s.fiveHundreds()
	return c
}

// routes lists the route labels of the request histogram.
func (s scrape) routes() []string {
	fam, ok := s["situ_http_request_duration_seconds"]
	if !ok {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, m := range fam.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "route" && !seen[l.GetValue()] {
				seen[l.GetValue()] = true
				out = append(out, l.GetValue())
			}
		}
	}
	return out
}

// byProcess returns the gauge name of each process of role all: the
// series labelled child=<name> are the children's (situ serve gathers
// their /metrics), the one without that label is situ serve's own
// (procAPI).
func (s scrape) byProcess(name string) map[string]float64 {
	out := map[string]float64{}
	fam, ok := s[name]
	if !ok {
		return out
	}
	for _, m := range fam.GetMetric() {
		proc := procAPI
		for _, l := range m.GetLabel() {
			if l.GetName() == "child" {
				proc = l.GetValue()
			}
		}
		switch {
		case m.Gauge != nil:
			out[proc] += m.Gauge.GetValue()
		case m.Untyped != nil:
			out[proc] += m.Untyped.GetValue()
		}
	}
	return out
}

// steadyTopics are the size-limited topics the soak's load fills within
// minutes: the decisions and the outcomes. The dead letters (1 % of the
// outcomes) would take more than an hour to reach their share of a 64 MiB
// budget; what they add meanwhile is their batches' index entries, tens
// of KiB a minute (docs/benchmarks.md).
var steadyTopics = []string{"nba.decisions", "nba.outcomes"}

// steadiness says which bounded structures of role all are full, from
// the gauges the processes expose: the broker's size-limited topics
// (situ_broker_retention_full) and the learner's cache of recent decisions
// (situ_learner_recent_decisions_bytes against its limit). It returns
// whether all are, and what is not yet.
func (s scrape) steadiness() (bool, []string) {
	var missing []string
	for _, t := range steadyTopics {
		if s.value("situ_broker_retention_full", "topic="+t) != 1 {
			retained := s.value("situ_broker_retained_bytes", "topic="+t)
			limit := s.value("situ_broker_retention_limit_bytes", "topic="+t)
			missing = append(missing, fmt.Sprintf("%s %.1f of %.1f MiB", t, retained/mib, limit/mib))
		}
	}
	// the cache evicts its oldest events to stay within its limit: full
	// once it holds all but the last events' bytes
	recent, limit := s.value("situ_learner_recent_decisions_bytes"), s.value("situ_learner_recent_decisions_limit_bytes")
	if limit == 0 || recent < 0.99*limit {
		missing = append(missing, fmt.Sprintf("the learner's recent decisions %.1f of %.1f MiB", recent/mib, limit/mib))
	}
	return len(missing) == 0, missing
}

// fiveHundreds lists the 5xx answers of the request histogram by route,
// status and process, for the report.
func (s scrape) fiveHundreds() string {
	fam, ok := s["situ_http_request_duration_seconds"]
	if !ok {
		return ""
	}
	var parts []string
	for _, m := range fam.GetMetric() {
		if m.Histogram == nil || m.Histogram.GetSampleCount() == 0 {
			continue
		}
		route, code, proc := "", "", procAPI
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "route":
				route = l.GetValue()
			case "code":
				code = l.GetValue()
			case "child":
				proc = l.GetValue()
			}
		}
		if is5xx(code) {
			parts = append(parts, fmt.Sprintf("%s %s (%s) %d", route, code, proc, m.Histogram.GetSampleCount()))
		}
	}
	return strings.Join(parts, ", ")
}
