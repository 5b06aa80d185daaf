package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/stretchr/testify/require"

	"situ/experiments"
)

// publishedResults is an api.ExperimentResults over a map, as the
// results engine fills it.
type publishedResults struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (p *publishedResults) Results(id string) ([]byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.m[id]
	return b, ok
}

func (p *publishedResults) publish(t *testing.T, r experiments.Results) {
	t.Helper()
	b, err := jsonv2.Marshal(r)
	require.NoError(t, err)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string][]byte{}
	}
	p.m[r.ID] = b
}

func ptr[T any](v T) *T { return &v }

// sampleResults are results of the experiment the session creates: the
// tiers arm drops resolution for basic customers.
func sampleResults() experiments.Results {
	lift := func(rel, p float64) *experiments.Lift {
		return &experiments.Lift{Relative: rel, CI: [2]float64{rel - 0.05, rel + 0.05}, PValue: p, PValueHolm: min(1, 2*p),
			Sequential: experiments.SequentialLift{CI: [2]float64{rel - 0.1, rel + 0.1}, PValue: min(1, 4*p)}}
	}
	arm := func(name, strategy string, units int64, resolved float64, l *experiments.Lift) experiments.ArmResult {
		return experiments.ArmResult{Name: name, Strategy: strategy, Units: units, Exposures: 2 * units, Joined: units,
			Metrics: map[string]experiments.MetricResult{
				"resolved": {Units: units, Mean: resolved, CI: [2]float64{resolved - 0.02, resolved + 0.02}, Lift: l},
				"reward":   {Units: units, Mean: 0.5, CI: [2]float64{0.48, 0.52}},
			}}
	}
	return experiments.Results{
		ID: "philosophy", State: experiments.StateRunning, PrimaryMetric: "resolved", AsOf: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC),
		Decisions: 6000, Outcomes: 3000, SRM: experiments.SRMCheck{PValue: 0.00001, Mismatch: true},
		Arms: []experiments.ArmResult{arm("control", "learned", 1000, 0.71, nil), arm("tiers", "value_tier", 1000, 0.65, lift(-0.085, 0.003))},
		Segments: map[string]map[string]experiments.SegmentResult{
			"tier": {
				"gold":  {Arms: []experiments.ArmResult{arm("control", "learned", 300, 0.8, nil), arm("tiers", "value_tier", 300, 0.82, lift(0.025, 0.4))}},
				"basic": {Arms: []experiments.ArmResult{arm("control", "learned", 400, 0.6, nil), arm("tiers", "value_tier", 400, 0.45, lift(-0.25, 0.0001))}},
			},
			"first_contact": {"true": {Arms: []experiments.ArmResult{arm("control", "learned", 100, 0.5, nil), arm("tiers", "value_tier", 100, 0.49, lift(-0.02, 0.7))}}},
		},
		Guardrails: []experiments.GuardrailStatus{
			{Metric: "resolved", Arm: "tiers", Segment: "", Status: experiments.GuardrailWatching, Bound: -0.05, Lift: ptr(-0.085), CI: [2]float64{-0.2, 0.03}, Units: 1000, ControlUnits: 1000},
			{Metric: "resolved", Arm: "tiers", Segment: "tier=basic", Status: experiments.GuardrailBreached, Bound: -0.05, Lift: ptr(-0.25), CI: [2]float64{-0.4, -0.1}, Units: 400, ControlUnits: 400},
		},
	}
}

func TestAdminCLIExperiments(t *testing.T) {
	dir := t.TempDir()
	defFile := filepath.Join(dir, "philosophy.json")
	require.NoError(t, os.WriteFile(defFile, []byte(`{"id": "philosophy", "hypothesis": "value tiers serve basic customers worse",
		"arms": [{"name": "control", "strategy": "learned", "weight": 0.5}, {"name": "tiers", "strategy": "value_tier", "weight": 0.5}],
		"targeting": "channel == 'chat'", "primary_metric": "resolved"}`), 0o600))
	badFile := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(badFile, []byte(`{"id": "x", "armz": []}`), 0o600))
	results := &publishedResults{}
	s := startAdminServerWith(t, results)

	steps := []struct {
		name     string
		args     []string
		token    string // default the admin token
		code     int
		before   func() // run before the step
		requests []string
		body     string // of the last request, when it has one
		out      []string
		notOut   []string
		stderr   []string
	}{
		{
			name: "no experiments yet", args: []string{"experiments", "list"},
			requests: []string{"GET /v1/admin/experiments"},
			out:      []string{"configuration version 0", "no experiments"},
		},
		{
			name: "dry-run a creation as an analyst", token: cliAnalystToken,
			args:     []string{"experiments", "create", "--file", defFile, "--dry-run", "--reason", "try", "--author", "carl"},
			requests: []string{"POST /v1/admin/changes"},
			out:      []string{"dry run: this would be version 1 (experiments); nothing was changed", "experiments[philosophy]"},
		},
		{
			name: "an analyst cannot create one", token: cliAnalystToken, code: 1,
			args:     []string{"experiments", "create", "--file", defFile, "--reason", "try", "--author", "carl"},
			requests: []string{"POST /v1/admin/experiments"},
			stderr:   []string{"forbidden", "[HTTP 403]"},
		},
		{
			name: "create from a file, flags overriding it",
			args: []string{"experiments", "create", "--file", defFile, "--guardrail", "resolved:drop=0.05:segments=tier,first_contact",
				"--guardrail", "handle_seconds:rise=0.2", "--on-breach", "stop", "--namespace", "chat:0:0.5", "--reason", "which philosophy serves best", "--author", "ana"},
			requests: []string{"POST /v1/admin/experiments"},
			body: `{"id": "philosophy", "hypothesis": "value tiers serve basic customers worse", "author": "ana", "reason": "which philosophy serves best",
				"arms": [{"name": "control", "strategy": "learned", "weight": 0.5}, {"name": "tiers", "strategy": "value_tier", "weight": 0.5}],
				"coverage": 0, "seed": "", "targeting": "channel == 'chat'", "namespace": {"id": "chat", "range": [0, 0.5]},
				"guardrails": [{"metric": "resolved", "max_relative_drop": 0.05, "segments": ["tier", "first_contact"]}, {"metric": "handle_seconds", "max_relative_rise": 0.2}],
				"on_breach": "stop", "primary_metric": "resolved"}`,
			out: []string{"experiment philosophy created: version 1 accepted (experiments), by ana: which philosophy serves best",
				"experiment philosophy: running", "hypothesis: value tiers serve basic customers worse", "created: version 1 at 2026-11-22T10:01:00Z",
				"primary metric: resolved; on breach: stop", `coverage 1, seed "philosophy", targeting: channel == 'chat', namespace chat [0, 0.5)`,
				"control  learned     0.5     control", "tiers    value_tier  0.5",
				"resolved        drop at most 5%   overall, per tier, per first_contact", "handle_seconds  rise at most 20%  overall"},
		},
		{
			name: "create from flags only",
			args: []string{"experiments", "create", "--id", "effort", "--arm", "control=learned:0.6", "--arm", "self=efficiency_first:0.2", "--arm", "frozen=model@1:0.2",
				"--coverage", "0.5", "--seed", "effort-2026", "--primary-metric", "handle_seconds", "--reason", "less effort", "--author", "ana"},
			requests: []string{"POST /v1/admin/experiments"},
			body: `{"id": "effort", "hypothesis": "", "author": "ana", "reason": "less effort", "coverage": 0.5, "seed": "effort-2026", "on_breach": "", "primary_metric": "handle_seconds",
				"arms": [{"name": "control", "strategy": "learned", "weight": 0.6}, {"name": "self", "strategy": "efficiency_first", "weight": 0.2}, {"name": "frozen", "strategy": "model@1", "weight": 0.2}]}`,
			out: []string{"experiment effort created: version 2", "coverage 0.5, seed \"effort-2026\", targeting: everyone", "frozen   model@1"},
		},
		{
			name: "the server names the body's field", code: 1,
			args:     []string{"experiments", "create", "--id", "bad", "--arm", "a=learned:0.5", "--arm", "b=random:0.5", "--reason", "r", "--author", "ana"},
			requests: []string{"POST /v1/admin/experiments"},
			stderr:   []string{`invalid_field: unknown strategy "random"`, "(field arms[1].strategy) [HTTP 400]"},
		},
		{
			name: "an id in use", code: 1,
			args:     []string{"experiments", "create", "--file", defFile, "--reason", "again", "--author", "ana"},
			requests: []string{"POST /v1/admin/experiments"},
			stderr:   []string{"conflict: experiment \"philosophy\" exists already", "[HTTP 409]"},
		},
		{
			name: "list", args: []string{"experiments", "list"}, token: cliAnalystToken,
			requests: []string{"GET /v1/admin/experiments"},
			out: []string{"configuration version 2", "ID          STATE    CREATED  STOPPED  PRIMARY         ARMS",
				"philosophy  running  1        -        resolved        control=learned:0.5 tiers=value_tier:0.5",
				"effort      running  2        -        handle_seconds  control=learned:0.6 self=efficiency_first:0.2 frozen=model@1:0.2"},
		},
		{
			name: "results before any are published", args: []string{"experiments", "results", "effort"}, token: cliAnalystToken,
			requests: []string{"GET /v1/admin/experiments/effort/results"},
			out: []string{"experiment effort: running, no results yet: 0 decisions, 0 with outcomes; primary metric handle_seconds",
				"sample ratio: p = 1, ok", "control  learned           0      0          0",
				"handle_seconds (primary), lower is better", "control  0      -              control", "per tier: no units yet", "guardrails: none"},
		},
		{
			name: "results", args: []string{"experiments", "results", "philosophy"}, token: cliAnalystToken,
			before:   func() { results.publish(t, sampleResults()) },
			requests: []string{"GET /v1/admin/experiments/philosophy/results"},
			out: []string{"experiment philosophy: running, as of 2026-11-22T12:00:00Z: 6000 decisions, 3000 with outcomes; primary metric resolved",
				"sample ratio: p = <0.0001, MISMATCH",
				"ARM      STRATEGY    UNITS  EXPOSURES  JOINED\ncontrol  learned     1000   2000       1000",
				"resolved (primary)\nARM      UNITS  MEAN [95% CI]      LIFT     [95% CI]         P      HOLM P  SEQ P\ncontrol  1000   0.71 [0.69, 0.73]  control",
				"tiers    1000   0.65 [0.63, 0.67]  -8.5%    [-13.5%, -3.5%]  0.003  0.006   0.012",
				"\nreward\n", "no units yet: csat, upsell_accepted, revenue, handle_seconds, escalated, recontact_7d, churned",
				"tier=basic, resolved", "tier=gold, resolved", "first_contact=true, resolved",
				"tiers    400    0.45 [0.43, 0.47]  -25.0%   [-30.0%, -20.0%]  0.0001  0.0002  0.0004",
				"resolved  tiers  overall     watching  -5.0%  -8.5% [-20.0%, +3.0%]", "resolved  tiers  tier=basic  BREACHED  -5.0%  -25.0% [-40.0%, -10.0%]   400    400"},
		},
		{
			name: "results of one segment", args: []string{"experiments", "results", "philosophy", "--segment", "first_contact"}, token: cliAnalystToken,
			requests: []string{"GET /v1/admin/experiments/philosophy/results"},
			out:      []string{"first_contact=true, resolved\nARM", "first_contact=true, reward\nARM", "resolved  tiers  overall  watching"},
			notOut:   []string{"tier=basic"},
		},
		{
			name: "an unknown segment", code: 2, args: []string{"experiments", "results", "philosophy", "--segment", "intent"},
			stderr: []string{`--segment "intent": allowed: tier, first_contact`},
		},
		{
			name: "stop", args: []string{"experiments", "stop", "philosophy", "--reason", "basic customers resolve less", "--author", "ana"},
			requests: []string{"POST /v1/admin/experiments/philosophy/stop"},
			body:     `{"author": "ana", "reason": "basic customers resolve less"}`,
			out: []string{"experiment philosophy stopped: version 3 accepted (experiments), by ana: basic customers resolve less",
				"experiment philosophy: stopped", "stopped: version 3 at 2026-11-22T10:04:00Z by ana: basic customers resolve less"},
		},
		{
			name: "stop again", code: 1, args: []string{"experiments", "stop", "philosophy", "--reason", "again", "--author", "ana"},
			requests: []string{"POST /v1/admin/experiments/philosophy/stop"},
			stderr:   []string{`conflict: experiment "philosophy" is already stopped (version 3, by ana)`, "[HTTP 409]"},
		},
		{
			name: "show", args: []string{"experiments", "show", "philosophy"}, token: cliAnalystToken,
			requests: []string{"GET /v1/admin/experiments/philosophy"},
			out:      []string{"configuration version 3", "experiment philosophy: stopped", "created: version 1", "stopped: version 3"},
		},
		{
			name: "the results say stopped", args: []string{"experiments", "results", "philosophy"}, token: cliAnalystToken,
			requests: []string{"GET /v1/admin/experiments/philosophy/results"},
			out:      []string{"experiment philosophy: stopped"},
		},
		{
			name: "show an unknown one", code: 1, args: []string{"experiments", "show", "nope"}, token: cliAnalystToken,
			requests: []string{"GET /v1/admin/experiments/nope"},
			stderr:   []string{`not_found: no experiment "nope"`, "[HTTP 404]"},
		},
		{
			name: "a definition file with an unknown member", code: 1, args: []string{"experiments", "create", "--file", badFile, "--reason", "r"},
			stderr: []string{"bad.json: not an experiment definition", "armz"},
		},
		{
			name: "an arm that is not NAME=STRATEGY:WEIGHT", code: 2, args: []string{"experiments", "create", "--id", "x", "--arm", "control=learned", "--reason", "r"},
			stderr: []string{`--arm "control=learned": want NAME=STRATEGY:WEIGHT`},
		},
		{
			name: "a guardrail without a bound", code: 2, args: []string{"experiments", "create", "--id", "x", "--guardrail", "resolved", "--reason", "r"},
			stderr: []string{`--guardrail "resolved": want METRIC:drop=X`},
		},
		{
			name: "a namespace that is not ID:START:END", code: 2, args: []string{"experiments", "create", "--id", "x", "--namespace", "chat:0.5", "--reason", "r"},
			stderr: []string{`--namespace "chat:0.5": want ID:START:END`},
		},
		{
			name: "no id", code: 2, args: []string{"experiments", "create", "--arm", "a=learned:1", "--reason", "r"},
			stderr: []string{"the experiment needs an id"},
		},
		{
			name: "stop without an id", code: 2, args: []string{"experiments", "stop", "--reason", "r"},
			stderr: []string{"missing arguments: ID"},
		},
		{
			name: "unknown subcommand", code: 2, args: []string{"experiments", "start"},
			stderr: []string{`unknown subcommand "start" of situ admin experiments; allowed: create, list, show, stop, results`},
		},
	}
	for _, st := range steps {
		ok := t.Run(st.name, func(t *testing.T) {
			if st.before != nil {
				st.before()
			}
			token := st.token
			if token == "" {
				token = cliAdminToken
			}
			code, out, errOut := s.runCLI(t, token, st.args...)
			require.Equal(t, st.code, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			for _, w := range st.out {
				require.Contains(t, out, w)
			}
			for _, w := range st.notOut {
				require.NotContains(t, out, w)
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
	require.EqualValues(t, 3, v)
}

// TestAdminCLIExperimentsJSON checks that --json prints the server's
// answer, indented, and that a definition can come from stdin.
func TestAdminCLIExperimentsJSON(t *testing.T) {
	results := &publishedResults{}
	s := startAdminServerWith(t, results)
	stdin, err := os.CreateTemp(t.TempDir(), "def")
	require.NoError(t, err)
	_, err = stdin.WriteString(`{"id": "philosophy", "arms": [{"name": "control", "strategy": "learned", "weight": 0.5}, {"name": "tiers", "strategy": "value_tier", "weight": 0.5}]}`)
	require.NoError(t, err)
	_, err = stdin.Seek(0, 0)
	require.NoError(t, err)
	saved := os.Stdin
	os.Stdin = stdin
	t.Cleanup(func() { os.Stdin = saved })

	cases := []struct {
		name string
		args []string
	}{
		{"create", []string{"experiments", "create", "--file", "-", "--reason", "r", "--author", "ana"}},
		{"list", []string{"experiments", "list"}},
		{"show", []string{"experiments", "show", "philosophy"}},
		{"results", []string{"experiments", "results", "philosophy"}},
		{"stop", []string{"experiments", "stop", "philosophy", "--reason", "r", "--author", "ana"}},
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
			if tc.name == "results" {
				var r experiments.Results
				require.NoError(t, jsonv2.Unmarshal([]byte(out), &r))
				require.Len(t, r.Arms, 2)
				require.True(t, strings.Contains(out, `"srm"`))
			}
		})
	}
}
