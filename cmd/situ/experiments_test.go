package main

import (
	"bytes"
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

	"github.com/stretchr/testify/require"

	"situ/api/contract"
	"situ/experiments"
	"situ/internal/situtest"
)

const experimentsAdminToken = "situ_cmd-experiments-admin-token-0123456789"

// sharedSecrets writes the auth file (one admin token) and the customer
// key file that the replicas share.
func sharedSecrets(t *testing.T) (authFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	sum := sha256.Sum256([]byte(experimentsAdminToken))
	authFile = filepath.Join(dir, "tokens.yaml")
	require.NoError(t, os.WriteFile(authFile, fmt.Appendf(nil, "tokens:\n  - {name: ana, role: admin, sha256: %q}\n", hex.EncodeToString(sum[:])), 0o600))
	keyFile = filepath.Join(dir, "customer.key")
	require.NoError(t, os.WriteFile(keyFile, bytes.Repeat([]byte("e"), 32), 0o600))
	return authFile, keyFile
}

// postChange posts a configuration change to p's admin API and returns
// the accepted version.
func postChange(t *testing.T, p *situtest.Process, reason string, change any) int64 {
	t.Helper()
	body, err := json.Marshal(map[string]any{"author": "ana", "reason": reason, "change": change})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, p.URL+"/v1/admin/changes", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+experimentsAdminToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, res.StatusCode, "POST /v1/admin/changes: %s", data)
	var out struct {
		Version int64 `json:"version"`
	}
	require.NoError(t, json.Unmarshal(data, &out))
	return out.Version
}

// scoreCustomer scores a chat contact of customer id on p.
func scoreCustomer(t *testing.T, p *situtest.Process, id string) contract.ScoreResponse {
	t.Helper()
	var d contract.ScoreResponse
	body := map[string]any{
		"customer": map[string]any{"id": id, "lifetime_value": 2500, "tier": "silver"},
		"intent":   map[string]any{"name": "order_status", "confidence": 0.9},
		"channel":  "chat",
	}
	require.Equal(t, http.StatusOK, p.Post(t, "/v1/score", body, &d))
	return d
}

// waitVersion scores on p until it serves configuration version v.
func waitVersion(t *testing.T, p *situtest.Process, v int64) {
	t.Helper()
	require.Eventually(t, func() bool { return scoreCustomer(t, p, "probe").ConfigVersion == v },
		20*time.Second, 10*time.Millisecond, "replica %s does not serve configuration %d", p.Addr, v)
}

// TestExperimentAssignmentIsStickyAcrossReplicas: an experiment created
// through the admin API of one replica assigns every customer the same arm
// on every replica, after a restart too, and the arm is GrowthBook's
// (hash version 2 of seed and id in the arms' bucket ranges), so that it
// can be reproduced anywhere; once stopped, both replicas serve the
// learned strategy to everyone within 2 s.
func TestExperimentAssignmentIsStickyAcrossReplicas(t *testing.T) {
	authFile, keyFile := sharedSecrets(t)
	broker := situtest.Serve(t, situBin, "--role", "broker", "--broker-addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	replicaArgs := func(dir string) []string {
		return []string{"--role", "api", "--kafka-brokers", broker.BrokerAddr, "--auth-file", authFile, "--customer-key-file", keyFile, "--data-dir", dir}
	}
	dirA, dirB := t.TempDir(), t.TempDir()
	a := situtest.Serve(t, situBin, replicaArgs(dirA)...)
	b := situtest.Serve(t, situBin, replicaArgs(dirB)...)

	arms := []experiments.Arm{
		{Name: "control", Strategy: "learned", Weight: 0.5},
		{Name: "same", Strategy: "uniform", Weight: 0.3},
		{Name: "self", Strategy: "efficiency_first", Weight: 0.2},
	}
	const seed = "sticky-seed"
	created := postChange(t, a, "compare service philosophies", map[string]any{"experiments": map[string]any{"create": map[string]any{
		"id": "philosophy", "hypothesis": "the model serves chat better than fixed rules", "arms": arms, "seed": seed, "targeting": "channel == 'chat'"}}})
	waitVersion(t, a, created)
	waitVersion(t, b, created)

	// GrowthBook's assignment, computed here: ranges [0, 0.5), [0.5, 0.8), [0.8, 1).
	expected := func(id string) experiments.Arm {
		n, ok := experiments.Hash(seed, id, 2)
		require.True(t, ok)
		start := 0.0
		for _, arm := range arms {
			if n >= start && n < start+arm.Weight {
				return arm
			}
			start += arm.Weight
		}
		t.Fatalf("hash %g of %s is in no range", n, id)
		return experiments.Arm{}
	}
	check := func(p *situtest.Process, id string) {
		t.Helper()
		d := scoreCustomer(t, p, id)
		want := expected(id)
		require.NotNil(t, d.Experiment, "%s on %s is in no experiment", id, p.Addr)
		require.Equal(t, contract.ScoreExperiment{ID: "philosophy", Arm: want.Name}, *d.Experiment, "%s on %s", id, p.Addr)
		require.Equal(t, want.Strategy, d.Strategy, "%s on %s", id, p.Addr)
		if want.Strategy != "learned" {
			require.Equal(t, 1.0, d.Propensity, "a fixed rule serves for sure")
		}
	}
	ids := make([]string, 200)
	perArm := map[string]int{}
	for i := range ids {
		ids[i] = fmt.Sprintf("cust-%03d", i)
		perArm[expected(ids[i]).Name]++
	}
	for _, arm := range arms {
		require.Positive(t, perArm[arm.Name], "the 200 ids should reach every arm: %v", perArm)
	}
	for _, id := range ids {
		check(a, id)
		check(b, id)
	}

	b.Stop(t)
	b = situtest.Serve(t, situBin, replicaArgs(dirB)...)
	waitVersion(t, b, created)
	for _, id := range ids {
		check(b, id)
	}

	stopped := postChange(t, b, "enough data", map[string]any{"experiments": map[string]any{"stop": map[string]any{
		"id": "philosophy", "by": "ana", "reason": "enough data"}}})
	accepted := time.Now()
	for _, p := range []*situtest.Process{a, b} {
		require.Eventually(t, func() bool { return scoreCustomer(t, p, ids[0]).ConfigVersion == stopped },
			time.Until(accepted.Add(2*time.Second)), 10*time.Millisecond, "replica %s still serves configuration %d 2 s after the stop", p.Addr, created)
	}
	t.Logf("both replicas serve the stop %s after it was accepted", time.Since(accepted).Round(time.Millisecond))
	for _, p := range []*situtest.Process{a, b} {
		for _, id := range ids {
			d := scoreCustomer(t, p, id)
			require.Nil(t, d.Experiment, "%s on %s after the stop", id, p.Addr)
			require.Equal(t, "learned", d.Strategy, "%s on %s after the stop", id, p.Addr)
		}
	}
}
