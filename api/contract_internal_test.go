package api

import (
	"context"
	"reflect"
	"strconv"
	"strings"
	"testing"

	json "github.com/go-json-experiment/json"
	"github.com/stretchr/testify/require"

	"situ/api/contract"
	"situ/experiments"
	"situ/features"
	"situ/policy"
	"situ/scoring"
)

// TestAppendDecisionMatchesContract: what appendDecision writes decodes
// strictly (no member the type lacks) into contract.ScoreResponse, carries
// every member the type declares, and holds the decision's values.
func TestAppendDecisionMatchesContract(t *testing.T) {
	base := func(edit func(r *scoring.Request)) scoring.Request {
		var req scoreRequest
		require.NoError(t, decodeScoreRequest([]byte(contractBody), &req))
		r := scoring.Request{Context: req.Context}
		edit(&r)
		return r
	}
	def, err := policy.Default()
	require.NoError(t, err)
	spec := def.Spec()
	spec.UniformMode = true
	uniform, err := policy.Compile(spec)
	require.NoError(t, err)
	cases := []struct {
		name string
		req  scoring.Request
		pol  *policy.Policy
	}{
		{"contract example: exclusions", base(func(*scoring.Request) {}), nil},
		{"all eligible", base(func(r *scoring.Request) { r.Context.Friction = features.Friction{} }), nil},
		{"one candidate", base(func(r *scoring.Request) {
			r.Context.Friction = features.Friction{}
			r.Treatments = features.TreatmentSet(0).With(features.PamperUpsell)
		}), nil},
		{"unknown intent and channel", base(func(r *scoring.Request) {
			r.Context.Intent.Name, r.Context.Channel = "warranty_claim", "Fax"
		}), nil},
		{"entitlements", base(func(r *scoring.Request) {
			r.Context.Customer.AnnualSpend = 9000
			r.Context.Friction = features.Friction{WaitSeconds: 900}
			r.Context.Intent.Name = "general_question"
		}), nil},
		{"uniform mode", base(func(*scoring.Request) {}), uniform},
		{"levers and a configuration version", base(func(r *scoring.Request) {
			r.Context.Friction = features.Friction{}
			r.Treatments = features.AllTreatments.Without(features.SelfService)
		}), nil},
		{"experiment arm", base(func(*scoring.Request) {}), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newInternalEngine(t)
			if tc.pol != nil {
				e.SetPolicy(tc.pol)
			}
			if strings.HasPrefix(tc.name, "levers") {
				require.NoError(t, e.Update(func(b scoring.Bundle) (scoring.Bundle, error) {
					// self_service is no candidate: its lever is not shown
					b.Levers = [features.NumTreatments]float64{features.PamperUpsell: -0.05, features.SelfService: 0.5}
					b.ConfigVersion = 7
					return b, nil
				}))
			}
			if tc.name == "experiment arm" {
				d := experiments.Definition{ID: "philosophy", Seed: "s", Coverage: 1, OnBreach: "report", PrimaryMetric: "reward",
					Arms: []experiments.Arm{{Name: "tiers", Strategy: "value_tier", Weight: 0.5}, {Name: "tiers-2", Strategy: "value_tier", Weight: 0.5}}}
				asg, err := experiments.NewAssigner([]experiments.Experiment{{Definition: d, State: experiments.StateRunning}})
				require.NoError(t, err)
				require.NoError(t, e.Update(func(b scoring.Bundle) (scoring.Bundle, error) { b.Experiments = asg; return b, nil }))
			}
			d, err := e.Decide(context.Background(), tc.req)
			require.NoError(t, err)
			b := appendDecision(nil, &d)
			var got contract.ScoreResponse
			require.NoError(t, json.Unmarshal(b, &got, json.RejectUnknownMembers(true)), "%s", b)

			var members map[string]any
			require.NoError(t, json.Unmarshal(b, &members))
			requireMembers(t, reflect.TypeFor[contract.ScoreResponse](), members, "")

			require.Equal(t, d.ID, got.DecisionID)
			require.Equal(t, d.Treatment.String(), got.Treatment)
			require.Equal(t, d.Propensity, got.Propensity)
			require.Equal(t, d.Strategy, got.Strategy)
			require.Equal(t, tc.name == "experiment arm", d.Experiment != "", "in an experiment")
			if d.Experiment == "" {
				require.Nil(t, got.Experiment, "experiment is absent outside any experiment")
			} else {
				require.Equal(t, &contract.ScoreExperiment{ID: d.Experiment, Arm: d.Arm}, got.Experiment)
				require.Equal(t, "value_tier", got.Strategy)
				require.Contains(t, members, "experiment")
			}
			require.Equal(t, d.ModelVersion, got.ModelVersion)
			require.Equal(t, d.ConfigVersion, got.ConfigVersion)
			levers := map[string]float64{}
			for _, tr := range features.Treatments() {
				if d.Candidates.Has(tr) && d.Levers[tr] != 0 {
					levers[tr.String()] = d.Levers[tr]
				}
			}
			require.Equal(t, levers, got.Levers)
			if strings.HasPrefix(tc.name, "levers") {
				require.Equal(t, map[string]float64{"pamper_upsell": -0.05}, got.Levers)
				require.EqualValues(t, 7, got.ConfigVersion)
			}
			require.Equal(t, d.HumanEscape, got.HumanEscape)
			require.Equal(t, d.Uniform, got.Policy.Uniform)
			require.Equal(t, d.RuleIDs([]string{}), got.Policy.Rules)
			require.Equal(t, d.Entitlements([]string{}), got.Policy.Entitlements)
			require.Len(t, got.Probabilities, d.Candidates.Len())
			for _, tr := range features.Treatments() {
				if !d.Candidates.Has(tr) {
					continue
				}
				require.Equal(t, d.Probabilities[tr], got.Probabilities[tr.String()], tr.String())
				require.Equal(t, d.Scores[tr], got.Scores[tr.String()], tr.String())
				require.Len(t, got.Explanation[tr.String()], int(d.ExplainN[tr]), tr.String())
				if i, ok := d.Rules.Excluder(tr); ok {
					require.Equal(t, d.Policy.RuleID(i), got.Policy.Excluded[tr.String()])
				}
			}
		})
	}
}

// TestAppendProblemMatchesContract: every problem answer decodes strictly
// into contract.Problem and says what it was given.
func TestAppendProblemMatchesContract(t *testing.T) {
	cases := []struct {
		name string
		p    problem
	}{
		{"with a field", problem{400, CodeInvalidField, "customer.tier", "must be at most 128 bytes"}},
		{"without a field", problem{503, CodeUnavailable, "", "the outcome topic is unreachable; retry"}},
		{"escapes", problem{400, CodeInvalidJSON, "attributes.é\"x", "bad \"value\"\n"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := appendProblem(nil, tc.p)
			var got contract.Problem
			require.NoError(t, json.Unmarshal(b, &got, json.RejectUnknownMembers(true)), "%s", b)
			require.Equal(t, contract.Problem{Error: contract.ProblemDetail{Code: tc.p.code, Message: tc.p.message, Field: tc.p.field}}, got)
			require.Equal(t, tc.p.field != "", strings.Contains(string(b), `"field"`), "field omitted exactly when empty")
		})
	}
}

// requireMembers fails for every exported field of typ (recursively through
// structs and the elements of slices and maps) whose json name is not a
// member of the decoded value; omitempty fields may be absent.
func requireMembers(t *testing.T, typ reflect.Type, v any, path string) {
	t.Helper()
	switch typ.Kind() {
	case reflect.Slice:
		for i, e := range v.([]any) {
			requireMembers(t, typ.Elem(), e, path+"/"+strconv.Itoa(i))
		}
		return
	case reflect.Map:
		for k, e := range v.(map[string]any) {
			requireMembers(t, typ.Elem(), e, path+"/"+k)
		}
		return
	case reflect.Struct:
	default:
		return
	}
	obj := v.(map[string]any)
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Anonymous || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		m, ok := obj[name]
		if !ok {
			if !strings.Contains(opts, "omitempty") {
				t.Errorf("%s/%s (%s.%s) is not in the answer", path, name, typ.Name(), f.Name)
			}
			continue
		}
		requireMembers(t, f.Type, m, path+"/"+name)
	}
}
