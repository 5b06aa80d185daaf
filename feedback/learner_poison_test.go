package feedback

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"situ/features"
	"situ/models"
)

// jsonValue encodes v as a message value.
func jsonValue(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	require.NoError(t, err)
	return data
}

// learnableDecision is testDecision(i) renamed id, on the learner's schema
// (real fingerprint, feature indices inside it).
func learnableDecision(schema *features.Schema, i int, id string) models.DecisionEvent {
	d := testDecision(i)
	d.DecisionID = id
	d.SchemaFingerprint = models.FingerprintString(schema.Fingerprint())
	return d
}

// runLearnerPast runs a learner until a snapshot's outcome offset of
// partition reaches end, then stops it.
func runLearnerPast(t *testing.T, brokers []string, base *models.Model, reward models.RewardDefinition, reg *prometheus.Registry, partition int32, end int64) (*LearningLoop, Checkpoint) {
	t.Helper()
	l := newTestLearner(t, brokers, base, reward, reg)
	stop := runBackground(t, l.Run)
	eventually(t, func() bool {
		cp, ok := latestCheckpoint(t, brokers, base.Name())
		return ok && cp.Offsets[DefaultOutcomesTopic][partition] == end
	}, "a checkpoint past every outcome")
	require.NoError(t, stop())
	cp, _ := latestCheckpoint(t, brokers, base.Name())
	return l, cp
}

// TestLearnerDeadLettersPoisonOutcomes: unusable outcome messages between
// two good ones go to the DLQ as received, with the reason, the error and
// where they came from; learning goes on past them.
func TestLearnerDeadLettersPoisonOutcomes(t *testing.T) {
	b, topics := startBroker(t)
	schema, base, reward := learnerFixture(t, t.Name())
	const key = "d-poison"
	decisionID := func(i int) string { return key + "-" + strconv.Itoa(i) }
	produce(t, b.Brokers(), topics.Decisions,
		kafka.Message{Key: []byte(decisionID(1)), Value: jsonValue(t, learnableDecision(schema, 1, decisionID(1)))},
		kafka.Message{Key: []byte(decisionID(2)), Value: jsonValue(t, learnableDecision(schema, 2, decisionID(2)))},
	)
	poison := []struct {
		name, value, reason, detail string
	}{
		{"not json", `this is not json`, DLQReasonInvalidJSON, "invalid character"},
		{"wrong type", `{"outcome_id": 5, "decision_id": "d-poison-1", "occurred_at": "2026-11-22T10:00:00Z"}`, DLQReasonInvalidJSON, "cannot unmarshal number"},
		{"csat as text", `{"outcome_id": "o-x", "decision_id": "d-poison-1", "csat": "good", "occurred_at": "2026-11-22T10:00:00Z"}`, DLQReasonInvalidJSON, "cannot unmarshal string"},
		{"trailing data", `{"outcome_id": "o-t", "decision_id": "d-poison-1", "occurred_at": "2026-11-22T10:00:00Z"} {}`, DLQReasonInvalidJSON, "data after the JSON value"},
		{"empty", ``, DLQReasonInvalidJSON, "empty message value"},
		{"missing decision_id", `{"outcome_id": "o-m", "occurred_at": "2026-11-22T10:00:00Z"}`, DLQReasonInvalidOutcome, "decision_id: is required"},
		{"csat 9", `{"outcome_id": "o-c", "decision_id": "d-poison-1", "csat": 9, "occurred_at": "2026-11-22T10:00:00Z"}`, DLQReasonInvalidOutcome, "csat: must be between 1 and 5"},
		{"no time", `{"outcome_id": "o-n", "decision_id": "d-poison-1"}`, DLQReasonInvalidOutcome, "occurred_at"},
	}
	// One key: one partition, so the order below is the order read.
	msgs := []kafka.Message{{Key: []byte(key), Value: jsonValue(t, testOutcome(1, decisionID(1)))}}
	for _, p := range poison {
		msgs = append(msgs, kafka.Message{Key: []byte(key), Value: []byte(p.value),
			Headers: []kafka.Header{{Key: "test-case", Value: []byte(p.name)}}})
	}
	msgs = append(msgs, kafka.Message{Key: []byte(key), Value: jsonValue(t, testOutcome(2, decisionID(2)))})
	produce(t, b.Brokers(), topics.Outcomes, msgs...)

	partition := int32(PartitionForKey([]byte(key), topics.OutcomePartitions))
	reg := prometheus.NewRegistry()
	l, snap := runLearnerPast(t, b.Brokers(), base, reward, reg, partition, int64(len(msgs)))

	s := l.Stats()
	require.Equal(t, uint64(2), s.Updates, "both good outcomes applied, before and after the poison")
	require.Equal(t, int64(2), s.Join.Joined)
	require.Equal(t, int64(2), snap.Model.Model.Updates, "the snapshot holds both updates")
	require.Equal(t, uint64(len(msgs)), s.OutcomesRead)
	require.Equal(t, uint64(5), s.DLQInvalidJSON)
	require.Equal(t, uint64(3), s.DLQInvalidOutcome)
	require.Equal(t, float64(2), metricValue(t, reg, "situ_learner_updates_total", nil))
	require.Equal(t, float64(5), metricValue(t, reg, "situ_outcomes_dlq_total", map[string]string{"reason": DLQReasonInvalidJSON}))
	require.Equal(t, float64(3), metricValue(t, reg, "situ_outcomes_dlq_total", map[string]string{"reason": DLQReasonInvalidOutcome}))
	require.Equal(t, float64(0), metricValue(t, reg, "situ_outcomes_dlq_write_errors_total", nil))

	dead := readAll(t, b.Brokers(), topics.OutcomesDLQ)
	require.Len(t, dead, len(poison))
	for i, m := range dead {
		p := poison[i]
		t.Run(p.name, func(t *testing.T) {
			h := map[string]string{}
			for _, kv := range m.Headers {
				h[kv.Key] = string(kv.Value)
			}
			require.Equal(t, key, string(m.Key), "key as received")
			require.Equal(t, p.value, string(m.Value), "value as received")
			require.Equal(t, p.name, h["test-case"], "original headers kept")
			require.Equal(t, p.reason, h[HeaderDLQReason])
			require.Contains(t, h[HeaderDLQError], p.detail)
			require.Equal(t, topics.Outcomes, h[HeaderDLQTopic])
			require.Equal(t, strconv.Itoa(int(partition)), h[HeaderDLQPartition])
			require.Equal(t, strconv.Itoa(i+1), h[HeaderDLQOffset])
		})
	}
}

// TestLearnerSkipsUnusableDecisions: decision events that cannot be
// decoded or belong to another schema are counted and skipped, a decision
// published twice is joined once, and none of it stops learning.
func TestLearnerSkipsUnusableDecisions(t *testing.T) {
	b, topics := startBroker(t)
	schema, base, reward := learnerFixture(t, t.Name())
	const key = "d-same-key" // one partition: read in this order
	otherSchema := learnableDecision(schema, 3, "d-other-schema")
	otherSchema.SchemaFingerprint = "00000000deadbeef"
	produce(t, b.Brokers(), topics.Decisions,
		kafka.Message{Key: []byte(key), Value: jsonValue(t, learnableDecision(schema, 1, "d-1"))},
		kafka.Message{Key: []byte(key), Value: []byte(`{"decision_id": 7}`)},
		kafka.Message{Key: []byte(key), Value: []byte(`{"treatment": "fast_resolution"}`)},
		kafka.Message{Key: []byte(key), Value: jsonValue(t, learnableDecision(schema, 1, "d-1"))}, // a producer retry
		kafka.Message{Key: []byte(key), Value: jsonValue(t, otherSchema)},
		kafka.Message{Key: []byte(key), Value: jsonValue(t, learnableDecision(schema, 2, "d-2"))},
	)
	outcomes := []kafka.Message{
		{Key: []byte(key), Value: jsonValue(t, testOutcome(1, "d-1"))},
		{Key: []byte(key), Value: jsonValue(t, testOutcome(3, "d-other-schema"))},
		{Key: []byte(key), Value: jsonValue(t, testOutcome(2, "d-2"))},
	}
	produce(t, b.Brokers(), topics.Outcomes, outcomes...)

	partition := int32(PartitionForKey([]byte(key), topics.OutcomePartitions))
	reg := prometheus.NewRegistry()
	l, snap := runLearnerPast(t, b.Brokers(), base, reward, reg, partition, int64(len(outcomes)))

	s := l.Stats()
	require.Equal(t, uint64(6), s.DecisionsRead)
	require.Equal(t, uint64(3), s.DecisionsInvalid, "undecodable, no decision_id, another schema")
	require.Equal(t, int64(1), s.Join.Duplicates, "the decision published twice")
	require.Equal(t, uint64(2), s.Updates, "d-1 once and d-2; not the other schema's")
	require.Equal(t, int64(2), snap.Model.Model.Updates)
	require.Equal(t, float64(3), metricValue(t, reg, "situ_learner_decisions_invalid_total", nil))
	require.Equal(t, float64(1), metricValue(t, reg, "situ_learner_join_total", map[string]string{"result": "duplicate"}))
	require.Empty(t, readAll(t, b.Brokers(), topics.OutcomesDLQ), "decision events are never dead-lettered")
	require.Equal(t, int64(6), snap.Offsets[topics.Decisions][partition], "the decisions' offsets move past what was skipped")
}
