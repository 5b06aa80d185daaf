package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"situ/api/contract"
	"situ/feedback"
	"situ/internal/situtest"
	"situ/models"
)

var contact = map[string]any{
	"customer": map[string]any{"id": "c-1", "lifetime_value": 5400, "annual_spend": 1200, "tenure_months": 38, "tier": "gold"},
	"intent":   map[string]any{"name": "upgrade_inquiry"},
	"channel":  "app",
	"friction": map[string]any{"sentiment": 0.3},
}

// TestReplicasServeTheNewModel: two API processes and one learner process
// share a broker. Decisions made on either replica and outcomes posted to
// either reach the learner; once it publishes a new model, both replicas
// serve the same new model_version. The lag from the publication to each
// replica serving it is logged (a few hundred milliseconds on an idle
// machine); the deadline is there only so that a replica that never
// follows fails the test instead of hanging it.
func TestReplicasServeTheNewModel(t *testing.T) {
	b := startBroker(t, 3)
	brokers := []string{"--kafka-brokers", b.Addr()}
	learner := startSitu(t, append([]string{"--role", "learner", "--snapshot-interval", "100ms"}, brokers...)...)
	shared := t.TempDir() // the replicas share the customer-id key
	a := startSitu(t, append([]string{"--role", "api", "--data-dir", shared}, brokers...)...)
	c := startSitu(t, append([]string{"--role", "api", "--data-dir", shared}, brokers...)...)

	// the learner role does not score
	resp, err := http.Post(learner.URL+"/v1/score", "application/json", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	var first contract.ScoreResponse
	require.Equal(t, http.StatusOK, a.Post(t, "/v1/score", contact, &first))
	start := first.ModelVersion

	for i := 0; i < 200; i++ {
		replica := []*situtest.Process{a, c}[i%2]
		var d contract.ScoreResponse
		require.Equal(t, http.StatusOK, replica.Post(t, "/v1/score", contact, &d))
		outcome := map[string]any{"outcome_id": fmt.Sprintf("o-%d", i), "decision_id": d.DecisionID, "resolved": true, "csat": 5,
			"upsell_accepted": d.Treatment == "pamper_upsell", "revenue": 100, "handle_seconds": 300, "occurred_at": time.Now().UTC().Format(time.RFC3339)}
		require.Equal(t, http.StatusAccepted, []*situtest.Process{c, a}[i%2].Post(t, "/v1/outcomes", outcome, nil))
	}

	// wait for the learner to publish a model with all 200 outcomes
	waitForUpdates(t, b.Brokers(), 200, 30*time.Second)
	version, published := latestVersion(t, b.Brokers())
	require.Greater(t, version, start)
	for _, replica := range []*situtest.Process{a, c} {
		lag := waitServes(t, replica, version, 30*time.Second).Sub(published)
		t.Logf("replica %s serves model %d %s after the learner published it", replica.Addr, version, lag.Round(time.Millisecond))
	}
	var va, vc contract.ScoreResponse
	a.Post(t, "/v1/score", contact, &va)
	c.Post(t, "/v1/score", contact, &vc)
	require.Equal(t, va.ModelVersion, vc.ModelVersion, "both replicas serve the same version")
}

// waitServes scores on replica until it answers with model_version want or
// later, and returns when it did; it fails the test if that takes longer
// than within.
func waitServes(t *testing.T, replica *situtest.Process, want int64, within time.Duration) time.Time {
	t.Helper()
	var d contract.ScoreResponse
	poll(t, within, 10*time.Millisecond, func() bool {
		d = contract.ScoreResponse{}
		require.Equal(t, http.StatusOK, replica.Post(t, "/v1/score", contact, &d))
		return d.ModelVersion >= want
	}, func() string {
		return fmt.Sprintf("replica %s still serves model %d %s after the learner published %d", replica.Addr, d.ModelVersion, within, want)
	})
	return time.Now()
}

// latestVersion returns the version of the latest snapshot of the default
// model and the time the learner published it (the message timestamp).
func latestVersion(t *testing.T, brokers []string) (int64, time.Time) {
	t.Helper()
	rec, ok := latestOfDefault(t, brokers, feedback.DefaultModelsTopic)
	require.True(t, ok, "a snapshot of the default model")
	snap, err := models.DecodeSnapshot(rec.Value)
	require.NoError(t, err)
	return snap.Model.Version, rec.Time
}
