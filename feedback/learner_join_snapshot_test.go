package feedback

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"situ/features"
	"situ/models"
)

// TestLearnerRestoresFromItsJoinSnapshot runs two learners side by side
// over the same three phases of a stream of outcomes in parts, each on a
// broker of its own: one keeps a join snapshot in its state dir, the
// other reads the topics again at every restart. Before the last restart
// the snapshot is the one of the last checkpoint, an earlier one (what a
// crash after later checkpoints leaves), damaged, or of another history. The two must
// end with the same weights, optimiser state, offsets and pending
// decisions, every part applied once: the late parts of decisions
// restored from the snapshot, and of those read after it, join.
func TestLearnerRestoresFromItsJoinSnapshot(t *testing.T) {
	for _, tc := range []struct {
		name string
		// tamper changes the snapshot at path before the last restart;
		// older is a copy of the snapshot of the first phase's end
		tamper func(t *testing.T, path, older string)
		loaded bool // the last restart loads it
		exact  bool // … and it is of the checkpoint restored
	}{
		{name: "of the checkpoint", loaded: true, exact: true},
		{name: "of an earlier checkpoint", loaded: true, tamper: func(t *testing.T, path, older string) {
			require.NoError(t, os.Rename(older, path))
		}},
		{name: "damaged", tamper: func(t *testing.T, path, _ string) {
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			b[len(b)/2] ^= 0x10
			require.NoError(t, os.WriteFile(path, b, 0o600))
		}},
		{name: "of another history", tamper: func(t *testing.T, path, older string) {
			// the first phase's snapshot, its entries shifted to other
			// offsets: decisions pending at the checkpoint are missing
			h, err := readJoinSnapshot(older, func(*joinSnapshotHeader) error { return nil }, nil, func(models.PendingEntry) error { return nil })
			require.NoError(t, err)
			j := models.NewCompactJoiner(models.JoinConfig{})
			_, err = readJoinSnapshot(older, func(*joinSnapshotHeader) error { return nil }, nil, func(e models.PendingEntry) error {
				e.Pos.Offset += 7
				require.True(t, j.AddPendingEntry(e))
				return nil
			})
			require.NoError(t, err)
			_, err = writeJoinSnapshot(path, h, j)
			require.NoError(t, err)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bSnap, _ := startBroker(t)
			bFull, _ := startBroker(t)
			schema, base, reward := learnerFixture(t, "parts")
			phases := partStream(t, schema, 300)
			dir := t.TempDir()
			path := filepath.Join(dir, JoinSnapshotFile)
			older := filepath.Join(t.TempDir(), "older")
			var decs, outs int
			var logs *observer.ObservedLogs
			for i, ph := range phases {
				decs, outs = decs+len(ph.decisions), outs+len(ph.outcomes)
				if i == len(phases)-1 && tc.tamper != nil {
					tc.tamper(t, path, older)
				}
				var snap *LearningLoop
				for _, side := range []struct {
					b   *EmbeddedBroker
					dir string
				}{{bSnap, dir}, {bFull, ""}} {
					produce(t, side.b.Brokers(), DefaultDecisionsTopic, ph.decisions...)
					produce(t, side.b.Brokers(), DefaultOutcomesTopic, ph.outcomes...)
					core, observed := observer.New(zapcore.InfoLevel)
					l, err := NewLearningLoop(LearningLoopConfig{Brokers: side.b.Brokers(), Base: base, Reward: reward, StateDir: side.dir,
						RoundSize: 50, SnapshotEvery: 100, SnapshotInterval: 20 * time.Millisecond, PollInterval: 10 * time.Millisecond,
						Logger: zap.New(zapcore.NewTee(core, testLogger(t).Core()))})
					require.NoError(t, err)
					stop := runBackground(t, l.Run)
					eventually(t, func() bool { return caughtUp(t, side.b.Brokers(), "parts", decs, outs) }, "phase %d", i)
					require.NoError(t, stop())
					if side.dir != "" {
						snap, logs = l, observed
					}
				}
				require.NotZero(t, snap.Stats().JoinSnapshotsWritten, "phase %d: the snapshot of the stop", i)
				if i == 0 {
					b, err := os.ReadFile(path)
					require.NoError(t, err)
					require.NoError(t, os.WriteFile(older, b, 0o600))
				}
			}
			require.EqualValues(t, map[bool]uint64{true: 1}[tc.loaded], logsCount(logs, "join snapshot loaded"), "the last restart loaded the snapshot")
			if tc.loaded {
				require.Equal(t, tc.exact, logs.FilterMessage("join snapshot loaded").All()[0].ContextMap()["at_checkpoint"])
			}

			got, _ := latestCheckpoint(t, bSnap.Brokers(), "parts")
			want, _ := latestCheckpoint(t, bFull.Brokers(), "parts")
			require.EqualValues(t, 300+150, want.Model.Model.Updates, "every first part and every late part applied once")
			require.Equal(t, want.Model.Model.Updates, got.Model.Model.Updates)
			require.Equal(t, want.Model.Model.Treatments, got.Model.Model.Treatments, "the same weights")
			require.Equal(t, want.Learner, got.Learner, "the same optimiser state")
			require.Equal(t, want.Offsets, got.Offsets)
			require.Equal(t, want.Join.PendingBits, got.Join.PendingBits, "the same decisions wait in the queue")
			require.Equal(t, want.Join.Late, got.Join.Late, "the same decisions wait for their late fields in the late tier")
			require.NotEmpty(t, want.Join.Late, "decisions in the late tier")
			require.Equal(t, want.Join.StreamTime, got.Join.StreamTime)
		})
	}
}

func logsCount(logs *observer.ObservedLogs, msg string) uint64 {
	return uint64(logs.FilterMessage(msg).Len())
}

// caughtUp reports whether the latest checkpoint of name has read decs
// decisions and outs outcomes.
func caughtUp(t *testing.T, brokers []string, name string, decs, outs int) bool {
	cp, ok := latestCheckpoint(t, brokers, name)
	if !ok {
		return false
	}
	sum := func(o Offsets) (n int64) {
		for _, off := range o {
			n += off
		}
		return n
	}
	return sum(cp.Offsets[DefaultDecisionsTopic]) == int64(decs) && sum(cp.Offsets[DefaultOutcomesTopic]) == int64(outs)
}

type streamPhase struct{ decisions, outcomes []kafka.Message }

// partStream returns n decisions a minute apart with their outcomes in
// parts, in three phases: the first half of the decisions with a part of
// their early fields each; the second half with theirs, and the late
// field (recontact_7d, three days on) of a third of the decisions of the
// first; then a decision two days on (which closes every early window),
// the other late fields (of every second decision in all) and a
// duplicate.
func partStream(t *testing.T, schema *features.Schema, n int) []streamPhase {
	t.Helper()
	fp := models.FingerprintString(schema.Fingerprint())
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	x := []features.Entry{{Index: 3, Value: 1}}
	part := func(id, suffix string, at time.Time, o models.Outcome, fields ...models.OutcomeField) kafka.Message {
		return outcomePart(t, id, suffix, at, o, fields...)
	}
	decision := func(id string, at time.Time, tr features.Treatment) kafka.Message {
		d := models.DecisionEvent{DecisionID: id, Time: at, ModelName: "parts", ModelVersion: 1, SchemaVersion: 1, SchemaFingerprint: fp,
			Strategy: "learned", Treatment: tr.String(), Propensity: 0.5, Features: x}
		v, err := json.Marshal(d)
		require.NoError(t, err)
		return kafka.Message{Key: []byte(id), Value: v}
	}
	phases := make([]streamPhase, 3)
	csat := 4.0
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Minute)
		id := uuidV7(at, uint64(i)) // situ's ids: the late tier finds them by their time
		ph := &phases[i*2/n]
		ph.decisions = append(ph.decisions, decision(id, at, features.Treatments()[i%3]))
		ph.outcomes = append(ph.outcomes, part(id, "-closed", at.Add(time.Hour), models.Outcome{Resolved: i%4 != 0, CSAT: &csat}, models.FieldResolved, models.FieldCSAT))
		if i%2 == 0 {
			late := part(id, "-week", at.Add(3*24*time.Hour), models.Outcome{Recontact7d: i%3 == 0}, models.FieldRecontact7d)
			if i < n/2 && i%3 == 0 {
				phases[1].outcomes = append(phases[1].outcomes, late)
			} else {
				phases[2].outcomes = append(phases[2].outcomes, late)
			}
		}
	}
	phases[2].decisions = append(phases[2].decisions, decision(uuidV7(t0.Add(48*time.Hour), 1<<40), t0.Add(48*time.Hour), features.SelfService))
	phases[2].outcomes = append(phases[2].outcomes, phases[0].outcomes[0]) // a duplicate: applied once
	return phases
}

// outcomePart returns the message of o as a part of decision id's outcome
// (outcome id id+suffix) that occurred at at and holds fields only.
func outcomePart(t testing.TB, id, suffix string, at time.Time, o models.Outcome, fields ...models.OutcomeField) kafka.Message {
	t.Helper()
	o.OutcomeID, o.DecisionID, o.OccurredAt, o.Missing = id+suffix, id, at, models.AllOutcomeFields
	for _, f := range fields {
		o.Missing &^= 1 << f
	}
	v, err := json.Marshal(&o)
	require.NoError(t, err)
	return kafka.Message{Key: []byte(id), Value: v}
}
