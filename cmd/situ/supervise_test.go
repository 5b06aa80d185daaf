package main

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"situ/internal/situtest"
)

// children returns the processes whose parent is pid, by the role in
// their command line (broker, learner).
func children(t *testing.T, pid int) map[string]int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	require.NoError(t, err)
	out := map[string]int{}
	for _, stat := range stats {
		b, err := os.ReadFile(stat)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid …: comm may hold spaces, so split after ")".
		fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(fields) < 2 || fields[0] == "Z" || fields[1] != strconv.Itoa(pid) {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join(filepath.Dir(stat), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		for i, a := range args {
			if a == "--role" && i+1 < len(args) {
				child, _ := strconv.Atoi(filepath.Base(filepath.Dir(stat)))
				out[args[i+1]] = child
			}
		}
	}
	return out
}

// gone reports whether no process (zombies aside) has the id pid.
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err != nil || strings.Contains(string(b[bytes.LastIndexByte(b, ')')+1:]), " Z ")
}

func requireLinux(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the children die with their parent only on Linux (Pdeathsig)")
	}
}

// TestRoleAllSupervisesChildren: situ serve (role all) runs the embedded
// broker and the learner as child processes; a SIGKILLed child is
// restarted and the service is ready again and scores; SIGTERM of the
// parent stops every child.
func TestRoleAllSupervisesChildren(t *testing.T) {
	requireLinux(t)
	p := situtest.Serve(t, situBin, "--broker-addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	kids := children(t, p.PID())
	require.Contains(t, kids, roleBroker)
	require.Contains(t, kids, roleLearner)
	require.Len(t, kids, 2)
	score := func() int {
		resp, err := http.Post(p.URL+"/v1/score", "application/json", strings.NewReader(situtest.ContractBody))
		require.NoError(t, err)
		defer resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, score())
	require.Eventually(t, func() bool {
		_, metrics := p.Get(t, "/metrics")
		return bytes.Contains(metrics, []byte(`situ_broker_retained_bytes{child="broker",topic="nba.decisions"}`)) &&
			bytes.Contains(metrics, []byte(`situ_learner_updates_total{child="learner"}`))
	}, 10*time.Second, 50*time.Millisecond, "the parent's /metrics serves the children's")

	for _, role := range []string{roleBroker, roleLearner} {
		t.Run("SIGKILL of the "+role, func(t *testing.T) {
			old := children(t, p.PID())[role]
			require.NoError(t, syscall.Kill(old, syscall.SIGKILL))
			require.Eventually(t, func() bool {
				now := children(t, p.PID())[role]
				return now != 0 && now != old
			}, 10*time.Second, 20*time.Millisecond, "the %s is restarted", role)
			p.WaitReady(t, 20*time.Second)
			require.Equal(t, http.StatusOK, score())
			require.Contains(t, p.Output(), `"msg":"child process exited: restarting"`)
			_, metrics := p.Get(t, "/metrics")
			require.Regexp(t, `situ_child_restarts_total\{child="`+role+`"\} [1-9]`, string(metrics))
		})
	}

	kids = children(t, p.PID())
	require.Len(t, kids, 2)
	p.Stop(t)
	for role, pid := range kids {
		require.True(t, gone(pid), "the %s stopped with its parent", role)
	}
	require.Contains(t, p.Output(), `"child":"learner"`, "the children's logs are merged, naming the child")
}

// TestRoleAllSIGKILLLeavesNoChild: a SIGKILLed situ serve leaves no child
// process behind, and a new one starts on the same data dir.
func TestRoleAllSIGKILLLeavesNoChild(t *testing.T) {
	requireLinux(t)
	dir := t.TempDir()
	p := situtest.Serve(t, situBin, "--broker-addr", "127.0.0.1:0", "--data-dir", dir)
	kids := children(t, p.PID())
	require.Len(t, kids, 2)
	p.Kill()
	for role, pid := range kids {
		require.Eventually(t, func() bool { return gone(pid) }, 5*time.Second, 10*time.Millisecond, "the %s died with its parent", role)
	}
	situtest.Serve(t, situBin, "--broker-addr", "127.0.0.1:0", "--data-dir", dir)
}

func TestChildLines(t *testing.T) {
	cases := []struct {
		name   string
		writes []string
		want   string
	}{
		{name: "JSON lines get the child field", writes: []string{`{"level":"info","msg":"a"}` + "\n" + `{"msg":"b"}` + "\n"},
			want: `{"child":"broker","level":"info","msg":"a"}` + "\n" + `{"child":"broker","msg":"b"}` + "\n"},
		{name: "a line split over writes", writes: []string{`{"msg":`, `"a"}` + "\n"},
			want: `{"child":"broker","msg":"a"}` + "\n"},
		{name: "other lines become JSON", writes: []string{"panic: \"boom\"\n\n"},
			want: `{"child":"broker","msg":"panic: \"boom\""}` + "\n"},
		{name: "an unterminated last line on flush", writes: []string{`{"msg":"a"}`},
			want: `{"child":"broker","msg":"a"}` + "\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			l := &childLines{name: "broker", s: &supervisor{out: &out}}
			for _, w := range tc.writes {
				n, err := l.Write([]byte(w))
				require.NoError(t, err)
				require.Equal(t, len(w), n)
			}
			l.flush()
			require.Equal(t, tc.want, out.String())
		})
	}
}
