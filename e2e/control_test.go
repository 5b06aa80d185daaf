package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"situ/api/contract"
	"situ/features"
	"situ/feedback"
	"situ/internal/situtest"
	"situ/models"
)

const adminToken = "situ_e2e-admin-token-0123456789abcdefghij"

// controlFiles writes an auth file with one admin token and a customer key
// file, both shared by the replicas.
func controlFiles(t *testing.T) (authFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	sum := sha256.Sum256([]byte(adminToken))
	authFile = filepath.Join(dir, "tokens.yaml")
	require.NoError(t, os.WriteFile(authFile, []byte(fmt.Sprintf("tokens:\n  - {name: ana, role: admin, sha256: %q}\n", hex.EncodeToString(sum[:]))), 0o600))
	keyFile = filepath.Join(dir, "customer.key")
	require.NoError(t, os.WriteFile(keyFile, bytes.Repeat([]byte("k"), 32), 0o600))
	return authFile, keyFile
}

// admin calls the admin API of p with the admin token.
func admin(t *testing.T, p *situtest.Process, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.URL+path, r)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(data, &out), "answer: %s", data)
	return res.StatusCode, out
}

// scoreAt scores the contact on p.
func scoreAt(t *testing.T, p *situtest.Process) contract.ScoreResponse {
	t.Helper()
	var d contract.ScoreResponse
	require.Equal(t, http.StatusOK, p.Post(t, "/v1/score", contact, &d))
	return d
}

// waitConfig scores on p until it serves configuration version v and
// returns that answer and how long it took.
func waitConfig(t *testing.T, p *situtest.Process, v int64) (contract.ScoreResponse, time.Duration) {
	t.Helper()
	var d contract.ScoreResponse
	took := poll(t, 30*time.Second, 10*time.Millisecond, func() bool {
		d = scoreAt(t, p)
		return d.ConfigVersion == v
	}, func() string {
		return fmt.Sprintf("replica %s still serves configuration %d, want %d", p.Addr, d.ConfigVersion, v)
	})
	return d, took
}

// served is what a replica answers for the contact, without what depends on
// the decision id.
func served(d contract.ScoreResponse) contract.ScoreResponse {
	d.DecisionID, d.Treatment, d.Propensity = "", "", 0
	return d
}

// TestControlPlaneAcrossReplicas: a change made on one API replica is
// served by every replica, is in their responses and decision events, and
// a rollback restores byte-identical answers; the configuration survives a
// restart.
func TestControlPlaneAcrossReplicas(t *testing.T) {
	b := startBroker(t, 3)
	authFile, keyFile := controlFiles(t)
	common := []string{"--kafka-brokers", b.Addr(), "--auth-file", authFile, "--customer-key-file", keyFile}
	startSitu(t, append([]string{"--role", "learner", "--data-dir", t.TempDir()}, common...)...)
	a := startSitu(t, append([]string{"--role", "api", "--data-dir", t.TempDir()}, common...)...)
	c := startSitu(t, append([]string{"--role", "api", "--data-dir", t.TempDir()}, common...)...)

	before := served(scoreAt(t, a))
	require.Equal(t, int64(0), before.ConfigVersion)
	require.Equal(t, before, served(scoreAt(t, c)), "both replicas serve the same")

	// no token, a bad change and a stale base change nothing
	status, _ := a.Get(t, "/v1/admin/config")
	require.Equal(t, http.StatusUnauthorized, status)
	st, body := admin(t, a, http.MethodPost, "/v1/admin/changes", map[string]any{
		"author": "ana", "reason": "typo", "change": map[string]any{"levers": map[string]any{"pamper_upsel": -0.1}}})
	require.Equal(t, http.StatusBadRequest, st, "%v", body)

	// a lever on one replica moves the probabilities on both
	st, body = admin(t, a, http.MethodPost, "/v1/admin/changes", map[string]any{
		"author": "ana", "reason": "agent cost of pampering", "base_version": 0,
		"change": map[string]any{"levers": map[string]any{"pamper_upsell": -0.5}}})
	require.Equal(t, http.StatusCreated, st, "%v", body)
	require.EqualValues(t, 1, body["version"])
	for _, p := range []*situtest.Process{a, c} {
		d, lag := waitConfig(t, p, 1)
		t.Logf("replica %s serves configuration 1 %s after it was accepted", p.Addr, lag.Round(time.Millisecond))
		require.Equal(t, map[string]float64{"pamper_upsell": -0.5}, d.Levers)
		require.Equal(t, before.Scores, d.Scores, "scores are the model's; the lever is shown apart")
		require.Less(t, d.Probabilities["pamper_upsell"], before.Probabilities["pamper_upsell"])
	}
	st, body = admin(t, c, http.MethodPost, "/v1/admin/changes", map[string]any{
		"author": "ana", "reason": "stale", "base_version": 0,
		"change": map[string]any{"levers": map[string]any{"self_service": 0.1}}})
	require.Equal(t, http.StatusConflict, st, "%v", body)

	// an override of a weight changes the served score
	st, body = admin(t, c, http.MethodPost, "/v1/admin/changes", map[string]any{
		"author": "ana", "reason": "upgrade intents favour pampering", "base_version": 1,
		"change": map[string]any{"weights": []any{map[string]any{"treatment": "pamper_upsell", "feature": "intent=upgrade_inquiry", "set": 1.5}}}})
	require.Equal(t, http.StatusCreated, st, "%v", body)
	for _, p := range []*situtest.Process{a, c} {
		d, _ := waitConfig(t, p, 2)
		require.Greater(t, d.Scores["pamper_upsell"], before.Scores["pamper_upsell"])
	}

	// rollback to version 0: byte-identical answers on both
	st, body = admin(t, a, http.MethodPost, "/v1/admin/rollback", map[string]any{"to_version": 0, "author": "ana", "reason": "back to the defaults"})
	require.Equal(t, http.StatusCreated, st, "%v", body)
	for _, p := range []*situtest.Process{a, c} {
		d, _ := waitConfig(t, p, 3)
		d.ConfigVersion = 0
		require.Equal(t, before, served(d), "rolled back to version 0")
	}
	st, hist := admin(t, c, http.MethodGet, "/v1/admin/changes", nil)
	require.Equal(t, http.StatusOK, st)
	require.Len(t, hist["changes"], 3)

	// decision events carry the configuration version, the levers and no clear customer id
	// (the publisher writes in batches: wait for the last configuration's)
	var events []models.DecisionEvent
	poll(t, 20*time.Second, 50*time.Millisecond, func() bool {
		events = decisionEvents(t, b.Brokers())
		return hasVersion(events, 3)
	}, func() string { return "no decision event of configuration 3 on the topic" })
	seen := map[int64]bool{}
	for _, ev := range events {
		seen[ev.ConfigVersion] = true
		if ev.ConfigVersion == 1 {
			pamper, _ := features.ParseTreatment("pamper_upsell")
			require.Equal(t, -0.5, ev.Levers[pamper], "levers in the event")
		}
		require.NotNil(t, ev.Context)
		require.NotEqual(t, "c-1", ev.Context.Customer.ID)
		require.Len(t, ev.Context.Customer.ID, 64, "a keyed hash")
	}
	for _, v := range []int64{0, 1, 2, 3} {
		require.True(t, seen[v], "events of configuration %d", v)
	}

	// a replica restarted comes back with the same configuration and history
	c.Stop(t)
	c2 := startSitu(t, append([]string{"--role", "api", "--data-dir", t.TempDir()}, common...)...)
	require.Equal(t, int64(3), scoreAt(t, c2).ConfigVersion)
	_, hist2 := admin(t, c2, http.MethodGet, "/v1/admin/changes", nil)
	require.Equal(t, hist, hist2)
}

func hasVersion(events []models.DecisionEvent, v int64) bool {
	for _, ev := range events {
		if ev.ConfigVersion == v {
			return true
		}
	}
	return false
}

// decisionEvents reads every decision event on the decisions topic.
func decisionEvents(t *testing.T, brokers []string) []models.DecisionEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []models.DecisionEvent
	for p := 0; p < 3; p++ {
		conn, err := kafka.DialLeader(ctx, "tcp", brokers[0], feedback.DefaultDecisionsTopic, p)
		require.NoError(t, err)
		last, err := conn.ReadLastOffset()
		require.NoError(t, err)
		_ = conn.Close()
		if last == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: feedback.DefaultDecisionsTopic, Partition: p, MaxWait: 200 * time.Millisecond})
		for {
			m, err := r.ReadMessage(ctx)
			require.NoError(t, err)
			require.NotContains(t, string(m.Value), `"c-1"`, "no clear customer id on the topic")
			ev, err := models.DecodeDecisionEvent(m.Value)
			require.NoError(t, err)
			out = append(out, ev)
			if m.Offset+1 >= last {
				break
			}
		}
		require.NoError(t, r.Close())
	}
	require.NotEmpty(t, out)
	return out
}
