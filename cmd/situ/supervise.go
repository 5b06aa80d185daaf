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
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"situ/internal/backoff"
)

// The environment variables through which a supervising situ serve hands
// a child process what it opened for it: the descriptor numbers (3 and
// up, os/exec ExtraFiles) of the child's HTTP listener, of the embedded
// broker's listener and of the data dir's lock file.
const (
	envHTTPFD   = "SITU_FD_HTTP"
	envBrokerFD = "SITU_FD_BROKER"
	envLockFD   = "SITU_FD_DATADIR_LOCK"
)

// inheritedFile returns the descriptor a supervising parent passed in the
// environment variable env, or nil when there is none.
func inheritedFile(env string) (*os.File, error) {
	v, ok := os.LookupEnv(env)
	if !ok {
		return nil, nil
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q: not a file descriptor passed by a parent process", env, v)
	}
	return os.NewFile(uintptr(fd), env), nil
}

// inheritedListener returns the listener a supervising parent passed in
// env, or nil when there is none.
func inheritedListener(env string) (net.Listener, error) {
	f, err := inheritedFile(env)
	if f == nil || err != nil {
		return nil, err
	}
	defer f.Close() // FileListener dups it
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", env, err)
	}
	return ln, nil
}

// childSpec is a process the supervisor keeps running: the same binary
// with other flags.
type childSpec struct {
	// name names the child in logs, readiness and metrics: broker, learner.
	name string
	args []string
	// files are passed as descriptors 3, 4 … (their numbers go to the
	// child in env); the supervisor keeps them open across restarts, so a
	// restarted child listens on the same ports.
	files []*os.File
	env   []string
	// http is the address of the child's health server (/healthz, /readyz).
	http string
	// nice is the child's nice value: above 0, it gives way to the API when
	// they compete for the CPU.
	nice int
}

// supervisor runs situ serve's child processes (role all: the embedded
// broker and the learner in processes of their own, so that their heaps
// and collections leave the API's latency alone). Each child starts in
// order once the one before is ready, is health-checked, and is restarted
// with capped exponential backoff when it exits or stops answering. The
// children run in process groups of their own (a Ctrl-C reaches only the
// parent, which stops them in order) and, on Linux, die with the parent
// (Pdeathsig), so that even a SIGKILLed parent leaves none behind. Their
// output is merged into the parent's stderr, each JSON line with a field
// "child" naming it.
type supervisor struct {
	exe      string
	children []*child
	log      *zap.Logger
	out      io.Writer
	// stopTimeout is how long a child may take to stop after SIGTERM
	// before it is killed.
	stopTimeout time.Duration
	restart     backoff.Policy
	// healthEvery paces the health checks; a child that fails
	// healthFailures in a row is killed and restarted.
	healthEvery    time.Duration
	healthFailures int

	// closeFiles closes the descriptors kept for the children, after stop.
	closeFiles func()

	outMu    sync.Mutex
	stopping chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// child is the state of one supervised process.
type child struct {
	spec childSpec

	mu   sync.Mutex
	proc *os.Process
	// gen counts the child's starts: a health check of an earlier
	// process must not mark a later one ready.
	gen      int
	ready    bool
	last     string // why it is not ready
	restarts int
	// readyOnce is closed when the child is ready for the first time.
	readyOnce chan struct{}
}

func newSupervisor(log *zap.Logger, out io.Writer, stopTimeout time.Duration, specs ...childSpec) *supervisor {
	s := &supervisor{
		log: log.Named("supervisor"), out: out, stopTimeout: stopTimeout,
		restart:     backoff.Policy{First: 200 * time.Millisecond, Max: 10 * time.Second},
		healthEvery: time.Second, healthFailures: 5,
		stopping: make(chan struct{}),
	}
	for _, spec := range specs {
		s.children = append(s.children, &child{spec: spec, last: "starting", readyOnce: make(chan struct{})})
	}
	return s
}

// run starts the children, each once the one before it is ready, and
// returns once ctx ends; the children keep running until stop, so that
// they outlive the components that need them while those stop.
func (s *supervisor) run(ctx context.Context) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("supervise child processes: %w", err)
	}
	if strings.HasSuffix(exe, ".test") {
		// A test binary started again would run the tests, not situ.
		return fmt.Errorf("%w: %s is a test binary: it cannot run child processes (pass --single-process)", errUsage, exe)
	}
	s.exe = exe
	for _, c := range s.children {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.supervise(c)
		}()
		select {
		case <-c.readyOnce:
		case <-ctx.Done():
			return nil
		}
	}
	<-ctx.Done()
	return nil
}

// collectors are the supervisor's metrics: restarts and readiness of
// every child.
func (s *supervisor) collectors() []prometheus.Collector {
	var cs []prometheus.Collector
	for _, c := range s.children {
		labels := prometheus.Labels{"child": c.spec.name}
		cs = append(cs,
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "situ_child_restarts_total", ConstLabels: labels,
				Help: "Restarts of a child process of situ serve (role all) after it exited or stopped answering."},
				func() float64 { c.mu.Lock(); defer c.mu.Unlock(); return float64(c.restarts) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "situ_child_ready", ConstLabels: labels,
				Help: "1 while a child process of situ serve (role all) answers its /readyz with 200, else 0."},
				func() float64 {
					c.mu.Lock()
					defer c.mu.Unlock()
					if c.ready {
						return 1
					}
					return 0
				}),
		)
	}
	return cs
}

// check is a readiness check: every child is ready.
func (s *supervisor) check(context.Context) error {
	for _, c := range s.children {
		c.mu.Lock()
		ready, last := c.ready, c.last
		c.mu.Unlock()
		if !ready {
			return fmt.Errorf("child process %s not ready: %s", c.spec.name, last)
		}
	}
	return nil
}

// stop stops the children, the last started first (the learner writes
// its last checkpoint while the broker still runs), each with SIGTERM and
// after stopTimeout SIGKILL, and waits for them.
func (s *supervisor) stop() {
	s.stopOnce.Do(func() { close(s.stopping) })
	for i := len(s.children) - 1; i >= 0; i-- {
		c := s.children[i]
		c.mu.Lock()
		p := c.proc
		c.mu.Unlock()
		if p == nil {
			continue
		}
		_ = p.Signal(syscall.SIGTERM)
		deadline := time.Now().Add(s.stopTimeout)
		for c.running() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if c.running() {
			s.log.Warn("child process did not stop in time: killed", zap.String("child", c.spec.name), zap.Duration("timeout", s.stopTimeout))
			_ = p.Kill()
		}
	}
	s.wg.Wait()
	if s.closeFiles != nil {
		s.closeFiles()
	}
}

func (c *child) running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proc != nil
}

func (c *child) setState(ready bool, last string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setStateLocked(ready, last)
}

// setStateOf sets the state if gen is still the running process's.
func (c *child) setStateOf(gen int, ready bool, last string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen && c.proc != nil {
		c.setStateLocked(ready, last)
	}
}

func (c *child) setStateLocked(ready bool, last string) {
	if ready && !c.ready {
		select {
		case <-c.readyOnce:
		default:
			close(c.readyOnce)
		}
	}
	c.ready, c.last = ready, last
}

// supervise keeps c running until stop.
func (s *supervisor) supervise(c *child) {
	// Pdeathsig fires when the thread that started the child ends: keep
	// this goroutine on one thread while its children run.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	retry, _ := backoff.New(s.restart) // the policy is constant and valid
	log := s.log.With(zap.String("child", c.spec.name))
	for {
		started := time.Now()
		err := s.runOnce(c, log)
		select {
		case <-s.stopping:
			log.Info("child process stopped", zap.NamedError("exit", err))
			return
		default:
		}
		if time.Since(started) > time.Minute {
			retry.Reset()
		}
		wait := retry.Next()
		c.mu.Lock()
		c.restarts++
		c.mu.Unlock()
		c.setState(false, fmt.Sprintf("exited (%v), restarting", err))
		log.Error("child process exited: restarting", zap.Error(err), zap.Duration("after", wait))
		select {
		case <-s.stopping:
			return
		case <-time.After(wait):
		}
	}
}

// runOnce starts c's process and returns when it has exited.
func (s *supervisor) runOnce(c *child, log *zap.Logger) error {
	cmd := exec.Command(s.exe, c.spec.args...)
	cmd.Env = append(os.Environ(), c.spec.env...)
	cmd.ExtraFiles = c.spec.files
	cmd.SysProcAttr = childProcAttr()
	lines := &childLines{name: c.spec.name, s: s}
	cmd.Stdout, cmd.Stderr = lines, lines
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	c.mu.Lock()
	c.proc = cmd.Process
	c.gen++
	gen := c.gen
	c.mu.Unlock()
	select {
	case <-s.stopping: // stop may have looked before the process was there
		_ = cmd.Process.Kill()
	default:
	}
	if c.spec.nice != 0 {
		if err := lowerPriority(cmd.Process.Pid, c.spec.nice); err != nil {
			log.Warn("child process priority unchanged", zap.Int("nice", c.spec.nice), zap.Error(err))
		}
	}
	log.Info("child process started", zap.Int("pid", cmd.Process.Pid), zap.Strings("args", c.spec.args))

	exited := make(chan struct{})
	go s.health(c, gen, cmd.Process, exited, log)
	err := cmd.Wait()
	close(exited)
	lines.flush()
	c.mu.Lock()
	c.proc = nil
	c.mu.Unlock()
	c.setState(false, "exited")
	if err == nil {
		err = errors.New("exit status 0")
	}
	return err
}

// health polls the child's /readyz until it is ready, then /healthz;
// after healthFailures failed checks in a row it kills the child.
func (s *supervisor) health(c *child, gen int, p *os.Process, exited <-chan struct{}, log *zap.Logger) {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string) (int, string) {
		resp, err := client.Get("http://" + c.spec.http + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return resp.StatusCode, string(bytes.TrimSpace(body))
	}
	failures := 0
	every := 50 * time.Millisecond // until ready
	for {
		select {
		case <-exited:
			return
		case <-time.After(every):
		}
		status, body := get("/readyz")
		switch {
		case status == http.StatusOK:
			failures = 0
			if every != s.healthEvery {
				log.Info("child process ready")
			}
			every = s.healthEvery
			c.setStateOf(gen, true, "")
		case status != 0:
			failures = 0 // it answers: alive, not ready (waiting for Kafka, say)
			c.setStateOf(gen, false, body)
		default:
			failures++
			c.setStateOf(gen, false, "not answering: "+body)
			if failures >= s.healthFailures {
				log.Error("child process does not answer its health checks: killed", zap.Int("failures", failures))
				_ = p.Kill()
				return
			}
		}
	}
}

// childLines merges a child's output into the supervisor's: every JSON
// log line gets a field "child" naming it; other lines (a panic's trace)
// become a JSON line of their own.
type childLines struct {
	name string
	s    *supervisor
	buf  []byte
}

func (l *childLines) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.emit(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 64<<10 { // a line that never ends
		l.emit(l.buf)
		l.buf = nil
	}
	return len(p), nil
}

func (l *childLines) flush() {
	if len(l.buf) > 0 {
		l.emit(l.buf)
		l.buf = nil
	}
}

func (l *childLines) emit(line []byte) {
	line = bytes.TrimRight(line, "\r")
	if len(line) == 0 {
		return
	}
	name, _ := json.Marshal(l.name)
	out := append(append([]byte(`{"child":`), name...), ',')
	if line[0] == '{' && len(line) > 1 {
		out = append(out, line[1:]...)
	} else {
		msg, _ := json.Marshal(string(line))
		out = append(append(append(out, `"msg":`...), msg...), '}')
	}
	out = append(out, '\n')
	l.s.outMu.Lock()
	defer l.s.outMu.Unlock()
	_, _ = l.s.out.Write(out)
}

// loopbackListener listens on a port of the kernel's choice on the
// loopback interface and returns the listener's file, for a child.
func loopbackListener(ctx context.Context) (net.Listener, *os.File, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		_ = ln.Close()
		return nil, nil, err
	}
	return ln, f, nil
}
