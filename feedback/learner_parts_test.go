package feedback

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"situ/features"
	"situ/models"
)

// TestLearnerPartialOutcomeThenLateField: decisions receive their outcome
// in two parts through the broker — resolution first, recontact_7d days
// later in stream time — and each part teaches its own term: after the
// first, the resolved term moved and the recontact term did not; after
// the late field, the recontact term moved and the resolved term stayed
// where the first part left it; a survey past its 24 h window is not
// applied.
func TestLearnerPartialOutcomeThenLateField(t *testing.T) {
	b, _ := startBroker(t)
	schema, base, reward := learnerFixture(t, t.Name())
	fp := models.FingerprintString(schema.Fingerprint())
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	const n = 200
	x := []features.Entry{{Index: 3, Value: 1}}
	var decisions, first, late []kafka.Message
	part := func(key []byte, suffix string, at time.Time, o models.Outcome, fields ...models.OutcomeField) kafka.Message {
		return outcomePart(t, string(key), suffix, at, o, fields...)
	}
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Minute) // 200 minutes of decisions
		id := uuidV7(at, uint64(i))                  // situ's ids: the late tier finds a decision by its id's time
		d := models.DecisionEvent{DecisionID: id, Time: at, ModelName: "default", ModelVersion: 1, SchemaVersion: 1, SchemaFingerprint: fp,
			Strategy: "learned", Treatment: features.FastResolution.String(), Propensity: 0.5, Features: x}
		dv, err := json.Marshal(d)
		require.NoError(t, err)
		decisions = append(decisions, kafka.Message{Key: []byte(id), Value: dv})
		first = append(first, part([]byte(id), "-closed", at.Add(time.Hour), models.Outcome{Resolved: true}, models.FieldResolved))
		late = append(late, part([]byte(id), "-week", at.Add(3*24*time.Hour), models.Outcome{Recontact7d: true}, models.FieldRecontact7d))
	}
	produce(t, b.Brokers(), DefaultDecisionsTopic, decisions...)
	produce(t, b.Brokers(), DefaultOutcomesTopic, first...)

	// served as learned (AverageUpdates 1): what each part teaches shows
	// in the published terms at once, not through the moving average
	l, err := NewLearningLoop(LearningLoopConfig{Brokers: b.Brokers(), Base: base, Reward: reward, RoundSize: 50, SnapshotEvery: 100,
		SnapshotInterval: 20 * time.Millisecond, PollInterval: 10 * time.Millisecond, Logger: testLogger(t),
		Learning: models.LearnerConfig{AverageUpdates: 1}})
	require.NoError(t, err)
	stop := runBackground(t, l.Run)
	eventually(t, func() bool { return l.Stats().Updates == n })
	eventually(t, func() bool { return checkpointed(t, b.Brokers(), t.Name(), n) })
	_, m1 := boundSnapshot(t, b.Brokers(), schema, t.Name())
	var t1 [models.NumTerms]float64
	require.True(t, m1.Terms(features.FastResolution, x, &t1), "the learner publishes its terms")
	require.Greater(t, t1[models.FieldResolved], 0.3, "the first part taught the resolved term (0.4 per resolution)")
	require.Zero(t, t1[models.FieldRecontact7d], "no recontact known yet")

	// two days on (a later decision moves stream time, and the decisions
	// to the late tier), the late field of each decision: still within its
	// 7-day window, past the 24 h of the others
	later := models.DecisionEvent{DecisionID: uuidV7(t0.Add(48*time.Hour), 1<<40), Time: t0.Add(48 * time.Hour), ModelName: "default", ModelVersion: 1, SchemaVersion: 1,
		SchemaFingerprint: fp, Strategy: "learned", Treatment: features.SelfService.String(), Propensity: 0.5, Features: x}
	lv, err := json.Marshal(later)
	require.NoError(t, err)
	produce(t, b.Brokers(), DefaultDecisionsTopic, kafka.Message{Key: []byte(later.DecisionID), Value: lv})
	eventually(t, func() bool { return l.Stats().DecisionsRead == n+1 })
	// … and a survey of the first decision, past its 24 h window: not applied
	csat := 5.0
	tooLate := part(decisions[0].Key, "-survey", t0.Add(30*time.Hour), models.Outcome{CSAT: &csat}, models.FieldCSAT)
	produce(t, b.Brokers(), DefaultOutcomesTopic, append(late, tooLate)...)
	eventually(t, func() bool { return l.Stats().Updates == 2*n })
	eventually(t, func() bool { return checkpointed(t, b.Brokers(), t.Name(), 2*n+1) })
	require.EqualValues(t, 1, l.Stats().Join.Late, "the survey came after its window")
	require.EqualValues(t, n+1, l.Stats().Join.LateFound, "every late field found in the late tier, and the survey (without a default reward it could be a first part)")
	require.NoError(t, stop())
	_, m2 := boundSnapshot(t, b.Brokers(), schema, t.Name())
	var t2 [models.NumTerms]float64
	m2.Terms(features.FastResolution, x, &t2)
	require.Less(t, t2[models.FieldRecontact7d], -0.2, "the late field taught the recontact term (−0.3 per recontact)")
	require.Equal(t, t1[models.FieldResolved], t2[models.FieldResolved], "the late part leaves the resolved term as it was")
	require.Less(t, m2.Score(features.FastResolution, x), m1.Score(features.FastResolution, x), "the score now counts the recontacts")
}
