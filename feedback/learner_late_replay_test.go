package feedback

import (
	"cmp"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"situ/features"
	"situ/models"
)

// TestLearnerLateOutcomeReplay replays eight days of stream time, with
// its outcomes in parts, through the learner and a broker: a decision
// every LATE_REPLAY_EVERY of stream time (default 2h: 96 decisions; 10m
// gives 1,152), each with a first part (resolved, csat, handle seconds)
// uniformly between 1 minute and 24 hours after it and its late fields
// (recontact_7d, churned) uniformly between 1 minute and 7 days after
// it. Each decision is written with the parts that come before the next
// one, in time order, and the learner reads them before the next is
// written: stream time then moves as it would live. Every first part
// must join, every late field be applied — most of them found in the
// late tier, their decision's 24 h window closed — and nothing expire,
// come late, go unfound or be dropped.
func TestLearnerLateOutcomeReplay(t *testing.T) {
	every := 2 * time.Hour
	if s := os.Getenv("LATE_REPLAY_EVERY"); s != "" {
		d, err := time.ParseDuration(s)
		require.NoError(t, err)
		every = d
	}
	const span = 8 * 24 * time.Hour
	n := int(span / every)
	b, _ := startBroker(t)
	schema, base, reward := learnerFixture(t, "late-replay")
	fp := models.FingerprintString(schema.Fingerprint())
	x := []features.Entry{{Index: 3, Value: 1}}
	t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(12, 24))

	type part struct {
		at  time.Time
		msg kafka.Message
	}
	var parts []part
	decision := func(i int, at time.Time) kafka.Message {
		d := models.DecisionEvent{DecisionID: uuidV7(at, uint64(i)), Time: at, ModelName: "late-replay", ModelVersion: 1, SchemaVersion: 1,
			SchemaFingerprint: fp, Strategy: "learned", Treatment: features.Treatments()[i%3].String(), Propensity: 0.5, Features: x}
		v, err := json.Marshal(d)
		require.NoError(t, err)
		return kafka.Message{Key: []byte(d.DecisionID), Value: v}
	}
	decisions := make([]kafka.Message, n)
	for i := range n {
		at := t0.Add(time.Duration(i) * every)
		decisions[i] = decision(i, at)
		id := string(decisions[i].Key)
		early := at.Add(time.Minute + time.Duration(rng.Int64N(int64(24*time.Hour-time.Minute))))
		late := at.Add(time.Minute + time.Duration(rng.Int64N(int64(7*24*time.Hour-time.Minute))))
		csat := float64(1 + rng.IntN(5))
		parts = append(parts,
			part{early, outcomePart(t, id, "a", early, models.Outcome{Resolved: true, CSAT: &csat, HandleSeconds: 300},
				models.FieldResolved, models.FieldCSAT, models.FieldHandleSeconds)},
			part{late, outcomePart(t, id, "b", late, models.Outcome{Recontact7d: rng.Float64() < 0.2}, models.FieldRecontact7d, models.FieldChurned)})
	}
	slices.SortStableFunc(parts, func(a, b part) int { return cmp.Compare(a.at.UnixNano(), b.at.UnixNano()) })

	l, err := NewLearningLoop(LearningLoopConfig{Brokers: b.Brokers(), Base: base, Reward: reward,
		SnapshotInterval: 50 * time.Millisecond, PollInterval: 2 * time.Millisecond, Logger: testLogger(t)})
	require.NoError(t, err)
	stop := runBackground(t, l.Run)
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	decW := newSyncWriter(b.Brokers(), DefaultDecisionsTopic, time.Millisecond, 5*time.Second, tr, zap.NewNop())
	outW := newSyncWriter(b.Brokers(), DefaultOutcomesTopic, time.Millisecond, 5*time.Second, tr, zap.NewNop())
	defer decW.Close()
	defer outW.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	written := 0
	write := func(d *kafka.Message, until time.Time) {
		if d != nil {
			require.NoError(t, decW.WriteMessages(ctx, *d))
		}
		var batch []kafka.Message
		for written < len(parts) && parts[written].at.Before(until) {
			batch = append(batch, parts[written].msg)
			written++
		}
		if len(batch) > 0 {
			require.NoError(t, outW.WriteMessages(ctx, batch...))
		}
	}
	for i := range n {
		next := t0.Add(time.Duration(i+1) * every)
		write(&decisions[i], next)
		eventually(t, func() bool {
			s := l.Stats()
			return s.DecisionsRead == uint64(i+1) && s.OutcomesRead == uint64(written)
		}, "decision %d and the parts before the next", i)
	}
	// the last parts (up to 7 days after the last decision), then a
	// decision past every window that closes them all
	write(nil, t0.Add(100*span))
	eventually(t, func() bool { return l.Stats().OutcomesRead == uint64(len(parts)) })
	last := decision(n, t0.Add(span+8*24*time.Hour))
	write(&last, t0)
	eventually(t, func() bool { return l.Stats().DecisionsRead == uint64(n+1) })
	time.Sleep(100 * time.Millisecond) // the round that read them has applied them
	took := time.Since(start)
	require.NoError(t, stop())
	s := l.Stats().Join
	t.Logf("late-outcome replay through the learner: %d decisions over %s of stream time, %d parts (first parts 1 min–24 h after their decision, late fields 1 min–7 days), %s", n, span, len(parts), took.Round(time.Millisecond))
	t.Logf("  joined %d, expired %d, late %d, stale %d, duplicates %d, dropped pending %d, dropped late %d, unknown decision %d",
		s.Joined, s.Expired, s.Late, s.Stale, s.Duplicates, s.DroppedPending, s.DroppedLate, s.EarlyExpired)
	t.Logf("  late tier: %d parts looked up, %d found, %d not found, %d ids not UUIDv7; %d updates",
		s.LateLookups, s.LateFound, s.LateNotFound, s.LateNotUUID, l.Stats().Updates)
	require.EqualValues(t, len(parts), s.Joined, "every part joined")
	require.EqualValues(t, len(parts), l.Stats().Updates, "every part applied")
	require.Zero(t, s.Expired+s.Late+s.Stale+s.DroppedPending+s.DroppedLate+s.EarlyExpired+s.LateNotFound+s.LateNotUUID, "nothing lost")
	require.Greater(t, s.LateFound, int64(n/2), "most late fields found in the late tier")
}
