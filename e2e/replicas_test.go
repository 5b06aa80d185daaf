package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"situ/api/contract"
	"situ/internal/situtest"
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
// serve the same new model_version within 2 s.
func TestReplicasServeTheNewModel(t *testing.T) {
	b := startBroker(t, 3)
	brokers := []string{"--kafka-brokers", b.Addr()}
	learner := startSitu(t, append([]string{"--role", "learner", "--snapshot-interval", "100ms"}, brokers...)...)
	a := startSitu(t, append([]string{"--role", "api"}, brokers...)...)
	c := startSitu(t, append([]string{"--role", "api"}, brokers...)...)

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
	snap := waitForUpdates(t, []string{b.Addr()}, 200, 30*time.Second)
	published := time.Now()
	require.Greater(t, snap.Model.Version, start)
	for _, replica := range []*situtest.Process{a, c} {
		for {
			var d contract.ScoreResponse
			require.Equal(t, http.StatusOK, replica.Post(t, "/v1/score", contact, &d))
			if d.ModelVersion >= snap.Model.Version {
				break
			}
			require.Less(t, time.Since(published), 2*time.Second, "replica %s still serves model %d, learner published %d", replica.Addr, d.ModelVersion, snap.Model.Version)
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Logf("both replicas serve model %d within %s of its publication", snap.Model.Version, time.Since(published).Round(time.Millisecond))
	var va, vc contract.ScoreResponse
	a.Post(t, "/v1/score", contact, &va)
	c.Post(t, "/v1/score", contact, &vc)
	require.Equal(t, va.ModelVersion, vc.ModelVersion, "both replicas serve the same version")
}
