package feedback

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
)

func TestBrokerListenAddr(t *testing.T) {
	tests := []struct {
		name, addr, want, err string
	}{
		{name: "loopback", addr: "127.0.0.1:9092", want: "127.0.0.1:9092"},
		{name: "localhost", addr: "localhost:9092", want: "127.0.0.1:9092"},
		{name: "empty host", addr: ":9093", want: "127.0.0.1:9093"},
		{name: "free port", addr: "127.0.0.1:0", want: "127.0.0.1:0"},
		{name: "ipv6 loopback", addr: "[::1]:9092", want: "[::1]:9092"},
		{name: "unspecified", addr: "0.0.0.0:9092", err: "unspecified"},
		{name: "hostname", addr: "kafka.internal:9092", err: "IP address or localhost"},
		{name: "no port", addr: "127.0.0.1", err: "missing port"},
		{name: "bad port", addr: "127.0.0.1:99999", err: "between 0 and 65535"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := brokerListenAddr(tt.addr)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestEmbeddedBrokerAdvertisesLoopback(t *testing.T) {
	b, topics := startBroker(t)
	host, port, err := net.SplitHostPort(b.Addr())
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", host)
	require.NotEqual(t, "0", port)

	// Clients are sent to the address the broker advertises in metadata.
	client := &kafka.Client{Addr: kafka.TCP(b.Addr()), Transport: &kafka.Transport{}}
	defer client.Transport.(*kafka.Transport).CloseIdleConnections()
	meta, err := client.Metadata(context.Background(), &kafka.MetadataRequest{Topics: []string{topics.Outcomes}})
	require.NoError(t, err)
	require.Len(t, meta.Brokers, 1)
	require.Equal(t, "127.0.0.1", meta.Brokers[0].Host)
	require.Equal(t, port, strconv.Itoa(meta.Brokers[0].Port))
}

func TestEmbeddedBrokerPortInUse(t *testing.T) {
	b, _ := startBroker(t)
	_, err := StartEmbeddedBroker(context.Background(), BrokerConfig{Addr: b.Addr()})
	require.ErrorContains(t, err, "address already in use")
}

func TestEmbeddedBrokerPersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	topics := TopicsConfig{}.WithDefaults()

	b, err := StartEmbeddedBroker(ctx, BrokerConfig{Addr: "127.0.0.1:0", DataDir: dir})
	require.NoError(t, err)
	require.NoError(t, EnsureTopics(ctx, b.Brokers(), topics))
	var want []kafka.Message
	for i := range 20 {
		o := testOutcome(i, testDecision(i).DecisionID)
		want = append(want, kafka.Message{Key: []byte(o.DecisionID), Value: []byte(o.OutcomeID)})
	}
	produce(t, b.Brokers(), topics.Outcomes, want...)
	produce(t, b.Brokers(), topics.Models,
		kafka.Message{Key: []byte("default"), Value: []byte("v1")},
		kafka.Message{Key: []byte("default"), Value: []byte("v2")})
	b.Close()

	b, err = StartEmbeddedBroker(ctx, BrokerConfig{Addr: "127.0.0.1:0", DataDir: dir})
	require.NoError(t, err)
	defer b.Close()
	// The topics survived with their partition counts and compaction.
	require.NoError(t, EnsureTopics(ctx, b.Brokers(), topics))

	got := readAll(t, b.Brokers(), topics.Outcomes)
	require.Len(t, got, len(want))
	byKey := map[string]kafka.Message{}
	for _, m := range got {
		byKey[string(m.Key)] = m
	}
	for _, w := range want {
		m, ok := byKey[string(w.Key)]
		require.True(t, ok, "message %s lost", w.Key)
		require.Equal(t, string(w.Value), string(m.Value))
		require.Equal(t, PartitionForKey(w.Key, topics.OutcomePartitions), m.Partition)
	}
	latest, err := ReadLatest(ctx, b.Brokers(), topics.Models)
	require.NoError(t, err)
	require.Equal(t, "v2", string(latest["default"].Value))

	// New writes continue after the restored offsets.
	produce(t, b.Brokers(), topics.Models, kafka.Message{Key: []byte("default"), Value: []byte("v3")})
	latest, err = ReadLatest(ctx, b.Brokers(), topics.Models)
	require.NoError(t, err)
	require.Equal(t, "v3", string(latest["default"].Value))
	require.Equal(t, int64(2), latest["default"].Offset)
}

func TestEmbeddedBrokerCompactsCompactedTopics(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	topics := TopicsConfig{}.WithDefaults()
	cfg := BrokerConfig{Addr: "127.0.0.1:0", DataDir: dir, CompactionInterval: 20 * time.Millisecond, Logger: testLogger(t)}
	b, err := StartEmbeddedBroker(ctx, cfg)
	require.NoError(t, err)
	defer func() { b.Close() }() // whichever broker runs last
	require.NoError(t, EnsureTopics(ctx, b.Brokers(), topics))

	const n = 50
	for i := range n { // one batch per record, as the learner publishes snapshots
		produce(t, b.Brokers(), topics.Models, kafka.Message{Key: []byte("default"), Value: []byte("v" + strconv.Itoa(i))})
	}
	produce(t, b.Brokers(), topics.Control, kafka.Message{Key: []byte("config"), Value: []byte("c1")})
	produce(t, b.Brokers(), topics.Control, kafka.Message{Key: []byte("config"), Value: []byte("c2")})
	produce(t, b.Brokers(), topics.Control, kafka.Message{Key: []byte("config"), Value: []byte("c3")})

	// kfake keeps a partition's last batch unconditionally and the latest
	// record of every key before it: at most two records of one key.
	eventually(t, func() bool { return len(readAll(t, b.Brokers(), topics.Models)) <= 2 }, "nba.models compacted")
	eventually(t, func() bool { return len(readAll(t, b.Brokers(), topics.Control)) <= 2 }, "nba.control compacted")
	latest, err := ReadLatest(ctx, b.Brokers(), topics.Models)
	require.NoError(t, err)
	require.Equal(t, "v"+strconv.Itoa(n-1), string(latest["default"].Value), "the newest snapshot survives")
	require.Equal(t, int64(n-1), latest["default"].Offset, "offsets are kept, not renumbered")

	// A restart reads the compacted partition, not the snapshots it dropped.
	b.Close()
	b, err = StartEmbeddedBroker(ctx, cfg)
	require.NoError(t, err)
	got := readAll(t, b.Brokers(), topics.Models)
	require.LessOrEqual(t, len(got), 2)
	require.Equal(t, "v"+strconv.Itoa(n-1), string(got[len(got)-1].Value))
}
