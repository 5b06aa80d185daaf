package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"situ/api"
	"situ/internal/controltest"
	"situ/internal/situtest"
	"situ/models"
	"situ/policy"
)

const (
	cliAdminToken   = "situ_cli-admin-0123456789abcdefghijklmnopqrstuvw"
	cliAnalystToken = "situ_cli-analyst-0123456789abcdefghijklmnopqrstu"
)

// adminExchange is one request the admin server saw and its answer.
type adminExchange struct {
	request string // method and request URI
	body    string
	answer  []byte
}

// adminTestServer is situ's API with a History-backed control plane on a
// loopback listener, recording every exchange.
type adminTestServer struct {
	*httptest.Server
	plane *controltest.Plane
	mu    sync.Mutex
	seen  []adminExchange
}

func startAdminServer(t *testing.T) *adminTestServer {
	t.Helper()
	return startAdminServerWith(t, nil)
}

// startAdminServerWith is startAdminServer with results (nil: none) as
// the experiments' results.
func startAdminServerWith(t *testing.T, results api.ExperimentResults) *adminTestServer {
	t.Helper()
	tokens, err := api.NewTokens([]api.Token{
		{Name: "ana", Role: api.RoleAdmin, SHA256: sha256.Sum256([]byte(cliAdminToken))},
		{Name: "carl", Role: api.RoleAnalyst, SHA256: sha256.Sum256([]byte(cliAnalystToken))},
	})
	require.NoError(t, err)
	s := &adminTestServer{plane: controltest.New(t)}
	srv, err := api.New(api.Config{
		Decider: situtest.Engine(t, situtest.EngineOptions{}), Tokens: tokens, Control: s.plane, Results: results, Registerer: prometheus.NewRegistry(),
	})
	require.NoError(t, err)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, r)
		// recorded before the client can see the answer
		s.mu.Lock()
		s.seen = append(s.seen, adminExchange{r.Method + " " + r.URL.RequestURI(), string(body), rec.Body.Bytes()})
		s.mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(s.Close)
	return s
}

// exchanges returns and forgets what the server saw.
func (s *adminTestServer) exchanges() []adminExchange {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.seen
	s.seen = nil
	return out
}

// runCLI runs situ admin args against s with token (none when empty).
func (s *adminTestServer) runCLI(t *testing.T, token string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	full := append([]string{"admin"}, args...)
	full = append(full, "--url", s.URL)
	if token != "" {
		full = append(full, "--token", token)
	}
	var out, errb bytes.Buffer
	code = runMain(context.Background(), full, &out, &errb)
	for _, tok := range []string{cliAdminToken, cliAnalystToken} {
		require.NotContains(t, out.String()+errb.String(), tok, "situ admin never prints a token")
	}
	return code, out.String(), errb.String()
}

func TestAdminCLISession(t *testing.T) {
	dir := t.TempDir()
	policyFile := filepath.Join(dir, "policy.yaml")
	uniform := strings.Replace(string(policy.DefaultPolicyYAML()), "uniform_mode: false", "uniform_mode: true", 1)
	require.NoError(t, os.WriteFile(policyFile, []byte(uniform), 0o600))
	rewardFile := filepath.Join(dir, "reward.json")
	require.NoError(t, os.WriteFile(rewardFile, []byte(`{"version": 2, "weights": {"resolved": 0.5, "csat": 0.1, "upsell_accepted": 0.3, "revenue": 0.001, "revenue_cap": 0.3, "handle_seconds": -0.0002, "escalated": -0.2, "recontact_7d": -0.3, "churned": -0.8}, "clip": [-1, 1]}`), 0o600))
	reward, err := models.ParseReward([]byte(`{"version": 2, "weights": {"resolved": 0.5, "csat": 0.1, "upsell_accepted": 0.3, "revenue": 0.001, "revenue_cap": 0.3, "handle_seconds": -0.0002, "escalated": -0.2, "recontact_7d": -0.3, "churned": -0.8}, "clip": [-1, 1]}`))
	require.NoError(t, err)
	rewardJSON, err := json.Marshal(reward)
	require.NoError(t, err)
	policyJSON, err := json.Marshal(uniform)
	require.NoError(t, err)

	s := startAdminServer(t)
	// each step runs after the ones before it, on the same server
	steps := []struct {
		name     string
		args     []string
		token    string // default the admin token
		code     int
		requests []string
		body     string // of the last request, when it has one
		out      []string
		stderr   []string
	}{
		{
			name: "read the weights of one treatment", args: []string{"weights", "--treatment", "pamper_upsell"},
			requests: []string{"GET /v1/admin/weights?treatment=pamper_upsell"},
			out:      []string{"model version 1, configuration version 0", "TREATMENT      FEATURE", "pamper_upsell  bias", "weights that are 0 with no override or pin not shown: --all lists them"},
		},
		{
			name: "pin one", args: []string{"pin", "--treatment", "pamper_upsell", "--feature", "bias", "--at", "0.1", "--reason", "hold the upsell bias", "--author", "ana"},
			requests: []string{"POST /v1/admin/changes"},
			body:     `{"author": "ana", "reason": "hold the upsell bias", "change": {"weights": [{"treatment": "pamper_upsell", "feature": "bias", "pin": true, "at": 0.1}]}}`,
			out:      []string{"version 1 accepted (weights), by ana: hold the upsell bias", "weights[pamper_upsell][bias]  -       pinned at 0.1"},
		},
		{
			name: "dry-run a multiplier as an analyst", token: cliAnalystToken,
			args:     []string{"set-weight", "--treatment", "fast_resolution", "--feature", "bias", "--multiply", "1.5", "--dry-run", "--reason", "try", "--author", "carl"},
			requests: []string{"POST /v1/admin/changes"},
			body:     `{"author": "carl", "reason": "try", "dry_run": true, "change": {"weights": [{"treatment": "fast_resolution", "feature": "bias", "multiply": 1.5}]}}`,
			out:      []string{"dry run: this would be version 2 (weights); nothing was changed", "multiply 1.5"},
		},
		{
			name: "an analyst's real change is refused", token: cliAnalystToken, code: 1,
			args:     []string{"set-weight", "--treatment", "fast_resolution", "--feature", "bias", "--multiply", "1.5", "--reason", "try", "--author", "carl"},
			requests: []string{"POST /v1/admin/changes"},
			stderr:   []string{"situ admin: forbidden: a change needs role admin", "[HTTP 403]"},
		},
		{
			name: "set a weight on a base version", args: []string{"set-weight", "--treatment", "fast_resolution", "--feature", "bias", "--set", "0.3", "--base-version", "1", "--reason", "faster", "--author", "ana"},
			requests: []string{"POST /v1/admin/changes"},
			body:     `{"author": "ana", "reason": "faster", "base_version": 1, "change": {"weights": [{"treatment": "fast_resolution", "feature": "bias", "set": 0.3}]}}`,
			out:      []string{"version 2 accepted (weights)", "set 0.3"},
		},
		{
			name: "a stale base version", code: 1, args: []string{"set-weight", "--treatment", "fast_resolution", "--feature", "bias", "--set", "0.4", "--base-version", "1", "--reason", "faster", "--author", "ana"},
			requests: []string{"POST /v1/admin/changes"},
			stderr:   []string{"stale_version: base_version 1 is not the current version 2", "(field base_version) [HTTP 409]", "situ admin history shows it"},
		},
		{
			name: "an invalid change shows the server's field", code: 1, args: []string{"set-weight", "--treatment", "fast_resolution", "--feature", "shoe_size", "--set", "1", "--reason", "r", "--author", "ana"},
			requests: []string{"POST /v1/admin/changes"},
			stderr:   []string{`invalid_field: unknown feature "shoe_size"`, "(field change.weights[0].feature) [HTTP 400]"},
		},
		{
			name: "add levers", args: []string{"levers", "set", "pamper_upsell=-0.05", "self_service=0.02", "--reason", "upsell costs", "--author", "ana"},
			requests: []string{"POST /v1/admin/changes"},
			body:     `{"author": "ana", "reason": "upsell costs", "change": {"levers": {"pamper_upsell": -0.05, "self_service": 0.02}}}`,
			out:      []string{"version 3 accepted (levers)", "levers.pamper_upsell  -       -0.05"},
		},
		{
			name: "show the levers", args: []string{"levers"},
			requests: []string{"GET /v1/admin/config"},
			out:      []string{"configuration version 3", "fast_resolution  0\n", "pamper_upsell    -0.05", "self_service     0.02"},
		},
		{
			name: "apply a policy", args: []string{"policy", "apply", "-f", policyFile, "--reason", "uniform service", "--author", "ana"},
			requests: []string{"POST /v1/admin/changes"},
			body:     `{"author": "ana", "reason": "uniform service", "change": {"policy": ` + string(policyJSON) + `}}`,
			out:      []string{"version 4 accepted (policy)", "policy  46 lines of YAML  46 lines of YAML"},
		},
		{
			name: "change the reward", args: []string{"reward", "apply", "-f", rewardFile, "--reason", "resolution matters more", "--author", "ana"},
			requests: []string{"POST /v1/admin/changes"},
			body:     `{"author": "ana", "reason": "resolution matters more", "change": {"reward": ` + string(rewardJSON) + `}}`,
			out:      []string{"version 5 accepted (reward)", "reward.weights.resolved  0.4     0.5"},
		},
		{
			name: "set the exploration", args: []string{"exploration", "set", "--epsilon", "0.03", "--reason", "explore less", "--author", "ana"},
			requests: []string{"POST /v1/admin/changes"},
			body:     `{"author": "ana", "reason": "explore less", "change": {"exploration": {"epsilon": 0.03}}}`,
			out:      []string{"version 6 accepted (exploration)"},
		},
		{
			name: "show the exploration", args: []string{"exploration"},
			requests: []string{"GET /v1/admin/config"},
			out:      []string{"exploration: squarecb, epsilon 0.03, gamma0"},
		},
		{
			name: "unpin", args: []string{"unpin", "--treatment", "pamper_upsell", "--feature", "bias", "--reason", "learn again", "--author", "ana"},
			requests: []string{"POST /v1/admin/changes"},
			body:     `{"author": "ana", "reason": "learn again", "change": {"weights": [{"treatment": "pamper_upsell", "feature": "bias", "unpin": true}]}}`,
			out:      []string{"version 7 accepted (weights)"},
		},
		{
			name: "clear a weight", args: []string{"clear-weight", "--treatment", "fast_resolution", "--feature", "bias", "--reason", "learned again", "--author", "ana"},
			requests: []string{"POST /v1/admin/changes"},
			body:     `{"author": "ana", "reason": "learned again", "change": {"weights": [{"treatment": "fast_resolution", "feature": "bias", "clear": true}]}}`,
			out:      []string{"version 8 accepted (weights)"},
		},
		{
			name: "history", args: []string{"history"},
			requests: []string{"GET /v1/admin/changes"},
			out:      []string{"VERSION  TIME                  AUTHOR  CHANGED      REASON\n8        2026-11-22T10:", "\n1        2026-11-22T10:", "uniform service"},
		},
		{
			name: "show a version", args: []string{"show", "2"},
			requests: []string{"GET /v1/admin/changes/2"},
			out:      []string{"version 2 by ana at 2026-11-22T10:", "reason: faster", `change: {"weights":[{"treatment":"fast_resolution","feature":"bias","set":0.3}]}`, "weights[fast_resolution][bias]  -       set 0.3"},
		},
		{
			name: "diff two versions", args: []string{"diff", "0", "3"},
			requests: []string{"GET /v1/admin/diff?from=0&to=3"},
			out:      []string{"from version 0 to version 3", "weights[fast_resolution][bias]", "weights[pamper_upsell][bias]", "levers.self_service"},
		},
		{
			name: "dry-run a rollback", args: []string{"rollback", "3", "--dry-run", "--reason", "undo", "--author", "ana"},
			requests: []string{"GET /v1/admin/config", "GET /v1/admin/diff?from=8&to=3"},
			out:      []string{"dry run: rolling back to version 3 would make version 9; nothing was changed", "policy"},
		},
		{
			name: "roll back", args: []string{"rollback", "3", "--base-version", "8", "--reason", "undo the policy and reward", "--author", "ana"},
			requests: []string{"POST /v1/admin/rollback"},
			body:     `{"to_version": 3, "author": "ana", "reason": "undo the policy and reward", "base_version": 8}`,
			out:      []string{"version 9 accepted (weights, reward, policy, exploration), by ana"},
		},
		{
			name: "the history shows the rollback", args: []string{"history"},
			requests: []string{"GET /v1/admin/changes"},
			out:      []string{"9        2026-11-22T10:", "(rollback to 3)"},
		},
		{
			name: "config", args: []string{"config"},
			requests: []string{"GET /v1/admin/config"},
			out:      []string{"configuration version 9", "pamper_upsell    -0.05", "reward version 1, clip [-1, 1]", "policy: 46 lines of YAML"},
		},
		{
			name: "missing --reason", code: 2, args: []string{"set-weight", "--treatment", "fast_resolution", "--feature", "bias", "--set", "1"},
			stderr: []string{"situ admin: --reason is required"},
		},
		{
			name: "both --set and --multiply", code: 2, args: []string{"set-weight", "--treatment", "fast_resolution", "--feature", "bias", "--set", "1", "--multiply", "2", "--reason", "r"},
			stderr: []string{"give exactly one of --set and --multiply"},
		},
		{
			name: "not a version", code: 2, args: []string{"show", "latest"},
			stderr: []string{`"latest" is not a version`},
		},
		{
			name: "a lever that is not TREATMENT=VALUE", code: 2, args: []string{"levers", "set", "pamper_upsell", "--reason", "r"},
			stderr: []string{`"pamper_upsell" is not TREATMENT=VALUE`},
		},
		{
			name: "unknown subcommand", code: 2, args: []string{"sett-weight"},
			stderr: []string{`unknown subcommand "sett-weight"`},
		},
	}
	for _, st := range steps {
		ok := t.Run(st.name, func(t *testing.T) {
			token := st.token
			if token == "" {
				token = cliAdminToken
			}
			code, out, errOut := s.runCLI(t, token, st.args...)
			require.Equal(t, st.code, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			for _, w := range st.out {
				require.Contains(t, out, w)
			}
			for _, w := range st.stderr {
				require.Contains(t, errOut, w)
			}
			seen := s.exchanges()
			got := make([]string, len(seen))
			for i, e := range seen {
				got[i] = e.request
			}
			if len(st.requests) == 0 {
				require.Empty(t, got, "a usage error sends nothing")
				return
			}
			require.Equal(t, st.requests, got)
			if st.body != "" {
				require.JSONEq(t, st.body, seen[len(seen)-1].body)
			}
		})
		if !ok {
			t.FailNow() // later steps build on this one
		}
	}
	v, _ := s.plane.Current()
	require.EqualValues(t, 9, v)
}

// TestAdminCLIJSON checks that --json prints the server's answer,
// indented.
func TestAdminCLIJSON(t *testing.T) {
	s := startAdminServer(t)
	cases := []struct {
		name string
		args []string
	}{
		{"config", []string{"config"}},
		{"weights", []string{"weights", "--treatment", "self_service", "--all"}},
		{"change", []string{"levers", "set", "self_service=0.01", "--reason", "r", "--author", "ana"}},
		{"history", []string{"history"}},
		{"show", []string{"show", "1"}},
		{"diff", []string{"diff", "0", "1"}},
		{"rollback", []string{"rollback", "0", "--reason", "r", "--author", "ana"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := s.runCLI(t, cliAdminToken, append(tc.args, "--json")...)
			require.Equal(t, 0, code, errOut)
			seen := s.exchanges()
			require.Len(t, seen, 1)
			var want bytes.Buffer
			require.NoError(t, json.Indent(&want, bytes.TrimSpace(seen[0].answer), "", "  "))
			require.Equal(t, want.String()+"\n", out)
		})
	}
}

func TestAdminCLIWithoutToken(t *testing.T) {
	s := startAdminServer(t)
	code, _, errOut := s.runCLI(t, "", "config")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "unauthorized: this route needs a token")
	require.Contains(t, errOut, "--token-file")

	tokenFile := filepath.Join(t.TempDir(), "admin.token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(cliAnalystToken+"\n"), 0o600))
	code, out, errOut := s.runCLI(t, "", "config", "--token-file", tokenFile)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "configuration version 0")
}

func TestAdminCLIUnreachable(t *testing.T) {
	ln := httptest.NewServer(http.NotFoundHandler())
	url := ln.URL
	ln.Close()
	var out, errb bytes.Buffer
	code := runMain(context.Background(), []string{"admin", "config", "--url", url, "--token", cliAdminToken}, &out, &errb)
	require.Equal(t, 1, code)
	require.Contains(t, errb.String(), "cannot reach situ at "+url)
	require.Contains(t, errb.String(), "--url (SITU_URL)")
}
