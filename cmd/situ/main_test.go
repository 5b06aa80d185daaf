package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	var remove func()
	situBin, remove = situtest.BuildTemp("situ-cmd-")
	goleak.VerifyTestMain(dataDirGuard{m}, goleak.Cleanup(func(code int) {
		remove()
		os.Exit(code)
	}))
}

// defaultDataDir is situ serve's default --data-dir.
const defaultDataDir = ".situ"

// dataDirGuard fails the run when a test left the default data dir
// (.situ, relative to the working directory: this package's folder) behind:
// every test that starts situ serve passes --data-dir t.TempDir().
type dataDirGuard struct{ m *testing.M }

func (g dataDirGuard) Run() int {
	_, err := os.Stat(defaultDataDir)
	existed := err == nil
	code := g.m.Run()
	if _, err := os.Stat(defaultDataDir); err == nil && !existed {
		fmt.Fprintf(os.Stderr, "a test wrote %s into %s: start situ serve with --data-dir t.TempDir()\n", defaultDataDir, mustGetwd())
		_ = os.RemoveAll(defaultDataDir)
		return 1
	}
	return code
}

func mustGetwd() string {
	wd, _ := os.Getwd()
	return wd
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
		{name: "stray argument", args: []string{"now"}, wantErr: `unexpected argument "now"`},
		{name: "exploration seed from the environment", env: map[string]string{"SITU_EXPLORATION_SEED": "9"}, wantAddr: "127.0.0.1:8080",
			check: func(t *testing.T, o serveOptions) { require.Equal(t, uint64(9), o.seed) }},
		{name: "exploration seed flag", args: []string{"--exploration-seed", "11"}, wantAddr: "127.0.0.1:8080",
			check: func(t *testing.T, o serveOptions) { require.Equal(t, uint64(11), o.seed) }},
		{name: "no ambiguous --seed", args: []string{"--seed", "7"}, wantErr: "flag provided but not defined: -seed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var opts serveOptions
			if !parseCommandFlags(t, "serve", serveSynopsis, opts.register, tc.env, tc.args, tc.wantErr) {
				return
			}
			require.Equal(t, tc.wantAddr, opts.addr)
			if tc.check != nil {
				tc.check(t, opts)
			}
		})
	}
}

func TestSimFlagsAndEnvironment(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
		want    uint64
	}{
		{name: "default population seed", want: 1},
		{name: "population seed from the environment", env: map[string]string{"SITU_POPULATION_SEED": "5"}, want: 5},
		{name: "population seed flag wins", env: map[string]string{"SITU_POPULATION_SEED": "5"}, args: []string{"--population-seed", "6"}, want: 6},
		{name: "bad population seed names the flag", args: []string{"--population-seed", "-1"}, wantErr: "-population-seed"},
		{name: "no ambiguous --seed", args: []string{"--seed", "7"}, wantErr: "flag provided but not defined: -seed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var opts simOptions
			if !parseCommandFlags(t, "sim", simSynopsis, opts.register, tc.env, tc.args, tc.wantErr) {
				return
			}
			require.Equal(t, tc.want, opts.seed)
		})
	}
}

// parseCommandFlags sets env and parses args with the flag set of command
// and the flags register adds. With wantErr it requires a usage error
// holding it and reports false; else it requires no error and reports
// true.
func parseCommandFlags(t *testing.T, command, synopsis string, register func(*flagSet), env map[string]string, args []string, wantErr string) bool {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	fs := newFlagSet(command, synopsis, io.Discard)
	register(fs)
	err := fs.parse(args)
	if wantErr != "" {
		require.ErrorIs(t, err, errUsage)
		require.ErrorContains(t, err, wantErr)
		return false
	}
	require.NoError(t, err)
	return true
}

func TestHelpListsEveryFlagWithEnvAndDefault(t *testing.T) {
	var out bytes.Buffer
	require.Zero(t, runMain(context.Background(), []string{"serve", "--help"}, &out, io.Discard))
	for _, want := range []string{
		"--addr HOST:PORT", "env SITU_ADDR, default 127.0.0.1:8080",
		"env SITU_UNIFORM, default false", "env SITU_EXPLORER, default squarecb",
		"env SITU_EPSILON, default 0.01 for squarecb", "env SITU_DRAIN_TIMEOUT, default 10s",
		"env SITU_SCHEMA, default the embedded schema", "env SITU_LOG_LEVEL, default info",
		"--exploration-seed", "env SITU_EXPLORATION_SEED, default 0",
	} {
		require.Contains(t, out.String(), want)
	}
}

// TestCommandLine runs situ as a user would and checks what lands on
// stdout and stderr and the exit status: help on stdout with status 0;
// a usage error as the error and one line pointing at the help on
// stderr, status 2.
func TestCommandLine(t *testing.T) {
	cases := []struct {
		name       string
		env        map[string]string
		args       []string
		wantCode   int
		wantStdout []string // each must appear; none when nil: stdout empty
		wantStderr string   // exact; "" means empty unless stderrHas is set
		stderrHas  []string
	}{
		{name: "help", args: []string{"help"}, wantStdout: []string{"Usage: situ <command>", "serve", "sim", "version"}},
		{name: "--help", args: []string{"--help"}, wantStdout: []string{"Usage: situ <command>", "serve"}},
		{name: "-h", args: []string{"-h"}, wantStdout: []string{"Usage: situ <command>"}},
		{name: "serve --help", args: []string{"serve", "--help"}, wantStdout: []string{"Usage: situ serve [flags]", "--broker-addr HOST:PORT"}},
		{name: "serve -h", args: []string{"serve", "-h"}, wantStdout: []string{"Usage: situ serve [flags]"}},
		{name: "sim --help", args: []string{"sim", "--help"}, wantStdout: []string{"Usage: situ sim [flags]", "--population-seed", "env SITU_POPULATION_SEED, default 1"}},
		{name: "help serve", args: []string{"help", "serve"}, wantStdout: []string{"Usage: situ serve [flags]"}},
		{name: "version", args: []string{"version"}, wantStdout: []string{"situ "}},
		{name: "no command lists the commands on stderr", wantCode: 2,
			stderrHas: []string{"Usage: situ <command>", "serve", "situ: a command is required"}},
		{name: "unknown command", args: []string{"bogus"}, wantCode: 2,
			wantStderr: "situ: unknown command \"bogus\"\nRun 'situ help' for the commands.\n"},
		{name: "help for an unknown command", args: []string{"help", "bogus"}, wantCode: 2,
			wantStderr: "situ help: no command \"bogus\"\nRun 'situ help' for the commands.\n"},
		{name: "unknown serve flag", args: []string{"serve", "-adr", "x"}, wantCode: 2,
			wantStderr: "situ serve: flag provided but not defined: -adr\nRun 'situ serve --help' for the flags.\n"},
		{name: "no --trusted-proxies: nothing reads the client address", args: []string{"serve", "--trusted-proxies", "10.0.0.0/8"}, wantCode: 2,
			wantStderr: "situ serve: flag provided but not defined: -trusted-proxies\nRun 'situ serve --help' for the flags.\n"},
		{name: "bad sim value", args: []string{"sim", "--contacts", "many"}, wantCode: 2,
			wantStderr: "situ sim: invalid value \"many\" for flag -contacts: parse error\nRun 'situ sim --help' for the flags.\n"},
		{name: "bad environment value", env: map[string]string{"SITU_UNIFORM": "maybe"}, args: []string{"serve"}, wantCode: 2,
			wantStderr: "situ serve: SITU_UNIFORM=\"maybe\": invalid value for --uniform: parse error\nRun 'situ serve --help' for the flags.\n"},
		{name: "bad value found after parsing", args: []string{"serve", "--role", "oracle", "--data-dir", t.TempDir()}, wantCode: 2,
			wantStderr: "situ serve: --role must be all, api, learner or broker, got \"oracle\"\nRun 'situ serve --help' for the flags.\n"},
		{name: "configuration the simulation refuses", args: []string{"sim", "--contacts", "0"}, wantCode: 2,
			stderrHas: []string{"situ sim: simulation: contacts must be positive, got 0\nRun 'situ sim --help' for the flags.\n"}},
		{name: "stray argument", args: []string{"sim", "now"}, wantCode: 2,
			wantStderr: "situ sim: unexpected argument \"now\": situ sim takes only flags\nRun 'situ sim --help' for the flags.\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := runMain(context.Background(), tc.args, &stdout, &stderr)
			require.Equal(t, tc.wantCode, code, "stderr: %s", stderr.String())
			if tc.wantStdout == nil {
				require.Empty(t, stdout.String())
			}
			for _, want := range tc.wantStdout {
				require.Contains(t, stdout.String(), want)
			}
			if tc.stderrHas == nil {
				require.Equal(t, tc.wantStderr, stderr.String())
			}
			for _, want := range tc.stderrHas {
				require.Contains(t, stderr.String(), want)
			}
		})
	}
}

// TestServeAddressInUseNamesTheFlag starts situ serve on a port another
// process holds: the error says which flag moves which listener.
func TestServeAddressInUseNamesTheFlag(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	addr := busy.Addr().String()
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	next := "127.0.0.1:" + strconv.Itoa(p+1)

	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"embedded broker", []string{"--broker-addr", addr, "--addr", "127.0.0.1:0"},
			[]string{"address already in use", "--broker-addr " + next, "SITU_BROKER_ADDR", "make run BROKER_ADDR=" + next}},
		{"HTTP API", []string{"--broker-addr", "127.0.0.1:0", "--addr", addr},
			[]string{"listen on " + addr, "address already in use", "--addr " + next, "SITU_ADDR", "make run ADDR=" + next}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"serve", "--data-dir", t.TempDir(), "--log-level", "error"}, tc.args...)
			require.Equal(t, 1, runMain(context.Background(), args, &stdout, &stderr))
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			require.Len(t, lines, 2, "the error and the hint: %s", stderr.String())
			require.True(t, strings.HasPrefix(lines[0], "situ serve: "), lines[0])
			for _, want := range tc.want {
				require.Contains(t, stderr.String(), want)
			}
		})
	}
}

// TestMakefileFrontDoor checks the repository's Makefile: make help shows
// the variables' values (never a literal $(VAR)), and make run passes
// ADDR, BROKER_ADDR and DATA_DIR to flags situ serve accepts.
func TestMakefileFrontDoor(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	root := filepath.Join("..", "..")
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"help with the defaults", []string{"help"},
			[]string{"run the service on 127.0.0.1:8080: embedded broker on 127.0.0.1:9092, topics in .situ", "for 30s", "BROKER_ADDR   127.0.0.1:9092", "DATA_DIR      .situ"}},
		{"help with values set", []string{"help", "ADDR=127.0.0.1:8181", "BROKER_ADDR=127.0.0.1:9193", "DATA_DIR=/tmp/d", "FUZZTIME=5s"},
			[]string{"run the service on 127.0.0.1:8181: embedded broker on 127.0.0.1:9193, topics in /tmp/d", "for 5s", "ADDR          127.0.0.1:8181"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command("make", append([]string{"-s", "-C", root}, tc.args...)...).CombinedOutput()
			require.NoError(t, err, "%s", out)
			require.NotContains(t, string(out), "$(", "a variable printed unexpanded")
			for _, want := range tc.want {
				require.Contains(t, string(out), want)
			}
		})
	}

	t.Run("run passes flags situ serve accepts", func(t *testing.T) {
		out, err := exec.Command("make", "-s", "-C", root, "-n", "run", "ADDR=127.0.0.1:8181", "BROKER_ADDR=127.0.0.1:9193", "DATA_DIR=/tmp/d").CombinedOutput()
		require.NoError(t, err, "%s", out)
		line := strings.TrimSpace(string(out))
		require.Contains(t, line, "serve --addr 127.0.0.1:8181 --broker-addr 127.0.0.1:9193 --data-dir /tmp/d")
		_, flags, ok := strings.Cut(line, " serve ")
		require.True(t, ok, line)
		var stdout, stderr bytes.Buffer
		require.Zero(t, runMain(context.Background(), append([]string{"serve"}, append(strings.Fields(flags), "--help")...), &stdout, &stderr), stderr.String())
	})
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
		// In this process: a child process would be the test binary.
		done <- run(ctx, append([]string{"serve", "--single-process", "--addr", "127.0.0.1:0", "--broker-addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, args...), io.Discard, logs)
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
	addr, logs, stop := startServe(t, "--uniform", "--exploration-seed", "7")
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

// TestSimPlotNamesSituPlot: situ sim draws no plot; --plot is refused
// before any contact is played, with the command that draws one.
func TestSimPlotNamesSituPlot(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := runMain(context.Background(), []string{"sim", "--plot", "out/sim.png", "--json", "out/sim.json"}, &stdout, &stderr)
	require.Equal(t, 2, code, "stderr: %s", stderr.String())
	require.Empty(t, stdout.String())
	require.Contains(t, stderr.String(), "situ sim: --plot: situ sim draws no plot\n")
	require.Contains(t, stderr.String(), "go run ./cmd/situ-plot --out out/sim.png FILE")
}

// TestSimFailsWhenNothingIsLearned plays situ sim against a real situ
// serve with --kafka-brokers pointing at a closed port (no outcome
// reaches a learner), and against a closed port instead of situ (no
// contact is served): situ sim exits 1, writes no report and says why
// once, with the flag to fix.
func TestSimFailsWhenNothingIsLearned(t *testing.T) {
	addr, _, stop := startServe(t)
	defer func() { require.NoError(t, stop()) }()
	deadAddr := situtest.ReserveAddr(t) // nothing listens there

	cases := []struct {
		name, url, brokers string
		once               string
		want               []string
	}{
		{name: "unreachable broker", url: "http://" + addr, brokers: deadAddr, once: "outcomes not published",
			want: []string{"situ sim: simulation: outcomes not published: ", "(the first failed with: ", deadAddr + " (--kafka-brokers, SITU_KAFKA_BROKERS)"}},
		{name: "unreachable situ", url: "http://" + deadAddr, brokers: deadAddr, once: "no contact served",
			want: []string{"situ sim: no contact served: the last failure: ", "connection refused", "http://" + deadAddr + " (--url, SITU_URL)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runMain(context.Background(), []string{"sim", "--url", tc.url, "--kafka-brokers", tc.brokers,
				"--contacts", "300", "--concurrency", "2"}, &stdout, &stderr)
			require.Equal(t, 1, code, "stderr: %s", stderr.String())
			require.Empty(t, stdout.String(), "no report")
			require.Equal(t, 1, strings.Count(stderr.String(), tc.once), stderr.String())
			for _, want := range tc.want {
				require.Contains(t, stderr.String(), want)
			}
		})
	}
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
		{"no partitions", []string{"--partitions", "0"}, "--partitions, --decision-queue, --max-pending and --max-late must be at least 1", true},
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
