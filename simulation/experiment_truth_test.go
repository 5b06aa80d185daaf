package simulation_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	json "github.com/go-json-experiment/json"
	"github.com/stretchr/testify/require"

	"situ/api/contract"
	"situ/experiments"
	"situ/features"
	"situ/policy"
	"situ/simulation"
)

// experimentAnswer is a score response with the decision's experiment.
type experimentAnswer struct {
	contract.ScoreResponse
	Experiment *struct {
		ID  string `json:"id"`
		Arm string `json:"arm"`
	} `json:"experiment,omitzero"`
}

// withExperiment plays the experiment part of a decision in front of the
// real API: it assigns the request's customer with the assigner and, in an
// arm of a fixed strategy, serves what the strategy chooses among the
// treatments the policy left (probability 1); every decision in the
// experiment names it and its arm.
func withExperiment(t *testing.T, a *experiments.Assigner) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			require.NoError(t, err)
			var req contract.ScoreRequest
			require.NoError(t, json.Unmarshal(body, &req))
			r.Body = io.NopCloser(bytes.NewReader(body))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			as, in := a.Assign(&req.Context, false)
			if rec.Code != http.StatusOK || !in {
				w.WriteHeader(rec.Code)
				_, _ = w.Write(rec.Body.Bytes())
				return
			}
			var ans experimentAnswer
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &ans))
			ans.Strategy = as.Strategy.Name
			ans.Experiment = &struct {
				ID  string `json:"id"`
				Arm string `json:"arm"`
			}{as.Experiment, as.Arm}
			if as.Strategy.Fixed() {
				var eligible features.TreatmentSet
				for name := range ans.Probabilities {
					if _, excluded := ans.Policy.Excluded[name]; !excluded {
						tr, _ := features.ParseTreatment(name)
						eligible = eligible.With(tr)
					}
				}
				chosen, ok := experiments.Choose(as.Strategy.Kind, &req.Context, eligible)
				require.True(t, ok)
				ans.Treatment = chosen.String()
				for name := range ans.Probabilities {
					ans.Probabilities[name] = 0
				}
				ans.Probabilities[ans.Treatment] = 1
				ans.Propensity = 1
			}
			out, err := json.Marshal(&ans)
			require.NoError(t, err)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(out)
		})
	}
}

func newAssigner(t *testing.T, d experiments.Definition) *experiments.Assigner {
	t.Helper()
	d.Normalize()
	a, err := experiments.NewAssigner([]experiments.Experiment{{Definition: d, State: experiments.StateRunning}})
	require.NoError(t, err)
	return a
}

// TestRunReportsTheGroundTruthOfExperimentArms: a run whose decisions are
// in an experiment of three fixed strategies and the learned model reports,
// per arm, exactly the ground truth's expectations of what each arm served
// (recomputed here contact by contact), realised figures around them, and
// uniform as the winner, as TruthStrategies says.
func TestRunReportsTheGroundTruthOfExperimentArms(t *testing.T) {
	def := experiments.Definition{ID: "philosophy", Arms: []experiments.Arm{
		{Name: "control", Strategy: "learned", Weight: 0.25},
		{Name: "same", Strategy: "uniform", Weight: 0.25},
		{Name: "tiers", Strategy: "value_tier", Weight: 0.25},
		{Name: "cheap", Strategy: "efficiency_first", Weight: 0.25},
	}, Coverage: 0.8}
	assigner := newAssigner(t, def)
	const contacts, customers, seed = 4000, 1500, 9
	rep, err := simulation.Run(context.Background(), simulation.Config{
		ScoreURL: newSituWith(t, newEngine(t, "d-"), withExperiment(t, assigner)), Publisher: &memPublisher{},
		Contacts: contacts, Window: 1000, Concurrency: 1, Seed: seed, Customers: customers, // one at a time: the learned arm draws the same way every run
	})
	require.NoError(t, err)
	require.Len(t, rep.Experiments, 1)
	e := rep.Experiment("philosophy")
	require.NotNil(t, e)
	require.Nil(t, rep.Experiment("other"))

	// what each fixed arm served, contact by contact
	pop, err := simulation.NewPopulation(simulation.PopulationConfig{Seed: seed, Customers: customers})
	require.NoError(t, err)
	pol, err := policy.Default()
	require.NoError(t, err)
	reward := defaultReward(t)
	type unit struct {
		n        int
		reward   float64
		resolved float64
	}
	want := map[string]map[string]*unit{}
	inExperiment := 0
	for i := range contacts {
		c := pop.Contact(int64(i))
		as, ok := assigner.Assign(&c, false)
		if !ok {
			continue
		}
		inExperiment++
		if !as.Strategy.Fixed() {
			continue
		}
		res, err := pol.Apply(&c, features.AllTreatments)
		require.NoError(t, err)
		tr, _ := experiments.Choose(as.Strategy.Kind, &c, res.Eligible)
		resp := simulation.TrueResponse(&c, tr)
		m := resp.ExpectedMetrics(reward)
		if want[as.Arm] == nil {
			want[as.Arm] = map[string]*unit{}
		}
		u := want[as.Arm][c.Customer.ID]
		if u == nil {
			u = &unit{}
			want[as.Arm][c.Customer.ID] = u
		}
		u.n++
		u.reward += m.Reward
		u.resolved += m.Resolved
	}
	require.Equal(t, inExperiment, e.Decisions)
	require.Less(t, e.Decisions, contacts, "coverage leaves some out")

	names := []string{}
	units := 0
	for _, a := range e.Arms {
		names = append(names, a.Name)
		units += a.Units
	}
	require.Equal(t, []string{"cheap", "control", "same", "tiers"}, names, "arms by name")
	require.Equal(t, units, e.Units)

	tests := []struct {
		arm, strategy string
	}{
		{"same", "uniform"},
		{"tiers", "value_tier"},
		{"cheap", "efficiency_first"},
	}
	for _, tt := range tests {
		t.Run(tt.arm, func(t *testing.T) {
			a := e.Arm(tt.arm)
			require.NotNil(t, a)
			require.Equal(t, tt.strategy, a.Strategy)
			decisions := 0
			rewardSum, resolvedSum := 0.0, 0.0
			for _, u := range want[tt.arm] {
				decisions += u.n
				rewardSum += u.reward / float64(u.n)
				resolvedSum += u.resolved / float64(u.n)
			}
			require.Equal(t, len(want[tt.arm]), a.Units)
			require.Equal(t, decisions, a.Decisions)
			require.Greater(t, a.Decisions, a.Units, "repeat customers")
			require.InDelta(t, rewardSum/float64(a.Units), a.Expected.Reward, 1e-9)
			require.InDelta(t, resolvedSum/float64(a.Units), a.Expected.Resolved, 1e-9)
			require.InDelta(t, a.Expected.Reward, a.Realised.Reward, 0.05, "the outcomes scatter around their expectation")
			require.InDelta(t, a.Expected.Resolved, a.Realised.Resolved, 0.05)
			require.Greater(t, a.CSATUnits, a.Units/5)

			units, decisions := 0, 0
			for _, g := range a.Segments[experiments.SegmentTier] {
				units += g.Units
				decisions += g.Decisions
			}
			require.Equal(t, a.Units, units)
			require.Equal(t, a.Decisions, decisions)
			first := a.Segments[experiments.SegmentFirstContact]
			require.Equal(t, a.Units, first["true"].Units+first["false"].Units)
		})
	}
	control := e.Arm("control")
	require.Equal(t, "learned", control.Strategy)
	require.Greater(t, control.Units, 0)

	require.Equal(t, "same", e.Winner, "the ground truth prefers uniform service")
	require.Equal(t, "uniform", e.WinnerStrategy)
	require.Greater(t, e.Margin, 2*e.MarginSE)
	require.Less(t, e.Arm("cheap").Expected.Resolved, 0.9*e.Arm("same").Expected.Resolved, "efficiency_first resolves less")

	for _, w := range rep.Windows {
		require.NotEqual(t, w.Strategies[0], w.Strategies[1], "the strategies choose among all eligible treatments, not the one a fixed arm served")
	}

	var text strings.Builder
	require.NoError(t, rep.WriteText(&text))
	t.Log("\n" + text.String())
	for _, s := range []string{"ground truth by experiment arm", "res_platinum", "philosophy: ground truth winner on reward: same (uniform)"} {
		require.Contains(t, text.String(), s)
	}
	var raw bytes.Buffer
	require.NoError(t, rep.WriteJSON(&raw))
	back, err := simulation.ReadReport(&raw)
	require.NoError(t, err)
	require.Equal(t, rep.Experiments, back.Experiments, "the JSON report holds the ground truth by arm")
}

// TestRunWithoutExperiments reports no experiment and prints no table.
func TestRunWithoutExperiments(t *testing.T) {
	rep, err := simulation.Run(context.Background(), simulation.Config{
		ScoreURL: newSitu(t, newEngine(t, "d-")), Publisher: &memPublisher{}, Contacts: 100,
	})
	require.NoError(t, err)
	require.Empty(t, rep.Experiments)
	var text strings.Builder
	require.NoError(t, rep.WriteText(&text))
	require.NotContains(t, text.String(), "ground truth by experiment arm")
	var raw bytes.Buffer
	require.NoError(t, rep.WriteJSON(&raw))
	require.NotContains(t, raw.String(), `"experiments"`)
}
