package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"situ/feedback"
	"situ/models"
)

// smallFileSystem mounts a tmpfs of size bytes on a new directory and
// returns it; the test is skipped when this process may not mount (it
// needs CAP_SYS_ADMIN, e.g. root in a container that allows mounts).
func smallFileSystem(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("a full disk needs a size-limited file system and this process cannot mount one (mount -t tmpfs: %v: %s)", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file into dir that leaves about free bytes free there and
// returns its path.
func fill(t *testing.T, dir string, free uint64) string {
	t.Helper()
	var st syscall.Statfs_t
	require.NoError(t, syscall.Statfs(dir, &st))
	avail := st.Bavail * uint64(st.Bsize)
	require.Greater(t, avail, free)
	path := filepath.Join(dir, "filler")
	require.NoError(t, os.WriteFile(path, make([]byte, avail-free), 0o600))
	return path
}

// TestFullDisk: the broker process's data dir is on a small file system
// that fills up under scoring. The broker says so (not ready, naming the
// data dir and the free space) and keeps running, no restart, no crash;
// the replica keeps scoring; POST /v1/outcomes answers 503 with
// Retry-After while the broker cannot write. Once space is freed the
// broker is ready again, and after a restart on the same data dir every
// record on nba.decisions and nba.outcomes reads and decodes.
func TestFullDisk(t *testing.T) {
	dir := smallFileSystem(t, 24<<20)
	broker := startSitu(t, "--role", "broker", "--broker-addr", "127.0.0.1:0", "--data-dir", dir)
	brokerAddr := broker.BrokerAddr
	replica := startSitu(t, "--role", "api", "--data-dir", t.TempDir(), "--kafka-brokers", brokerAddr)
	filler := fill(t, dir, 6<<20)
	pid := broker.PID()

	// score until the broker is not ready: the disk is nearly full
	body, err := json.Marshal(contact)
	require.NoError(t, err)
	client := &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	var (
		wg             sync.WaitGroup
		mu             sync.Mutex
		scored, failed int
	)
	stop := make(chan struct{})
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := client.Post(replica.URL+"/v1/score", "application/json", bytes.NewReader(body))
				mu.Lock()
				if err != nil || res.StatusCode != http.StatusOK {
					failed++
				} else {
					scored++
				}
				mu.Unlock()
				if err == nil {
					res.Body.Close()
				}
			}
		}()
	}
	var notReady []byte
	poll(t, 60*time.Second, 50*time.Millisecond, func() bool {
		status, b := broker.Get(t, "/readyz")
		notReady = b
		return status == http.StatusServiceUnavailable
	}, func() string { return "the broker stays ready on a full disk" })
	t.Logf("broker not ready: %s", bytes.TrimSpace(notReady))
	require.Contains(t, string(notReady), dir)
	require.Contains(t, string(notReady), "free space")

	// keep scoring until the broker's writes fail with ENOSPC, then take
	// what space is left, so that no write can succeed
	poll(t, 60*time.Second, 50*time.Millisecond, func() bool {
		return strings.Contains(broker.Output(), "no space left on device")
	}, func() string { return "the broker never logs a failed write on the full disk" })
	close(stop)
	wg.Wait()
	rest, err := os.Create(filepath.Join(dir, "filler-rest"))
	require.NoError(t, err)
	_, err = rest.Write(make([]byte, 8<<20))
	require.ErrorIs(t, err, syscall.ENOSPC, "the file system is full")
	require.NoError(t, rest.Close())
	// a decision id situ could have made just now (a UUIDv7): the answer is
	// about the write, not the id
	decisionID, err := uuid.NewV7()
	require.NoError(t, err)
	o := fmt.Sprintf(`{"outcome_id":"o-full","decision_id":%q,"resolved":true,"occurred_at":%q}`, decisionID.String(), time.Now().UTC().Format(time.RFC3339))
	res, err := client.Post(replica.URL+"/v1/outcomes", "application/json", strings.NewReader(o))
	require.NoError(t, err)
	res.Body.Close()
	t.Logf("POST /v1/outcomes on a full disk: %d, Retry-After %q", res.StatusCode, res.Header.Get("Retry-After"))
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode, "an outcome the broker cannot write is not accepted")
	require.NotEmpty(t, res.Header.Get("Retry-After"))
	require.Equal(t, pid, broker.PID(), "the broker process was not restarted")
	status, _ := broker.Get(t, "/healthz")
	require.Equal(t, http.StatusOK, status, "the broker process is alive")
	dropped := mustMetric(t, replica, "situ_decisions_dropped_total")
	t.Logf("%d scored (%d failed) while the disk filled; %v decision events dropped", scored, failed, dropped)
	require.Zero(t, failed, "scoring does not depend on the broker's disk")

	// space again: ready again, and a restart reads every record
	require.NoError(t, os.Remove(filler))
	require.NoError(t, os.Remove(rest.Name()))
	poll(t, 10*time.Second, 50*time.Millisecond, func() bool {
		status, _ := broker.Get(t, "/readyz")
		return status == http.StatusOK
	}, func() string { return "the broker is not ready again after space was freed" })
	broker.Stop(t)
	broker = startSitu(t, "--role", "broker", "--broker-addr", brokerAddr, "--data-dir", dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	decisions, err := feedback.ReadLatest(ctx, []string{brokerAddr}, feedback.DefaultDecisionsTopic)
	require.NoError(t, err, "nba.decisions reads after the restart")
	for key, rec := range decisions {
		_, err := models.DecodeDecisionEvent(rec.Value)
		require.NoError(t, err, "decision %s at %s", key, rec.Position)
	}
	published := mustMetric(t, replica, "situ_decisions_published_total")
	t.Logf("after the restart nba.decisions holds %d decisions; the replica counted %v published", len(decisions), published)
	require.GreaterOrEqual(t, float64(len(decisions)), published, "every decision the broker acknowledged survived")
	_, err = feedback.ReadLatest(ctx, []string{brokerAddr}, feedback.DefaultOutcomesTopic)
	require.NoError(t, err, "nba.outcomes reads after the restart")
}
