package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"situ/api/contract"
	"situ/internal/datadir"
	"situ/internal/situtest"
)

// TestDataDirLock runs situ processes on one data dir: a second one refuses
// to start and names the first; after a SIGKILL of the first (no clean
// shutdown, the lock file stays) a new one starts.
func TestDataDirLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first := situtest.Serve(t, situBin, "--data-dir", dir, "--broker-addr", "127.0.0.1:0")

	cases := []struct {
		name string
		args []string
	}{
		{"second all", []string{"--role", "all"}},
		{"second broker", []string{"--role", "broker"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(situBin, append([]string{"serve", "--addr", "127.0.0.1:0", "--broker-addr", "127.0.0.1:0", "--data-dir", dir}, tc.args...)...)
			cmd.Env = append(os.Environ(), "SITU_LOG_LEVEL=warn")
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "a second process on %s must not run:\n%s", dir, out)
			require.NotZero(t, exit.ExitCode())
			want := regexp.MustCompile(`situ serve: data dir ` + regexp.QuoteMeta(dir) + ` is in use by pid ` + strconv.Itoa(first.PID()) +
				` \(role all, http ` + regexp.QuoteMeta(first.Addr) + `, broker 127\.0\.0\.1:[1-9][0-9]*\) since \S+; stop it or pass --data-dir`)
			require.Regexp(t, want, string(out))
			require.NotContains(t, string(out), "embedded broker started", "it refused before touching the topics")
		})
	}

	first.Kill()
	second := situtest.Serve(t, situBin, "--data-dir", dir, "--broker-addr", "127.0.0.1:0")
	b, err := os.ReadFile(filepath.Join(dir, datadir.LockFile))
	require.NoError(t, err)
	var h datadir.Holder
	require.NoError(t, json.Unmarshal(b, &h))
	require.Equal(t, second.PID(), h.PID, "the stale record of the killed process is overwritten")
	require.Equal(t, second.Addr, h.HTTPAddr)
}

// TestStartBeforeKafka starts an api replica and a learner whose Kafka is
// not there yet: they serve HTTP, say what they wait for, score from the
// default model, refuse outcomes with Retry-After, and become ready by
// themselves once a broker listens on the address.
func TestStartBeforeKafka(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the broker binds the reserved address: Linux's SO_REUSEADDR")
	}
	kafkaAddr := situtest.ReserveAddr(t) // refuses connections; the broker binds it later
	apiProc := situtest.Start(t, situBin, "--role", "api", "--kafka-brokers", kafkaAddr, "--data-dir", t.TempDir())
	learner := situtest.Start(t, situBin, "--role", "learner", "--kafka-brokers", kafkaAddr)

	for _, p := range []*situtest.Process{apiProc, learner} {
		status, _ := p.Get(t, "/healthz")
		require.Equal(t, http.StatusOK, status)
		var msg string
		require.Eventually(t, func() bool {
			status, body := p.Get(t, "/readyz")
			require.Equal(t, http.StatusServiceUnavailable, status, "%s", body)
			var problem contract.Problem
			require.NoError(t, json.Unmarshal(body, &problem), "%s", body)
			require.Equal(t, "not_ready", problem.Error.Code)
			msg = problem.Error.Message
			return strings.Contains(msg, "(attempt ")
		}, 10*time.Second, 20*time.Millisecond)
		require.Regexp(t, `^waiting for Kafka at `+regexp.QuoteMeta(kafkaAddr)+`: dial tcp `+regexp.QuoteMeta(kafkaAddr)+`: .*connection refused \(attempt [1-9][0-9]*, next in [0-9.]+m?s\)$`, msg)
	}

	// Scoring never waits for Kafka.
	var answer contract.ScoreResponse
	require.Equal(t, http.StatusOK, apiProc.Post(t, "/v1/score", json.RawMessage(situtest.ContractBody), &answer))
	require.NotEmpty(t, answer.Treatment)
	// An outcome cannot be written: 503 at once, with Retry-After.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := client.Post(apiProc.URL+"/v1/outcomes", "application/json", strings.NewReader(
		`{"outcome_id":"o-1","decision_id":"`+answer.DecisionID+`","resolved":true,"occurred_at":"2026-11-22T10:00:00Z"}`))
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	require.NotEmpty(t, res.Header.Get("Retry-After"))

	broker := situtest.Serve(t, situBin, "--role", "broker", "--broker-addr", kafkaAddr, "--data-dir", t.TempDir())
	require.Equal(t, kafkaAddr, broker.BrokerAddr)
	// The backoff is capped at 30 s; the first attempts come sooner.
	apiProc.WaitReady(t, 45*time.Second)
	learner.WaitReady(t, 45*time.Second)
	require.Equal(t, http.StatusOK, apiProc.Post(t, "/v1/score", json.RawMessage(situtest.ContractBody), &answer))
}
