package control

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"situ/experiments"
	"situ/features"
	"situ/models"
)

// philosophy is an experiment of the learned model against arms of the
// given strategies.
func philosophy(id string, strategies ...string) *experiments.Definition {
	d := &experiments.Definition{ID: id, Hypothesis: "tiers serve worse than the model"}
	d.Arms = append(d.Arms, experiments.Arm{Name: "control", Strategy: "learned", Weight: 1 / float64(len(strategies)+1)})
	for i, s := range strategies {
		d.Arms = append(d.Arms, experiments.Arm{Name: "arm-" + string(rune('a'+i)), Strategy: s, Weight: 1 / float64(len(strategies)+1)})
	}
	return d
}

func create(d *experiments.Definition) Change {
	return Change{Experiments: &ExperimentsChange{Create: d}}
}

func stop(id string) Change {
	return Change{Experiments: &ExperimentsChange{Stop: &ExperimentStop{ID: id, By: "ana", Reason: "enough data"}}}
}

// envWithModel is testEnv serving the learned model as version v.
func envWithModel(t *testing.T, v int64) Env {
	t.Helper()
	env := testEnv(t)
	b := models.NewBuilder(env.Model)
	b.SetBias(features.PamperUpsell, 0.1*float64(v))
	env.Model = b.Build(v)
	return env
}

// wantFieldErr checks that err is a field error at field whose message
// says want.
func wantFieldErr(t *testing.T, err error, field, want string) {
	t.Helper()
	var fe *features.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v, want a field error at %s", err, field)
	}
	if fe.Field != field || !strings.Contains(fe.Message, want) {
		t.Fatalf("field error %s: %s; want %s saying %q", fe.Field, fe.Message, field, want)
	}
}

func compile(t *testing.T, cfg Config, env Env) *Applied {
	t.Helper()
	a, err := Compile(cfg, env)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return a
}

// TestExperimentsCreateAndStop: a created experiment runs and assigns; a
// stopped one is kept, with who stopped it and why, and assigns nothing.
func TestExperimentsCreateAndStop(t *testing.T) {
	env := testEnv(t)
	cfg := mustApply(t, defaultConfig(t), create(philosophy("philosophy", "value_tier", "uniform")), env)
	if len(cfg.Experiments) != 1 || !cfg.Experiments[0].Running() {
		t.Fatalf("experiments %+v, want philosophy running", cfg.Experiments)
	}
	d := cfg.Experiments[0].Definition
	if d.Seed != "philosophy" || d.Coverage != 1 || d.OnBreach != experiments.OnBreachReport {
		t.Errorf("defaults not filled: seed %q coverage %g on_breach %q", d.Seed, d.Coverage, d.OnBreach)
	}
	if n := compile(t, cfg, env).Experiments.Len(); n != 1 {
		t.Errorf("%d running experiments compiled, want 1", n)
	}

	stopped := mustApply(t, cfg, stop("philosophy"), env)
	e := stopped.Experiments[0]
	if e.Running() || e.Stop == nil || e.Stop.By != "ana" || e.Stop.Reason != "enough data" {
		t.Fatalf("after stop: %+v", e)
	}
	if n := compile(t, stopped, env).Experiments.Len(); n != 0 {
		t.Errorf("%d running experiments compiled after the stop, want 0", n)
	}

	cases := []struct {
		name   string
		base   Config
		change Change
		field  string
		want   string
	}{
		{"stop again", stopped, stop("philosophy"), "change.experiments.stop.id", "already stopped"},
		{"stop an unknown one", cfg, stop("tone"), "change.experiments.stop.id", `no experiment "tone"`},
		{"create and stop at once", cfg, Change{Experiments: &ExperimentsChange{Create: philosophy("tone", "uniform"), Stop: &ExperimentStop{ID: "philosophy"}}},
			"change.experiments", "not both"},
		{"reuse a running id", cfg, create(philosophy("philosophy", "uniform")), "change.experiments.create.id", "ids are not reused"},
		{"reuse a stopped id", stopped, create(philosophy("philosophy", "uniform")), "change.experiments.create.id", "ids are not reused"},
		{"unknown strategy", cfg, create(philosophy("tone", "loudest")), "change.experiments.create.arms[1].strategy", "unknown strategy"},
		{"bad targeting", cfg, create(func() *experiments.Definition {
			d := philosophy("tone", "uniform")
			d.Targeting = "channel =="
			return d
		}()), "change.experiments.create.targeting", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Apply(tc.base, tc.change, env)
			wantFieldErr(t, err, tc.field, tc.want)
		})
	}
}

// TestExperimentsFreezeTheServedModel: model@V freezes the learned model
// being served when it is version V, or reuses a model frozen already;
// the frozen model is compiled into Applied.Frozen and dropped once no
// running experiment uses it.
func TestExperimentsFreezeTheServedModel(t *testing.T) {
	v5 := envWithModel(t, 5)
	cfg := mustApply(t, defaultConfig(t), create(philosophy("old-model", "model@5")), v5)
	if len(cfg.Frozen) != 1 || cfg.Frozen[0].Model.Version != 5 {
		t.Fatalf("frozen models %+v, want version 5", cfg.Frozen)
	}
	a := compile(t, cfg, v5)
	m := a.Frozen[5]
	if m == nil || m.Version() != 5 || m.Bias(features.PamperUpsell) != v5.Model.Bias(features.PamperUpsell) {
		t.Fatalf("compiled frozen model %v, want version 5 as served", m)
	}

	// the learner moved on: version 5 is frozen already, 6 is served, 4 is gone
	v6 := envWithModel(t, 6)
	cfg = mustApply(t, cfg, create(philosophy("again", "model@5", "model@6")), v6)
	if got := []int64{cfg.Frozen[0].Model.Version, cfg.Frozen[1].Model.Version}; len(cfg.Frozen) != 2 || got[0] != 5 || got[1] != 6 {
		t.Fatalf("frozen models %v, want 5 and 6", got)
	}
	if a := compile(t, cfg, v6); a.Frozen[5].Bias(features.PamperUpsell) != v5.Model.Bias(features.PamperUpsell) {
		t.Error("the model frozen at version 5 changed when version 6 was frozen")
	}
	_, err := Apply(cfg, create(philosophy("older", "model@4")), v6)
	wantFieldErr(t, err, "change.experiments.create.arms[1].strategy", "learned model is version 6")
	noModel := testEnv(t)
	noModel.Model = nil
	_, err = Apply(cfg, create(philosophy("none", "model@7")), noModel)
	wantFieldErr(t, err, "change.experiments.create.arms[1].strategy", "no learned model")

	cfg = mustApply(t, cfg, stop("old-model"), v6)
	if len(cfg.Frozen) != 2 {
		t.Errorf("%d frozen models after stopping old-model, want 2: again still uses both", len(cfg.Frozen))
	}
	cfg = mustApply(t, cfg, stop("again"), v6)
	if len(cfg.Frozen) != 0 {
		t.Errorf("%d frozen models after every experiment stopped, want 0", len(cfg.Frozen))
	}
}

// TestExperimentsInUniformMode: no value_tier arm runs while the policy is
// in uniform mode, whichever comes first.
func TestExperimentsInUniformMode(t *testing.T) {
	env := testEnv(t)
	uniform := uniformPolicy(t)
	inUniform := mustApply(t, defaultConfig(t), Change{Policy: &uniform}, env)
	_, err := Apply(inUniform, create(philosophy("tiers", "value_tier")), env)
	wantFieldErr(t, err, "change.experiments.create.arms", "uniform mode")
	if _, err := Apply(inUniform, create(philosophy("same", "uniform", "efficiency_first", "delight_first")), env); err != nil {
		t.Errorf("strategies that ignore value refused in uniform mode: %v", err)
	}

	tiers := mustApply(t, defaultConfig(t), create(philosophy("tiers", "value_tier")), env)
	_, err = Apply(tiers, Change{Policy: &uniform}, env)
	wantFieldErr(t, err, "change.policy", "stop the experiment")
	stopped := mustApply(t, tiers, stop("tiers"), env)
	mustApply(t, stopped, Change{Policy: &uniform}, env)
}

// TestRollbackLeavesExperimentsAlone: a rollback restores weights, levers,
// reward, policy and exploration, never the experiments: a rollback past
// an experiment's creation keeps it running, and one that would change
// only experiments is refused as changing nothing.
func TestRollbackLeavesExperimentsAlone(t *testing.T) {
	env := testEnv(t)
	h := NewHistory(defaultConfig(t))
	propose := func(ch Change) {
		t.Helper()
		if _, err := h.Propose(ch, "ana", "step", nil, t0, env); err != nil {
			t.Fatal(err)
		}
	}
	propose(Change{Levers: map[string]float64{"pamper_upsell": -0.05}}) // 1
	propose(create(philosophy("philosophy", "uniform")))                // 2
	if _, err := h.ProposeRollback(1, "ana", "only experiments differ", nil, t0, env); err == nil {
		t.Error("a rollback that would change only the experiments was accepted")
	}
	r, err := h.ProposeRollback(0, "ana", "no levers", nil, t0, env)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.After.Levers) != 0 {
		t.Errorf("levers %v after rolling back to version 0", r.After.Levers)
	}
	if len(r.After.Experiments) != 1 || !r.After.Experiments[0].Running() {
		t.Errorf("experiments %+v after the rollback, want philosophy still running", r.After.Experiments)
	}
	if slices.Contains(r.Kinds, KindExperiments) {
		t.Errorf("the rollback's kinds %v name experiments", r.Kinds)
	}
}

// TestDiffShowsExperiments: creating, stopping and freezing are
// differences of the configuration, by experiment id and model version.
func TestDiffShowsExperiments(t *testing.T) {
	env := envWithModel(t, 3)
	base := defaultConfig(t)
	created := mustApply(t, base, create(philosophy("philosophy", "model@3")), env)
	stopped := mustApply(t, created, stop("philosophy"), env)
	paths := func(ds []Difference) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.Path)
		}
		return out
	}
	cases := []struct {
		name     string
		from, to Config
		paths    []string
		check    func(t *testing.T, ds []Difference)
	}{
		{"create", base, created, []string{"experiments[philosophy]", "frozen_models[3]"}, func(t *testing.T, ds []Difference) {
			if ds[0].Before != nil || !ds[0].After.(experiments.Experiment).Running() {
				t.Errorf("create: %+v", ds[0])
			}
			if ds[1].Before != nil || ds[1].After.(models.Snapshot).Model.Version != 3 {
				t.Errorf("frozen: %+v", ds[1])
			}
		}},
		{"stop", created, stopped, []string{"experiments[philosophy]", "frozen_models[3]"}, func(t *testing.T, ds []Difference) {
			before, after := ds[0].Before.(experiments.Experiment), ds[0].After.(experiments.Experiment)
			if !before.Running() || after.Running() || after.Stop.By != "ana" {
				t.Errorf("stop: %+v → %+v", before, after)
			}
			if ds[1].After != nil {
				t.Errorf("frozen model not dropped: %+v", ds[1])
			}
		}},
		{"none", created, created, nil, func(*testing.T, []Difference) {}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ds := Diff(tc.from, tc.to)
			if got := paths(ds); !slices.Equal(got, tc.paths) {
				t.Fatalf("differences %v, want %v", got, tc.paths)
			}
			tc.check(t, ds)
			for _, d := range ds {
				if k := d.Kind(); k != KindExperiments && k != KindFrozen {
					t.Errorf("%s is of kind %s", d.Path, k)
				}
			}
		})
	}
}
