package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"situ/api/contract"
	"situ/internal/situtest"
)

const dashboardFile = "grafana/situ-dashboard.json"

type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []templateVar `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type templateVar struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Query string `json:"query"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	GridPos struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string `json:"refId"`
		Expr       string `json:"expr"`
		Legend     string `json:"legendFormat"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

// mustShow are the metrics the dashboard must chart: what an operator of
// situ looks at first (docs/deploy.md, "The dashboard").
var mustShow = []string{
	"situ_http_request_duration_seconds", // score latency, request rate by code
	"situ_decisions_total",               // decisions by treatment
	"situ_policy_rules_fired_total",      // service-policy rules fired
	"situ_decisions_dropped_total",       // decision events lost on the way to Kafka
	"situ_learner_updates_total",         // learner updates/s
	"situ_model_version",                 // the model each replica serves …
	"situ_learner_model_version",         // … against the learner's latest
	"situ_learner_outcome_to_model_seconds",
	"situ_learner_join_total",
	"situ_outcomes_dlq_total",
	"situ_kafka_reader_up",                            // a replica whose Kafka feed stalled …
	"situ_kafka_last_fetch_success_timestamp_seconds", // … and for how long
	"situ_kafka_read_errors_total",
	"situ_kafka_write_errors_total",
	"situ_config_version", // the data team's configuration each process applied
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(data))
	var d dashboard
	require.NoError(t, dec.Decode(&d), dashboardFile)
	return d
}

// queryPanels returns every panel with queries, collapsed rows included.
func (d dashboard) queryPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return out
}

// TestDashboardLayout checks the dashboard as Grafana needs it: a uid, a
// Prometheus datasource variable every query uses, unique panel ids, a
// query in every panel, and panels inside the 24-column grid that do not
// overlap.
func TestDashboardLayout(t *testing.T) {
	d := readDashboard(t)
	require.NotEmpty(t, d.UID)
	require.NotEmpty(t, d.Title)
	require.Contains(t, d.Templating.List, templateVar{Name: "datasource", Type: "datasource", Query: "prometheus"}, "a $datasource variable of type prometheus")

	ids := map[int]string{}
	var all []panel
	var collect func([]panel)
	collect = func(ps []panel) {
		for _, p := range ps {
			all = append(all, p)
			collect(p.Panels)
		}
	}
	collect(d.Panels)
	for _, p := range all {
		require.NotZero(t, p.ID, "panel %q has no id", p.Title)
		if other, dup := ids[p.ID]; dup {
			require.Failf(t, "duplicate panel id", "%q and %q both have id %d", other, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		require.True(t, g.W > 0 && g.H > 0 && g.X >= 0 && g.X+g.W <= 24 && g.Y >= 0, "panel %q: gridPos %+v outside the 24-column grid", p.Title, g)
	}
	for i, a := range all {
		for _, b := range all[i+1:] {
			ga, gb := a.GridPos, b.GridPos
			overlap := ga.X < gb.X+gb.W && gb.X < ga.X+ga.W && ga.Y < gb.Y+gb.H && gb.Y < ga.Y+ga.H
			require.False(t, overlap, "panels %q and %q overlap", a.Title, b.Title)
		}
	}
	for _, p := range d.queryPanels() {
		require.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
		require.NotNil(t, p.Datasource, "panel %q: datasource", p.Title)
		require.Equal(t, "${datasource}", p.Datasource.UID, "panel %q", p.Title)
		for _, q := range p.Targets {
			require.NotEmpty(t, q.Expr, "panel %q query %s", p.Title, q.RefID)
			require.NotNil(t, q.Datasource, "panel %q query %s: datasource", p.Title, q.RefID)
			require.Equal(t, "${datasource}", q.Datasource.UID, "panel %q query %s", p.Title, q.RefID)
		}
	}

	charted := map[string]bool{}
	for _, p := range d.queryPanels() {
		for _, q := range p.Targets {
			for _, name := range metricToken.FindAllString(q.Expr, -1) {
				charted[baseName(name)] = true
			}
		}
	}
	for _, name := range mustShow {
		require.True(t, charted[name], "the dashboard charts no query over %s", name)
	}
}

// TestDashboardQueriesWhatSituExports runs situ as it is deployed (a
// Kafka broker, an API replica with the Kubernetes policy, a learner),
// scores once, reports one outcome, and checks every query of the
// dashboard against both processes' /metrics: each metric exists, each
// label a query matches, groups by or shows in a legend is a label of it,
// and each label value a query selects occurs. It also checks that both
// roles answer the probes the manifests use.
func TestDashboardQueriesWhatSituExports(t *testing.T) {
	broker := startBroker(t)
	brokers := strings.Join(broker.Brokers(), ",")
	learner := startServe(t, "--role", "learner", "--kafka-brokers", brokers)
	api := startServe(t, "--role", "api", "--kafka-brokers", brokers, "--policy", "kubernetes/policy.yaml", "--data-dir", t.TempDir())

	for _, p := range []*situtest.Process{api, learner} {
		for _, path := range []string{"/healthz", "/readyz"} {
			status, body := p.Get(t, path)
			require.Equal(t, http.StatusOK, status, "GET %s%s: %s", p.URL, path, body)
		}
	}

	var decision contract.ScoreResponse
	status := api.Post(t, "/v1/score", map[string]any{
		"customer": map[string]any{"id": "c-deploy", "lifetime_value": 5400, "annual_spend": 1200, "tenure_months": 38, "tier": "gold"},
		"intent":   map[string]any{"name": "billing_dispute", "confidence": 0.8},
		"channel":  "phone",
		"friction": map[string]any{"repeat_contacts_7d": 2, "wait_seconds": 180, "open_complaint": true, "sentiment": -0.6},
	}, &decision)
	require.Equal(t, http.StatusOK, status)
	require.NotEmpty(t, decision.DecisionID)
	require.NotEmpty(t, decision.Policy.Rules, "the request is meant to fire rules, so situ_policy_rules_fired_total has series")
	status = api.Post(t, "/v1/outcomes", map[string]any{
		"outcome_id": "o-deploy", "decision_id": decision.DecisionID, "resolved": true, "csat": 4,
		"occurred_at": time.Now().UTC().Format(time.RFC3339),
	}, nil)
	require.Equal(t, http.StatusAccepted, status)

	exported := map[string]*dto.MetricFamily{}
	for _, p := range []*situtest.Process{api, learner} {
		status, body := p.Get(t, "/metrics")
		require.Equal(t, http.StatusOK, status)
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
		require.NoError(t, err, "%s/metrics", p.URL)
		for name, f := range families {
			if have, ok := exported[name]; ok {
				have.Metric = append(have.Metric, f.Metric...)
				continue
			}
			exported[name] = f
		}
	}

	for _, p := range readDashboard(t).queryPanels() {
		for _, q := range p.Targets {
			t.Run(p.Title+"/"+q.RefID, func(t *testing.T) {
				checkQuery(t, q.Expr, q.Legend, exported)
			})
		}
	}
}

var (
	metricToken = regexp.MustCompile(`\bsitu_[a-zA-Z0-9_]+`)
	selector    = regexp.MustCompile(`\b(situ_[a-zA-Z0-9_]+)\{([^}]*)\}`)
	matcher     = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)
	grouping    = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	legendLabel = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
)

// targetLabels are the labels Prometheus adds to every scraped series.
var targetLabels = []string{"instance", "job"}

// baseName strips the series suffix of a histogram or summary.
func baseName(name string) string {
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, s); ok {
			return base
		}
	}
	return name
}

// seriesFamily returns the family a series name of a query belongs to:
// the family itself, or the histogram/summary whose _bucket, _sum or
// _count it is.
func seriesFamily(name string, exported map[string]*dto.MetricFamily) (*dto.MetricFamily, bool) {
	if f, ok := exported[name]; ok {
		return f, true
	}
	f, ok := exported[baseName(name)]
	if !ok || name == baseName(name) {
		return nil, false
	}
	switch f.GetType() {
	case dto.MetricType_HISTOGRAM:
		return f, true
	case dto.MetricType_SUMMARY:
		return f, !strings.HasSuffix(name, "_bucket")
	}
	return nil, false
}

// labelValues returns every value of a label in a family's series (a
// histogram's _bucket series also have le).
func labelValues(f *dto.MetricFamily, label string, bucket bool) []string {
	var values []string
	for _, m := range f.Metric {
		for _, l := range m.Label {
			if l.GetName() == label {
				values = append(values, l.GetValue())
			}
		}
		if bucket && label == "le" {
			for _, b := range m.GetHistogram().GetBucket() {
				values = append(values, fmt.Sprint(b.GetUpperBound()))
			}
		}
	}
	return values
}

// checkQuery checks one PromQL expression and its legend against the
// exported families.
func checkQuery(t *testing.T, expr, legend string, exported map[string]*dto.MetricFamily) {
	t.Helper()
	names := metricToken.FindAllString(expr, -1)
	require.NotEmpty(t, names, "the query reads no situ_ metric: %s", expr)
	labels := map[string]bool{}
	for _, l := range targetLabels {
		labels[l] = true
	}
	for _, name := range names {
		f, ok := seriesFamily(name, exported)
		require.True(t, ok, "%s is not a metric situ exports (query %s)", name, expr)
		bucket := strings.HasSuffix(name, "_bucket") && f.GetType() == dto.MetricType_HISTOGRAM
		if bucket {
			labels["le"] = true
		}
		for _, m := range f.Metric {
			for _, l := range m.Label {
				labels[l.GetName()] = true
			}
		}
	}
	for _, sel := range selector.FindAllStringSubmatch(expr, -1) {
		f, _ := seriesFamily(sel[1], exported)
		bucket := strings.HasSuffix(sel[1], "_bucket")
		for _, m := range matcher.FindAllStringSubmatch(sel[2], -1) {
			label, op, value := m[1], m[2], m[3]
			values := labelValues(f, label, bucket)
			require.NotEmpty(t, values, "%s has no label %s (query %s)", sel[1], label, expr)
			switch op {
			case "=":
				require.Contains(t, values, value, "no series of %s has %s=%q (query %s)", sel[1], label, value, expr)
			case "=~":
				re, err := regexp.Compile("^(?:" + value + ")$")
				require.NoError(t, err, "regexp of %s in %s", label, expr)
				require.True(t, slices.ContainsFunc(values, re.MatchString), "no series of %s has %s matching %q (query %s); values: %v", sel[1], label, value, expr, values)
			}
		}
	}
	var grouped []string
	for _, g := range grouping.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(g[1], ",") {
			l = strings.TrimSpace(l)
			require.True(t, labels[l], "the query groups by %s, a label none of its metrics has (query %s)", l, expr)
			grouped = append(grouped, l)
		}
	}
	for _, m := range legendLabel.FindAllStringSubmatch(legend, -1) {
		require.True(t, labels[m[1]], "legend %q shows %s, a label none of the query's metrics has", legend, m[1])
		if len(grouped) > 0 {
			require.Contains(t, grouped, m[1], "legend %q shows %s, which the query's aggregation drops (query %s)", legend, m[1], expr)
		}
	}
}
