package feedback

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"situ/api"
	"situ/control"
	"situ/features"
	"situ/models"
)

func newControlledLearner(t *testing.T, brokers []string, base *models.Model, reward models.RewardDefinition, c *ControlLog, log *zap.Logger) *LearningLoop {
	t.Helper()
	if log == nil {
		log = testLogger(t)
	}
	l, err := NewLearningLoop(LearningLoopConfig{Brokers: brokers, Base: base, Reward: reward, Control: c, RoundSize: 50, SnapshotEvery: 100,
		SnapshotInterval: 20 * time.Millisecond, PollInterval: 10 * time.Millisecond, Logger: log})
	require.NoError(t, err)
	return l
}

// boundSnapshot is the latest model of name on the models topic.
func boundSnapshot(t *testing.T, brokers []string, schema *features.Schema, name string) (models.Snapshot, *models.Model) {
	t.Helper()
	snap, ok := latestSnapshot(t, brokers, name)
	require.True(t, ok, "a snapshot of %s", name)
	m, err := snap.Bind(schema)
	require.NoError(t, err)
	return snap, m
}

func sameWeights(a, b *models.Model) bool {
	for _, tr := range features.Treatments() {
		if a.Bias(tr) != b.Bias(tr) {
			return false
		}
		for i := 0; i < a.Schema().Len(); i++ {
			if a.Weight(tr, int32(i)) != b.Weight(tr, int32(i)) {
				return false
			}
		}
	}
	return true
}

// checkpointed reports whether name's latest checkpoint covers n outcome
// messages.
func checkpointed(t *testing.T, brokers []string, name string, n int) bool {
	cp, ok := latestCheckpoint(t, brokers, name)
	if !ok {
		return false
	}
	total := int64(0)
	for _, off := range cp.Offsets[DefaultOutcomesTopic] {
		total += off
	}
	return total == int64(n)
}

func TestLearnerHoldsPinnedWeights(t *testing.T) {
	b, _ := startBroker(t)
	schema, base, reward := learnerFixture(t, t.Name())
	s := makeStream(t, schema, 2000, 11)
	var d0 models.DecisionEvent
	require.NoError(t, json.Unmarshal(s.decisions[0].Value, &d0))
	tr, _ := features.ParseTreatment(d0.Treatment)
	fi := d0.Features[0].Index
	name := schema.Name(fi)

	r := startReplica(t, b.Brokers())
	_, err := r.plane.Submit(context.Background(), api.ChangeRequest{Author: "ana", Reason: "hold", Change: control.Change{
		Weights: []control.WeightChange{
			{Treatment: d0.Treatment, Feature: name, Pin: true, At: f64(0.5)},
			{Treatment: d0.Treatment, Feature: control.Bias, Pin: true, At: f64(-0.25)},
		},
	}})
	require.NoError(t, err)
	produce(t, b.Brokers(), DefaultDecisionsTopic, s.decisions...)
	produce(t, b.Brokers(), DefaultOutcomesTopic, s.outcomes...)

	l := newControlledLearner(t, b.Brokers(), base, reward, r.log, nil)
	stop := runBackground(t, l.Run)
	eventually(t, func() bool { return l.Stats().Updates == uint64(s.valid) })
	eventually(t, func() bool { return checkpointed(t, b.Brokers(), t.Name(), len(s.outcomes)) })
	require.NoError(t, stop())
	require.Greater(t, s.valid, 1000, "thousands of outcomes")

	_, m := boundSnapshot(t, b.Brokers(), schema, t.Name())
	require.Equal(t, 0.5, m.Weight(tr, fi), "the pinned weight stays at its pinned value")
	require.Equal(t, -0.25, m.Bias(tr), "the pinned bias stays at its pinned value")
	moved := 0
	for i := int32(0); i < int32(schema.Len()); i++ {
		if i != fi && m.Weight(tr, i) != base.Weight(tr, i) {
			moved++
		}
	}
	require.Positive(t, moved, "unpinned weights of %s learned", tr)
	for _, other := range features.Treatments() {
		if other != tr {
			require.NotEqual(t, base.Bias(other), m.Bias(other), "unpinned bias of %s learned", other)
		}
	}
	cp, _ := latestCheckpoint(t, b.Brokers(), t.Name())
	require.EqualValues(t, 1, cp.ConfigVersion)
	require.EqualValues(t, 1, l.Stats().ConfigVersion)

	// unpinned, the weight learns again from where it was held
	_, err = r.plane.Submit(context.Background(), api.ChangeRequest{Author: "ana", Reason: "release", Change: control.Change{
		Weights: []control.WeightChange{{Treatment: d0.Treatment, Feature: name, Unpin: true}, {Treatment: d0.Treatment, Feature: control.Bias, Unpin: true}},
	}})
	require.NoError(t, err)
	l = newControlledLearner(t, b.Brokers(), base, reward, r.log, nil)
	stop = runBackground(t, l.Run)
	eventually(t, func() bool { return l.Stats().ConfigVersion == 2 })
	// new decisions: the first ones are still pending (a decision id seen
	// again within its window is a duplicate)
	more := makeStreamOf(t, t.Name()+"-more", schema, 300, 12)
	produce(t, b.Brokers(), DefaultDecisionsTopic, more.decisions...)
	produce(t, b.Brokers(), DefaultOutcomesTopic, more.outcomes...)
	eventually(t, func() bool { return checkpointed(t, b.Brokers(), t.Name(), len(s.outcomes)+len(more.outcomes)) })
	require.NoError(t, stop())
	_, m = boundSnapshot(t, b.Brokers(), schema, t.Name())
	require.NotEqual(t, -0.25, m.Bias(tr), "the released bias learns again")
}

// TestLearnerRewardChangeAppliesAtOnceAndSurvivesRestarts: a reward
// change reweighs the terms learned so far — those of the decisions still
// pending included — in the next model, without relearning, and the
// learner goes on learning and restarts with it.
func TestLearnerRewardChangeAppliesAtOnceAndSurvivesRestarts(t *testing.T) {
	b, _ := startBroker(t)
	schema, controlled, reward := learnerFixture(t, "controlled")
	_, reference, _ := learnerFixture(t, "reference")
	s := makeStream(t, schema, 1200, 13)
	half := len(s.outcomes) / 2
	produce(t, b.Brokers(), DefaultDecisionsTopic, s.decisions...)
	produce(t, b.Brokers(), DefaultOutcomesTopic, s.outcomes[:half]...)

	r := startReplica(t, b.Brokers())
	lc := newControlledLearner(t, b.Brokers(), controlled, reward, r.log, nil)
	stopC := runBackground(t, lc.Run)
	lr := newControlledLearner(t, b.Brokers(), reference, reward, nil, nil)
	stopR := runBackground(t, lr.Run)
	for _, name := range []string{"controlled", "reference"} {
		eventually(t, func() bool { return checkpointed(t, b.Brokers(), name, half) })
	}
	snapC, before := boundSnapshot(t, b.Brokers(), schema, "controlled")
	_, ref := boundSnapshot(t, b.Brokers(), schema, "reference")
	require.True(t, sameWeights(before, ref), "at version 0 both learn with the same reward")

	r1 := reward
	r1.Version = 2
	r1.Weights.Resolved, r1.Weights.HandleSeconds = 1, 0
	_, err := r.plane.Submit(context.Background(), api.ChangeRequest{Author: "ana", Reason: "resolution first", Change: control.Change{Reward: &r1}})
	require.NoError(t, err)
	eventually(t, func() bool {
		cp, ok := latestCheckpoint(t, b.Brokers(), "controlled")
		return ok && cp.ConfigVersion == 1
	}, "a checkpoint records the version applied")
	cp, _ := latestCheckpoint(t, b.Brokers(), "controlled")
	applied, err := cp.Model.Bind(schema)
	require.NoError(t, err)
	require.False(t, sameWeights(before, applied), "the reward change applies at once")
	require.True(t, sameWeights(before.WithReward(&r1), applied), "the reward change weighs the same terms anew: nothing relearned, nothing reset")
	require.Equal(t, snapC.Model.Updates, cp.Model.Model.Updates)

	produce(t, b.Brokers(), DefaultOutcomesTopic, s.outcomes[half:]...)
	for _, name := range []string{"controlled", "reference"} {
		eventually(t, func() bool { return checkpointed(t, b.Brokers(), name, len(s.outcomes)) })
	}
	snapC, after := boundSnapshot(t, b.Brokers(), schema, "controlled")
	snapR, ref := boundSnapshot(t, b.Brokers(), schema, "reference")
	require.Equal(t, snapR.Model.Updates, snapC.Model.Updates, "every outcome applied once by both")
	// (the second half arrives while both learners run: their rounds, and
	// so the order of their updates, may differ, and with it the last bits
	// of their weights)
	require.False(t, sameWeights(after, ref), "the model scores with the new reward")
	require.EqualValues(t, 2, snapC.RewardVersion)
	require.EqualValues(t, 1, snapR.RewardVersion)
	require.NoError(t, stopR())
	require.NoError(t, stopC())

	// a change the learner has no part in lands while it is down; the
	// restarted loop restores version 1 from its checkpoint, then applies 2
	_, err = r.plane.Submit(context.Background(), api.ChangeRequest{Author: "ana", Reason: "lever", Change: leverChange(0.1)})
	require.NoError(t, err)
	core, logs := observer.New(zapcore.InfoLevel)
	again := startReplica(t, b.Brokers())
	lc = newControlledLearner(t, b.Brokers(), controlled, reward, again.log, zap.New(core))
	stopC = runBackground(t, lc.Run)
	eventually(t, func() bool { return lc.Stats().ConfigVersion == 2 })
	require.NoError(t, stopC())
	restored := logs.FilterMessage("configuration restored").All()
	require.Len(t, restored, 1)
	require.EqualValues(t, 1, restored[0].ContextMap()["config_version"], "the checkpoint's version restored first")
	cp, _ = latestCheckpoint(t, b.Brokers(), "controlled")
	require.EqualValues(t, 2, cp.ConfigVersion)
	final, err := cp.Model.Bind(schema)
	require.NoError(t, err)
	require.True(t, sameWeights(after, final), "a restart changes no weight")
}
