package api_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"situ/api"
)

// startHealthServer serves a health server of role on a loopback listener
// with Serve, as situ's learner and broker roles do.
func startHealthServer(t *testing.T, role string, ready func(context.Context) error) (url string, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	s, err := api.NewHealthServer(role, api.Config{Ready: ready, Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	addr, cancel, done := serveLoopback(t, s.Serve)
	return "http://" + addr, cancel, done
}

func TestHealthServer(t *testing.T) {
	notReady := errors.New("waiting for Kafka")
	cases := []struct {
		name   string
		ready  func(context.Context) error
		method string
		path   string
		status int
		body   string // exact, without the final newline
	}{
		{"healthz names the role", nil, http.MethodGet, api.RouteHealth, 200, `{"status":"ok","role":"learner"}`},
		{"healthz while not ready", func(context.Context) error { return notReady }, http.MethodGet, api.RouteHealth, 200, `{"status":"ok","role":"learner"}`},
		{"readyz names the role", func(context.Context) error { return nil }, http.MethodGet, api.RouteReady, 200, `{"status":"ready","role":"learner"}`},
		{"readyz with a failing check", func(context.Context) error { return notReady }, http.MethodGet, api.RouteReady, 503,
			`{"error":{"code":"not_ready","message":"waiting for Kafka"}}`},
		{"no score route: the 404 names the role", nil, http.MethodPost, api.RouteScore, 404,
			`{"error":{"code":"not_found","message":"this process runs the learner role: it serves /healthz, /readyz and /metrics; score on an api or all replica"}}`},
		{"no outcome route", nil, http.MethodPost, api.RouteOutcomes, 404,
			`{"error":{"code":"not_found","message":"this process runs the learner role: it serves /healthz, /readyz and /metrics; score on an api or all replica"}}`},
		{"405 as JSON", nil, http.MethodPost, api.RouteHealth, 405,
			`{"error":{"code":"method_not_allowed","message":"method POST is not allowed here; allowed: GET"}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url, _, _ := startHealthServer(t, "learner", tc.ready)
			r := send(t, http.DefaultClient, tc.method, url+tc.path, strings.NewReader(`{}`), nil)
			require.Equal(t, tc.status, r.status)
			require.Equal(t, "application/json; charset=utf-8", r.header.Get("Content-Type"))
			require.Equal(t, tc.body+"\n", string(r.body))
		})
	}
}

// TestHealthServerMetrics checks that a health server measures its
// requests like the API and keeps no decision metrics.
func TestHealthServerMetrics(t *testing.T) {
	url, _, _ := startHealthServer(t, "broker", nil)
	for _, path := range []string{api.RouteHealth, "/v1/score"} {
		res, err := http.Get(url + path)
		require.NoError(t, err)
		res.Body.Close()
	}
	r := send(t, http.DefaultClient, http.MethodGet, url+api.RouteMetrics, nil, nil)
	require.Equal(t, 200, r.status)
	text := string(r.body)
	require.Contains(t, text, `situ_http_request_duration_seconds_count{code="200",method="GET",route="/healthz"} 1`)
	require.Contains(t, text, `situ_http_request_duration_seconds_count{code="404",method="GET",route="unmatched"} 1`)
	require.NotContains(t, text, "situ_decisions_total")
	require.NotContains(t, text, "situ_policy_rule")
}

// TestHealthServerDrains checks that a health server stops like the API:
// Serve returns nil once drained.
func TestHealthServerDrains(t *testing.T) {
	url, cancel, done := startHealthServer(t, "broker", nil)
	res, err := http.Get(url + api.RouteReady)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the context ended")
	}
}

func TestNewHealthServerRefuses(t *testing.T) {
	cases := []struct {
		name    string
		role    string
		cfg     api.Config
		wantErr string
	}{
		{"no role", "", api.Config{}, "a health server needs a role"},
		{"a decider", "learner", api.Config{Decider: newEngine(t, nil)}, "takes no decider"},
		{"a bad setting", "learner", api.Config{ReadTimeout: -time.Second}, "read timeout must not be negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := api.NewHealthServer(tc.role, tc.cfg)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}
