package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"situ/features"
	"situ/feedback"
	"situ/models"
)

// streamT0 is the time of the first decision of produceStream.
var streamT0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// decisionID is the id of produceStream's decision i: a UUIDv7 of its
// time, as situ's are (the join's late tier finds a decision by it).
func decisionID(i int) string {
	ms := streamT0.Add(time.Duration(i) * time.Second).UnixMilli()
	return fmt.Sprintf("%08x-%04x-7000-8000-%012x", ms>>16, ms&0xffff, i)
}

// produceStream writes n decisions (default schema) and their outcomes to
// the broker, with duplicates and poison among the outcomes, and returns
// the number of outcome parts that should be applied, the decision ids
// whose outcome is in the stream twice and the number of outcome messages. A third of the outcomes come in
// parts — resolution, then the survey, then the late fields, sometimes a
// stale copy of the first part after them — spread over the stream.
func produceStream(t *testing.T, brokers []string, n int, seed uint64) (int, map[string]bool, int) {
	t.Helper()
	schema, err := features.DefaultSchema()
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(seed, 3))
	fp := models.FingerprintString(schema.Fingerprint())
	t0 := streamT0
	var decisions, outcomes []kafka.Message
	type delayed struct {
		at  int
		msg kafka.Message
	}
	var later []delayed // outcome parts, written after the outcomes of decision at
	valid := 0
	duplicated := map[string]bool{}
	for i := 0; i < n; i++ {
		id := decisionID(i)
		x := []features.Entry{{Index: int32(rng.IntN(schema.Len())), Value: 1}, {Index: int32(rng.IntN(schema.Len())), Value: rng.NormFloat64()}}
		d := models.DecisionEvent{DecisionID: id, Time: t0.Add(time.Duration(i) * time.Second), ModelName: "default", ModelVersion: 1, SchemaVersion: 1,
			SchemaFingerprint: fp, Strategy: "learned", Treatment: features.Treatment(rng.IntN(3)).String(), Propensity: 0.1 + 0.8*rng.Float64(), Features: x}
		dv, err := json.Marshal(d)
		require.NoError(t, err)
		decisions = append(decisions, kafka.Message{Key: []byte(id), Value: dv})
		for k := 0; k < len(later); {
			if later[k].at <= i {
				outcomes = append(outcomes, later[k].msg)
				later = append(later[:k], later[k+1:]...)
				continue
			}
			k++
		}
		csat := float64(1 + rng.IntN(5))
		o := models.Outcome{OutcomeID: "o" + id, DecisionID: id, Resolved: rng.Float64() < 0.6, CSAT: &csat,
			UpsellAccepted: rng.Float64() < 0.1, HandleSeconds: 60 + 600*rng.Float64(), Recontact7d: rng.Float64() < 0.2, OccurredAt: t0}
		if rng.Float64() < 1.0/3 {
			// in parts, the later ones among the next decisions' outcomes
			only := func(o models.Outcome, suffix string, at time.Duration, fs ...models.OutcomeField) models.Outcome {
				o.OutcomeID, o.OccurredAt, o.Missing = o.OutcomeID+suffix, t0.Add(at), models.AllOutcomeFields
				for _, f := range fs {
					o.Missing &^= 1 << f
				}
				return o
			}
			first := only(o, "a", time.Minute, models.FieldResolved, models.FieldHandleSeconds, models.FieldUpsellAccepted)
			parts := []models.Outcome{first,
				only(o, "b", time.Hour, models.FieldCSAT),
				only(o, "c", 3*time.Hour, models.FieldRecontact7d, models.FieldChurned)}
			valid += len(parts)
			if rng.Float64() < 0.3 {
				stale := first
				stale.OutcomeID, stale.OccurredAt, stale.Resolved = stale.OutcomeID+"-stale", t0, !stale.Resolved
				parts = append(parts, stale) // older than the applied value: not applied
			}
			for k, part := range parts {
				pv, err := json.Marshal(part)
				require.NoError(t, err)
				later = append(later, delayed{at: i + 1 + k*rng.IntN(200), msg: kafka.Message{Key: []byte(id), Value: pv}})
			}
			continue
		}
		ov, err := json.Marshal(o)
		require.NoError(t, err)
		outcomes = append(outcomes, kafka.Message{Key: []byte(id), Value: ov})
		valid++
		if r := rng.Float64(); r < 0.03 {
			outcomes = append(outcomes, kafka.Message{Key: []byte(id), Value: ov})
			duplicated[id] = true
		} else if r < 0.05 {
			outcomes = append(outcomes, kafka.Message{Key: []byte(id), Value: []byte(`{"outcome_id": "x", "csat": 11}`)})
		}
	}
	for _, d := range later {
		outcomes = append(outcomes, d.msg)
	}
	write(t, brokers, decisions, outcomes)
	return valid, duplicated, len(outcomes)
}

// produceLateFields writes, after the stream of n decisions of
// produceStream, one decision a reward window (24 h) after the last,
// which moves every decision of the stream to the join's late tier, and
// then late fields for a fifth of them, found there by their id's time
// and key: each newer than what the decision received before (applied),
// some twice (applied once), and parts of decision ids that were never
// made (not found). It returns the number of parts that should be
// applied.
func produceLateFields(t *testing.T, brokers []string, n int, seed uint64) int {
	t.Helper()
	schema, err := features.DefaultSchema()
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(seed, 5))
	at := streamT0.Add(time.Duration(n)*time.Second + 24*time.Hour + time.Minute)
	d := models.DecisionEvent{DecisionID: decisionID(n + 1), Time: at, ModelName: "default", ModelVersion: 1, SchemaVersion: 1,
		SchemaFingerprint: models.FingerprintString(schema.Fingerprint()), Strategy: "learned", Treatment: features.SelfService.String(),
		Propensity: 0.5, Features: []features.Entry{{Index: 3, Value: 1}}}
	dv, err := json.Marshal(d)
	require.NoError(t, err)
	var outcomes []kafka.Message
	applied := 0
	for i := 0; i < n; i++ {
		if rng.Float64() >= 0.2 {
			continue
		}
		id := decisionID(i)
		o := models.Outcome{OutcomeID: "o" + id + "-late", DecisionID: id, Recontact7d: rng.Float64() < 0.5, Churned: rng.Float64() < 0.1,
			OccurredAt: streamT0.Add(5 * 24 * time.Hour), Missing: models.AllOutcomeFields &^ (1<<models.FieldRecontact7d | 1<<models.FieldChurned)}
		ov, err := json.Marshal(o)
		require.NoError(t, err)
		outcomes = append(outcomes, kafka.Message{Key: []byte(id), Value: ov})
		applied++
		if rng.Float64() < 0.1 {
			outcomes = append(outcomes, kafka.Message{Key: []byte(id), Value: ov}) // a duplicate
		}
		if rng.Float64() < 0.02 {
			ghost := o
			ms := streamT0.Add(time.Duration(i)*time.Second + 500*time.Millisecond).UnixMilli()
			ghost.DecisionID = fmt.Sprintf("%08x-%04x-7000-8000-%012x", ms>>16, ms&0xffff, 1<<40+i) // a time the late tier holds, no decision of it
			gv, err := json.Marshal(ghost)
			require.NoError(t, err)
			outcomes = append(outcomes, kafka.Message{Key: []byte(ghost.DecisionID), Value: gv})
		}
	}
	write(t, brokers, []kafka.Message{{Key: []byte(d.DecisionID), Value: dv}}, outcomes)
	return applied
}

// write writes decisions, then outcomes, to their topics.
func write(t *testing.T, brokers []string, decisions, outcomes []kafka.Message) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: feedback.Partitioner(), RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, BatchSize: 1000}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, batch := range []struct {
		topic string
		msgs  []kafka.Message
	}{{feedback.DefaultDecisionsTopic, decisions}, {feedback.DefaultOutcomesTopic, outcomes}} {
		for i := range batch.msgs {
			batch.msgs[i].Topic = batch.topic
		}
		for len(batch.msgs) > 0 {
			k := min(1000, len(batch.msgs))
			require.NoError(t, w.WriteMessages(ctx, batch.msgs[:k]...))
			batch.msgs = batch.msgs[k:]
		}
	}
}

// waitForOutcomesRead polls the checkpoints topic until the latest
// checkpoint has read msgs outcome messages.
func waitForOutcomesRead(t *testing.T, brokers []string, msgs int) {
	t.Helper()
	read := int64(0)
	poll(t, 60*time.Second, 50*time.Millisecond, func() bool {
		rec, ok := latestOfDefault(t, brokers, feedback.DefaultCheckpointsTopic)
		if !ok {
			return false
		}
		cp, err := feedback.DecodeCheckpoint(rec.Value)
		require.NoError(t, err)
		read = 0
		for _, off := range cp.Offsets[feedback.DefaultOutcomesTopic] {
			read += off
		}
		return read >= int64(msgs)
	}, func() string { return fmt.Sprintf("checkpoint read %d of %d outcome messages", read, msgs) })
}

// latest returns the latest snapshot of the default model, if any.
func latest(t *testing.T, brokers []string) (models.Snapshot, bool) {
	t.Helper()
	rec, ok := latestOfDefault(t, brokers, feedback.DefaultModelsTopic)
	if !ok {
		return models.Snapshot{}, false
	}
	snap, err := models.DecodeSnapshot(rec.Value)
	require.NoError(t, err)
	return snap, true
}

// latestCheckpoint returns the learner's latest checkpoint of the default
// model.
func latestCheckpoint(t *testing.T, brokers []string) feedback.Checkpoint {
	t.Helper()
	rec, ok := latestOfDefault(t, brokers, feedback.DefaultCheckpointsTopic)
	require.True(t, ok, "a checkpoint of the default model")
	cp, err := feedback.DecodeCheckpoint(rec.Value)
	require.NoError(t, err)
	return cp
}

// waitForUpdates polls the models topic until a snapshot has want updates.
func waitForUpdates(t *testing.T, brokers []string, want int64, within time.Duration) models.Snapshot {
	t.Helper()
	var snap models.Snapshot
	poll(t, within, 50*time.Millisecond, func() bool {
		var ok bool
		snap, ok = latest(t, brokers)
		return ok && snap.Model.Updates >= want
	}, func() string {
		return fmt.Sprintf("no snapshot with %d updates within %s (latest: %d)", want, within, snap.Model.Updates)
	})
	return snap
}

// TestLearnerKilledMidStreamEndsWithSameWeights runs the learner as a real
// process over a stream and kills it (SIGKILL) several times while it
// learns; after each kill a new process resumes from the last snapshot
// (the join from the join snapshot a predecessor left in the shared state
// dir, then what came after it up to the checkpoint). It must end with
// exactly the weights of an uninterrupted run over the same stream: no
// outcome lost, none applied twice. Once the learner has caught up with
// the stream, a decision a day later moves the stream's decisions to the
// join's late tier, and late fields come for a fifth of them: they are
// found there, through the kills too.
func TestLearnerKilledMidStreamEndsWithSameWeights(t *testing.T) {
	const n = 40000
	learnerFlags := []string{"--role", "learner", "--snapshot-every", "500", "--snapshot-interval", "100ms"}

	// The late fields are written once the learner has read the whole
	// stream, and read by a learner started after them: so that each
	// run's rounds cut the outcomes at the same offsets (a round reads up
	// to 1,000 outcomes per partition, partition after partition: where
	// rounds end orders the updates across partitions).
	whole := startBroker(t, 3)
	valid, duplicated, outMsgs := produceStream(t, whole.Brokers(), n, 1)
	p := startSitu(t, append(learnerFlags, "--kafka-brokers", whole.Addr())...)
	wantStream := waitForUpdates(t, whole.Brokers(), int64(valid), 60*time.Second)
	waitForOutcomesRead(t, whole.Brokers(), outMsgs)
	p.Stop(t)
	late := produceLateFields(t, whole.Brokers(), n, 1)
	p = startSitu(t, append(learnerFlags, "--kafka-brokers", whole.Addr())...)
	want := waitForUpdates(t, whole.Brokers(), int64(valid+late), 60*time.Second)
	p.Stop(t)
	wantCP := latestCheckpoint(t, whole.Brokers())
	require.NotEmpty(t, wantCP.Join.Late, "the stream's decisions are in the late tier")

	killed := startBroker(t, 3)
	validAgain, _, _ := produceStream(t, killed.Brokers(), n, 1)
	require.Equal(t, valid, validAgain)
	lateProduced := false
	rng := rand.New(rand.NewPCG(9, 9))
	kills := 0
	var progress []int64
	// the killed learners share a state dir: each restores from the join
	// snapshot a predecessor wrote, mostly of a checkpoint before its last
	stateDir := t.TempDir()
	snapshotLoads := 0
	for {
		p := startSitu(t, append(learnerFlags, "--kafka-brokers", killed.Addr(), "--learner-state-dir", stateDir, "--join-snapshot-interval", "300ms")...)
		before, _ := latest(t, killed.Brokers())
		streamDone := before.Model.Updates >= int64(valid) && !lateProduced
		if streamDone {
			// the stream applied: let it read the rest (duplicates,
			// stale parts) before the late fields are written
			waitForOutcomesRead(t, killed.Brokers(), outMsgs)
		} else {
			// kill it at a random moment after it has made progress of its own
			waitForUpdates(t, killed.Brokers(), before.Model.Updates+1, 30*time.Second)
			time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
		}
		p.Kill()
		kills++
		if strings.Contains(p.Output(), "join snapshot loaded") {
			snapshotLoads++
		}
		snap, _ := latest(t, killed.Brokers())
		progress = append(progress, snap.Model.Updates)
		if streamDone {
			require.Equal(t, wantStream.Model.Treatments, snap.Model.Treatments, "weights after the stream, before its late fields, equal those of the uninterrupted run")
			require.Equal(t, late, produceLateFields(t, killed.Brokers(), n, 1))
			lateProduced = true
			continue // and kill the learners that look them up
		}
		if snap.Model.Updates >= int64(valid+late) {
			break
		}
		require.Less(t, kills, 40, "the learner makes no progress between kills: %v", progress)
	}
	t.Logf("%d kills (%d restored from a join snapshot); updates in the last snapshot after each: %v", kills, snapshotLoads, progress)
	require.GreaterOrEqual(t, kills, 3, "the stream should span several kills")
	require.Positive(t, snapshotLoads, "restarts from a join snapshot")

	got, _ := latest(t, killed.Brokers())
	require.Equal(t, want.Model.Updates, got.Model.Updates, "every outcome applied exactly once")
	require.Equal(t, want.Model.Treatments, got.Model.Treatments, "weights equal those of the uninterrupted run")
	gotCP := latestCheckpoint(t, killed.Brokers())
	require.Equal(t, got, gotCP.Model, "the served model is the last checkpoint's")
	require.Equal(t, wantCP.Learner, gotCP.Learner, "optimiser state equal too")
	require.Equal(t, wantCP.Offsets, gotCP.Offsets)
	require.Equal(t, wantCP.Join.PendingBits, gotCP.Join.PendingBits, "the same decisions wait for their outcome")
	require.Equal(t, wantCP.Join.Late, gotCP.Join.Late, "the same decisions wait for their late fields in the late tier")
	require.Equal(t, wantCP.Join.StreamTime, gotCP.Join.StreamTime)
	// The join's memory of joined decisions (which tells a duplicate
	// outcome from an early one) is not in the checkpoint: a duplicate read
	// after a restart, of a decision joined before it, waits as an early
	// outcome and expires as an unknown decision. It is never applied (the
	// weights above are equal); anything else early must be the same.
	var extra []string
	wantEarly := map[string]bool{}
	for _, e := range wantCP.Join.Early {
		wantEarly[e.Outcome.OutcomeID] = true
	}
	for _, e := range gotCP.Join.Early {
		if !wantEarly[e.Outcome.OutcomeID] {
			require.True(t, duplicated[e.Outcome.DecisionID], "early outcome %s is not a duplicate", e.Outcome.OutcomeID)
			extra = append(extra, e.Outcome.OutcomeID)
		}
		delete(wantEarly, e.Outcome.OutcomeID)
	}
	require.Empty(t, wantEarly, "early outcomes of the uninterrupted run missing after the kills")
	t.Logf("duplicates held as early after a restart: %v", extra)
}
