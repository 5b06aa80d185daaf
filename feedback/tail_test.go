package feedback

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
)

func TestTailReaderReadsFromStartAndFollows(t *testing.T) {
	b, topics := startBroker(t)
	produce(t, b.Brokers(), topics.Control,
		kafka.Message{Key: []byte("weights"), Value: []byte("w1")},
		kafka.Message{Key: []byte("policy"), Value: []byte("p1")},
		kafka.Message{Key: []byte("weights"), Value: []byte("w2")},
		kafka.Message{Key: []byte("lever"), Value: []byte("l1")},
		kafka.Message{Key: []byte("lever"), Value: nil}, // tombstone
	)

	var mu sync.Mutex
	current := map[string]string{}
	reg := prometheus.NewRegistry()
	tr, err := NewTailReader(TailConfig{
		Brokers: b.Brokers(), Topic: topics.Control, MaxWait: 100 * time.Millisecond, Registerer: reg, Logger: testLogger(t),
		Handler: func(_ context.Context, r TailRecord) error {
			mu.Lock()
			defer mu.Unlock()
			if r.Tombstone() {
				delete(current, string(r.Key))
			} else {
				current[string(r.Key)] = string(r.Value)
			}
			return nil
		},
	})
	require.NoError(t, err)
	stop := runBackground(t, tr.Run)
	select {
	case <-tr.CaughtUp():
	case <-time.After(10 * time.Second):
		t.Fatal("tail reader never caught up")
	}
	mu.Lock()
	require.Equal(t, map[string]string{"weights": "w2", "policy": "p1"}, current, "caught up: latest value per key")
	mu.Unlock()

	produce(t, b.Brokers(), topics.Control, kafka.Message{Key: []byte("weights"), Value: []byte("w3")})
	eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return current["weights"] == "w3" }, "new values followed")
	require.NoError(t, stop())
	require.Equal(t, float64(6), metricValue(t, reg, "situ_kafka_records_read_total", map[string]string{"topic": topics.Control}))
}

func TestTailReaderEmptyTopicIsCaughtUp(t *testing.T) {
	b, topics := startBroker(t)
	tr, err := NewTailReader(TailConfig{Brokers: b.Brokers(), Topic: topics.Models,
		Handler: func(context.Context, TailRecord) error { return nil }})
	require.NoError(t, err)
	stop := runBackground(t, tr.Run)
	select {
	case <-tr.CaughtUp():
	case <-time.After(10 * time.Second):
		t.Fatal("an empty topic is caught up at once")
	}
	require.NoError(t, stop())
}

func TestReadLatest(t *testing.T) {
	b, topics := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	latest, err := ReadLatest(ctx, b.Brokers(), topics.Models)
	require.NoError(t, err)
	require.Empty(t, latest, "empty topic")

	produce(t, b.Brokers(), topics.Models,
		kafka.Message{Key: []byte("default"), Value: []byte("v1")},
		kafka.Message{Key: []byte("other"), Value: []byte("o1")},
		kafka.Message{Key: []byte("default"), Value: []byte("v2")},
		kafka.Message{Key: []byte("other"), Value: nil},
	)
	latest, err = ReadLatest(ctx, b.Brokers(), topics.Models)
	require.NoError(t, err)
	require.Len(t, latest, 1, "tombstoned key absent")
	require.Equal(t, "v2", string(latest["default"].Value))
	require.Equal(t, Position{Topic: topics.Models, Partition: 0, Offset: 2}, latest["default"].Position)
}
