package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"situ/feedback"
)

// httpClient keeps no idle connections, so nothing outlives a test.
var httpClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// startBroker starts an embedded Kafka-compatible broker on a free
// loopback port, as the Kafka cluster of a production layout.
func startBroker(t *testing.T) *feedback.EmbeddedBroker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := feedback.StartEmbeddedBroker(ctx, feedback.BrokerConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Logger: zap.NewNop()})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return b
}

// situProcess is a running `situ serve`.
type situProcess struct {
	url  string // http://HOST:PORT
	out  *lockedBuffer
	done chan struct{}
}

// startServe runs `situ serve` with args on a free loopback address, with
// no SITU_* variable from the test's environment, and waits until /readyz
// answers 200. The process is stopped (SIGTERM) when the test ends.
func startServe(t *testing.T, args ...string) *situProcess {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(situBin, append([]string{"serve", "--addr", addr, "--log-level", "warn"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SITU_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	p := &situProcess{url: "http://" + addr, out: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	require.NoError(t, cmd.Start())
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			t.Errorf("situ %s did not stop within 15s of SIGTERM", strings.Join(args, " "))
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("situ serve %s output:\n%s", strings.Join(args, " "), p.out.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if status, _ := p.get(t, "/readyz"); status == http.StatusOK {
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("situ serve %s exited before it was ready:\n%s", strings.Join(args, " "), p.out.String())
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("situ serve %s not ready within 15s:\n%s", strings.Join(args, " "), p.out.String())
		}
	}
}

// get returns the status and body of GET path (status 0: no answer).
func (p *situProcess) get(t *testing.T, path string) (int, []byte) {
	t.Helper()
	resp, err := httpClient.Get(p.url + path)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, body
}

// post posts body as JSON and decodes the answer into out (if not nil).
func (p *situProcess) post(t *testing.T, path string, body any, out any) int {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	resp, err := httpClient.Post(p.url+path, "application/json", bytes.NewReader(b))
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil {
		require.NoError(t, json.Unmarshal(data, out), "answer: %s", data)
	}
	return resp.StatusCode
}

// freeAddr returns a loopback address whose port was free just now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
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
