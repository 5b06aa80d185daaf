// Package situtest holds what situ's tests share: a reproducible scoring
// engine and the contract example (engine.go), and, for end-to-end tests,
// the situ binary (situtest.go): it builds it, starts `situ serve`
// processes on ports the kernel picks (127.0.0.1:0) and learns the bound
// addresses from their logs, waits until they are ready, stops or kills
// them, and speaks JSON to them over HTTP. Only tests import it.
package situtest

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Build compiles situ/cmd/situ into dir and returns the binary's path;
// extra arguments go to `go build` before the package (e.g. -ldflags).
func Build(dir string, extra ...string) (string, error) {
	bin := dir + "/situ"
	args := append(append([]string{"build", "-o", bin}, extra...), "situ/cmd/situ")
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return bin, cmd.Run()
}

// BuildTemp is Build into a new temporary folder, for a TestMain: it
// returns the binary and a function that removes the folder. When either
// fails it says why on stderr and exits.
func BuildTemp(prefix string, extra ...string) (bin string, remove func()) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	remove = func() { _ = os.RemoveAll(dir) }
	if bin, err = Build(dir, extra...); err != nil {
		fmt.Fprintln(os.Stderr, "build situ:", err)
		remove()
		os.Exit(1)
	}
	return bin, remove
}

// ReserveAddr returns a loopback address that refuses connections until
// the test ends: a socket bound to a port the kernel picked, with
// SO_REUSEADDR, that never listens. No other socket gets the port, yet on
// Linux a listener with SO_REUSEADDR (every Go listener) may still bind it:
// a test can point a process at a broker that is not there yet, then start
// the broker on that address, without a window in which another process
// could take the port.
func ReserveAddr(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = syscall.Close(fd) })
	require.NoError(t, syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1))
	require.NoError(t, syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	sa, err := syscall.Getsockname(fd)
	require.NoError(t, err)
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
}

// client keeps no idle connections, so nothing outlives a test.
var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// Process is a running `situ serve`.
type Process struct {
	// Addr is the address its HTTP API is bound to, URL its base URL
	// (http://HOST:PORT).
	Addr, URL string
	// BrokerAddr is the address of its embedded broker (roles all and
	// broker without --kafka-brokers); empty when it runs none.
	BrokerAddr string
	args       []string
	cmd        *exec.Cmd
	out        *lockedBuffer
	done       chan struct{}
}

// Serve runs `bin serve --addr 127.0.0.1:0` with args, without the SITU_*
// variables of the test's environment, and waits up to 20 s until /readyz
// answers 200. Pass --broker-addr 127.0.0.1:0 for an embedded broker on a
// port of the kernel's choice; Process.BrokerAddr is where it listens. When the test ends the process gets SIGTERM (and
// SIGKILL 15 s later); its output is logged if the test failed.
func Serve(t testing.TB, bin string, args ...string) *Process {
	t.Helper()
	p := Start(t, bin, args...)
	p.WaitReady(t, 20*time.Second)
	return p
}

// Start is Serve without the wait for readiness: it returns once /healthz
// answers 200 (the process serves HTTP), and fails the test if the
// process exits first.
func Start(t testing.TB, bin string, args ...string) *Process {
	t.Helper()
	p, err := TryStart(t, bin, args...)
	require.NoError(t, err)
	return p
}

// TryStart is Start returning an error, with the process's output, when the
// process exits before it serves HTTP (a refusal the test expects).
func TryStart(t testing.TB, bin string, args ...string) (*Process, error) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-level", "info"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SITU_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	p := &Process{args: args, cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	require.NoError(t, cmd.Start())
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop(t)
		if t.Failed() {
			t.Logf("situ serve %s output:\n%s", strings.Join(args, " "), tail(p.out.String(), 8000))
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if p.Addr == "" {
			p.Addr, p.BrokerAddr = boundAddrs(p.out.String())
			p.URL = "http://" + p.Addr
		}
		if p.Addr != "" {
			if status, _ := p.Get(t, "/healthz"); status == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("situ serve %s exited (%s) before it served HTTP:\n%s", strings.Join(args, " "), cmd.ProcessState, p.out.String())
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("situ serve %s did not serve HTTP within 20s:\n%s", strings.Join(args, " "), p.out.String())
		}
	}
}

// boundAddrs reads the addresses a situ serve process is bound to from its
// JSON log lines: the HTTP API's from "situ serving" (logged once its
// listener is bound; empty until then), the embedded broker's from
// "embedded Kafka-compatible broker started" (empty when it runs none),
// never from the lines of its child processes.
func boundAddrs(logs string) (httpAddr, brokerAddr string) {
	for _, line := range strings.Split(logs, "\n") {
		var entry struct {
			Child  string `json:"child"`
			Logger string `json:"logger"`
			Msg    string `json:"msg"`
			Addr   string `json:"addr"`
		}
		// Lines with a child field come from the process's child processes.
		if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &entry) != nil || entry.Logger != "serve" || entry.Child != "" {
			continue
		}
		switch {
		case entry.Msg == "situ serving":
			httpAddr = entry.Addr
		case strings.HasPrefix(entry.Msg, "embedded Kafka-compatible broker started"):
			brokerAddr = entry.Addr
		}
	}
	if httpAddr == "" {
		return "", ""
	}
	return httpAddr, brokerAddr
}

// WaitReady waits up to timeout until /readyz answers 200, and fails the
// test if the process exits or the time runs out first.
func (p *Process) WaitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		status, body := p.Get(t, "/readyz")
		if status == http.StatusOK {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("situ serve %s exited before it was ready:\n%s", strings.Join(p.args, " "), p.out.String())
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("situ serve %s not ready within %s (last /readyz: %d %s):\n%s", strings.Join(p.args, " "), timeout, status, body, p.out.String())
		}
	}
}

// PID returns the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Output returns what the process wrote to stdout and stderr so far.
func (p *Process) Output() string { return p.out.String() }

// Kill ends the process with SIGKILL: no clean shutdown.
func (p *Process) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop ends the process with SIGTERM and waits for it; after 15 s it kills
// it and fails the test.
func (p *Process) Stop(t testing.TB) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Errorf("situ serve %s did not stop within 15s of SIGTERM", strings.Join(p.args, " "))
		p.Kill()
	}
}

// Get returns the status and body of GET path (status 0: no answer).
func (p *Process) Get(t testing.TB, path string) (int, []byte) {
	t.Helper()
	resp, err := client.Get(p.URL + path)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, body
}

// Post posts body as JSON to path and decodes the answer into out (if
// not nil); it returns the status.
func (p *Process) Post(t testing.TB, path string, body any, out any) int {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	resp, err := client.Post(p.URL+path, "application/json", bytes.NewReader(b))
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil {
		require.NoError(t, json.Unmarshal(data, out), "answer: %s", data)
	}
	return resp.StatusCode
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

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// UUIDv7 writes into buf, and returns, a UUIDv7-shaped id of time at
// whose other bits come from seq: ids as situ's decisions carry them, made
// by the million without allocating more than the string.
func UUIDv7(buf *[36]byte, at time.Time, seq uint64) string {
	var raw [16]byte
	binary.BigEndian.PutUint64(raw[0:8], uint64(at.UnixMilli())<<16|0x7000|seq>>48&0x0fff)
	binary.BigEndian.PutUint64(raw[8:16], 0x8000000000000000|seq*0x9E3779B97F4A7C15>>2)
	hex.Encode(buf[0:8], raw[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], raw[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], raw[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], raw[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:36], raw[10:16])
	return string(buf[:])
}
