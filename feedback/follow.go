package feedback

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"situ/features"
	"situ/models"
)

// ModelSetter is what a ModelFollower updates: the scoring engine. A
// target that also has SetLearned(*models.Model) error (scoring.Engine)
// is given the snapshots through it, so that a snapshot it refuses is
// logged and counted.
type ModelSetter interface {
	Model() *models.Model
	SetModel(m *models.Model)
}

// learnedSetter is the optional method of a ModelSetter.
type learnedSetter interface {
	SetLearned(m *models.Model) error
}

// ModelFollowerConfig configures a ModelFollower.
type ModelFollowerConfig struct {
	// Brokers is the bootstrap list. Required.
	Brokers []string
	// Topic is the models topic. Default "nba.models".
	Topic string
	// Name is the model followed (the snapshot key). Required.
	Name string
	// Schema binds the snapshots. Required.
	Schema *features.Schema
	// Target receives every newer model. Required.
	Target ModelSetter
	// Registerer receives the metrics, the tail reader's of the models
	// topic included (TailConfig.Registerer). Default nil: not registered.
	Registerer prometheus.Registerer
	// Logger is the parent logger; the follower logs as "models".
	Logger *zap.Logger
}

// ModelFollower keeps a replica's model current: it tails the compacted
// models topic and swaps in every snapshot of its model whose version is
// newer than the one serving. A replica starts with the prior, version 0,
// so the learner's first snapshot (version 1) replaces it. A snapshot that does not bind (another
// schema, a broken message) is logged and counted, never served.
type ModelFollower struct {
	cfg      ModelFollowerConfig
	log      *zap.Logger
	tail     *TailReader
	swaps    atomic.Uint64
	rejected atomic.Uint64
}

// NewModelFollower returns a follower; Run follows.
func NewModelFollower(cfg ModelFollowerConfig) (*ModelFollower, error) {
	if cfg.Topic == "" {
		cfg.Topic = DefaultModelsTopic
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	switch {
	case cfg.Name == "":
		return nil, errors.New("model follower: a model name is required")
	case cfg.Schema == nil || cfg.Target == nil:
		return nil, errors.New("model follower: a schema and a target are required")
	}
	f := &ModelFollower{cfg: cfg, log: cfg.Logger.Named("models")}
	tail, err := NewTailReader(TailConfig{Brokers: cfg.Brokers, Topic: cfg.Topic, Handler: f.handle, Registerer: cfg.Registerer, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("model follower: %w", err)
	}
	f.tail = tail
	err = register(cfg.Registerer,
		counterFunc(&f.swaps, "situ_model_swaps_total", "Newer model versions swapped into the scoring engine.", nil),
		counterFunc(&f.rejected, "situ_model_snapshots_rejected_total", "Model snapshots that could not be used (undecodable or another schema).", nil),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "situ_model_version", Help: "Version of the model serving decisions."},
			func() float64 { return float64(cfg.Target.Model().Version()) }),
	)
	if err != nil {
		return nil, fmt.Errorf("model follower: %w", err)
	}
	return f, nil
}

// CaughtUp is closed once the snapshots present at start have been read:
// the replica then serves the latest model.
func (f *ModelFollower) CaughtUp() <-chan struct{} { return f.tail.CaughtUp() }

// Swaps returns how many newer models were swapped in.
func (f *ModelFollower) Swaps() uint64 { return f.swaps.Load() }

// Run follows until ctx is cancelled.
func (f *ModelFollower) Run(ctx context.Context) error { return f.tail.Run(ctx) }

func (f *ModelFollower) handle(_ context.Context, r TailRecord) error {
	if string(r.Key) != f.cfg.Name || r.Tombstone() {
		return nil
	}
	snap, err := models.DecodeSnapshot(r.Value)
	if err != nil {
		f.rejected.Add(1)
		f.log.Error("model snapshot skipped", zap.Stringer("position", r.Position), zap.Error(err))
		return nil
	}
	if snap.Model.Version <= f.cfg.Target.Model().Version() {
		return nil
	}
	m, err := snap.Bind(f.cfg.Schema)
	if err != nil {
		f.rejected.Add(1)
		f.log.Error("model snapshot skipped", zap.Stringer("position", r.Position), zap.Error(err))
		return nil
	}
	prior := f.cfg.Target.Model().Version() == 0
	if s, ok := f.cfg.Target.(learnedSetter); ok {
		if err := s.SetLearned(m); err != nil {
			f.rejected.Add(1)
			f.log.Error("model snapshot not served", zap.Stringer("position", r.Position), zap.Int64("version", m.Version()), zap.Error(err))
			return nil
		}
	} else {
		f.cfg.Target.SetModel(m)
	}
	f.swaps.Add(1)
	if prior {
		// Version 0 is the prior (the model file or the embedded model);
		// the learner's versions start at 1, so this happens once.
		f.log.Info("serving the learned model instead of the prior", zap.Int64("version", m.Version()), zap.Int64("updates", m.Updates()))
	}
	f.log.Debug("model swapped", zap.Int64("version", m.Version()), zap.Int64("updates", m.Updates()))
	return nil
}
