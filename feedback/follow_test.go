package feedback

import (
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"situ/features"
	"situ/models"
	"situ/policy"
	"situ/scoring"
)

// TestLearnedModelReplacesThePrior: a replica starts with the prior as
// version 0 while the model file says version 100; the learner, starting
// from that file, numbers its own models from 1, so its first snapshot
// replaces the prior at once (the follower says so, once), and the
// configuration's override stays on every learned model.
func TestLearnedModelReplacesThePrior(t *testing.T) {
	b, _ := startBroker(t)
	schema, file, reward := learnerFixture(t, "prior")
	file = models.NewBuilder(file).Build(100) // the model file's version
	pol, err := policy.Default()
	require.NoError(t, err)
	engine, err := scoring.NewEngine(scoring.Config{Model: models.NewBuilder(file).Build(0), Policy: pol})
	require.NoError(t, err)
	const overridden = 0.375
	require.NoError(t, engine.Update(func(bu scoring.Bundle) (scoring.Bundle, error) {
		return bu.WithOverride(func(learned *models.Model) (*models.Model, error) {
			bl := models.NewBuilder(learned)
			bl.SetBias(features.PamperUpsell, overridden)
			return bl.Build(learned.Version()), nil
		})
	}))

	core, logs := observer.New(zap.InfoLevel)
	f, err := NewModelFollower(ModelFollowerConfig{Brokers: b.Brokers(), Name: "prior", Schema: schema, Target: engine, Logger: zap.New(core)})
	require.NoError(t, err)
	stopFollower := runBackground(t, f.Run)
	<-f.CaughtUp()
	require.EqualValues(t, 0, engine.Model().Version(), "the prior serves until the learner publishes")

	s := makeStream(t, schema, 400, 3)
	produce(t, b.Brokers(), DefaultDecisionsTopic, s.decisions...)
	produce(t, b.Brokers(), DefaultOutcomesTopic, s.outcomes...)
	l := newTestLearner(t, b.Brokers(), file, reward, nil)
	stopLearner := runBackground(t, l.Run)
	eventually(t, func() bool { return engine.Learned().Version() >= 2 }, "several learned models served")
	require.NoError(t, stopLearner())
	snap, ok := latestSnapshot(t, b.Brokers(), "prior")
	require.True(t, ok)
	eventually(t, func() bool { return engine.Learned().Version() == snap.Model.Version }, "the latest learned model served")
	require.NoError(t, stopFollower())

	require.Less(t, snap.Model.Version, int64(100), "the learner's versions are its own, not the file's")
	require.Equal(t, engine.Learned().Version(), engine.Model().Version())
	require.Equal(t, overridden, engine.Model().Bias(features.PamperUpsell), "the override applies to the learned model")
	require.NotEqual(t, overridden, engine.Learned().Bias(features.PamperUpsell))
	replaced := logs.FilterMessage("serving the learned model instead of the prior").All()
	require.Len(t, replaced, 1, "said once")
	require.EqualValues(t, 1, replaced[0].ContextMap()["version"], "the learner's first model is v1")
}

// TestModelFollowerCountsWhatTheEngineRefuses: a snapshot the engine's
// override refuses is counted and logged, and the serving model stays.
func TestModelFollowerCountsWhatTheEngineRefuses(t *testing.T) {
	b, _ := startBroker(t)
	schema, base, _ := learnerFixture(t, "refused")
	pol, err := policy.Default()
	require.NoError(t, err)
	engine, err := scoring.NewEngine(scoring.Config{Model: models.NewBuilder(base).Build(0), Policy: pol})
	require.NoError(t, err)
	require.NoError(t, engine.Update(func(bu scoring.Bundle) (scoring.Bundle, error) {
		return bu.WithOverride(func(learned *models.Model) (*models.Model, error) {
			if learned.Version() == 4 {
				return nil, models.ErrSchemaMismatch
			}
			return learned, nil
		})
	}))
	for _, v := range []int64{3, 4} {
		snap := models.NewSnapshot(models.NewBuilder(base).Build(v), 1, time.Now())
		value, err := snap.Encode()
		require.NoError(t, err)
		produce(t, b.Brokers(), DefaultModelsTopic, kafka.Message{Key: []byte("refused"), Value: value})
	}
	f, err := NewModelFollower(ModelFollowerConfig{Brokers: b.Brokers(), Name: "refused", Schema: schema, Target: engine, Logger: testLogger(t)})
	require.NoError(t, err)
	stop := runBackground(t, f.Run)
	<-f.CaughtUp()
	eventually(t, func() bool { return f.rejected.Load() == 1 }, "the refused snapshot counted")
	require.NoError(t, stop())
	require.EqualValues(t, 3, engine.Model().Version(), "the last model the engine took")
	require.EqualValues(t, 1, f.Swaps())
}
