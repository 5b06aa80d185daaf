package feedback

import (
	"bytes"
	"reflect"
	"testing"

	json "github.com/go-json-experiment/json"

	"situ/features"
	"situ/models"
)

// FuzzDecodeOutcome feeds arbitrary nba.outcomes values to the outcome
// decoder: it must never panic, its validation is deterministic, and a
// valid outcome encodes (as OutcomePublisher writes it) to a value that
// decodes to the same outcome.
func FuzzDecodeOutcome(f *testing.F) {
	f.Add([]byte(`{"outcome_id":"o-1","decision_id":"d-1","resolved":true,"csat":4,"occurred_at":"2026-11-22T10:00:00Z"}`))
	f.Add([]byte(`{"outcome_id":"o-1","decision_id":"d-1","csat":9}`))
	f.Add([]byte(`{"outcome_id":"o-1","decision_id":"d-1","revenue":1e9,"handle_seconds":604800,"occurred_at":"2026-11-22T10:00:00.123456789+02:00","extra":[1,{"a":null}]}`))
	f.Add([]byte(`not json`))
	f.Add([]byte(`{} {}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, value []byte) {
		var o models.Outcome
		if err := decodeOutcome(value, &o); err != nil {
			return
		}
		first := o.Validate()
		if second := o.Validate(); (first == nil) != (second == nil) {
			t.Fatalf("validation not deterministic: %v vs %v", first, second)
		}
		if first != nil {
			return
		}
		b, err := json.Marshal(&o)
		if err != nil {
			t.Fatalf("a valid outcome does not encode: %v", err)
		}
		var back models.Outcome
		if err := decodeOutcome(b, &back); err != nil {
			t.Fatalf("the encoded outcome %s does not decode: %v", b, err)
		}
		if err := back.Validate(); err != nil {
			t.Fatalf("the encoded outcome %s is not valid: %v", b, err)
		}
		if !back.OccurredAt.Equal(o.OccurredAt) {
			t.Fatalf("occurred_at %v became %v", o.OccurredAt, back.OccurredAt)
		}
		back.OccurredAt = o.OccurredAt
		if !reflect.DeepEqual(o, back) {
			t.Fatalf("round trip changed the outcome:\n%+v\n%+v", o, back)
		}
	})
}

// FuzzDecodeCheckpoint feeds arbitrary nba.learner.checkpoints values to
// the decoder a learner restores from: nothing panics, not even binding
// the model and restoring the learner and the join from what decodes, and
// what decodes encodes to bytes that decode to the same bytes.
func FuzzDecodeCheckpoint(f *testing.F) {
	schema, base, _ := learnerFixture(f, "m")
	l, err := models.NewOnlineLearner(base, models.LearnerConfig{})
	if err != nil {
		f.Fatal(err)
	}
	l.Update(features.FastResolution, []features.Entry{{Index: 0, Value: 1}}, 0.5, 1)
	cp := Checkpoint{
		FormatVersion: CheckpointFormatVersion, Model: models.NewSnapshot(l.Model(4), 1, replayT0), Learner: l.State(),
		Offsets:       map[string]Offsets{DefaultDecisionsTopic: {0: 12}, DefaultOutcomesTopic: {0: 9}},
		Join:          JoinCheckpoint{Pending: map[int32][][2]int64{0: {{3, 5}}}, Early: []models.EarlyOutcome{{Outcome: replayOutcome("d9"), Seen: replayT0}}, StreamTime: replayT0},
		ConfigVersion: 3,
	}
	seed, err := cp.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"format_version":1,"model":{"format_version":2},"learner":{},"offsets":{},"join":{"pending":{"0":[[5,3]]},"stream_time":"0001-01-01T00:00:00Z"}}`))
	f.Add([]byte(`{"format_version":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := DecodeCheckpoint(data)
		if err != nil {
			return
		}
		b, err := got.Encode()
		if err != nil {
			return // e.g. a time JSON cannot carry
		}
		back, err := DecodeCheckpoint(b)
		if err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", b, err)
		}
		b2, err := back.Encode()
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("round trip not stable (%v):\n%s\n%s", err, b, b2)
		}
		// what a restore does with it (learner_restore.go)
		replay := joinReplay{resume: got.Offsets[DefaultDecisionsTopic], keep: got.Join.Pending, keepBits: got.Join.PendingBits}
		for p, off := range replay.from() {
			_ = replay.adds(p, off)
		}
		models.RestoreCompactJoiner(models.JoinConfig{}, models.JoinState{Early: got.Join.Early, StreamTime: got.Join.StreamTime})
		m, err := got.Model.Bind(schema)
		if err != nil {
			return
		}
		if rl, err := models.RestoreLearner(m, got.Learner, models.LearnerConfig{}); err == nil {
			rl.Update(features.FastResolution, []features.Entry{{Index: 0, Value: 1}}, 0.5, 1)
			_ = rl.State()
		}
	})
}
