package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"situ/api"
	"situ/features"
	"situ/internal/situtest"
	"situ/models"
	"situ/policy"
	"situ/scoring"
)

// contractExample is the request body of the contract (docs/api.md).
var contractExample = situtest.ContractBody

// newEngine builds an engine with the default schema and model, pol (the
// default policy when nil), a fixed clock, seed and sequential ids.
func newEngine(tb testing.TB, pol *policy.Policy) *scoring.Engine {
	tb.Helper()
	return situtest.Engine(tb, situtest.EngineOptions{Policy: pol})
}

// testServer is an API server on a loopback listener.
type testServer struct {
	*httptest.Server
	registry *prometheus.Registry
}

// newTestServer starts the API with the default engine (unless cfg has a
// decider) and its own registry, on a real loopback listener.
func newTestServer(tb testing.TB, cfg api.Config) *testServer {
	tb.Helper()
	if cfg.Decider == nil {
		cfg.Decider = newEngine(tb, nil)
	}
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	s, err := api.New(cfg)
	require.NoError(tb, err)
	ts := httptest.NewServer(s.Handler())
	tb.Cleanup(ts.Close)
	return &testServer{Server: ts, registry: reg}
}

// response is an answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (ts *testServer) do(tb testing.TB, method, path, contentType string, body []byte) response {
	tb.Helper()
	req, err := http.NewRequest(method, ts.URL+path, bytes.NewReader(body))
	require.NoError(tb, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := ts.Client().Do(req)
	require.NoError(tb, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(tb, err)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func (ts *testServer) postJSON(tb testing.TB, path, body string) response {
	tb.Helper()
	return ts.do(tb, http.MethodPost, path, "application/json", []byte(body))
}

// problemBody is the JSON error answer.
type problemBody struct {
	Error struct {
		Code    string  `json:"code"`
		Message string  `json:"message"`
		Field   *string `json:"field"`
	} `json:"error"`
}

func decodeProblem(tb testing.TB, r response) problemBody {
	tb.Helper()
	require.Equal(tb, "application/json; charset=utf-8", r.header.Get("Content-Type"), "body: %s", r.body)
	var p problemBody
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	require.NoError(tb, dec.Decode(&p), "body: %s", r.body)
	require.NotEmpty(tb, p.Error.Code, "body: %s", r.body)
	require.NotEmpty(tb, p.Error.Message, "body: %s", r.body)
	return p
}

// scoreAnswer is the 200 answer of POST /v1/score as a client reads it.
type scoreAnswer struct {
	DecisionID    string             `json:"decision_id"`
	Treatment     string             `json:"treatment"`
	Probabilities map[string]float64 `json:"probabilities"`
	Propensity    float64            `json:"propensity"`
	Scores        map[string]float64 `json:"scores"`
	Strategy      string             `json:"strategy"`
	ModelVersion  int64              `json:"model_version"`
	Policy        struct {
		Rules        []string          `json:"rules"`
		Excluded     map[string]string `json:"excluded"`
		Entitlements []string          `json:"entitlements"`
		Uniform      bool              `json:"uniform"`
	} `json:"policy"`
	HumanEscape bool     `json:"human_escape"`
	Unknown     []string `json:"unknown"`
	Explanation map[string][]struct {
		Feature      string  `json:"feature"`
		Contribution float64 `json:"contribution"`
	} `json:"explanation"`
}

func decodeAnswer(tb testing.TB, r response) scoreAnswer {
	tb.Helper()
	require.Equal(tb, http.StatusOK, r.status, "body: %s", r.body)
	var a scoreAnswer
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	require.NoError(tb, dec.Decode(&a), "body: %s", r.body)
	return a
}

// newProductionEngine builds an engine with the default schema, model and
// policy and the production id generator, clock and seed.
func newProductionEngine(tb testing.TB) *scoring.Engine {
	tb.Helper()
	schema, err := features.DefaultSchema()
	require.NoError(tb, err)
	model, err := models.DefaultModel(schema)
	require.NoError(tb, err)
	pol, err := policy.Default()
	require.NoError(tb, err)
	e, err := scoring.NewEngine(scoring.Config{Model: model, Policy: pol})
	require.NoError(tb, err)
	return e
}
