package feedback

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"situ/features"
	"situ/models"
)

// learnerFixture is a default schema, a base model named name and the
// default reward.
func learnerFixture(t testing.TB, name string) (*features.Schema, *models.Model, models.RewardDefinition) {
	t.Helper()
	schema, err := features.DefaultSchema()
	require.NoError(t, err)
	spec, err := models.ParseSpec(models.DefaultModelYAML())
	require.NoError(t, err)
	spec.Name = name
	base, err := models.Bind(spec, schema)
	require.NoError(t, err)
	reward, err := models.DefaultReward()
	require.NoError(t, err)
	return schema, base, reward
}

// stream is a reproducible sequence of decisions and outcomes: most
// outcomes follow their decision, some come first, some are duplicates,
// some are poison, some belong to no decision.
type stream struct {
	decisions []kafka.Message
	outcomes  []kafka.Message
	valid     int // distinct outcomes that meet their decision
	poison    int
}

func makeStream(t testing.TB, schema *features.Schema, n int, seed uint64) stream {
	t.Helper()
	return makeStreamOf(t, t.Name(), schema, n, seed)
}

// makeStreamOf is makeStream with decision ids beginning with prefix.
func makeStreamOf(t testing.TB, prefix string, schema *features.Schema, n int, seed uint64) stream {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	var s stream
	fp := models.FingerprintString(schema.Fingerprint())
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%s-d%05d", prefix, i)
		tr := features.Treatment(rng.IntN(3))
		x := []features.Entry{{Index: int32(rng.IntN(schema.Len())), Value: 1}, {Index: int32(rng.IntN(schema.Len())), Value: rng.NormFloat64()}}
		d := models.DecisionEvent{DecisionID: id, Time: t0.Add(time.Duration(i) * time.Second), ModelName: "default", ModelVersion: 1,
			SchemaVersion: 1, SchemaFingerprint: fp, Strategy: "learned", Treatment: tr.String(), Propensity: 0.2 + 0.6*rng.Float64(), Features: x}
		dv, err := json.Marshal(d)
		require.NoError(t, err)
		s.decisions = append(s.decisions, kafka.Message{Key: []byte(id), Value: dv})
		csat := float64(1 + rng.IntN(5))
		o := models.Outcome{OutcomeID: "o-" + id, DecisionID: id, Resolved: rng.Float64() < 0.6, CSAT: &csat, HandleSeconds: 100 + 300*rng.Float64(), OccurredAt: t0}
		ov, err := json.Marshal(o)
		require.NoError(t, err)
		msg := kafka.Message{Key: []byte(id), Value: ov}
		s.outcomes = append(s.outcomes, msg)
		s.valid++
		switch r := rng.Float64(); {
		case r < 0.05:
			s.outcomes = append(s.outcomes, msg) // duplicate
		case r < 0.08:
			s.outcomes = append(s.outcomes, kafka.Message{Key: []byte(id), Value: []byte(`{"outcome_id": 7`)})
			s.poison++
		case r < 0.10:
			ghost, _ := json.Marshal(models.Outcome{OutcomeID: "ghost-" + id, DecisionID: "ghost-" + id, OccurredAt: t0})
			s.outcomes = append(s.outcomes, kafka.Message{Key: []byte("ghost-" + id), Value: ghost})
		}
	}
	return s
}

func newTestLearner(t *testing.T, brokers []string, base *models.Model, reward models.RewardDefinition, reg prometheus.Registerer) *LearningLoop {
	t.Helper()
	l, err := NewLearningLoop(LearningLoopConfig{Brokers: brokers, Base: base, Reward: reward, RoundSize: 50, SnapshotEvery: 100,
		SnapshotInterval: 20 * time.Millisecond, PollInterval: 10 * time.Millisecond, Registerer: reg, Logger: testLogger(t)})
	require.NoError(t, err)
	return l
}

func latestSnapshot(t testing.TB, brokers []string, name string) (models.Snapshot, bool) {
	t.Helper()
	return latestDecoded(t, brokers, DefaultModelsTopic, name, models.DecodeSnapshot)
}

func latestCheckpoint(t testing.TB, brokers []string, name string) (Checkpoint, bool) {
	t.Helper()
	return latestDecoded(t, brokers, DefaultCheckpointsTopic, name, DecodeCheckpoint)
}

// latestDecoded returns the latest record of key name on a compacted
// topic, decoded, if there is one.
func latestDecoded[T any](t testing.TB, brokers []string, topic, name string, decode func([]byte) (T, error)) (T, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	latest, err := ReadLatest(ctx, brokers, topic)
	require.NoError(t, err)
	rec, ok := latest[name]
	if !ok {
		var zero T
		return zero, false
	}
	v, err := decode(rec.Value)
	require.NoError(t, err)
	return v, true
}

func TestLearnerJoinsLearnsAndDeadLetters(t *testing.T) {
	b, _ := startBroker(t)
	schema, base, reward := learnerFixture(t, t.Name())
	s := makeStream(t, schema, 400, 1)
	// a fifth of the outcomes arrive before their decisions
	produce(t, b.Brokers(), DefaultOutcomesTopic, s.outcomes[:80]...)
	produce(t, b.Brokers(), DefaultDecisionsTopic, s.decisions...)
	produce(t, b.Brokers(), DefaultOutcomesTopic, s.outcomes[80:]...)

	reg := prometheus.NewRegistry()
	l := newTestLearner(t, b.Brokers(), base, reward, reg)
	stop := runBackground(t, l.Run)
	eventually(t, func() bool { return l.Stats().Updates == uint64(s.valid) }, "every valid outcome applied once")
	eventually(t, func() bool {
		snap, ok := latestSnapshot(t, b.Brokers(), t.Name())
		return ok && snap.Model.Updates == int64(s.valid)
	}, "a snapshot with every update")
	require.NoError(t, stop())

	st := l.Stats()
	require.EqualValues(t, s.poison, st.DLQInvalidJSON, "poison messages dead-lettered")
	require.Positive(t, st.Join.Duplicates, "duplicates recognised")
	require.EqualValues(t, s.valid, st.Join.Joined)
	require.EqualValues(t, s.valid, metricValue(t, reg, "situ_learner_updates_total", nil))
	// the decisions wait for their late fields in arrays outside the Go heap
	require.Positive(t, metricValue(t, reg, "situ_learner_pending_decisions", nil))
	require.Positive(t, metricValue(t, reg, "situ_learner_join_storage_bytes", nil), "the join's arrays are counted")

	snap, _ := latestSnapshot(t, b.Brokers(), t.Name())
	require.Greater(t, snap.Model.Version, base.Version(), "version grows")
	cp, _ := latestCheckpoint(t, b.Brokers(), t.Name())
	require.Equal(t, snap, cp.Model, "the served model is the checkpoint's")
	require.NotEmpty(t, cp.Learner.Accumulators)
	total := int64(0)
	for _, off := range cp.Offsets[DefaultOutcomesTopic] {
		total += off
	}
	require.EqualValues(t, len(s.outcomes), total, "checkpoint offsets cover every outcome")
	m, err := snap.Bind(schema)
	require.NoError(t, err)
	changed := false
	for _, tr := range features.Treatments() {
		changed = changed || m.Bias(tr) != base.Bias(tr)
	}
	require.True(t, changed, "weights learned")

	dlq := readAll(t, b.Brokers(), DefaultOutcomesDLQTopic)
	require.Len(t, dlq, s.poison)
	headers := map[string]string{}
	for _, h := range dlq[0].Headers {
		headers[h.Key] = string(h.Value)
	}
	require.Equal(t, DLQReasonInvalidJSON, headers[HeaderDLQReason])
	require.Equal(t, DefaultOutcomesTopic, headers[HeaderDLQTopic])
}

// TestLearnerRestartsGiveTheSameWeights stops a learner several times in
// the middle of a stream; each restart resumes from the last snapshot. The
// final weights equal those of an uninterrupted learner, bit for bit.
func TestLearnerRestartsGiveTheSameWeights(t *testing.T) {
	b, _ := startBroker(t)
	schema, _, reward := learnerFixture(t, "x")
	s := makeStream(t, schema, 1500, 2)
	produce(t, b.Brokers(), DefaultDecisionsTopic, s.decisions...)
	produce(t, b.Brokers(), DefaultOutcomesTopic, s.outcomes...)

	_, whole, _ := learnerFixture(t, "uninterrupted")
	l := newTestLearner(t, b.Brokers(), whole, reward, nil)
	stop := runBackground(t, l.Run)
	eventually(t, func() bool { return l.Stats().Updates == uint64(s.valid) })
	require.NoError(t, stop())

	_, parted, _ := learnerFixture(t, "restarted")
	restarts := 0
	for {
		snap, ok := latestSnapshot(t, b.Brokers(), "restarted")
		if ok && snap.Model.Updates == int64(s.valid) {
			break
		}
		require.Less(t, restarts, 50, "learner does not finish")
		l := newTestLearner(t, b.Brokers(), parted, reward, nil)
		stop := runBackground(t, l.Run)
		// let it publish a snapshot of its own, then stop it at a random point
		eventually(t, func() bool { return l.Stats().Checkpoints > 0 })
		time.Sleep(time.Duration(restarts*7%30) * time.Millisecond)
		require.NoError(t, stop())
		restarts++
	}
	require.Greater(t, restarts, 2, "the stream should take several restarts")

	a, _ := latestSnapshot(t, b.Brokers(), "uninterrupted")
	r, _ := latestSnapshot(t, b.Brokers(), "restarted")
	ma, err := a.Bind(schema)
	require.NoError(t, err)
	mr, err := r.Bind(schema)
	require.NoError(t, err)
	for _, tr := range features.Treatments() {
		require.Equal(t, ma.Bias(tr), mr.Bias(tr), "%s bias", tr)
		for i := 0; i < schema.Len(); i++ {
			require.Equal(t, ma.Weight(tr, int32(i)), mr.Weight(tr, int32(i)), "%s %s", tr, schema.Name(int32(i)))
		}
	}
	ca, _ := latestCheckpoint(t, b.Brokers(), "uninterrupted")
	cr, _ := latestCheckpoint(t, b.Brokers(), "restarted")
	require.Equal(t, ca.Learner, cr.Learner, "optimiser state")
	require.Equal(t, ca.Offsets, cr.Offsets)
	t.Logf("%d restarts, %d updates", restarts, r.Model.Updates)
}

type engineStub struct{ m atomic.Pointer[models.Model] }

func (e *engineStub) Model() *models.Model     { return e.m.Load() }
func (e *engineStub) SetModel(m *models.Model) { e.m.Store(m) }

func TestModelFollowerSwapsNewerModels(t *testing.T) {
	b, _ := startBroker(t)
	schema, base, _ := learnerFixture(t, "default")
	publish := func(version int64, fp string) {
		bl := models.NewBuilder(base)
		bl.SetBias(features.SelfService, float64(version))
		snap := models.NewSnapshot(bl.Build(version), 1, time.Now())
		if fp != "" {
			snap.SchemaFingerprint = fp
		}
		v, err := snap.Encode()
		require.NoError(t, err)
		produce(t, b.Brokers(), DefaultModelsTopic, kafka.Message{Key: []byte("default"), Value: v})
	}
	publish(5, "")
	target := &engineStub{}
	target.SetModel(base)
	f, err := NewModelFollower(ModelFollowerConfig{Brokers: b.Brokers(), Name: "default", Schema: schema, Target: target, Logger: testLogger(t)})
	require.NoError(t, err)
	stop := runBackground(t, f.Run)
	<-f.CaughtUp()
	require.EqualValues(t, 5, target.Model().Version(), "catches up with the latest snapshot")
	publish(3, "")                 // older: ignored
	publish(9, "ffffffffffffffff") // another schema: rejected
	produce(t, b.Brokers(), DefaultModelsTopic, kafka.Message{Key: []byte("default"), Value: []byte("{broken")})
	publish(7, "")
	eventually(t, func() bool { return target.Model().Version() == 7 })
	require.EqualValues(t, 7, target.Model().Bias(features.SelfService))
	require.NoError(t, stop())
}

// TestLearnerSurvivesBrokerRestart: the broker goes away in the middle of
// learning and comes back on the same address with the same data; the
// learner resumes from its last snapshot and applies every outcome once.
func TestLearnerSurvivesBrokerRestart(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := StartEmbeddedBroker(ctx, BrokerConfig{Addr: "127.0.0.1:0", DataDir: dir, Logger: testLogger(t)})
	require.NoError(t, err)
	addr := b.Addr()
	require.NoError(t, EnsureTopics(ctx, b.Brokers(), TopicsConfig{}.WithDefaults()))
	schema, base, reward := learnerFixture(t, t.Name())
	s := makeStream(t, schema, 600, 4)
	produce(t, b.Brokers(), DefaultDecisionsTopic, s.decisions...)
	produce(t, b.Brokers(), DefaultOutcomesTopic, s.outcomes[:300]...)

	l := newTestLearner(t, []string{addr}, base, reward, nil)
	stop := runBackground(t, l.Run)
	eventually(t, func() bool {
		snap, ok := latestSnapshot(t, []string{addr}, t.Name())
		return ok && snap.Model.Updates > 100
	})
	b.Close()
	eventually(t, func() bool { return l.Stats().Restarts > 0 }, "the outage interrupts learning")
	b, err = StartEmbeddedBroker(ctx, BrokerConfig{Addr: addr, DataDir: dir, Logger: testLogger(t)})
	require.NoError(t, err)
	defer b.Close()
	produce(t, b.Brokers(), DefaultOutcomesTopic, s.outcomes[300:]...)

	require.Eventually(t, func() bool {
		snap, ok := latestSnapshot(t, b.Brokers(), t.Name())
		return ok && snap.Model.Updates == int64(s.valid)
	}, 40*time.Second, 50*time.Millisecond, "every outcome applied once after the broker came back")
	require.NoError(t, stop(), "the learner keeps running through the outage")
}

// TestRestoreRepublishesAModelBehindTheCheckpoint: a loop that stopped
// after writing its checkpoint and before publishing its model leaves the
// models topic behind; the next loop's restore republishes the model of
// the checkpoint, so replicas serve it without waiting for new outcomes.
func TestRestoreRepublishesAModelBehindTheCheckpoint(t *testing.T) {
	b, _ := startBroker(t)
	schema, base, reward := learnerFixture(t, t.Name())
	s := makeStream(t, schema, 200, 7)
	produce(t, b.Brokers(), DefaultDecisionsTopic, s.decisions...)
	produce(t, b.Brokers(), DefaultOutcomesTopic, s.outcomes...)
	l := newTestLearner(t, b.Brokers(), base, reward, nil)
	stop := runBackground(t, l.Run)
	eventually(t, func() bool { return l.Stats().Updates == uint64(s.valid) })
	require.NoError(t, stop())
	cp, ok := latestCheckpoint(t, b.Brokers(), t.Name())
	require.True(t, ok)

	// the crash: the models topic still serves an older version
	older := models.NewSnapshot(base, 1, time.Now())
	v, err := older.Encode()
	require.NoError(t, err)
	produce(t, b.Brokers(), DefaultModelsTopic, kafka.Message{Key: []byte(t.Name()), Value: v})

	l = newTestLearner(t, b.Brokers(), base, reward, nil)
	stop = runBackground(t, l.Run)
	eventually(t, func() bool { return l.Stats().Republished == 1 }, "the model republished at restore")
	require.NoError(t, stop())
	snap, _ := latestSnapshot(t, b.Brokers(), t.Name())
	require.Equal(t, cp.Model, snap, "the checkpoint's model, as it was")
	require.Zero(t, l.Stats().Updates, "nothing applied again")
}

// TestLearnerLearnsOnlyFromLearnedDecisions: decisions of fixed rules and
// frozen models are joined with their outcomes but do not update the
// model; decisions of the learned strategy, or of none (older events), do.
func TestLearnerLearnsOnlyFromLearnedDecisions(t *testing.T) {
	b, _ := startBroker(t)
	schema, base, reward := learnerFixture(t, t.Name())
	s := makeStream(t, schema, 400, 3)
	strategies := []string{"learned", "", "value_tier", "model@3", "uniform", "learned"}
	learned := 0
	for i, m := range s.decisions {
		d, err := models.DecodeDecisionEvent(m.Value)
		require.NoError(t, err)
		d.Strategy = strategies[i%len(strategies)]
		if d.Strategy != "learned" && d.Strategy != "" {
			d.Experiment, d.Arm = "philosophy", "arm-"+d.Strategy
		} else {
			learned++
		}
		s.decisions[i].Value, err = d.AppendJSON(nil)
		require.NoError(t, err)
	}
	produce(t, b.Brokers(), DefaultDecisionsTopic, s.decisions...)
	produce(t, b.Brokers(), DefaultOutcomesTopic, s.outcomes...)

	reg := prometheus.NewRegistry()
	l := newTestLearner(t, b.Brokers(), base, reward, reg)
	stop := runBackground(t, l.Run)
	eventually(t, func() bool { st := l.Stats(); return st.Join.Joined == int64(s.valid) }, "every decision joined")
	eventually(t, func() bool {
		snap, ok := latestSnapshot(t, b.Brokers(), t.Name())
		return ok && snap.Model.Updates == int64(learned)
	}, "a snapshot with the learned decisions' updates")
	require.NoError(t, stop())

	st := l.Stats()
	require.EqualValues(t, learned, st.Updates, "updates from learned decisions only")
	require.EqualValues(t, s.valid-learned, st.NotLearned)
	require.EqualValues(t, s.valid-learned, metricValue(t, reg, "situ_learner_not_learned_total", nil))
	require.EqualValues(t, learned, metricValue(t, reg, "situ_learner_updates_total", nil))
}
