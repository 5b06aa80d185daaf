package control

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"situ/features"

	"situ/experiments"
	"situ/models"
)

// KindExperiments is the part of a configuration holding the experiments.
const KindExperiments Kind = "experiments"

// ExperimentsChange starts or stops one experiment. It holds exactly one
// of Create and Stop.
type ExperimentsChange struct {
	// Create starts a new experiment (its id not used before, by a running
	// or a stopped one).
	Create *experiments.Definition `json:"create,omitzero"`
	// Stop stops a running experiment: everyone it took goes back to the
	// default strategy (learned).
	Stop *ExperimentStop `json:"stop,omitzero"`
}

// ExperimentStop names the experiment to stop and says who and why; the
// configuration keeps them (experiments.Stop).
type ExperimentStop struct {
	ID     string `json:"id"`
	By     string `json:"by"`
	Reason string `json:"reason"`
	// Evidence are the breached guardrails of an automatic stop.
	Evidence []experiments.GuardrailStatus `json:"evidence,omitempty"`
}

func (c *ExperimentsChange) isEmpty() bool { return c == nil || (c.Create == nil && c.Stop == nil) }

// applyExperiments applies ch to cfg's experiments.
func applyExperiments(cfg *Config, ch *ExperimentsChange, env Env) error {
	if ch.isEmpty() {
		return nil
	}
	if ch.Create != nil && ch.Stop != nil {
		return fieldErr("change.experiments", "give create or stop, not both")
	}
	if ch.Stop != nil {
		s := ch.Stop
		i := slices.IndexFunc(cfg.Experiments, func(e experiments.Experiment) bool { return e.Definition.ID == s.ID })
		switch {
		case i < 0:
			return fieldErr("change.experiments.stop.id", "no experiment %q", s.ID)
		case !cfg.Experiments[i].Running():
			return fieldErr("change.experiments.stop.id", "experiment %q is already stopped", s.ID)
		}
		cfg.Experiments[i].State = experiments.StateStopped
		cfg.Experiments[i].Stop = &experiments.Stop{By: s.By, Reason: s.Reason, Evidence: slices.Clone(s.Evidence)}
		dropUnusedFrozen(cfg)
		return nil
	}
	d := ch.Create.Clone()
	d.Normalize()
	if err := d.Validate("change.experiments.create"); err != nil {
		return err
	}
	if slices.ContainsFunc(cfg.Experiments, func(e experiments.Experiment) bool { return e.Definition.ID == d.ID }) {
		return fieldErr("change.experiments.create.id", "experiment %q exists already: ids are not reused, so that results stay attributable", d.ID)
	}
	for i, a := range d.Arms {
		s, _ := experiments.ParseStrategy(a.Strategy)
		if s.Kind != experiments.Frozen || frozenIndex(*cfg, s.ModelVersion) >= 0 {
			continue
		}
		if env.Model == nil || env.Model.Version() != s.ModelVersion {
			have := "no learned model"
			if env.Model != nil {
				have = fmt.Sprintf("the learned model is version %d", env.Model.Version())
			}
			return fieldErr(fmt.Sprintf("change.experiments.create.arms[%d].strategy", i),
				"model version %d cannot be frozen: only the learned model being served, or one already frozen, can be; %s", s.ModelVersion, have)
		}
		cfg.Frozen = append(cfg.Frozen, models.NewSnapshot(env.Model, 0, time.Time{}))
		slices.SortFunc(cfg.Frozen, func(a, b models.Snapshot) int { return int(a.Model.Version - b.Model.Version) })
	}
	cfg.Experiments = append(cfg.Experiments, experiments.Experiment{Definition: d, State: experiments.StateRunning})
	if _, err := experiments.NewAssigner(cfg.Experiments); err != nil {
		return relabel(err, fmt.Sprintf("experiments[%d].definition", len(cfg.Experiments)-1), "change.experiments.create")
	}
	return nil
}

// frozenIndex returns the index of model version v in cfg.Frozen, or -1.
func frozenIndex(cfg Config, v int64) int {
	return slices.IndexFunc(cfg.Frozen, func(s models.Snapshot) bool { return s.Model.Version == v })
}

// dropUnusedFrozen removes the frozen models no running experiment uses.
func dropUnusedFrozen(cfg *Config) {
	used := map[int64]bool{}
	for _, e := range cfg.Experiments {
		if !e.Running() {
			continue
		}
		for _, a := range e.Definition.Arms {
			if s, err := experiments.ParseStrategy(a.Strategy); err == nil && s.Kind == experiments.Frozen {
				used[s.ModelVersion] = true
			}
		}
	}
	cfg.Frozen = slices.DeleteFunc(cfg.Frozen, func(s models.Snapshot) bool { return !used[s.Model.Version] })
}

// checkExperimentsUniform refuses, while the policy is in uniform mode, a
// running experiment with a value_tier arm: uniform mode removes customer
// value from every decision, and no arm may break that commitment.
func checkExperimentsUniform(cfg Config, path string) error {
	for _, e := range cfg.Experiments {
		if !e.Running() {
			continue
		}
		for _, a := range e.Definition.Arms {
			if a.Strategy == experiments.NameValueTier {
				return fieldErr(path, "the policy is in uniform mode and experiment %q arm %q serves by value (value_tier): stop the experiment or leave uniform mode", e.Definition.ID, a.Name)
			}
		}
	}
	return nil
}

// compileExperiments builds the assigner and binds the frozen models of
// cfg into a.
func compileExperiments(cfg Config, env Env, a *Applied) error {
	asg, err := experiments.NewAssigner(cfg.Experiments)
	if err != nil {
		return err
	}
	a.Frozen = map[int64]*models.Model{}
	for i, s := range cfg.Frozen {
		m, err := s.Bind(env.Schema)
		if err != nil {
			return fieldErr(fmt.Sprintf("frozen_models[%d]", i), "%s", err)
		}
		a.Frozen[s.Model.Version] = m
	}
	for _, s := range asg.Strategies() {
		if s.Kind == experiments.Frozen && a.Frozen[s.ModelVersion] == nil {
			return fieldErr("experiments", "strategy %s names a model that is not frozen in the configuration", s.Name)
		}
	}
	a.Experiments = asg
	return nil
}

// relabel moves a field error's path from prefix old to prefix new.
func relabel(err error, old, new string) error {
	var fe *features.FieldError
	if errors.As(err, &fe) && strings.HasPrefix(fe.Field, old) {
		return &features.FieldError{Field: new + strings.TrimPrefix(fe.Field, old), Message: fe.Message}
	}
	return err
}
