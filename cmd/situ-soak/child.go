package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// child is the `situ serve` process under test.
type child struct {
	cmd        *exec.Cmd
	url        string // base URL of the HTTP API
	brokerAddr string
	log        *os.File
	exited     chan struct{}
	waitErr    error
}

// freeAddr returns a loopback address with a port no one listens on now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// startChild starts `situ serve` with role all, the embedded broker and
// the learner's reward window, its output to logPath, and waits until it
// is ready.
func startChild(ctx context.Context, cfg config, dataDir, logPath string) (*child, error) {
	httpAddr, brokerAddr := cfg.addr, cfg.brokerAddr
	var err error
	if httpAddr == "" {
		if httpAddr, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	if brokerAddr == "" {
		if brokerAddr, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("situ log: %w", err)
	}
	cmd := exec.Command(cfg.situ, serveArgs(cfg, httpAddr, brokerAddr, dataDir)...)
	// the child's configuration is its flags alone
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SITU_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", cfg.situ, err)
	}
	c := &child{cmd: cmd, url: "http://" + httpAddr, brokerAddr: brokerAddr, log: logf, exited: make(chan struct{})}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	if err := c.waitReady(ctx, time.Minute); err != nil {
		c.stop(5 * time.Second)
		return nil, fmt.Errorf("situ serve not ready (log: %s): %w", logPath, err)
	}
	return c, nil
}

// serveArgs returns the arguments of `situ serve`: role all on the given
// addresses and data dir, the learner's windows, the broker budget unless
// situ's own default is wanted (cfg.brokerMax empty), then the extra
// flags, which may set any of these again.
func serveArgs(cfg config, httpAddr, brokerAddr, dataDir string) []string {
	args := []string{"serve", "--role", "all", "--addr", httpAddr, "--broker-addr", brokerAddr,
		"--data-dir", dataDir, "--reward-window", cfg.window.String(), "--late-window", cfg.window.String()}
	if cfg.brokerMax != "" {
		args = append(args, "--broker-max-bytes", cfg.brokerMax)
	}
	return append(args, cfg.extraArgs...)
}

// waitReady polls /readyz until it answers 200.
func (c *child) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-c.exited:
			return fmt.Errorf("situ serve exited: %v", c.waitErr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no 200 from /readyz within %s", timeout)
		}
	}
}

// alive reports whether the child still runs.
func (c *child) alive() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and waits up to grace, then kills. It returns the
// exit error of a process that did not end cleanly.
func (c *child) stop(grace time.Duration) error {
	defer c.log.Close()
	if c.alive() {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-c.exited:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("situ serve did not stop within %s of SIGTERM: killed", grace)
	}
	if c.waitErr != nil {
		return fmt.Errorf("situ serve: %w", c.waitErr)
	}
	return nil
}

// rssBytes reads the resident set size of situ serve and of every process
// it started (role all runs the embedded broker and the learner as child
// processes) from /proc/PID/status: their sum, and each by its name
// (procAPI for situ serve itself, else the --role it was given).
func (c *child) rssBytes() (float64, map[string]float64, error) {
	total, byProc := 0.0, map[string]float64{}
	for _, pid := range processTree(c.cmd.Process.Pid) {
		rss, err := readRSS(pid)
		if err != nil {
			if pid == c.cmd.Process.Pid {
				return 0, nil, err
			}
			continue // a child that exited between the listing and the read
		}
		total += rss
		name := procAPI
		if pid != c.cmd.Process.Pid {
			name = roleOf(pid)
		}
		byProc[name] += rss
	}
	return total, byProc, nil
}

// The processes of role all, as the soak names them: situ serve itself
// (the HTTP API) and the children it starts, named by their --role (as
// the label child of their metrics on situ serve's /metrics).
const (
	procAPI     = "api"
	procBroker  = "broker"
	procLearner = "learner"
)

var procNames = []string{procAPI, procBroker, procLearner}

// roleOf returns the value of the --role flag pid was started with, or
// "other".
func roleOf(pid int) string {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return "other"
	}
	args := strings.Split(string(raw), "\x00")
	for i, a := range args {
		if a == "--role" && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--role="); ok {
			return v
		}
	}
	return "other"
}

// processTree returns root and its descendants, from the parent ids in
// /proc/*/stat.
func processTree(root int) []int {
	parents := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so read after the last ')'
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(fields[1]); err == nil {
			parents[ppid] = append(parents[ppid], pid)
		}
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, parents[out[i]]...)
	}
	return out
}

// readRSS returns VmRSS of process pid in bytes.
func readRSS(pid int) (float64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("read rss: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "VmRSS:") {
			continue
		}
		fields := strings.Fields(strings.TrimPrefix(line, "VmRSS:"))
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("read rss: unexpected line %q", line)
		}
		kb, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return 0, fmt.Errorf("read rss: %w", err)
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read rss: %w", err)
	}
	return 0, errors.New("read rss: no VmRSS line")
}
