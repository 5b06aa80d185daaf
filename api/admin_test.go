package api_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	json "github.com/go-json-experiment/json"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"situ/api"
	"situ/control"
	"situ/internal/controltest"
)

// adminTokens are the tokens of the admin tests: ana (admin), carl
// (analyst), ivr-frontend (score).
func adminTokens(t *testing.T) api.Tokens {
	return mustTokens(t,
		tokenEntry("ana", api.RoleAdmin, adminToken),
		tokenEntry("carl", api.RoleAnalyst, analystToken),
		tokenEntry("ivr-frontend", api.RoleScore, scoreToken),
	)
}

// adminServer serves the API with the admin tokens and plane (nil: no
// control plane) on a loopback listener.
func adminServer(t *testing.T, plane api.ControlPlane, logger *zap.Logger) *testServer {
	t.Helper()
	cfg := api.Config{Tokens: adminTokens(t), Logger: logger}
	if plane != nil {
		cfg.Control = plane
	}
	return newTestServer(t, cfg)
}

// adminResponse is an admin answer: status, body and, for an error, its
// problem.
type adminResponse struct {
	status  int
	body    []byte
	problem struct {
		Code, Message, Field string
	}
}

// admin sends method path (body JSON when not empty) with token as the
// bearer token (none when empty).
func (ts *testServer) admin(t *testing.T, method, path, token, body string) adminResponse {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	header := http.Header{}
	if body != "" {
		header.Set("Content-Type", "application/json")
	}
	if token != "" {
		header.Set("Authorization", "Bearer "+token)
	}
	r := ts.send(t, method, path, rd, header)
	require.Equal(t, "application/json; charset=utf-8", r.header.Get("Content-Type"), "body: %s", r.body)
	for _, tok := range allTokens {
		require.NotContains(t, string(r.body), tok, "an answer never echoes a token")
	}
	out := adminResponse{status: r.status, body: r.body}
	if r.status >= 400 {
		p := decodeProblem(t, r)
		out.problem.Code, out.problem.Message, out.problem.Field = p.Error.Code, p.Error.Message, p.Error.Field
	}
	return out
}

func decodeInto[T any](t *testing.T, r adminResponse) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(r.body, &v), "body: %s", r.body)
	return v
}

// seeded returns a plane with one accepted change (version 1: a lever).
func seeded(t *testing.T) *controltest.Plane {
	t.Helper()
	p := controltest.New(t)
	_, err := p.History.Propose(control.Change{Levers: map[string]float64{"pamper_upsell": -0.05}}, "ana", "upsell costs more than it earns", nil, controltest.Start, p.Env)
	require.NoError(t, err)
	return p
}

const (
	validChange   = `{"author": "ana", "reason": "test", "change": {"levers": {"self_service": 0.02}}}`
	dryRunChange  = `{"author": "carl", "reason": "test", "dry_run": true, "change": {"levers": {"self_service": 0.02}}}`
	validRollback = `{"to_version": 0, "author": "ana", "reason": "undo"}`
)

func TestAdminAuthorizationMatrix(t *testing.T) {
	type want struct {
		status int
		code   string
	}
	var (
		unauthorized = want{http.StatusUnauthorized, api.CodeUnauthorized}
		forbidden    = want{http.StatusForbidden, api.CodeForbidden}
		inQuery      = want{http.StatusBadRequest, api.CodeTokenInQuery}
		ok           = want{http.StatusOK, ""}
		created      = want{http.StatusCreated, ""}
	)
	routes := []struct {
		name, method, path, body string
		analyst, admin           want
	}{
		{"config", http.MethodGet, api.RouteAdminConfig, "", ok, ok},
		{"weights", http.MethodGet, api.RouteAdminWeights + "?treatment=pamper_upsell", "", ok, ok},
		{"change", http.MethodPost, api.RouteAdminChanges, validChange, forbidden, created},
		{"dry run", http.MethodPost, api.RouteAdminChanges, dryRunChange, ok, ok},
		{"history", http.MethodGet, api.RouteAdminChanges, "", ok, ok},
		{"record", http.MethodGet, "/v1/admin/changes/1", "", ok, ok},
		{"diff", http.MethodGet, api.RouteAdminDiff + "?from=0&to=1", "", ok, ok},
		{"rollback", http.MethodPost, api.RouteAdminRollback, validRollback, forbidden, created},
	}
	credentials := []struct {
		name, token, query string
		want               func(analyst, admin want) want
	}{
		{"no token", "", "", func(_, _ want) want { return unauthorized }},
		{"wrong token", wrongToken, "", func(_, _ want) want { return unauthorized }},
		{"token in the query", adminToken, "access_token=" + adminToken, func(_, _ want) want { return inQuery }},
		{"score token", scoreToken, "", func(_, _ want) want { return forbidden }},
		{"analyst token", analystToken, "", func(analyst, _ want) want { return analyst }},
		{"admin token", adminToken, "", func(_, admin want) want { return admin }},
	}
	for _, rt := range routes {
		for _, cr := range credentials {
			t.Run(rt.name+"/"+cr.name, func(t *testing.T) {
				plane := seeded(t)
				ts := adminServer(t, plane, nil)
				path := rt.path
				if cr.query != "" {
					sep := "?"
					if strings.Contains(path, "?") {
						sep = "&"
					}
					path += sep + cr.query
				}
				w := cr.want(rt.analyst, rt.admin)
				r := ts.admin(t, rt.method, path, cr.token, rt.body)
				require.Equal(t, w.status, r.status, "body: %s", r.body)
				require.Equal(t, w.code, r.problem.Code, "body: %s", r.body)
				if w.status >= 400 {
					v, _ := plane.Current()
					require.EqualValues(t, 1, v, "a refused request changes nothing")
				}
			})
		}
	}
}

func TestAdminWithoutControlPlane(t *testing.T) {
	ts := adminServer(t, nil, nil)
	r := ts.admin(t, http.MethodGet, api.RouteAdminConfig, "", "")
	require.Equal(t, http.StatusUnauthorized, r.status, "authentication comes first")
	for _, rt := range []struct{ method, path, body string }{
		{http.MethodGet, api.RouteAdminConfig, ""},
		{http.MethodPost, api.RouteAdminChanges, validChange},
		{http.MethodPost, api.RouteAdminRollback, validRollback},
	} {
		r := ts.admin(t, rt.method, rt.path, adminToken, rt.body)
		require.Equal(t, http.StatusServiceUnavailable, r.status)
		require.Equal(t, api.CodeUnavailable, r.problem.Code)
		require.Equal(t, "the control plane is not configured", r.problem.Message)
	}
}

// TestAdminProblemsAreLogged checks that the request log carries the code
// of access-control answers as it does for every other error.
func TestAdminProblemsAreLogged(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	ts := adminServer(t, seeded(t), zap.New(core))
	require.Equal(t, http.StatusForbidden, ts.admin(t, http.MethodPost, api.RouteAdminRollback, analystToken, validRollback).status)
	require.Equal(t, http.StatusUnauthorized, ts.admin(t, http.MethodGet, api.RouteAdminConfig, "", "").status)
	require.Equal(t, http.StatusBadRequest, ts.admin(t, http.MethodGet, "/v1/admin/changes/x", analystToken, "").status)
	entries := logs.FilterMessage("request").All()
	require.Len(t, entries, 3)
	for i, want := range []struct{ route, code, field string }{
		{api.RouteAdminRollback, api.CodeForbidden, ""},
		{api.RouteAdminConfig, api.CodeUnauthorized, ""},
		{api.RouteAdminChange, api.CodeInvalidField, "version"},
	} {
		f := entries[i].ContextMap()
		require.Equal(t, want.route, f["route"])
		require.Equal(t, want.code, f["error_code"])
		if want.field != "" {
			require.Equal(t, want.field, f["field"])
		}
	}
}

func TestAdminChangeAndDryRun(t *testing.T) {
	plane := controltest.New(t)
	ts := adminServer(t, plane, nil)

	// an analyst may dry-run: the answer is the would-be record, nothing changes
	r := ts.admin(t, http.MethodPost, api.RouteAdminChanges, analystToken, dryRunChange)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	dry := decodeInto[api.ChangeAnswer](t, r)
	require.True(t, dry.DryRun)
	require.EqualValues(t, 1, dry.Version)
	require.Equal(t, []control.Kind{control.KindLevers}, dry.Kinds)
	require.Equal(t, []control.Difference{{Path: "levers.self_service", Before: nil, After: 0.02}}, dry.Diff)
	v, _ := plane.Current()
	require.EqualValues(t, 0, v)

	// an analyst's real change is refused
	r = ts.admin(t, http.MethodPost, api.RouteAdminChanges, analystToken, strings.Replace(dryRunChange, `"dry_run": true`, `"dry_run": false`, 1))
	require.Equal(t, http.StatusForbidden, r.status)
	require.Contains(t, r.problem.Message, "dry-run")

	// an admin's is the next version, with the record at the top level
	r = ts.admin(t, http.MethodPost, api.RouteAdminChanges, adminToken, `{"author": "ana", "reason": "cheaper self-service", "base_version": 0, "change": {"levers": {"self_service": 0.02}}}`)
	require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
	var top map[string]any
	require.NoError(t, json.Unmarshal(r.body, &top))
	for _, k := range []string{"version", "author", "reason", "time", "kinds", "change", "before", "after", "diff", "dry_run"} {
		require.Contains(t, top, k)
	}
	got := decodeInto[api.ChangeAnswer](t, r)
	require.EqualValues(t, 1, got.Version)
	require.False(t, got.DryRun)
	require.Equal(t, map[string]float64{"self_service": 0.02}, got.After.Levers)
	require.Equal(t, []controltest.Audit{{Version: 1, Principal: "ana", Author: "ana"}}, plane.Audits(), "the token's name reaches the audit log")

	// the same base again is stale
	r = ts.admin(t, http.MethodPost, api.RouteAdminChanges, adminToken, `{"author": "ana", "reason": "again", "base_version": 0, "change": {"levers": {"self_service": 0.03}}}`)
	require.Equal(t, http.StatusConflict, r.status)
	require.Equal(t, api.CodeStaleVersion, r.problem.Code)
	require.Equal(t, "base_version", r.problem.Field)
	require.Contains(t, r.problem.Message, "base_version 0 is not the current version 1")
	v, _ = plane.Current()
	require.EqualValues(t, 1, v)

	// a dry run on a stale base is stale too
	r = ts.admin(t, http.MethodPost, api.RouteAdminChanges, analystToken, `{"author": "carl", "reason": "x", "base_version": 0, "dry_run": true, "change": {"levers": {"self_service": 0.03}}}`)
	require.Equal(t, http.StatusConflict, r.status)
}

func TestAdminInvalidChanges(t *testing.T) {
	cases := []struct {
		name, body  string
		code, field string
	}{
		{"not JSON", `{"author": `, api.CodeInvalidJSON, ""},
		{"not an object", `[]`, api.CodeInvalidType, ""},
		{"unknown member", `{"author": "ana", "reason": "r", "chnage": {}}`, api.CodeUnknownField, "chnage"},
		{"principal from the body", `{"author": "ana", "reason": "r", "Principal": "root", "change": {"levers": {"self_service": 0.1}}}`, api.CodeUnknownField, "Principal"},
		{"unknown member in a weight", `{"author": "ana", "reason": "r", "change": {"weights": [{"treatment": "fast_resolution", "feature": "bias", "sett": 1}]}}`, api.CodeUnknownField, "change.weights[0].sett"},
		{"wrong type", `{"author": "ana", "reason": "r", "change": {"levers": {"self_service": "0.1"}}}`, api.CodeInvalidType, "change.levers.self_service"},
		{"fractional base version", `{"author": "ana", "reason": "r", "base_version": 0.5, "change": {"levers": {"self_service": 0.1}}}`, api.CodeInvalidField, "base_version"},
		{"missing author", `{"reason": "r", "change": {"levers": {"self_service": 0.1}}}`, api.CodeInvalidField, "author"},
		{"missing reason", `{"author": "ana", "change": {"levers": {"self_service": 0.1}}}`, api.CodeInvalidField, "reason"},
		{"empty change", `{"author": "ana", "reason": "r", "change": {}}`, api.CodeInvalidField, "change"},
		{"unknown treatment", `{"author": "ana", "reason": "r", "change": {"weights": [{"treatment": "pamper", "feature": "bias", "set": 1}]}}`, api.CodeInvalidField, "change.weights[0].treatment"},
		{"unknown feature", `{"author": "ana", "reason": "r", "change": {"weights": [{"treatment": "pamper_upsell", "feature": "shoe_size", "set": 1}]}}`, api.CodeInvalidField, "change.weights[0].feature"},
		{"set and multiply", `{"author": "ana", "reason": "r", "change": {"weights": [{"treatment": "pamper_upsell", "feature": "bias", "set": 1, "multiply": 2}]}}`, api.CodeInvalidField, "change.weights[0]"},
		{"lever beyond the reward", `{"author": "ana", "reason": "r", "change": {"levers": {"pamper_upsell": 5}}}`, api.CodeInvalidField, "change.levers.pamper_upsell"},
		{"unknown lever", `{"author": "ana", "reason": "r", "change": {"levers": {"pamper": 0.1}}}`, api.CodeInvalidField, "change.levers.pamper"},
		{"epsilon out of range", `{"author": "ana", "reason": "r", "change": {"exploration": {"epsilon": 1.5}}}`, api.CodeInvalidField, "change.exploration.epsilon"},
		{"unknown explorer", `{"author": "ana", "reason": "r", "change": {"exploration": {"explorer": "thompson"}}}`, api.CodeInvalidField, "change.exploration.explorer"},
		{"policy that does not parse", `{"author": "ana", "reason": "r", "change": {"policy": "rules: ["}}`, api.CodeInvalidField, "change.policy"},
		{"reward without version", `{"author": "ana", "reason": "r", "change": {"reward": {"version": 0, "weights": {}, "clip": [-1, 1]}}}`, api.CodeInvalidField, "change.reward.version"},
		{"change that changes nothing", `{"author": "ana", "reason": "r", "change": {"levers": {"self_service": 0}}}`, api.CodeInvalidField, "change"},
	}
	plane := seeded(t)
	ts := adminServer(t, plane, nil)
	_, before := plane.Current()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, dry := range []bool{false, true} {
				body := tc.body
				if dry && strings.HasPrefix(body, `{"author"`) {
					body = `{"dry_run": true, ` + body[1:]
				}
				r := ts.admin(t, http.MethodPost, api.RouteAdminChanges, adminToken, body)
				require.Equal(t, http.StatusBadRequest, r.status, "body: %s", r.body)
				require.Equal(t, tc.code, r.problem.Code, "message: %s", r.problem.Message)
				require.Equal(t, tc.field, r.problem.Field, "message: %s", r.problem.Message)
				v, cfg := plane.Current()
				require.EqualValues(t, 1, v, "an invalid change leaves the version")
				require.Equal(t, before, cfg)
			}
		})
	}
}

func TestAdminWriteUnavailable(t *testing.T) {
	plane := seeded(t)
	plane.Fail(errors.New("nba.control: not enough replicas"))
	ts := adminServer(t, plane, nil)
	for _, rt := range []struct{ path, body string }{
		{api.RouteAdminChanges, validChange},
		{api.RouteAdminRollback, validRollback},
	} {
		r := ts.admin(t, http.MethodPost, rt.path, adminToken, rt.body)
		require.Equal(t, http.StatusServiceUnavailable, r.status)
		require.Equal(t, api.CodeUnavailable, r.problem.Code)
		require.NotContains(t, r.problem.Message, "replicas", "the cause is logged, not sent")
	}
}

func TestAdminHistoryRecordDiffRollback(t *testing.T) {
	plane := controltest.New(t)
	ts := adminServer(t, plane, nil)
	post := func(body string) api.ChangeAnswer {
		t.Helper()
		r := ts.admin(t, http.MethodPost, api.RouteAdminChanges, adminToken, body)
		require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
		return decodeInto[api.ChangeAnswer](t, r)
	}
	post(`{"author": "ana", "reason": "one", "change": {"levers": {"pamper_upsell": -0.05}}}`)
	post(`{"author": "bo", "reason": "two", "change": {"weights": [{"treatment": "fast_resolution", "feature": "bias", "set": 0.5}]}}`)
	post(`{"author": "ana", "reason": "three", "change": {"exploration": {"epsilon": 0.03}}}`)

	// history, newest first
	r := ts.admin(t, http.MethodGet, api.RouteAdminChanges, analystToken, "")
	require.Equal(t, http.StatusOK, r.status)
	h := decodeInto[api.HistoryAnswer](t, r)
	require.Len(t, h.Changes, 3)
	for i, want := range []struct {
		version int64
		author  string
		kind    control.Kind
	}{{3, "ana", control.KindExploration}, {2, "bo", control.KindWeights}, {1, "ana", control.KindLevers}} {
		require.Equal(t, want.version, h.Changes[i].Version)
		require.Equal(t, want.author, h.Changes[i].Author)
		require.Equal(t, []control.Kind{want.kind}, h.Changes[i].Kinds)
	}
	require.True(t, h.Changes[0].Time.After(h.Changes[2].Time))

	// one record
	r = ts.admin(t, http.MethodGet, "/v1/admin/changes/2", analystToken, "")
	require.Equal(t, http.StatusOK, r.status)
	rec := decodeInto[control.Record](t, r)
	require.EqualValues(t, 2, rec.Version)
	require.Equal(t, "two", rec.Reason)
	require.Empty(t, rec.Before.Weights)
	require.Len(t, rec.After.Weights, 1)
	for _, tc := range []struct {
		path   string
		status int
		code   string
	}{
		{"/v1/admin/changes/x", http.StatusBadRequest, api.CodeInvalidField},
		{"/v1/admin/changes/-1", http.StatusBadRequest, api.CodeInvalidField},
		{"/v1/admin/changes/0", http.StatusNotFound, api.CodeNotFound},
		{"/v1/admin/changes/99", http.StatusNotFound, api.CodeNotFound},
		{api.RouteAdminDiff + "?from=0", http.StatusBadRequest, api.CodeInvalidField},
		{api.RouteAdminDiff + "?from=a&to=1", http.StatusBadRequest, api.CodeInvalidField},
		{api.RouteAdminDiff + "?from=0&to=9", http.StatusNotFound, api.CodeNotFound},
	} {
		r := ts.admin(t, http.MethodGet, tc.path, analystToken, "")
		require.Equal(t, tc.status, r.status, "%s: %s", tc.path, r.body)
		require.Equal(t, tc.code, r.problem.Code, tc.path)
	}

	// diff between two versions
	r = ts.admin(t, http.MethodGet, api.RouteAdminDiff+"?from=1&to=3", analystToken, "")
	require.Equal(t, http.StatusOK, r.status)
	d := decodeInto[api.DiffAnswer](t, r)
	require.EqualValues(t, 1, d.From)
	require.EqualValues(t, 3, d.To)
	var paths []string
	for _, x := range d.Differences {
		paths = append(paths, x.Path)
	}
	require.Equal(t, []string{"weights[fast_resolution][bias]", "exploration.epsilon"}, paths)

	// rollback to version 1: a new version equal to it
	for _, tc := range []struct {
		body   string
		status int
		field  string
	}{
		{`{"author": "ana", "reason": "r"}`, http.StatusBadRequest, "to_version"},
		{`{"to_version": -1, "author": "ana", "reason": "r"}`, http.StatusBadRequest, "to_version"},
		{`{"to_version": 7, "author": "ana", "reason": "r"}`, http.StatusNotFound, "to_version"},
		{`{"to_version": 1, "author": "ana"}`, http.StatusBadRequest, "reason"},
		{`{"to_version": 1, "author": "ana", "reason": "r", "base_version": 2}`, http.StatusConflict, "base_version"},
		{`{"to_version": 3, "author": "ana", "reason": "r"}`, http.StatusBadRequest, "to_version"}, // the current one
	} {
		r := ts.admin(t, http.MethodPost, api.RouteAdminRollback, adminToken, tc.body)
		require.Equal(t, tc.status, r.status, "%s: %s", tc.body, r.body)
		require.Equal(t, tc.field, r.problem.Field, tc.body)
	}
	r = ts.admin(t, http.MethodPost, api.RouteAdminRollback, adminToken, `{"to_version": 1, "author": "ana", "reason": "back to the lever only", "base_version": 3}`)
	require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
	rb := decodeInto[api.ChangeAnswer](t, r)
	require.EqualValues(t, 4, rb.Version)
	require.NotNil(t, rb.RollbackOf)
	require.EqualValues(t, 1, *rb.RollbackOf)
	require.Len(t, rb.Diff, 2)
	v1, _ := plane.History.At(1)
	a, err := control.EncodeConfig(v1)
	require.NoError(t, err)
	b, err := control.EncodeConfig(rb.After)
	require.NoError(t, err)
	require.Equal(t, string(a), string(b))

	r = ts.admin(t, http.MethodGet, api.RouteAdminDiff+"?from=1&to=4", analystToken, "")
	require.Equal(t, `{"from":1,"to":4,"differences":[]}`+"\n", string(r.body))
}

func TestAdminConfigAndWeights(t *testing.T) {
	plane := controltest.New(t)
	ts := adminServer(t, plane, nil)
	r := ts.admin(t, http.MethodPost, api.RouteAdminChanges, adminToken,
		`{"author": "ana", "reason": "hold the upsell bias", "change": {"weights": [{"treatment": "pamper_upsell", "feature": "bias", "set": -0.2, "pin": true}]}}`)
	require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)

	r = ts.admin(t, http.MethodGet, api.RouteAdminConfig, analystToken, "")
	require.Equal(t, http.StatusOK, r.status)
	cfg := decodeInto[api.ConfigAnswer](t, r)
	require.EqualValues(t, 1, cfg.Version)
	require.Len(t, cfg.Config.Weights, 1)
	require.Equal(t, control.ExplorerSquareCB, cfg.Config.Exploration.Explorer)
	again := ts.admin(t, http.MethodGet, api.RouteAdminConfig, analystToken, "")
	require.True(t, bytes.Equal(r.body, again.body), "answers are deterministic")

	cases := []struct {
		name, query string
		treatments  []string
	}{
		{"all", "", []string{"fast_resolution", "pamper_upsell", "self_service"}},
		{"one", "?treatment=pamper_upsell", []string{"pamper_upsell"}},
		{"two", "?treatment=self_service,fast_resolution", []string{"fast_resolution", "self_service"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.admin(t, http.MethodGet, api.RouteAdminWeights+tc.query, analystToken, "")
			require.Equal(t, http.StatusOK, r.status)
			w := decodeInto[api.WeightsTable](t, r)
			require.EqualValues(t, 1, w.ConfigVersion)
			var seen []string
			for _, row := range w.Weights {
				if len(seen) == 0 || seen[len(seen)-1] != row.Treatment {
					seen = append(seen, row.Treatment)
				}
				if row.Treatment == "pamper_upsell" && row.Feature == control.Bias {
					require.True(t, row.Pinned)
					require.NotNil(t, row.Override)
					require.NotNil(t, row.Override.Set)
					require.InDelta(t, -0.2, row.Effective, 1e-12)
				}
			}
			require.Equal(t, tc.treatments, seen)
		})
	}
	r = ts.admin(t, http.MethodGet, api.RouteAdminWeights+"?treatment=upsell", analystToken, "")
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, "treatment", r.problem.Field)
	require.Contains(t, r.problem.Message, "allowed: fast_resolution, pamper_upsell, self_service")
}

// TestScoreRoutesNeedScoreToken checks the score routes behind a score
// token.
func TestScoreRoutesNeedScoreToken(t *testing.T) {
	ts := adminServer(t, nil, nil)
	for _, tc := range []struct {
		name, token string
		status      int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"analyst", analystToken, http.StatusForbidden},
		{"score", scoreToken, http.StatusOK},
		{"admin", adminToken, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.admin(t, http.MethodPost, api.RouteScore, tc.token, contractExample)
			require.Equal(t, tc.status, r.status, "body: %s", r.body)
		})
	}
}
