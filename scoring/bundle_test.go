package scoring_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"

	"situ/features"
	"situ/models"
	"situ/policy"
	"situ/scoring"
)

// policyVersion compiles the default policy under another version.
func policyVersion(t *testing.T, v int64) *policy.Policy {
	t.Helper()
	spec := mustDefaultPolicy(t).Spec()
	spec.Version = v
	p, err := policy.Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// modelVersion copies m under another version.
func modelVersion(m *models.Model, v int64) *models.Model {
	return models.NewBuilder(m).Build(v)
}

// openRequest leaves every treatment eligible under the default policy.
func openRequest() scoring.Request {
	req := realisticRequest()
	req.Context.Friction = features.Friction{}
	req.Context.Intent.Name = "general_question"
	return req
}

// TestDecisionsSeeOneBundle decides continuously while another goroutine
// swaps (model v1, policy v1) and (model v2, policy v2) as one update each
// time: every decision must name a model and a policy of the same pair.
// Were the model and the policy swapped one after the other, a decision
// between the two swaps would see v2 with v1.
func TestDecisionsSeeOneBundle(t *testing.T) {
	e := newTestEngine(t, nil)
	type pair struct {
		m *models.Model
		p *policy.Policy
	}
	pairs := [2]pair{
		{modelVersion(e.Model(), 1), policyVersion(t, 1)},
		{modelVersion(e.Model(), 2), policyVersion(t, 2)},
	}
	e.SetModel(pairs[0].m)
	e.SetPolicy(pairs[0].p)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // swapper: until the decider has seen enough
		defer wg.Done()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			next := pairs[i%2]
			if err := e.Update(func(b scoring.Bundle) (scoring.Bundle, error) {
				b.Model, b.Policy = next.m, next.p
				return b, nil
			}); err != nil {
				t.Errorf("update: %v", err)
				return
			}
		}
	}()
	go func() { // decider: at least 300 decisions, both pairs seen
		defer wg.Done()
		defer close(stop)
		req := openRequest()
		var seen [3]int
		for n := 0; n < 300 || seen[1] == 0 || seen[2] == 0; n++ {
			d, err := e.Decide(context.Background(), req)
			if err != nil {
				t.Errorf("decide: %v", err)
				return
			}
			if d.ModelVersion != d.PolicyVersion || d.Model.Version() != d.ModelVersion || d.Policy.Version() != d.PolicyVersion {
				t.Errorf("decision %d saw model v%d with policy v%d", n, d.ModelVersion, d.PolicyVersion)
				return
			}
			seen[d.ModelVersion]++
		}
	}()
	wg.Wait()
}

// squareCB is SquareCB's formula written out: a treatment trailing the best
// by gap gets (1-ε)/(K+γ·gap) + ε/K with γ = γ0·√(1+experience); the best
// gets the rest.
func squareCB(gamma0, eps float64, scores [features.NumTreatments]float64, experience int64) [features.NumTreatments]float64 {
	const k = float64(features.NumTreatments)
	best := 0
	for t := range scores {
		if scores[t] > scores[best] {
			best = t
		}
	}
	gamma := gamma0 * math.Sqrt(1+float64(experience))
	var p [features.NumTreatments]float64
	rest := 1.0
	for t := range scores {
		if t != best {
			p[t] = (1-eps)/(k+gamma*(scores[best]-scores[t])) + eps/k
			rest -= p[t]
		}
	}
	p[best] = rest
	return p
}

func epsilonGreedy(eps float64, scores [features.NumTreatments]float64) [features.NumTreatments]float64 {
	const k = float64(features.NumTreatments)
	best := 0
	for t := range scores {
		if scores[t] > scores[best] {
			best = t
		}
	}
	var p [features.NumTreatments]float64
	for t := range p {
		p[t] = eps / k
	}
	p[best] += 1 - eps
	return p
}

func TestSetExplorerChangesTheNextDecision(t *testing.T) {
	cases := []struct {
		name     string
		explorer scoring.Explorer
		wantErr  bool
		// want gives the probabilities of the next decision from its scores
		// and the model's experience; nil when the explorer is refused.
		want func(scores [features.NumTreatments]float64, experience int64) [features.NumTreatments]float64
	}{
		{name: "squarecb epsilon 0.01 to 0.3", explorer: scoring.SquareCB{Gamma0: 50, Epsilon: 0.3},
			want: func(s [features.NumTreatments]float64, n int64) [features.NumTreatments]float64 {
				return squareCB(50, 0.3, s, n)
			}},
		{name: "squarecb gamma0 50 to 5", explorer: scoring.SquareCB{Gamma0: 5, Epsilon: 0.02},
			want: func(s [features.NumTreatments]float64, n int64) [features.NumTreatments]float64 {
				return squareCB(5, 0.02, s, n)
			}},
		{name: "epsilon-greedy 0.2", explorer: scoring.EpsilonGreedy{Epsilon: 0.2},
			want: func(s [features.NumTreatments]float64, _ int64) [features.NumTreatments]float64 {
				return epsilonGreedy(0.2, s)
			}},
		{name: "nil refused", explorer: nil, wantErr: true},
		{name: "squarecb gamma0 0 refused", explorer: scoring.SquareCB{Gamma0: 0, Epsilon: 0.02}, wantErr: true},
		{name: "squarecb epsilon 1 refused", explorer: scoring.SquareCB{Gamma0: 50, Epsilon: 1}, wantErr: true},
		{name: "epsilon-greedy 0 refused", explorer: scoring.EpsilonGreedy{Epsilon: 0}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(t, nil)
			req := openRequest()
			before, err := e.Decide(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if before.Eligible != features.AllTreatments {
				t.Fatalf("eligible %s, want all treatments", before.Eligible)
			}
			experience := e.Model().Updates()
			assertProbabilities(t, "default explorer", before.Probabilities, squareCB(scoring.DefaultExplorer.Gamma0, scoring.DefaultExplorer.Epsilon, before.Scores, experience))

			err = e.SetExplorer(tc.explorer)
			after, derr := e.Decide(context.Background(), req)
			if derr != nil {
				t.Fatal(derr)
			}
			if tc.wantErr {
				if err == nil {
					t.Fatalf("SetExplorer(%v) accepted, want an error", tc.explorer)
				}
				if e.Explorer() != scoring.DefaultExplorer {
					t.Errorf("explorer %v after a refused change, want %v", e.Explorer(), scoring.DefaultExplorer)
				}
				if after.Probabilities != before.Probabilities {
					t.Errorf("probabilities %v after a refused change, want %v", after.Probabilities, before.Probabilities)
				}
				return
			}
			if err != nil {
				t.Fatalf("SetExplorer(%v): %v", tc.explorer, err)
			}
			if e.Explorer() != tc.explorer || after.Explorer != tc.explorer.Name() {
				t.Errorf("explorer %v named %q in the decision, want %v", e.Explorer(), after.Explorer, tc.explorer)
			}
			assertProbabilities(t, tc.name, after.Probabilities, tc.want(after.Scores, experience))
			if after.Probabilities == before.Probabilities {
				t.Errorf("probabilities unchanged: %v", after.Probabilities)
			}
		})
	}
}

func assertProbabilities(t *testing.T, what string, got, want [features.NumTreatments]float64) {
	t.Helper()
	for _, tr := range features.Treatments() {
		if math.Abs(got[tr]-want[tr]) > 1e-12 {
			t.Errorf("%s: %s probability %.15g, want %.15g", what, tr, got[tr], want[tr])
		}
	}
}

// TestConcurrentSettersKeepEachOthersChanges runs SetModel, SetPolicy and
// SetExplorer at the same time: none may put back a part another one has
// replaced.
func TestConcurrentSettersKeepEachOthersChanges(t *testing.T) {
	const n = 150
	e := newTestEngine(t, nil)
	ms := make([]*models.Model, n+1)
	ps := make([]*policy.Policy, n+1)
	xs := make([]scoring.Explorer, n+1)
	ms[0], ps[0], xs[0] = e.Model(), e.Policy(), e.Explorer()
	for i := 1; i <= n; i++ {
		ms[i] = modelVersion(ms[0], int64(1+i))
		ps[i] = policyVersion(t, int64(1+i))
		xs[i] = scoring.SquareCB{Gamma0: 50, Epsilon: float64(i) / 1000}
	}
	setters := []struct {
		name string
		set  func(i int) error
		// current reports which of the part's values the engine holds.
		current func() any
		value   func(i int) any
	}{
		{"model", func(i int) error { e.SetModel(ms[i]); return nil },
			func() any { return e.Model() }, func(i int) any { return ms[i] }},
		{"policy", func(i int) error { e.SetPolicy(ps[i]); return nil },
			func() any { return e.Policy() }, func(i int) any { return ps[i] }},
		{"explorer", func(i int) error { return e.SetExplorer(xs[i]) },
			func() any { return e.Explorer() }, func(i int) any { return xs[i] }},
	}
	var start sync.WaitGroup
	start.Add(1)
	var lost atomic.Int32
	var wg sync.WaitGroup
	for _, s := range setters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start.Wait()
			for i := 1; i <= n; i++ {
				// Only this goroutine changes this part, so it must still
				// hold what this goroutine set last.
				if s.current() != s.value(i-1) {
					t.Errorf("%s: the value set in step %d was replaced by another setter", s.name, i-1)
					lost.Add(1)
					return
				}
				if err := s.set(i); err != nil {
					t.Errorf("%s: set %d: %v", s.name, i, err)
					return
				}
			}
		}()
	}
	start.Done()
	wg.Wait()
	if lost.Load() > 0 {
		return
	}
	for _, s := range setters {
		if s.current() != s.value(n) {
			t.Errorf("%s: the last value set was replaced by another setter", s.name)
		}
	}
	d, err := e.Decide(context.Background(), openRequest())
	if err != nil {
		t.Fatal(err)
	}
	if d.ModelVersion != n+1 || d.PolicyVersion != n+1 {
		t.Errorf("decision saw model v%d, policy v%d; want both v%d", d.ModelVersion, d.PolicyVersion, n+1)
	}
}

func TestUpdate(t *testing.T) {
	errChange := errors.New("change refused")
	cases := []struct {
		name    string
		change  func(t *testing.T, b scoring.Bundle) (scoring.Bundle, error)
		wantErr error // nil: accepted; errAny: any error
		// model, policy and config versions and explorer of the next decision
		// when accepted.
		model, policy, config int64
		explorer              string
	}{
		{name: "nothing changed", change: func(_ *testing.T, b scoring.Bundle) (scoring.Bundle, error) { return b, nil },
			model: 1, policy: 1, config: 0, explorer: "squarecb"},
		{name: "several parts at once", change: func(t *testing.T, b scoring.Bundle) (scoring.Bundle, error) {
			b.Model = modelVersion(b.Model, 5)
			b.Policy = policyVersion(t, 3)
			b.Explorer = scoring.EpsilonGreedy{Epsilon: 0.1}
			b.ConfigVersion = 7
			return b, nil
		}, model: 5, policy: 3, config: 7, explorer: "epsilon_greedy"},
		{name: "change returns an error", change: func(_ *testing.T, b scoring.Bundle) (scoring.Bundle, error) {
			b.ConfigVersion = 9
			return b, errChange
		}, wantErr: errChange},
		{name: "nil model", change: func(_ *testing.T, b scoring.Bundle) (scoring.Bundle, error) {
			b.Model, b.ConfigVersion = nil, 9
			return b, nil
		}, wantErr: errAny},
		{name: "nil policy", change: func(_ *testing.T, b scoring.Bundle) (scoring.Bundle, error) {
			b.Policy, b.ConfigVersion = nil, 9
			return b, nil
		}, wantErr: errAny},
		{name: "invalid explorer", change: func(_ *testing.T, b scoring.Bundle) (scoring.Bundle, error) {
			b.Explorer, b.ConfigVersion = scoring.SquareCB{Gamma0: -1}, 9
			return b, nil
		}, wantErr: errAny},
		{name: "negative config version", change: func(_ *testing.T, b scoring.Bundle) (scoring.Bundle, error) {
			b.ConfigVersion = -1
			return b, nil
		}, wantErr: errAny},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(t, nil)
			before := e.Bundle()
			err := e.Update(func(b scoring.Bundle) (scoring.Bundle, error) { return tc.change(t, b) })
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("update refused: %v", err)
			case tc.wantErr == errAny && err == nil, tc.wantErr != nil && tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("update error %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				if !sameBundle(e.Bundle(), before) {
					t.Errorf("bundle %+v after a refused update, want %+v", e.Bundle(), before)
				}
				return
			}
			d, err := e.Decide(context.Background(), openRequest())
			if err != nil {
				t.Fatal(err)
			}
			if d.ModelVersion != tc.model || d.PolicyVersion != tc.policy || d.ConfigVersion != tc.config || d.Explorer != tc.explorer {
				t.Errorf("decision saw model v%d, policy v%d, config v%d, explorer %s; want v%d, v%d, v%d, %s",
					d.ModelVersion, d.PolicyVersion, d.ConfigVersion, d.Explorer, tc.model, tc.policy, tc.config, tc.explorer)
			}
		})
	}
}

// sameBundle compares two bundles part by part; overrides, being
// functions, only by whether there is one.
func sameBundle(a, b scoring.Bundle) bool {
	return a.Model == b.Model && a.Learned == b.Learned && a.Policy == b.Policy && a.Explorer == b.Explorer &&
		a.Levers == b.Levers && a.ConfigVersion == b.ConfigVersion && (a.Override == nil) == (b.Override == nil)
}

// errAny stands for "any error" in TestUpdate's table.
var errAny = errors.New("any error")

func TestNewEngineRequiresABundle(t *testing.T) {
	schema, _ := features.DefaultSchema()
	model, _ := models.DefaultModel(schema)
	pol := mustDefaultPolicy(t)
	cases := []struct {
		name string
		cfg  scoring.Config
		ok   bool
	}{
		{"model and policy, default explorer", scoring.Config{Model: model, Policy: pol}, true},
		{"no model", scoring.Config{Policy: pol}, false},
		{"no policy", scoring.Config{Model: model}, false},
		{"invalid explorer", scoring.Config{Model: model, Policy: pol, Explorer: scoring.EpsilonGreedy{Epsilon: 2}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := scoring.NewEngine(tc.cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("NewEngine error %v, want ok = %v", err, tc.ok)
			}
			if tc.ok && !sameBundle(e.Bundle(), scoring.Bundle{Model: model, Learned: model, Policy: pol, Explorer: scoring.DefaultExplorer}) {
				t.Errorf("bundle %+v", e.Bundle())
			}
		})
	}
}

// TestUpdateRetriesAfterAnInterleavedChange lands another setter between
// Update's read of the bundle and its swap (inside the change function, on
// its first call only): the swap must notice, call change again on the
// newer bundle, and keep both changes.
func TestUpdateRetriesAfterAnInterleavedChange(t *testing.T) {
	cases := []struct {
		name        string
		interleaved func(e *scoring.Engine)
		outer       func(b scoring.Bundle) scoring.Bundle
		explorer    scoring.Explorer // after both changes
	}{
		{
			name:        "policy set while the model changes",
			interleaved: func(e *scoring.Engine) { e.SetPolicy(policyVersion(t, 2)) },
			outer:       func(b scoring.Bundle) scoring.Bundle { b.Model = modelVersion(b.Model, 2); return b },
			explorer:    scoring.DefaultExplorer,
		},
		{
			name:        "model set while the policy changes",
			interleaved: func(e *scoring.Engine) { e.SetModel(modelVersion(e.Model(), 2)) },
			outer:       func(b scoring.Bundle) scoring.Bundle { b.Policy = policyVersion(t, 2); return b },
			explorer:    scoring.DefaultExplorer,
		},
		{
			name: "explorer set while model and policy change",
			interleaved: func(e *scoring.Engine) {
				if err := e.SetExplorer(scoring.SquareCB{Gamma0: 50, Epsilon: 0.3}); err != nil {
					t.Fatal(err)
				}
			},
			outer: func(b scoring.Bundle) scoring.Bundle {
				b.Model, b.Policy = modelVersion(b.Model, 2), policyVersion(t, 2)
				return b
			},
			explorer: scoring.SquareCB{Gamma0: 50, Epsilon: 0.3},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(t, nil)
			calls := 0
			err := e.Update(func(b scoring.Bundle) (scoring.Bundle, error) {
				calls++
				if calls == 1 {
					tc.interleaved(e)
				}
				return tc.outer(b), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if calls != 2 {
				t.Errorf("change called %d times, want 2 (once more after the interleaved change)", calls)
			}
			b := e.Bundle()
			if b.Model.Version() != 2 || b.Policy.Version() != 2 {
				t.Errorf("model v%d, policy v%d; want both v2", b.Model.Version(), b.Policy.Version())
			}
			if b.Explorer != tc.explorer {
				t.Errorf("explorer %v, want %v", b.Explorer, tc.explorer)
			}
		})
	}
}
