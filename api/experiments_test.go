package api_test

import (
	"bytes"
	stdjson "encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	json "github.com/go-json-experiment/json"
	"github.com/stretchr/testify/require"

	"situ/api"
	"situ/control"
	"situ/experiments"
	"situ/internal/controltest"
	"situ/policy"
)

// philosophy is the experiment of DESIGN.md: three strategies on chat.
const philosophy = `{"id": "philosophy", "author": "ana", "reason": "which service philosophy serves best",
	"hypothesis": "value tiers lose resolution for basic customers",
	"arms": [{"name": "control", "strategy": "learned", "weight": 0.4},
	         {"name": "tiers", "strategy": "value_tier", "weight": 0.3},
	         {"name": "same", "strategy": "uniform", "weight": 0.3}],
	"coverage": 1.0, "seed": "philosophy", "targeting": "channel == 'chat'",
	"namespace": {"id": "ns", "range": [0, 0.5]},
	"guardrails": [{"metric": "resolved", "max_relative_drop": 0.05, "segments": ["tier"]},
	               {"metric": "handle_seconds", "max_relative_rise": 0.2}],
	"on_breach": "stop", "primary_metric": "resolved"}`

// memoryResults is an api.ExperimentResults over a map, as the results
// engine would fill it.
type memoryResults struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (r *memoryResults) Results(id string) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.m[id]
	return b, ok
}

func (r *memoryResults) publish(id string, b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string][]byte{}
	}
	r.m[id] = b
}

// experimentsServer serves the admin API over plane with results (nil:
// none configured).
func experimentsServer(t *testing.T, plane *controltest.Plane, results api.ExperimentResults) *testServer {
	t.Helper()
	return newTestServer(t, api.Config{Tokens: adminTokens(t), Control: plane, Results: results})
}

func TestAdminExperimentLifecycle(t *testing.T) {
	plane := seeded(t) // version 1 is a lever
	ts := experimentsServer(t, plane, nil)

	r := ts.admin(t, http.MethodPost, api.RouteAdminExperiments, adminToken, philosophy)
	require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
	var top map[string]any
	require.NoError(t, json.Unmarshal(r.body, &top))
	require.ElementsMatch(t, []string{"version", "experiment"}, keys(top))
	exp := top["experiment"].(map[string]any)
	for _, k := range []string{"id", "hypothesis", "arms", "coverage", "seed", "targeting", "namespace", "guardrails", "on_breach", "primary_metric", "state", "created_version", "created_at"} {
		require.Contains(t, exp, k)
	}
	for _, k := range []string{"author", "reason", "stop", "stopped_version", "stopped_at"} {
		require.NotContains(t, exp, k)
	}
	created := decodeInto[api.ExperimentAnswer](t, r)
	require.EqualValues(t, 2, created.Version)
	require.Equal(t, experiments.StateRunning, created.Experiment.State)
	require.EqualValues(t, 2, created.Experiment.CreatedVersion)
	require.Equal(t, "resolved", created.Experiment.PrimaryMetric)
	require.NotNil(t, created.Experiment.Namespace, "body: %s", r.body)
	require.Equal(t, [2]float64{0, 0.5}, created.Experiment.Namespace.Range)
	require.Equal(t, []controltest.Audit{{Version: 2, Principal: "ana", Author: "ana"}}, plane.Audits(), "an experiment is an audited change")
	rec, err := plane.Record(2)
	require.NoError(t, err)
	require.Equal(t, []control.Kind{control.KindExperiments}, rec.Kinds)
	require.NotNil(t, rec.Change.Experiments.Create, "the change is {experiments: {create: DEFINITION}}")
	require.Equal(t, "ana", rec.Author)
	require.Equal(t, "which service philosophy serves best", rec.Reason)

	// defaults filled in: coverage 1, the id as the seed, report, reward
	r = ts.admin(t, http.MethodPost, api.RouteAdminExperiments, adminToken,
		`{"id": "small", "author": "bo", "reason": "r", "base_version": 2, "arms": [{"name": "a", "strategy": "learned", "weight": 0.5}, {"name": "b", "strategy": "model@1", "weight": 0.5}]}`)
	require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
	small := decodeInto[api.ExperimentAnswer](t, r).Experiment
	require.Equal(t, 1.0, small.Coverage)
	require.Equal(t, "small", small.Seed)
	require.Equal(t, experiments.OnBreachReport, small.OnBreach)
	require.Equal(t, "reward", small.PrimaryMetric)
	require.EqualValues(t, 3, small.CreatedVersion)
	_, cfg := plane.Current()
	require.Len(t, cfg.Frozen, 1, "model@1 is frozen in the configuration")

	// list and one
	r = ts.admin(t, http.MethodGet, api.RouteAdminExperiments, analystToken, "")
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	list := decodeInto[api.ExperimentsAnswer](t, r)
	require.EqualValues(t, 3, list.Version)
	require.Len(t, list.Experiments, 2)
	require.Equal(t, "philosophy", list.Experiments[0].ID)
	require.Equal(t, "small", list.Experiments[1].ID)
	require.Equal(t, controltest.Start, list.Experiments[0].CreatedAt, "the time of version 2")
	r = ts.admin(t, http.MethodGet, "/v1/admin/experiments/philosophy", analystToken, "")
	require.Equal(t, http.StatusOK, r.status)
	one := decodeInto[api.ExperimentAnswer](t, r)
	require.EqualValues(t, 3, one.Version)
	require.Equal(t, list.Experiments[0], one.Experiment)

	// stop: the next version, everyone back to the default strategy
	r = ts.admin(t, http.MethodPost, "/v1/admin/experiments/philosophy/stop", adminToken, `{"author": "ana", "reason": "basic customers resolve less"}`)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	stopped := decodeInto[api.ExperimentAnswer](t, r)
	require.EqualValues(t, 4, stopped.Version)
	require.Equal(t, experiments.StateStopped, stopped.Experiment.State)
	require.Equal(t, &experiments.Stop{By: "ana", Reason: "basic customers resolve less"}, stopped.Experiment.Stop)
	require.NotNil(t, stopped.Experiment.StoppedVersion)
	require.EqualValues(t, 4, *stopped.Experiment.StoppedVersion)
	require.NotNil(t, stopped.Experiment.StoppedAt)
	require.EqualValues(t, 2, stopped.Experiment.CreatedVersion)
	rec, err = plane.Record(4)
	require.NoError(t, err)
	require.Equal(t, &control.ExperimentStop{ID: "philosophy", By: "ana", Reason: "basic customers resolve less"}, rec.Change.Experiments.Stop)
	applied, err := control.Compile(rec.After, plane.Env)
	require.NoError(t, err)
	require.Equal(t, 1, applied.Experiments.Len(), "only small still assigns")

	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code, field, message     string
	}{
		{"stop again", http.MethodPost, "/v1/admin/experiments/philosophy/stop", `{"author": "ana", "reason": "again"}`,
			http.StatusConflict, api.CodeConflict, "id", `experiment "philosophy" is already stopped (version 4, by ana)`},
		{"reuse an id", http.MethodPost, api.RouteAdminExperiments, philosophy,
			http.StatusConflict, api.CodeConflict, "id", "ids are not reused"},
		{"stop an unknown one", http.MethodPost, "/v1/admin/experiments/nope/stop", `{"author": "ana", "reason": "r"}`,
			http.StatusNotFound, api.CodeNotFound, "id", `no experiment "nope"`},
		{"stop without a reason", http.MethodPost, "/v1/admin/experiments/small/stop", `{"author": "ana"}`,
			http.StatusBadRequest, api.CodeInvalidField, "reason", "is required"},
		{"stop with an unknown member", http.MethodPost, "/v1/admin/experiments/small/stop", `{"author": "ana", "reason": "r", "by": "x"}`,
			http.StatusBadRequest, api.CodeUnknownField, "by", "the body has: author, reason, base_version"},
		{"stop on a stale base", http.MethodPost, "/v1/admin/experiments/small/stop", `{"author": "ana", "reason": "r", "base_version": 3}`,
			http.StatusConflict, api.CodeStaleVersion, "base_version", "is not the current version 4"},
		{"get an unknown one", http.MethodGet, "/v1/admin/experiments/nope", "",
			http.StatusNotFound, api.CodeNotFound, "id", `no experiment "nope"`},
		{"results of an unknown one", http.MethodGet, "/v1/admin/experiments/nope/results", "",
			http.StatusNotFound, api.CodeNotFound, "id", `no experiment "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.admin(t, tc.method, tc.path, adminToken, tc.body)
			require.Equal(t, tc.status, r.status, "body: %s", r.body)
			require.Equal(t, tc.code, r.problem.Code)
			require.Equal(t, tc.field, r.problem.Field)
			require.Contains(t, r.problem.Message, tc.message)
			v, _ := plane.Current()
			require.EqualValues(t, 4, v, "a refused request changes nothing")
		})
	}

	// the history shows both kinds of change
	r = ts.admin(t, http.MethodGet, api.RouteAdminChanges, analystToken, "")
	h := decodeInto[api.HistoryAnswer](t, r)
	require.Equal(t, []control.Kind{control.KindExperiments}, h.Changes[0].Kinds)
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestAdminExperimentAccess(t *testing.T) {
	for _, tc := range []struct {
		name, method, path, body string
		analyst, admin           int
	}{
		{"create", http.MethodPost, api.RouteAdminExperiments, philosophy, http.StatusForbidden, http.StatusCreated},
		{"list", http.MethodGet, api.RouteAdminExperiments, "", http.StatusOK, http.StatusOK},
		{"one", http.MethodGet, "/v1/admin/experiments/live", "", http.StatusOK, http.StatusOK},
		{"results", http.MethodGet, "/v1/admin/experiments/live/results", "", http.StatusOK, http.StatusOK},
		{"stop", http.MethodPost, "/v1/admin/experiments/live/stop", `{"author": "ana", "reason": "r"}`, http.StatusForbidden, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plane := controltest.New(t)
			ts := experimentsServer(t, plane, nil)
			r := ts.admin(t, http.MethodPost, api.RouteAdminExperiments, adminToken, strings.Replace(philosophy, `"philosophy"`, `"live"`, 1))
			require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)
			for token, want := range map[string]int{"": http.StatusUnauthorized, scoreToken: http.StatusForbidden, analystToken: tc.analyst, adminToken: tc.admin} {
				r := ts.admin(t, tc.method, tc.path, token, tc.body)
				require.Equal(t, want, r.status, "token %q: %s", token, r.body)
			}
		})
	}
	ts := adminServer(t, nil, nil)
	r := ts.admin(t, http.MethodGet, api.RouteAdminExperiments, analystToken, "")
	require.Equal(t, http.StatusServiceUnavailable, r.status)
	require.Equal(t, "the control plane is not configured", r.problem.Message)
}

func TestAdminExperimentInvalid(t *testing.T) {
	const arms = `"arms": [{"name": "control", "strategy": "learned", "weight": 0.5}, {"name": "b", "strategy": "uniform", "weight": 0.5}]`
	body := func(members string) string {
		return `{"id": "x", "author": "ana", "reason": "r", ` + members + `}`
	}
	cases := []struct {
		name, body  string
		code, field string
		message     string
	}{
		{"not JSON", `{"id": `, api.CodeInvalidJSON, "", "malformed JSON"},
		{"unknown member", body(arms + `, "arm": []`), api.CodeUnknownField, "arm", "the body has: id, hypothesis, arms"},
		{"unknown member of an arm", body(`"arms": [{"name": "a", "strategy": "learned", "wieght": 1}]`), api.CodeUnknownField, "arms[0].wieght", "arms[0] has: name, strategy, weight"},
		{"state from the body", body(arms + `, "state": "stopped"`), api.CodeUnknownField, "state", ""},
		{"wrong type", body(arms + `, "coverage": "all"`), api.CodeInvalidType, "coverage", "expected a number"},
		{"missing author", `{"id": "x", "reason": "r", ` + arms + `}`, api.CodeInvalidField, "author", "is required"},
		{"bad id", `{"id": "Big Test", "author": "ana", "reason": "r", ` + arms + `}`, api.CodeInvalidField, "id", "must be 1-64 characters"},
		{"one arm", body(`"arms": [{"name": "a", "strategy": "learned", "weight": 1}]`), api.CodeInvalidField, "arms", "must list 2 to 8 arms"},
		{"weight out of range", body(`"arms": [{"name": "a", "strategy": "learned", "weight": 1}, {"name": "b", "strategy": "uniform", "weight": 0}]`), api.CodeInvalidField, "arms[1].weight", "must be a number in (0, 1]"},
		{"weights that do not sum to 1", body(`"arms": [{"name": "a", "strategy": "learned", "weight": 0.5}, {"name": "b", "strategy": "uniform", "weight": 0.4}]`), api.CodeInvalidField, "arms", "weights must sum to 1"},
		{"unknown strategy", body(`"arms": [{"name": "a", "strategy": "learned", "weight": 0.5}, {"name": "b", "strategy": "random", "weight": 0.5}]`), api.CodeInvalidField, "arms[1].strategy", "unknown strategy"},
		{"a model that cannot be frozen", body(`"arms": [{"name": "a", "strategy": "learned", "weight": 0.5}, {"name": "b", "strategy": "model@7", "weight": 0.5}]`), api.CodeInvalidField, "arms[1].strategy", "cannot be frozen"},
		{"coverage", body(arms + `, "coverage": 1.5`), api.CodeInvalidField, "coverage", "(0, 1]"},
		{"namespace range", body(arms + `, "namespace": {"id": "ns", "range": [0.5, 0.2]}`), api.CodeInvalidField, "namespace.range", "0 <= start < end <= 1"},
		{"targeting that does not compile", body(arms + `, "targeting": "channel =="`), api.CodeInvalidField, "targeting", ""},
		{"a drop bound on a lower-is-better metric", body(arms + `, "guardrails": [{"metric": "churned", "max_relative_drop": 0.1}]`), api.CodeInvalidField, "guardrails[0].max_relative_drop", "max_relative_rise"},
		{"a guardrail without a bound", body(arms + `, "guardrails": [{"metric": "resolved"}]`), api.CodeInvalidField, "guardrails[0]", "exactly one of"},
		{"unknown segment", body(arms + `, "guardrails": [{"metric": "resolved", "max_relative_drop": 0.1, "segments": ["intent"]}]`), api.CodeInvalidField, "guardrails[0].segments[0]", "allowed: tier, first_contact"},
		{"on_breach", body(arms + `, "on_breach": "panic"`), api.CodeInvalidField, "on_breach", `"report" or "stop"`},
		{"primary metric", body(arms + `, "primary_metric": "happiness"`), api.CodeInvalidField, "primary_metric", "unknown metric"},
		{"stale base", body(arms + `, "base_version": 0`), api.CodeStaleVersion, "base_version", "is not the current version 1"},
	}
	plane := seeded(t)
	ts := experimentsServer(t, plane, nil)
	_, before := plane.Current()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.admin(t, http.MethodPost, api.RouteAdminExperiments, adminToken, tc.body)
			want := http.StatusBadRequest
			if tc.code == api.CodeStaleVersion {
				want = http.StatusConflict
			}
			require.Equal(t, want, r.status, "body: %s", r.body)
			require.Equal(t, tc.code, r.problem.Code, "message: %s", r.problem.Message)
			require.Equal(t, tc.field, r.problem.Field, "message: %s", r.problem.Message)
			require.Contains(t, r.problem.Message, tc.message)
			v, cfg := plane.Current()
			require.EqualValues(t, 1, v, "an invalid experiment changes nothing")
			require.Equal(t, before, cfg)
		})
	}
}

// TestAdminExperimentUniformMode checks that a value_tier arm is refused
// while the policy removes customer value from decisions.
func TestAdminExperimentUniformMode(t *testing.T) {
	plane := controltest.New(t)
	uniform := strings.Replace(string(policy.DefaultPolicyYAML()), "uniform_mode: false", "uniform_mode: true", 1)
	_, err := plane.History.Propose(control.Change{Policy: &uniform}, "ana", "uniform service", nil, controltest.Start, plane.Env)
	require.NoError(t, err)
	ts := experimentsServer(t, plane, nil)
	r := ts.admin(t, http.MethodPost, api.RouteAdminExperiments, adminToken, philosophy)
	require.Equal(t, http.StatusBadRequest, r.status, "body: %s", r.body)
	require.Equal(t, "arms", r.problem.Field)
	require.Contains(t, r.problem.Message, "uniform mode")
}

func TestAdminExperimentResults(t *testing.T) {
	plane := controltest.New(t)
	results := &memoryResults{}
	ts := experimentsServer(t, plane, results)
	r := ts.admin(t, http.MethodPost, api.RouteAdminExperiments, adminToken, philosophy)
	require.Equal(t, http.StatusCreated, r.status, "body: %s", r.body)

	// before the results engine published any: zero counts, every arm and metric
	r = ts.admin(t, http.MethodGet, "/v1/admin/experiments/philosophy/results", analystToken, "")
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	zero := decodeInto[experiments.Results](t, r)
	require.Equal(t, "philosophy", zero.ID)
	require.Equal(t, experiments.StateRunning, zero.State)
	require.Equal(t, "resolved", zero.PrimaryMetric)
	require.Equal(t, experiments.SRMCheck{PValue: 1}, zero.SRM)
	require.Empty(t, zero.Segments)
	require.Empty(t, zero.Guardrails)
	require.Len(t, zero.Arms, 3)
	for i, want := range [][2]string{{"control", "learned"}, {"tiers", "value_tier"}, {"same", "uniform"}} {
		a := zero.Arms[i]
		require.Equal(t, want, [2]string{a.Name, a.Strategy})
		require.Zero(t, a.Units+a.Exposures+a.Joined)
		require.Len(t, a.Metrics, len(experiments.Metrics))
		require.Nil(t, a.Metrics["resolved"].Lift)
	}
	var raw map[string]any
	require.NoError(t, json.Unmarshal(r.body, &raw))
	require.Equal(t, map[string]any{}, raw["segments"], "segments is an object, never null")
	require.Equal(t, []any{}, raw["guardrails"], "guardrails is a list, never null")

	// once published, the results are served, with the state in effect now
	lift := 0.02
	pub := experiments.Results{ID: "philosophy", State: experiments.StateRunning, PrimaryMetric: "resolved", AsOf: controltest.Start,
		Decisions: 30, Outcomes: 20, SRM: experiments.SRMCheck{PValue: 0.41},
		Arms: []experiments.ArmResult{
			{Name: "control", Strategy: "learned", Units: 10, Exposures: 10, Joined: 7, Metrics: map[string]experiments.MetricResult{"resolved": {Units: 7, Mean: 0.7, CI: [2]float64{0.6, 0.8}}}},
			{Name: "tiers", Strategy: "value_tier", Units: 10, Exposures: 10, Joined: 7, Metrics: map[string]experiments.MetricResult{"resolved": {Units: 7, Mean: 0.72, CI: [2]float64{0.6, 0.8},
				Lift: &experiments.Lift{Relative: 0.02, CI: [2]float64{-0.1, 0.14}, PValue: 0.8, PValueHolm: 1, Sequential: experiments.SequentialLift{CI: [2]float64{-0.5, 0.5}, PValue: 1}}}}},
			{Name: "same", Strategy: "uniform", Units: 10, Exposures: 10, Joined: 6, Metrics: map[string]experiments.MetricResult{}},
		},
		Segments:   map[string]map[string]experiments.SegmentResult{"tier": {"gold": {Arms: []experiments.ArmResult{}}}},
		Guardrails: []experiments.GuardrailStatus{{Metric: "resolved", Arm: "tiers", Status: experiments.GuardrailWatching, Bound: -0.05, Lift: &lift, CI: [2]float64{-0.5, 0.5}, Units: 10, ControlUnits: 10}},
	}
	b, err := json.Marshal(pub)
	require.NoError(t, err)
	results.publish("philosophy", b)
	r = ts.admin(t, http.MethodPost, "/v1/admin/experiments/philosophy/stop", adminToken, `{"author": "ana", "reason": "enough"}`)
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	r = ts.admin(t, http.MethodGet, "/v1/admin/experiments/philosophy/results", analystToken, "")
	require.Equal(t, http.StatusOK, r.status, "body: %s", r.body)
	got := decodeInto[experiments.Results](t, r)
	want := pub
	want.State = experiments.StateStopped
	require.Equal(t, want, got)

	// results that do not decode are the engine's problem, not the client's
	results.publish("philosophy", []byte(`{"id": `))
	r = ts.admin(t, http.MethodGet, "/v1/admin/experiments/philosophy/results", analystToken, "")
	require.Equal(t, http.StatusServiceUnavailable, r.status)
	require.Equal(t, api.CodeUnavailable, r.problem.Code)
}

// TestAdminExperimentGolden pins the exact JSON of the experiments'
// answers. Run with -update to rewrite testdata/experiments_*.golden after
// an intended change.
func TestAdminExperimentGolden(t *testing.T) {
	plane := controltest.New(t)
	ts := experimentsServer(t, plane, nil)
	steps := []struct {
		name, method, path, token, body string
		status                          int
	}{
		{"create", http.MethodPost, api.RouteAdminExperiments, adminToken, philosophy, http.StatusCreated},
		{"results_before_any", http.MethodGet, "/v1/admin/experiments/philosophy/results", analystToken, "", http.StatusOK},
		{"stop", http.MethodPost, "/v1/admin/experiments/philosophy/stop", adminToken, `{"author": "ana", "reason": "basic customers resolve less"}`, http.StatusOK},
		{"list", http.MethodGet, api.RouteAdminExperiments, analystToken, "", http.StatusOK},
	}
	for _, st := range steps {
		r := ts.admin(t, st.method, st.path, st.token, st.body)
		require.Equal(t, st.status, r.status, "%s: %s", st.name, r.body)
		var pretty bytes.Buffer
		require.NoError(t, stdjson.Indent(&pretty, r.body, "", "  "))
		golden := filepath.Join("testdata", "experiments_"+st.name+".golden")
		if *update {
			require.NoError(t, os.WriteFile(golden, pretty.Bytes(), 0o644))
		}
		want, err := os.ReadFile(golden)
		require.NoError(t, err, "run go test ./api -run TestAdminExperimentGolden -update to create it")
		require.Equal(t, string(want), pretty.String(), st.name)
	}
}
