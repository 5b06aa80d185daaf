package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"situ/api/contract"
	"situ/internal/situtest"
)

// situBin is the situ binary, built once for the tests that run it as a
// process (startup_test.go).
var situBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "situ-cmd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if situBin, err = situtest.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "build situ:", err)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		_ = os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServeFlagsAndEnvironment(t *testing.T) {
	cases := []struct {
		name     string
		env      map[string]string
		args     []string
		wantErr  string
		wantAddr string
		check    func(t *testing.T, o serveOptions)
	}{
		{name: "defaults", wantAddr: "127.0.0.1:8080", check: func(t *testing.T, o serveOptions) {
			require.Equal(t, "squarecb", o.explorer)
			require.False(t, o.uniform)
			require.Equal(t, "info", o.logLevel.String())
			require.Equal(t, 0.05, o.epsilon.or(0.05))
		}},
		{name: "environment", env: map[string]string{"SITU_ADDR": "0.0.0.0:9000", "SITU_UNIFORM": "true", "SITU_LOG_LEVEL": "warn", "SITU_EPSILON": "0.2"},
			wantAddr: "0.0.0.0:9000", check: func(t *testing.T, o serveOptions) {
				require.True(t, o.uniform)
				require.Equal(t, "warn", o.logLevel.String())
				require.Equal(t, 0.2, o.epsilon.or(0.05))
			}},
		{name: "flag wins over environment", env: map[string]string{"SITU_ADDR": "0.0.0.0:9000"}, args: []string{"--addr", "127.0.0.1:9001"}, wantAddr: "127.0.0.1:9001"},
		{name: "bad environment value names the variable", env: map[string]string{"SITU_UNIFORM": "maybe"}, wantErr: `SITU_UNIFORM="maybe": invalid value for --uniform`},
		{name: "bad log level", args: []string{"--log-level", "loud"}, wantErr: "log-level"},
		{name: "unknown flag", args: []string{"--colour", "red"}, wantErr: "colour"},
		{name: "stray argument", args: []string{"now"}, wantErr: "takes no arguments"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var opts serveOptions
			fs := newFlagSet("serve", serveSynopsis, io.Discard)
			opts.register(fs)
			err := fs.parse(tc.args)
			if tc.wantErr != "" {
				require.ErrorIs(t, err, errUsage)
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantAddr, opts.addr)
			if tc.check != nil {
				tc.check(t, opts)
			}
		})
	}
}

func TestHelpListsEveryFlagWithEnvAndDefault(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"serve", "--help"}, io.Discard, &out)
	require.ErrorIs(t, err, flag.ErrHelp)
	for _, want := range []string{
		"--addr HOST:PORT", "env SITU_ADDR, default 127.0.0.1:8080",
		"env SITU_UNIFORM, default false", "env SITU_EXPLORER, default squarecb",
		"env SITU_EPSILON, default 0.02 for squarecb", "env SITU_TRUSTED_PROXIES, default none",
		"env SITU_SCHEMA, default the embedded schema", "env SITU_LOG_LEVEL, default info",
	} {
		require.Contains(t, out.String(), want)
	}
}

func TestCommandDispatch(t *testing.T) {
	ctx := context.Background()
	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"help"}, &out, io.Discard))
	for _, c := range commands() {
		require.Contains(t, out.String(), c.name)
	}
	out.Reset()
	require.NoError(t, run(ctx, []string{"version"}, &out, io.Discard))
	require.True(t, strings.HasPrefix(out.String(), "situ "))

	require.ErrorIs(t, run(ctx, nil, io.Discard, io.Discard), errUsage)
	err := run(ctx, []string{"bogus"}, io.Discard, io.Discard)
	require.ErrorIs(t, err, errUsage)
	require.ErrorContains(t, err, `unknown command "bogus"`)
}

// startServe runs `situ serve args…` and returns the address it listens
// on, its log and a function that stops it and returns run's error.
func startServe(t *testing.T, args ...string) (addr string, logs *syncBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs = &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--broker-addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, args...), io.Discard, logs)
	}()
	stop = func() error { cancel(); return <-done }
	require.Eventually(t, func() bool {
		for _, line := range strings.Split(logs.String(), "\n") {
			var entry struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "situ serving" {
				addr = entry.Addr
				return true
			}
		}
		select {
		case err := <-done:
			t.Fatalf("situ serve stopped: %v\n%s", err, logs.String())
		default:
		}
		return false
	}, 5*time.Second, 10*time.Millisecond)
	return addr, logs, stop
}

var contractExample = situtest.ContractBody

// TestServeEndToEnd starts the binary's serve command, scores over HTTP,
// reads the metrics and stops it as SIGTERM would.
func TestServeEndToEnd(t *testing.T) {
	addr, logs, stop := startServe(t, "--uniform", "--seed", "7")
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	res, err := client.Post("http://"+addr+"/v1/score", "application/json", strings.NewReader(contractExample))
	require.NoError(t, err)
	var answer contract.ScoreResponse
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.NoError(t, json.NewDecoder(res.Body).Decode(&answer))
	res.Body.Close()
	require.Equal(t, "fast_resolution", answer.Treatment)
	require.True(t, answer.Policy.Uniform, "--uniform switches uniform mode on")

	res, err = client.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	metrics, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	require.Contains(t, string(metrics), `situ_decisions_total{treatment="fast_resolution"} 1`)
	require.Contains(t, string(metrics), "go_goroutines", "runtime metrics are registered")

	require.NoError(t, stop())
	require.Contains(t, logs.String(), `"msg":"component stopped","component":"http"`)
	require.NotContains(t, logs.String(), "c-1842", "no customer id in the logs")
}

func TestServeRefusesBadConfiguration(t *testing.T) {
	dir := t.TempDir()
	badPolicy := filepath.Join(dir, "policy.yaml")
	require.NoError(t, os.WriteFile(badPolicy, []byte("version: 1\nfloor: {human_escape: true}\nrules:\n  - id: broken\n    when: friction.nope >\n    exclude: [self_service]\n"), 0o644))
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()

	cases := []struct {
		name    string
		args    []string
		wantErr string
		usage   bool
	}{
		{"missing policy file", []string{"--policy", filepath.Join(dir, "nope.yaml")}, "policy: open", false},
		{"policy that does not compile", []string{"--policy", badPolicy}, `rule "broken"`, false},
		{"unknown explorer", []string{"--explorer", "thompson"}, "--explorer must be squarecb or epsilon-greedy", true},
		{"epsilon out of range", []string{"--epsilon", "1.5"}, "epsilon must be in [0, 1)", false},
		{"address in use", []string{"--addr", busy.Addr().String()}, "listen on " + busy.Addr().String(), false},
		{"unknown role", []string{"--role", "oracle"}, "--role must be all, api, learner or broker", true},
		{"broker role with brokers", []string{"--role", "broker", "--kafka-brokers", "127.0.0.1:1"}, "takes no --kafka-brokers", true},
		{"api role without brokers", []string{"--role", "api"}, "needs --kafka-brokers", true},
		{"no partitions", []string{"--partitions", "0"}, "--partitions, --decision-queue and --max-pending must be at least 1", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--broker-addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, tc.args...)
			err := run(context.Background(), args, io.Discard, io.Discard)
			require.ErrorContains(t, err, tc.wantErr)
			require.Equal(t, tc.usage, errors.Is(err, errUsage))
		})
	}
}
