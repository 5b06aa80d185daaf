package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
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

// do sends method path with body, of contentType (none when empty).
func (ts *testServer) do(tb testing.TB, method, path, contentType string, body []byte) response {
	tb.Helper()
	header := http.Header{}
	if contentType != "" {
		header.Set("Content-Type", contentType)
	}
	return ts.send(tb, method, path, bytes.NewReader(body), header)
}

// send sends method path with body and header (nil: none) by ts's client.
func (ts *testServer) send(tb testing.TB, method, path string, body io.Reader, header http.Header) response {
	tb.Helper()
	return send(tb, ts.Client(), method, ts.URL+path, body, header)
}

// send sends method url with body and header (nil: none) by client and
// reads the answer in full.
func send(tb testing.TB, client *http.Client, method, url string, body io.Reader, header http.Header) response {
	tb.Helper()
	req, err := http.NewRequest(method, url, body)
	require.NoError(tb, err)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := client.Do(req)
	require.NoError(tb, err)
	return readAll(tb, res)
}

// readAll reads res in full and closes its body.
func readAll(tb testing.TB, res *http.Response) response {
	tb.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(tb, err)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// serveLoopback runs serve on a loopback listener until cancel (or the
// test's end) and returns the listener's address and what serve returns.
func serveLoopback(tb testing.TB, serve func(context.Context, net.Listener) error) (addr string, cancel context.CancelFunc, done <-chan error) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- serve(ctx, ln) }()
	tb.Cleanup(cancel)
	return ln.Addr().String(), cancel, errc
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
