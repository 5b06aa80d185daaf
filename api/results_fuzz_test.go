package api_test

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	json "github.com/go-json-experiment/json"
	"github.com/prometheus/client_golang/prometheus"

	"situ/api"
	"situ/experiments"
	"situ/internal/controltest"
)

// FuzzExperimentResults feeds arbitrary nba.experiments.results values
// to GET /v1/admin/experiments/{id}/results, which decodes the latest one
// of the experiment. Nothing panics; the answer is 200 with results or a
// 503 JSON problem (results the engine wrote badly are not the client's
// fault), never another status; answered results decode and encode again
// to the same bytes.
func FuzzExperimentResults(f *testing.F) {
	pub := experiments.Results{ID: "philosophy", State: experiments.StateRunning, PrimaryMetric: "resolved", AsOf: controltest.Start,
		Decisions: 30, Outcomes: 20, SRM: experiments.SRMCheck{PValue: 0.41},
		Arms: []experiments.ArmResult{
			{Name: "control", Strategy: "learned", Units: 10, Exposures: 10, Joined: 7, Metrics: map[string]experiments.MetricResult{"resolved": {Units: 7, Mean: 0.7, CI: [2]float64{0.6, 0.8}}}},
			{Name: "tiers", Strategy: "value_tier", Units: 10, Exposures: 10, Joined: 7, Metrics: map[string]experiments.MetricResult{"resolved": {Units: 7, Mean: 0.72, CI: [2]float64{0.6, 0.8},
				Lift: &experiments.Lift{Relative: 0.02, CI: [2]float64{-0.1, 0.14}, PValue: 0.8, PValueHolm: 1}}}},
		},
		Segments:   map[string]map[string]experiments.SegmentResult{"tier": {"gold": {Arms: []experiments.ArmResult{}}}},
		Guardrails: []experiments.GuardrailStatus{{Metric: "resolved", Arm: "tiers", Status: experiments.GuardrailWatching, Bound: -0.05}},
	}
	seed, err := json.Marshal(pub)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"id":"philosophy","arms":null,"segments":{"tier":null}}`))
	f.Add([]byte(`{"srm":{"p_value":"NaN"}}`))
	f.Add([]byte(`{"id": `))
	f.Add([]byte(`null`))

	tokens, err := api.NewTokens([]api.Token{tokenEntry("ana", api.RoleAdmin, adminToken), tokenEntry("carl", api.RoleAnalyst, analystToken)})
	if err != nil {
		f.Fatal(err)
	}
	plane := controltest.New(f)
	results := &memoryResults{}
	s, err := api.New(api.Config{Decider: newEngine(f, nil), Tokens: tokens, Control: plane, Results: results, Registerer: prometheus.NewRegistry()})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	do := func(method, path, token, body string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		r := httptest.NewRequestWithContext(context.Background(), method, path, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		h.ServeHTTP(rec, r)
		return rec
	}
	if rec := do(http.MethodPost, api.RouteAdminExperiments, adminToken, philosophy); rec.Code != http.StatusCreated {
		f.Fatalf("create the experiment: %d %s", rec.Code, rec.Body.Bytes())
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		results.publish("philosophy", value)
		rec := do(http.MethodGet, "/v1/admin/experiments/philosophy/results", analystToken, "")
		if !stdjson.Valid(rec.Body.Bytes()) {
			t.Fatalf("answer is not JSON for %q: %s", value, rec.Body.Bytes())
		}
		switch rec.Code {
		case http.StatusServiceUnavailable:
			return
		case http.StatusOK:
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, value, rec.Body.Bytes())
		}
		var got experiments.Results
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("answered results do not decode: %v\n%s", err, rec.Body.Bytes())
		}
		b, err := json.Marshal(got, json.Deterministic(true))
		if err != nil {
			t.Fatalf("answered results do not encode: %v", err)
		}
		var back experiments.Results
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("re-encoded results do not decode: %v\n%s", err, b)
		}
		b2, _ := json.Marshal(back, json.Deterministic(true))
		if !bytes.Equal(b, b2) {
			t.Fatalf("round trip not stable:\n%s\n%s", b, b2)
		}
	})
}
