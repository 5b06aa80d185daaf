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
	// learner side
	decisionsRead, decisionsInvalid, outcomesRead float64
	joined, expired, unknown, duplicate           float64
	droppedPending, droppedEarly                  float64
	droppedLate, closed, stale, late              float64
	pending, early                                float64
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
		pending:              s.value("situ_learner_pending_decisions"),
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
