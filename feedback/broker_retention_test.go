package feedback

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestSplitBrokerBudget(t *testing.T) {
	topics := TopicsConfig{}.WithDefaults()
	cases := []struct {
		name    string
		total   int64
		wantErr string
		limits  int
	}{
		{name: "no size limit", total: 0, limits: 0},
		{name: "default budget", total: DefaultBrokerMaxBytes, limits: 3},
		{name: "smallest budget", total: MinBrokerMaxBytes, limits: 3},
		{name: "too small", total: MinBrokerMaxBytes - 1, wantErr: "at least 16 MiB"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := SplitBrokerBudget(tc.total, topics)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Len(t, r.Limits, tc.limits)
			require.ElementsMatch(t, []string{topics.Models, topics.Control, topics.Checkpoints, topics.Results}, r.Compacted)
			var sum int64
			for _, l := range r.Limits {
				require.Positive(t, l.PartitionBytes, l.Topic)
				require.Less(t, l.SegmentBytes, l.PartitionBytes, l.Topic)
				sum += (l.PartitionBytes + l.SegmentBytes) * int64(l.Partitions)
			}
			require.LessOrEqual(t, sum, tc.total, "the limited topics, segments included, fit in the budget")
		})
	}
	r, err := SplitBrokerBudget(DefaultBrokerMaxBytes, topics)
	require.NoError(t, err)
	require.Equal(t, topics.Decisions, r.Limits[0].Topic)
	require.Greater(t, r.Limits[0].PartitionBytes, r.Limits[1].PartitionBytes, "decisions get the largest share")
}

// TestEmbeddedBrokerSizeRetention: with a small budget, a stream of
// decisions far larger than it leaves the decisions topic, on disk and by
// the broker's own count, within its share; the topics get their retention
// settings whoever created them; the broker reports the retained bytes and
// warns that the size limit keeps less than the reward window.
func TestEmbeddedBrokerSizeRetention(t *testing.T) {
	topics := TopicsConfig{}.WithDefaults()
	ret, err := SplitBrokerBudget(MinBrokerMaxBytes, topics)
	require.NoError(t, err)
	ret.RewardWindow = 24 * time.Hour
	ret.Interval = 50 * time.Millisecond
	limit := ret.Limits[0]

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	core, logs := observer.New(zapcore.WarnLevel)
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	b, err := StartEmbeddedBroker(ctx, BrokerConfig{Addr: "127.0.0.1:0", DataDir: dir, Retention: ret, Registerer: reg, Logger: zap.New(core)})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	// Another process creates the topics, without the limits.
	require.NoError(t, EnsureTopics(ctx, b.Brokers(), topics))
	require.Eventually(t, func() bool {
		info := b.cluster.TopicInfo(topics.Decisions)
		c := b.cluster.TopicInfo(topics.Control)
		return info.Configs["retention.bytes"] != nil && *info.Configs["retention.bytes"] == fmt.Sprint(limit.PartitionBytes) &&
			c.Configs["retention.ms"] != nil && *c.Configs["retention.ms"] == "-1"
	}, 5*time.Second, 20*time.Millisecond, "the broker sets the retention of topics it did not create")

	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(b.Addr()), Topic: topics.Decisions, Balancer: &kafka.Hash{}, BatchSize: 500, BatchBytes: 1 << 20,
		BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireOne, Transport: tr}
	defer w.Close()
	value := []byte(strings.Repeat("x", 1000))
	total := 0
	for total < 8*int(limit.PartitionBytes)*limit.Partitions {
		msgs := make([]kafka.Message, 1000)
		for i := range msgs {
			msgs[i] = kafka.Message{Key: fmt.Appendf(nil, "d-%d-%d", total, i), Value: value}
		}
		require.NoError(t, w.WriteMessages(ctx, msgs...))
		total += len(msgs) * len(value)
	}

	share := (limit.PartitionBytes + limit.SegmentBytes) * int64(limit.Partitions)
	require.Eventually(t, func() bool {
		var n int64
		for _, p := range b.cluster.PartitionInfos(topics.Decisions) {
			n += p.NumBytes
		}
		return n <= limit.PartitionBytes*int64(limit.Partitions)
	}, 10*time.Second, 20*time.Millisecond)
	time.Sleep(3 * ret.Interval) // the metrics catch up
	decisions := map[string]string{"topic": topics.Decisions}
	require.LessOrEqual(t, dirBytes(t, dir, topics.Decisions), share, "on disk within its share (%d bytes written)", total)
	retained := metricValue(t, reg, "situ_broker_retained_bytes", decisions)
	require.Positive(t, retained)
	require.LessOrEqual(t, retained, float64(limit.PartitionBytes*int64(limit.Partitions)))
	require.Equal(t, float64(limit.PartitionBytes*int64(limit.Partitions)), metricValue(t, reg, "situ_broker_retention_limit_bytes", decisions))
	require.Equal(t, 1.0, metricValue(t, reg, "situ_broker_retention_below_window", decisions))
	require.Less(t, metricValue(t, reg, "situ_broker_retained_seconds", decisions), 60.0)
	require.Equal(t, 86400.0, metricValue(t, reg, "situ_broker_reward_window_seconds", nil))
	require.Equal(t, 0.0, metricValue(t, reg, "situ_broker_retention_below_window", map[string]string{"topic": topics.Outcomes}), "an empty topic is not short")
	require.Equal(t, 1.0, metricValue(t, reg, "situ_broker_retention_full", decisions), "every partition of the decisions lost its oldest records")
	require.Equal(t, 0.0, metricValue(t, reg, "situ_broker_retention_full", map[string]string{"topic": topics.Outcomes}), "an empty topic is not full")
	require.NotEmpty(t, logs.FilterMessageSnippet("size retention keeps less than the reward window").FilterField(zap.String("topic", topics.Decisions)).All())
}

// dirBytes sums the sizes of the files of a topic's partitions under dir.
func dirBytes(t *testing.T, dir, topic string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() && strings.Contains(path, topic) && !strings.Contains(path, topic+".") {
			n += info.Size()
		}
		return nil
	}))
	return n
}
