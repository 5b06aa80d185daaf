package feedback

import (
	"context"
	"encoding/json"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"situ/models"
)

func TestDecisionPublisherDeliversDecisions(t *testing.T) {
	b, topics := startBroker(t)
	reg := prometheus.NewRegistry()
	p, err := NewDecisionPublisher(DecisionPublisherConfig{Brokers: b.Brokers(), Registerer: reg, Logger: testLogger(t)})
	require.NoError(t, err)
	stopPublisher := runBackground(t, p.Run)

	const n = 300
	want := map[string]models.LoggedDecision{}
	for i := range n {
		d := testDecision(i)
		want[d.DecisionID] = d
		require.True(t, p.Publish(d))
	}

	var mu sync.Mutex
	got := map[string]DecisionRecord{}
	c, err := NewDecisionConsumer(DecisionConsumerConfig{
		Brokers: b.Brokers(), Logger: testLogger(t), MaxWait: 100 * time.Millisecond,
		Handler: func(_ context.Context, r DecisionRecord) error {
			mu.Lock()
			defer mu.Unlock()
			got[r.Decision.DecisionID] = r
			return nil
		},
	})
	require.NoError(t, err)
	stopConsumer := runBackground(t, c.Run)
	eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == n }, "all decisions read back")
	require.NoError(t, stopConsumer())
	require.NoError(t, stopPublisher())

	for id, d := range want {
		r := got[id]
		require.Equal(t, d, r.Decision, "decision %s intact", id)
		require.Equal(t, topics.Decisions, r.Topic)
		require.Equal(t, PartitionForKey([]byte(id), topics.DecisionPartitions), int(r.Partition), "decision %s partition", id)
		require.True(t, r.Time.Equal(d.Time), "message time is the decision time")
	}
	require.Equal(t, DecisionPublisherStats{Published: n}, p.Stats())
	require.Equal(t, float64(n), metricValue(t, reg, "situ_decisions_published_total", nil))
	require.Equal(t, float64(0), metricValue(t, reg, "situ_decisions_dropped_total", map[string]string{"reason": "queue_full"}))
	require.Equal(t, DecisionConsumerStats{Consumed: n}, c.Stats())
}

func TestDecisionConsumerSkipsInvalidAndDuplicates(t *testing.T) {
	b, topics := startBroker(t)
	good := func(i int) []byte {
		v, err := json.Marshal(testDecision(i))
		require.NoError(t, err)
		return v
	}
	key := []byte("d-same-key") // one partition: read in this order
	produce(t, b.Brokers(), topics.Decisions,
		kafka.Message{Key: key, Value: good(1)},
		kafka.Message{Key: key, Value: []byte(`{"decision_id": 7}`)},
		kafka.Message{Key: key, Value: []byte(`{"treatment": "fast_resolution"}`)},
		kafka.Message{Key: key, Value: good(1)}, // a producer retry
		kafka.Message{Key: key, Value: good(2)},
	)
	var mu sync.Mutex
	var ids []string
	var skipped []int64
	c, err := NewDecisionConsumer(DecisionConsumerConfig{
		Brokers: b.Brokers(), MaxWait: 100 * time.Millisecond, Logger: testLogger(t),
		Handler: func(_ context.Context, r DecisionRecord) error {
			mu.Lock()
			defer mu.Unlock()
			ids = append(ids, r.Decision.DecisionID)
			return nil
		},
		Skipped: func(_ context.Context, pos Position) error {
			mu.Lock()
			defer mu.Unlock()
			skipped = append(skipped, pos.Offset)
			return nil
		},
	})
	require.NoError(t, err)
	stop := runBackground(t, c.Run)
	eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(ids)+len(skipped) == 5 }, "every message processed")
	require.NoError(t, stop())
	require.Equal(t, []string{"d-00001", "d-00002"}, ids)
	require.Equal(t, []int64{1, 2, 3}, skipped)
	require.Equal(t, DecisionConsumerStats{Consumed: 2, Invalid: 2, Duplicates: 1}, c.Stats())
}

func TestDecisionPublisherFlushesOnShutdown(t *testing.T) {
	b, _ := startBroker(t)
	p, err := NewDecisionPublisher(DecisionPublisherConfig{Brokers: b.Brokers(), MaxBatch: 50, Logger: testLogger(t)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	const n = 1000
	for i := range n {
		require.True(t, p.Publish(testDecision(i)))
	}
	cancel() // cancelled before Run even starts: everything queued is flushed
	require.NoError(t, p.Run(ctx))
	require.Equal(t, DecisionPublisherStats{Published: n}, p.Stats())
	require.False(t, p.Publish(testDecision(n)), "a stopped publisher drops")
	require.Equal(t, uint64(1), p.Stats().DroppedShutdown)
	require.Len(t, readAll(t, b.Brokers(), DefaultDecisionsTopic), n)
}

func TestDecisionPublisherDropsWhenBrokerIsDown(t *testing.T) {
	b, _ := startBroker(t)
	reg := prometheus.NewRegistry()
	p, err := NewDecisionPublisher(DecisionPublisherConfig{
		Brokers: b.Brokers(), QueueSize: 100, MaxBatch: 10,
		WriteTimeout: time.Second, FlushTimeout: time.Second,
		Registerer: reg, Logger: testLogger(t),
	})
	require.NoError(t, err)
	stop := runBackground(t, p.Run)
	require.True(t, p.Publish(testDecision(0)))
	eventually(t, func() bool { return p.Stats().Published == 1 }, "first decision published")

	b.Close()
	const n = 20_000
	var slowest time.Duration
	start := time.Now()
	for i := 1; i <= n; i++ {
		t0 := time.Now()
		p.Publish(testDecision(i))
		slowest = max(slowest, time.Since(t0))
	}
	total := time.Since(start)
	t.Logf("%d publishes with the broker down: %s total, slowest %s", n, total, slowest)
	require.Less(t, total, time.Second, "Publish must not wait for the broker")
	require.Less(t, slowest, 50*time.Millisecond, "no Publish may block")

	stopped := time.Now()
	require.NoError(t, stop())
	require.Less(t, time.Since(stopped), 2*time.Second+time.Second, "Run returns within WriteTimeout+FlushTimeout")

	s := p.Stats()
	require.Greater(t, s.DroppedQueueFull, uint64(n/2), "a full queue drops")
	require.Equal(t, uint64(n+1), s.Published+s.DroppedQueueFull+s.DroppedWriteError+s.DroppedShutdown,
		"every decision is either published or counted as dropped: %+v", s)
	require.Equal(t, float64(s.DroppedQueueFull), metricValue(t, reg, "situ_decisions_dropped_total", map[string]string{"reason": "queue_full"}))
	require.Equal(t, float64(0), metricValue(t, reg, "situ_decisions_queue_length", nil))
}

func TestDecisionPublisherWriteErrorsAreDropped(t *testing.T) {
	// Nothing listens on the address: every write fails fast.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	p, err := NewDecisionPublisher(DecisionPublisherConfig{Brokers: []string{addr}, WriteTimeout: time.Second, FlushTimeout: 500 * time.Millisecond, Logger: testLogger(t)})
	require.NoError(t, err)
	stop := runBackground(t, p.Run)
	for i := range 5 {
		require.True(t, p.Publish(testDecision(i)))
	}
	eventually(t, func() bool { return p.Stats().DroppedWriteError == 5 }, "failed writes counted as write_error")
	require.NoError(t, stop())
	require.Zero(t, p.Stats().Published)
}

func TestDecisionPublisherConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  DecisionPublisherConfig
		err  string
	}{
		{name: "no brokers", cfg: DecisionPublisherConfig{}, err: "no brokers"},
		{name: "queue too small", cfg: DecisionPublisherConfig{Brokers: []string{"x:1"}, QueueSize: -1}, err: "queue size"},
		{name: "batch too large", cfg: DecisionPublisherConfig{Brokers: []string{"x:1"}, MaxBatch: 1_000_000}, err: "max batch"},
		{name: "slow batch timeout", cfg: DecisionPublisherConfig{Brokers: []string{"x:1"}, BatchTimeout: 2 * time.Second}, err: "batch timeout"},
		{name: "acks out of range", cfg: DecisionPublisherConfig{Brokers: []string{"x:1"}, RequiredAcks: 7}, err: "required acks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewDecisionPublisher(tt.cfg)
			require.ErrorContains(t, err, tt.err)
		})
	}

	reg := prometheus.NewRegistry()
	_, err := NewDecisionPublisher(DecisionPublisherConfig{Brokers: []string{"x:1"}, Registerer: reg})
	require.NoError(t, err)
	_, err = NewDecisionPublisher(DecisionPublisherConfig{Brokers: []string{"x:1"}, Registerer: reg})
	require.ErrorContains(t, err, "already registered", "two publishers cannot share a registry")
}

func TestDecisionPublishDoesNotAllocate(t *testing.T) {
	p, err := NewDecisionPublisher(DecisionPublisherConfig{Brokers: []string{"x:1"}, QueueSize: 1000})
	require.NoError(t, err)
	d := testDecision(1)
	queued := testing.AllocsPerRun(900, func() { p.Publish(d) }) // 901 calls: all queued
	full := testing.AllocsPerRun(500, func() { p.Publish(d) })   // 99 queued, then dropped
	require.Zero(t, queued)
	require.Zero(t, full)
	require.Equal(t, DecisionPublisherStats{Queued: 1000, DroppedQueueFull: 901 + 501 - 1000}, p.Stats())
}

// BenchmarkDecisionPublish measures Publish when the decision is queued
// (the queue is emptied, off the clock, whenever it fills) and when the
// queue is full and the decision is dropped.
func BenchmarkDecisionPublish(b *testing.B) {
	d := testDecision(1)
	b.Run("queued", func(b *testing.B) {
		p, err := NewDecisionPublisher(DecisionPublisherConfig{Brokers: []string{"x:1"}})
		require.NoError(b, err)
		b.ReportAllocs()
		for b.Loop() {
			p.Publish(d)
			if len(p.queue) == cap(p.queue) {
				b.StopTimer()
				for len(p.queue) > 0 {
					<-p.queue
				}
				b.StartTimer()
			}
		}
		require.Zero(b, p.Stats().DroppedQueueFull)
	})
	b.Run("queue_full", func(b *testing.B) {
		p, err := NewDecisionPublisher(DecisionPublisherConfig{Brokers: []string{"x:1"}, QueueSize: 1})
		require.NoError(b, err)
		p.Publish(d)
		b.ReportAllocs()
		for b.Loop() {
			p.Publish(d)
		}
	})
}

func TestDecisionPublisherRecoversAfterBrokerRestart(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := StartEmbeddedBroker(ctx, BrokerConfig{Addr: "127.0.0.1:0", DataDir: dir})
	require.NoError(t, err)
	defer func() { b.Close() }()
	require.NoError(t, EnsureTopics(ctx, b.Brokers(), TopicsConfig{}))
	addr := b.Addr()

	p, err := NewDecisionPublisher(DecisionPublisherConfig{Brokers: []string{addr}, WriteTimeout: time.Second, Logger: testLogger(t)})
	require.NoError(t, err)
	stop := runBackground(t, p.Run)
	p.Publish(testDecision(1))
	eventually(t, func() bool { return p.Stats().Published == 1 })

	b.Close()
	p.Publish(testDecision(2))
	eventually(t, func() bool { return p.Stats().DroppedWriteError == 1 }, "dropped while the broker is down")

	b, err = StartEmbeddedBroker(ctx, BrokerConfig{Addr: addr, DataDir: dir})
	require.NoError(t, err)
	eventually(t, func() bool {
		p.Publish(testDecision(3))
		return p.Stats().Published >= 2
	}, "publishing again once the broker is back")
	require.NoError(t, stop())
	s := p.Stats()
	require.Equal(t, s.Published, uint64(len(readAll(t, []string{addr}, DefaultDecisionsTopic))), "what is counted published is in the topic")
}
