package feedback

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// kcat returns the path of kcat (librdkafka's CLI) or skips the test.
func kcat(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"kcat", "kafkacat"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Skip("kcat is not installed (apt-get install kcat): librdkafka compatibility not checked")
	return ""
}

func runKcat(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "kcat %s: %s", strings.Join(args, " "), stderr.String())
	return stdout.String()
}

func TestKcatListsTopics(t *testing.T) {
	kcat(t)
	b, topics := startBroker(t)
	var meta struct {
		Brokers []struct {
			Name string `json:"name"`
		} `json:"brokers"`
		Topics []struct {
			Topic      string            `json:"topic"`
			Partitions []json.RawMessage `json:"partitions"`
		} `json:"topics"`
	}
	require.NoError(t, json.Unmarshal([]byte(runKcat(t, "", "-b", b.Addr(), "-L", "-J")), &meta))
	require.Len(t, meta.Brokers, 1)
	require.Equal(t, b.Addr(), meta.Brokers[0].Name, "the advertised address is the one kcat was given")
	got := map[string]int{}
	for _, tp := range meta.Topics {
		got[tp.Topic] = len(tp.Partitions)
	}
	require.Equal(t, map[string]int{
		topics.Decisions: 3, topics.Outcomes: 3, topics.OutcomesDLQ: 1, topics.Models: 1, topics.Checkpoints: 1, topics.Control: 1, topics.Results: 1,
	}, got)
}

// TestKcatOutcomes publishes outcomes the way docs/kafka.md tells an
// integrator to, with kcat's default partitioner, and checks that each
// lands on the partition situ's own producers use for its key, and that
// the learner dead-letters the bad one with headers kcat can read.
func TestKcatOutcomes(t *testing.T) {
	kcat(t)
	b, topics := startBroker(t)
	var lines strings.Builder
	const n = 40
	for i := range n {
		v, err := json.Marshal(testOutcome(i, testDecision(i).DecisionID))
		require.NoError(t, err)
		fmt.Fprintf(&lines, "%s|%s\n", testDecision(i).DecisionID, v)
	}
	lines.WriteString(`d-bad|{"outcome_id":"o-bad","decision_id":"d-bad","csat":9,"occurred_at":"2026-11-22T10:00:00Z"}` + "\n")
	runKcat(t, lines.String(), "-b", b.Addr(), "-t", topics.Outcomes, "-P", "-K", "|")

	msgs := readAll(t, b.Brokers(), topics.Outcomes)
	require.Len(t, msgs, n+1)
	for _, m := range msgs {
		require.Equal(t, PartitionForKey(m.Key, topics.OutcomePartitions), m.Partition,
			"kcat put %s where situ's partitioner does", m.Key)
	}

	_, base, reward := learnerFixture(t, t.Name())
	l := newTestLearner(t, b.Brokers(), base, reward, nil)
	stop := runBackground(t, l.Run)
	eventually(t, func() bool { s := l.Stats(); return s.OutcomesRead == n+1 && s.DLQInvalidOutcome == 1 }, "kcat's outcomes read")
	require.NoError(t, stop()) // the round that dead-lettered finishes first

	out := runKcat(t, "", "-b", b.Addr(), "-t", topics.OutcomesDLQ, "-C", "-e", "-q", "-f", "%k %h\n")
	require.Contains(t, out, "d-bad ")
	require.Contains(t, out, HeaderDLQReason+"="+DLQReasonInvalidOutcome)
	require.Contains(t, out, HeaderDLQError+"=csat: must be between 1 and 5")
	require.Contains(t, out, HeaderDLQTopic+"="+topics.Outcomes)
}
