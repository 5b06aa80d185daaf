package api_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"situ/api"
	"situ/policy"
	"situ/scoring"
)

func TestHealthAndReadiness(t *testing.T) {
	notReady := errors.New("model not loaded yet")
	cases := []struct {
		name   string
		ready  func(context.Context) error
		path   string
		status int
		body   string
	}{
		{"healthz", nil, api.RouteHealth, 200, `{"status":"ok"}`},
		{"healthz while not ready", func(context.Context) error { return notReady }, api.RouteHealth, 200, `{"status":"ok"}`},
		{"readyz without a check", nil, api.RouteReady, 200, `{"status":"ready"}`},
		{"readyz with a passing check", func(context.Context) error { return nil }, api.RouteReady, 200, `{"status":"ready"}`},
		{"readyz with a failing check", func(context.Context) error { return notReady }, api.RouteReady, 503,
			`{"error":{"code":"not_ready","message":"model not loaded yet"}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, api.Config{Ready: tc.ready})
			r := ts.do(t, http.MethodGet, tc.path, "", nil)
			require.Equal(t, tc.status, r.status)
			require.Equal(t, "application/json; charset=utf-8", r.header.Get("Content-Type"))
			require.JSONEq(t, tc.body, string(r.body))
		})
	}
}

// TestMetricsExposed checks that requests and decisions show up on
// /metrics with bounded labels.
func TestMetricsExposed(t *testing.T) {
	// a rule that fails at run time (modulo by zero transfers)
	spec := mustDefaultPolicy(t).Spec()
	spec.Rules = append(spec.Rules, policy.RuleSpec{ID: "broken-modulo", When: "friction.repeat_contacts_7d % friction.transfers == 1", Grant: []string{"x"}})
	pol, err := policy.Compile(spec)
	require.NoError(t, err)
	ts := newTestServer(t, api.Config{Decider: newEngine(t, pol)})

	require.Equal(t, 200, ts.postJSON(t, api.RouteScore, contractExample).status)
	require.Equal(t, 200, ts.postJSON(t, api.RouteScore, withValue(t, "friction.transfers", `0`)).status)
	require.Equal(t, 400, ts.postJSON(t, api.RouteScore, `{}`).status)
	require.Equal(t, 404, ts.do(t, http.MethodGet, "/customers/c-1842", "", nil).status)

	r := ts.do(t, http.MethodGet, api.RouteMetrics, "", nil)
	require.Equal(t, 200, r.status)
	text := string(r.body)
	for _, want := range []string{
		`situ_http_request_duration_seconds_bucket{code="200",method="POST",route="/v1/score",le="2.5e-05"}`,
		`situ_http_request_duration_seconds_count{code="200",method="POST",route="/v1/score"} 2`,
		`situ_http_request_duration_seconds_count{code="400",method="POST",route="/v1/score"} 1`,
		`situ_http_request_duration_seconds_count{code="404",method="GET",route="unmatched"} 1`,
		`situ_decisions_total{treatment="fast_resolution"} 2`,
		`situ_decisions_total{treatment="self_service"} 0`,
		`situ_policy_rules_fired_total{rule="open-complaint-no-upsell"} 2`,
		`situ_policy_rules_fired_total{rule="friction-no-self-service"} 2`,
		`situ_policy_rule_errors_total{rule="broken-modulo"} 1`,
	} {
		require.Contains(t, text, want)
	}
	require.NotContains(t, text, "c-1842", "no customer id in metrics")
}

// TestRequestLog checks what the request log holds and what it never holds.
func TestRequestLog(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	ts := newTestServer(t, api.Config{Logger: zap.New(core)})

	require.Equal(t, 200, ts.postJSON(t, api.RouteScore+"?customer=c-1842", contractExample).status)
	require.Equal(t, 200, ts.do(t, http.MethodGet, api.RouteHealth, "", nil).status)
	require.Equal(t, 200, ts.do(t, http.MethodGet, api.RouteReady, "", nil).status)
	require.Equal(t, 200, ts.do(t, http.MethodGet, api.RouteMetrics, "", nil).status)

	entries := logs.All()
	require.Len(t, entries, 1, "only the score request is logged: %v", entries)
	e := entries[0]
	require.Equal(t, "request", e.Message)
	require.Equal(t, "http", e.LoggerName)
	fields := e.ContextMap()
	require.Equal(t, "POST", fields["method"])
	require.Equal(t, "/v1/score", fields["route"])
	require.EqualValues(t, 200, fields["status"])
	require.Contains(t, fields, "latency")
	require.Positive(t, fields["bytes"])
	for k, v := range fields {
		require.NotContains(t, strings.ToLower(k), "customer")
		if s, ok := v.(string); ok {
			require.NotContains(t, s, "c-1842", "field %s", k)
		}
	}
}

// TestRequestLogNamesTheProblem: the request log entry of an error answer
// carries its error code and the field to blame, never the body.
func TestRequestLogNamesTheProblem(t *testing.T) {
	cases := []struct {
		name         string
		method, path string
		body         string
		status       int
		code, field  string // "" when absent from the entry
	}{
		{"answered", http.MethodPost, api.RouteScore, contractExample, 200, "", ""},
		{"value out of range", http.MethodPost, api.RouteScore, withValue(t, "friction.sentiment", `-1.5`), 400, api.CodeInvalidField, "friction.sentiment"},
		{"unknown field", http.MethodPost, api.RouteScore, withValue(t, "friction.mood", `"grumpy"`), 400, api.CodeUnknownField, "friction.mood"},
		{"malformed JSON", http.MethodPost, api.RouteScore, `{"customer": `, 400, api.CodeInvalidJSON, ""},
		{"no such route", http.MethodGet, "/v1/nothing", "", 404, api.CodeNotFound, ""},
		{"method not allowed", http.MethodGet, api.RouteScore, "", 405, api.CodeMethodNotAllowed, ""},
		{"outcomes not configured", http.MethodPost, api.RouteOutcomes, `{}`, 503, api.CodeUnavailable, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.InfoLevel)
			ts := newTestServer(t, api.Config{Logger: zap.New(core)})
			r := ts.do(t, tc.method, tc.path, "application/json", []byte(tc.body))
			require.Equal(t, tc.status, r.status, "body: %s", r.body)

			entries := logs.FilterMessage("request").All()
			require.Len(t, entries, 1)
			fields := entries[0].ContextMap()
			require.EqualValues(t, tc.status, fields["status"])
			if tc.code == "" {
				require.NotContains(t, fields, "error_code")
			} else {
				require.Equal(t, tc.code, fields["error_code"])
			}
			if tc.field == "" {
				require.NotContains(t, fields, "field")
			} else {
				require.Equal(t, tc.field, fields["field"])
			}
			for k, v := range fields {
				if s, ok := v.(string); ok {
					require.NotContains(t, s, "c-1842", "field %s", k)
					require.NotContains(t, s, "grumpy", "field %s: no body in the log", k)
				}
			}
		})
	}
}

type panickingDecider struct{}

func (panickingDecider) Decide(context.Context, scoring.Request) (scoring.Decision, error) {
	panic("boom")
}

func TestPanicBecomesJSON500(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	ts := newTestServer(t, api.Config{Decider: panickingDecider{}, Logger: zap.New(core)})
	r := ts.postJSON(t, api.RouteScore, contractExample)
	require.Equal(t, 500, r.status)
	p := decodeProblem(t, r)
	require.Equal(t, api.CodeInternal, p.Error.Code)
	require.NotContains(t, string(r.body), "boom", "panic details stay in the log")
	require.Equal(t, 1, logs.FilterMessage("panic in handler").Len())

	// the server keeps serving
	require.Equal(t, 200, ts.do(t, http.MethodGet, api.RouteHealth, "", nil).status)
}

// blockingDecider holds every decision until released (or the request
// context ends) and reports when one has started.
type blockingDecider struct {
	inner   api.Decider
	started chan struct{}
	release chan struct{}
}

func (b *blockingDecider) Decide(ctx context.Context, req scoring.Request) (scoring.Decision, error) {
	b.started <- struct{}{}
	select {
	case <-b.release:
	case <-ctx.Done():
		return scoring.Decision{}, ctx.Err()
	}
	return b.inner.Decide(ctx, req)
}

func startServe(t *testing.T, cfg api.Config) (addr string, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	cfg.Registerer = prometheus.NewRegistry()
	s, err := api.New(cfg)
	require.NoError(t, err)
	return serveLoopback(t, s.Serve)
}

func postScore(addr string) (int, error) {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := c.Post("http://"+addr+api.RouteScore, "application/json", strings.NewReader(contractExample))
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, err = io.Copy(io.Discard, res.Body)
	return res.StatusCode, err
}

// TestServeDrainsOnShutdown checks the graceful stop: a request under way
// when the context ends still gets its answer, new connections are refused
// and Serve returns nil once drained.
func TestServeDrainsOnShutdown(t *testing.T) {
	dec := &blockingDecider{inner: newEngine(t, nil), started: make(chan struct{}, 1), release: make(chan struct{})}
	addr, cancel, done := startServe(t, api.Config{Decider: dec})

	status := make(chan int, 1)
	go func() {
		code, err := postScore(addr)
		if err != nil {
			code = -1
		}
		status <- code
	}()
	<-dec.started
	cancel()

	require.Eventually(t, func() bool {
		conn, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			conn.Close()
		}
		return err != nil
	}, 2*time.Second, 10*time.Millisecond, "new connections are refused while draining")
	select {
	case err := <-done:
		t.Fatalf("Serve returned (%v) before the running request finished", err)
	default:
	}

	close(dec.release)
	require.Equal(t, http.StatusOK, <-status, "the running request completes")
	require.NoError(t, <-done)
}

// TestServeDrainTimeout checks that a request that outlives the drain
// timeout is cut off and Serve reports it.
func TestServeDrainTimeout(t *testing.T) {
	dec := &blockingDecider{inner: newEngine(t, nil), started: make(chan struct{}, 1), release: make(chan struct{})}
	defer close(dec.release)
	addr, cancel, done := startServe(t, api.Config{Decider: dec, DrainTimeout: 50 * time.Millisecond})

	status := make(chan error, 1)
	go func() {
		_, err := postScore(addr)
		status <- err
	}()
	<-dec.started
	cancel()
	err := <-done
	require.ErrorContains(t, err, "drain http connections")
	require.Error(t, <-status, "the cut-off client sees the connection close")
}

func TestConfigValidate(t *testing.T) {
	engine := newEngine(t, nil)
	cases := []struct {
		name    string
		cfg     api.Config
		wantErr string
	}{
		{"defaults", api.Config{Decider: engine}, ""},
		{"no decider", api.Config{}, "a decider is required"},
		{"negative timeout", api.Config{Decider: engine, ReadTimeout: -time.Second}, "read timeout must not be negative"},
		{"oversized body limit", api.Config{Decider: engine, MaxBodyBytes: 1 << 30}, "max body bytes"},
		{"registerer that cannot gather", api.Config{Decider: engine, Registerer: prometheus.WrapRegistererWithPrefix("x_", prometheus.NewRegistry())}, "gatherer is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
			_, err = api.New(tc.cfg)
			require.ErrorContains(t, err, tc.wantErr, "New refuses what Validate refuses")
		})
	}
}

func TestNewRefusesSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	engine := newEngine(t, nil)
	_, err := api.New(api.Config{Decider: engine, Registerer: reg})
	require.NoError(t, err)
	_, err = api.New(api.Config{Decider: engine, Registerer: reg})
	require.ErrorContains(t, err, "one registry per server")
}

// TestRuleErrorsAreLogged: a rule whose condition fails to evaluate is
// logged as a warning with its id, at most once per interval per rule,
// without the context's values.
func TestRuleErrorsAreLogged(t *testing.T) {
	spec := mustDefaultPolicy(t).Spec()
	spec.Rules = append(spec.Rules,
		policy.RuleSpec{ID: "broken-modulo", When: "friction.repeat_contacts_7d % friction.transfers == 1", Grant: []string{"x"}},
		policy.RuleSpec{ID: "broken-division", When: "friction.repeat_contacts_7d % (friction.transfers * 2) == 1", Grant: []string{"y"}})
	pol, err := policy.Compile(spec)
	require.NoError(t, err)
	failing := withValue(t, "friction.transfers", `0`)

	cases := []struct {
		name     string
		interval time.Duration
		requests int
		want     map[string][]int64 // rule → the "suppressed" of each entry
	}{
		{"once per interval", time.Hour, 3, map[string][]int64{"broken-modulo": {0}, "broken-division": {0}}},
		{"every failure once the interval has passed", time.Nanosecond, 2, map[string][]int64{"broken-modulo": {0, 0}, "broken-division": {0, 0}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.WarnLevel)
			ts := newTestServer(t, api.Config{Decider: newEngine(t, pol), Logger: zap.New(core), RuleErrorLogInterval: tc.interval})
			require.Equal(t, 200, ts.postJSON(t, api.RouteScore, contractExample).status) // no rule fails
			for range tc.requests {
				require.Equal(t, 200, ts.postJSON(t, api.RouteScore, failing).status)
			}
			got := map[string][]int64{}
			for _, e := range logs.FilterMessage("policy rule could not be evaluated; it had no effect").All() {
				require.Equal(t, zapcore.WarnLevel, e.Level)
				require.Equal(t, "policy", e.LoggerName)
				fields := e.ContextMap()
				rule, _ := fields["rule"].(string)
				got[rule] = append(got[rule], fields["suppressed"].(int64))
				for k, v := range fields {
					require.NotContains(t, []string{"customer", "friction", "context"}, k)
					if s, ok := v.(string); ok {
						require.NotContains(t, s, "c-1842")
					}
				}
			}
			require.Equal(t, tc.want, got)
			require.Equal(t, len(logs.All()), logs.FilterMessage("policy rule could not be evaluated; it had no effect").Len())
		})
	}

	t.Run("the metric counts every failure, the log one per interval", func(t *testing.T) {
		core, logs := observer.New(zapcore.WarnLevel)
		ts := newTestServer(t, api.Config{Decider: newEngine(t, pol), Logger: zap.New(core), RuleErrorLogInterval: time.Hour})
		for range 4 {
			require.Equal(t, 200, ts.postJSON(t, api.RouteScore, failing).status)
		}
		require.Equal(t, 2, logs.Len(), "one entry per rule")
		r := ts.do(t, http.MethodGet, api.RouteMetrics, "", nil)
		require.Contains(t, string(r.body), `situ_policy_rule_errors_total{rule="broken-modulo"} 4`, "the metric counts every failure")
	})
}
