package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"situ/feedback"
)

// situBin is the situ binary built for the tests.
var situBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "situ-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	situBin = filepath.Join(dir, "situ")
	build := exec.Command("go", "build", "-o", situBin, "situ/cmd/situ")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build situ:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// startBroker starts an embedded broker on a free loopback port with
// situ's topics.
func startBroker(t *testing.T, partitions int) *feedback.EmbeddedBroker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := feedback.StartEmbeddedBroker(ctx, feedback.BrokerConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Logger: zap.NewNop()})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	topics := feedback.TopicsConfig{DecisionPartitions: partitions, OutcomePartitions: partitions}.WithDefaults()
	require.NoError(t, feedback.EnsureTopics(ctx, b.Brokers(), topics))
	return b
}

// freeAddr returns a loopback address with a port that was free just now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// process is a running situ process.
type process struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	out  *lockedBuffer
	done chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startSitu runs `situ serve` with args on a free address and waits until
// /readyz answers 200.
func startSitu(t *testing.T, args ...string) *process {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(situBin, append([]string{"serve", "--addr", addr, "--log-level", "warn"}, args...)...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=2")
	p := &process{t: t, cmd: cmd, addr: addr, out: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	require.NoError(t, cmd.Start())
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("situ %s output:\n%s", strings.Join(args, " "), tail(p.out.String(), 4000))
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(p.url("/readyz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("situ exited before it was ready:\n%s", p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("situ not ready within 20s:\n%s", p.out.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func (p *process) url(path string) string { return "http://" + p.addr + path }

// kill ends the process with SIGKILL: no clean shutdown.
func (p *process) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop ends the process with SIGTERM and waits for it.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.t.Errorf("situ did not stop within 20s of SIGTERM")
		p.kill()
	}
}

// postJSON posts body and decodes the JSON answer into out.
func postJSON(t *testing.T, url string, body any, out any) int {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil {
		require.NoError(t, json.Unmarshal(data, out), "answer: %s", data)
	}
	return resp.StatusCode
}
