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
	"situ/api/contract"
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

func decodeProblem(tb testing.TB, r response) contract.Problem {
	tb.Helper()
	require.Equal(tb, "application/json; charset=utf-8", r.header.Get("Content-Type"), "body: %s", r.body)
	var p contract.Problem
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	require.NoError(tb, dec.Decode(&p), "body: %s", r.body)
	require.NotEmpty(tb, p.Error.Code, "body: %s", r.body)
	require.NotEmpty(tb, p.Error.Message, "body: %s", r.body)
	return p
}

// decodeAnswer reads the 200 answer of POST /v1/score as a client reads it.
func decodeAnswer(tb testing.TB, r response) contract.ScoreResponse {
	tb.Helper()
	require.Equal(tb, http.StatusOK, r.status, "body: %s", r.body)
	var a contract.ScoreResponse
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
