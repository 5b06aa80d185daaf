package feedback

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"situ/control"
	"situ/features"
	"situ/models"
)

// learnerApplier names the learning loop's errors in
// situ_control_apply_errors_total{applier}.
const learnerApplier = "learner"

// restoreConfig applies configuration version v, the one the checkpoint
// names, once the control log has read the whole topic.
func (l *LearningLoop) restoreConfig(ctx context.Context, v int64) error {
	l.reward, l.configVersion, l.configFailed = l.cfg.Reward, 0, 0
	c := l.cfg.Control
	if c == nil {
		return nil
	}
	select {
	case <-c.CaughtUp():
	case <-ctx.Done():
		return fmt.Errorf("learner: wait for the configuration: %w", ctx.Err())
	}
	var a *control.Applied
	if v > 0 {
		cfg, ok := c.history.At(v)
		if !ok {
			cur, _ := c.Current()
			return fmt.Errorf("learner: the checkpoint applied configuration version %d, %s holds versions up to %d: the topic was recreated or lost records", v, c.cfg.Topic, cur)
		}
		var err error
		if a, err = c.compile(cfg); err != nil {
			return fmt.Errorf("learner: configuration version %d of the checkpoint: %w", v, err)
		}
	}
	if err := l.applyConfig(v, a); err != nil {
		return fmt.Errorf("learner: configuration version %d of the checkpoint: %w", v, err)
	}
	l.log.Info("configuration restored", zap.Int64("config_version", v))
	return nil
}

// applyNewConfig applies the latest configuration version the control log
// compiled, when it is newer than the one applied: between two rounds,
// never during one. A version that cannot be applied is logged, counted
// and not tried again; the loop keeps the previous one.
func (l *LearningLoop) applyNewConfig() {
	c := l.cfg.Control
	if c == nil {
		return
	}
	cc := c.compiledLatest()
	if cc.version <= l.configVersion || cc.version == l.configFailed {
		return
	}
	if err := l.applyConfig(cc.version, cc.applied); err != nil {
		l.configFailed = cc.version
		c.applyErrors.WithLabelValues(learnerApplier).Inc()
		l.log.Error("configuration not applied: learning goes on with the previous one",
			zap.Int64("config_version", cc.version), zap.Int64("applied", l.configVersion), zap.Error(err))
		return
	}
	l.log.Info("configuration applied", zap.Int64("config_version", cc.version))
}

// applyConfig makes the learner follow configuration version v: its pins
// (a pinned weight is set to its value and never moves) and its reward
// definition, which weighs the terms of the model it publishes (a change
// of the weights applies at once, to every decision) and caps the revenue
// term learned from then on. Version 0 is Reward and no pins. It checks everything before it changes anything.
func (l *LearningLoop) applyConfig(v int64, a *control.Applied) error {
	reward := l.cfg.Reward
	var pins []control.Pin
	if v > 0 {
		if a == nil {
			return errors.New("no compiled configuration")
		}
		if a.Schema.Fingerprint() != l.schema.Fingerprint() {
			return fmt.Errorf("configuration compiled for another feature schema: %w", models.ErrSchemaMismatch)
		}
		reward, pins = a.Reward, a.Pins
	}
	if err := reward.Validate(); err != nil {
		return err
	}
	type key struct {
		t  features.Treatment
		fi int32
	}
	want := make(map[key]float64, len(pins))
	for _, p := range pins {
		if int(p.Treatment) >= features.NumTreatments || p.Feature < control.BiasIndex || p.Feature >= int32(l.schema.Len()) {
			return fmt.Errorf("pin of feature %d of treatment %d: out of range", p.Feature, p.Treatment)
		}
		want[key{p.Treatment, p.Feature}] = p.Value
	}

	// release what is no longer pinned, then pin
	for tname, names := range l.learner.State().Pinned {
		t, _ := features.ParseTreatment(tname)
		for _, name := range names {
			fi, _ := l.schema.Index(name)
			if _, ok := want[key{t, fi}]; !ok {
				l.learner.Unpin(t, name)
				l.reweighted = true
			}
		}
	}
	for _, p := range pins {
		name := models.BiasFeature
		if p.Feature != control.BiasIndex {
			name = l.schema.Name(p.Feature)
		}
		if err := l.learner.Pin(p.Treatment, name, p.Value); err != nil {
			return err // not reached: the pins were checked above
		}
		l.reweighted = true
	}
	if reward.Weights != l.reward.Weights {
		l.reweighted = true // the same terms, summed with other weights
	}
	l.reward, l.configVersion = reward, v
	l.dirty = true // the next checkpoint records the version
	l.configApplied.Store(v)
	return nil
}
