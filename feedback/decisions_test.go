package feedback

import (
	"context"
	"math"
	"testing"
	"time"

	json "github.com/go-json-experiment/json"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"situ/internal/situtest"
	"situ/models"
)

func TestDecisionPublisherDeliversDecisions(t *testing.T) {
	b, topics := startBroker(t)
	reg := prometheus.NewRegistry()
	p, err := NewDecisionPublisher(DecisionPublisherConfig{Brokers: b.Brokers(), Registerer: reg, Logger: testLogger(t)})
	require.NoError(t, err)
	stopPublisher := runBackground(t, p.Run)

	const n = 300
	want := map[string]models.DecisionEvent{}
	for i := range n {
		d := testDecision(i)
		want[d.DecisionID] = d
		require.True(t, p.Publish(d))
	}
	eventually(t, func() bool { return p.Stats().Published == n }, "all decisions written")
	require.NoError(t, stopPublisher())

	msgs := readAll(t, b.Brokers(), topics.Decisions)
	require.Len(t, msgs, n)
	for _, m := range msgs {
		d, err := models.DecodeDecisionEvent(m.Value, json.RejectUnknownMembers(true))
		require.NoError(t, err)
		id := string(m.Key)
		require.Contains(t, want, id, "each decision once, keyed by its id")
		require.Equal(t, want[id], d, "decision %s intact", id)
		delete(want, id)
		require.Equal(t, PartitionForKey(m.Key, topics.DecisionPartitions), m.Partition, "decision %s partition", id)
		require.True(t, m.Time.Equal(d.Time), "message time is the decision time")
	}
	require.Equal(t, DecisionPublisherStats{Published: n}, p.Stats())
	require.Equal(t, float64(n), metricValue(t, reg, "situ_decisions_published_total", nil))
	require.Equal(t, float64(0), metricValue(t, reg, "situ_decisions_dropped_total", map[string]string{"reason": "queue_full"}))
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
	// encoded beforehand, as the request path (RecordingDecider) does: what
	// is timed is the hand-off to the publisher
	events := make([][]byte, n+1)
	for i := 1; i <= n; i++ {
		v, err := json.Marshal(testDecision(i))
		require.NoError(t, err)
		events[i] = v
	}
	var slowest time.Duration
	start := time.Now()
	for i := 1; i <= n; i++ {
		t0 := time.Now()
		p.PublishEncoded([]byte(testDecision(i).DecisionID), events[i], testDecision(i).Time)
		slowest = max(slowest, time.Since(t0))
	}
	total := time.Since(start)
	t.Logf("%d publishes with the broker down: %s total, slowest %s", n, total, slowest)
	require.Less(t, total, time.Second, "Publish must not wait for the broker")
	// a Publish that waited for the broker would take the write timeout (1 s)
	require.Less(t, slowest, 500*time.Millisecond, "no Publish may wait for a write")

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

func TestDecisionPublisherRetriesWhileTheBrokerIsUnreachable(t *testing.T) {
	// Nothing listens on the address: every write fails fast.
	addr := situtest.ReserveAddr(t)

	p, err := NewDecisionPublisher(DecisionPublisherConfig{Brokers: []string{addr}, WriteTimeout: time.Second, FlushTimeout: 500 * time.Millisecond, Logger: testLogger(t)})
	require.NoError(t, err)
	stop := runBackground(t, p.Run)
	for i := range 5 {
		require.True(t, p.Publish(testDecision(i)))
	}
	time.Sleep(1500 * time.Millisecond) // several failed attempts
	s := p.Stats()
	require.Zero(t, s.DroppedWriteError, "an unreachable broker drops nothing while the queue has room: %+v", s)
	require.Zero(t, s.Published)
	require.NoError(t, stop())
	require.Equal(t, uint64(5), p.Stats().DroppedShutdown, "still unwritten at shutdown")
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

func TestDecisionPublishEncodedDoesNotAllocate(t *testing.T) {
	p, err := NewDecisionPublisher(DecisionPublisherConfig{Brokers: []string{"x:1"}, QueueSize: 1000})
	require.NoError(t, err)
	d := testDecision(1)
	key, value := []byte(d.DecisionID), encodeJSON(t, d)
	queued := testing.AllocsPerRun(900, func() { p.PublishEncoded(key, value, d.Time) }) // 901 calls: all queued
	full := testing.AllocsPerRun(500, func() { p.PublishEncoded(key, value, d.Time) })   // 99 queued, then dropped
	require.Zero(t, queued)
	require.Zero(t, full)
	require.Equal(t, DecisionPublisherStats{Queued: 1000, DroppedQueueFull: 901 + 501 - 1000}, p.Stats())
}

func TestDecisionPublisherDropsUnsendableEvents(t *testing.T) {
	p, err := NewDecisionPublisher(DecisionPublisherConfig{Brokers: []string{"x:1"}, Logger: testLogger(t)})
	require.NoError(t, err)
	nan := testDecision(1)
	nan.Propensity = math.NaN()
	require.False(t, p.Publish(nan), "NaN cannot be encoded")
	require.False(t, p.PublishEncoded([]byte("d"), make([]byte, maxMessageBytes), time.Now()), "larger than a Kafka message")
	require.Equal(t, DecisionPublisherStats{DroppedWriteError: 2}, p.Stats())
}

// BenchmarkDecisionPublish measures PublishEncoded when the event is queued
// (the queue is emptied, off the clock, whenever it fills) and when the
// queue is full and the event is dropped.
func BenchmarkDecisionPublish(b *testing.B) {
	d := testDecision(1)
	value, err := d.AppendJSON(nil)
	require.NoError(b, err)
	key := []byte(d.DecisionID)
	b.Run("queued", func(b *testing.B) {
		p, err := NewDecisionPublisher(DecisionPublisherConfig{Brokers: []string{"x:1"}})
		require.NoError(b, err)
		b.ReportAllocs()
		for b.Loop() {
			p.PublishEncoded(key, value, d.Time)
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
		p.PublishEncoded(key, value, d.Time)
		b.ReportAllocs()
		for b.Loop() {
			p.PublishEncoded(key, value, d.Time)
		}
	})
}

func encodeJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	require.NoError(tb, err)
	return b
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
	time.Sleep(1500 * time.Millisecond) // failed attempts while the broker is down
	require.Equal(t, uint64(1), p.Stats().Published)
	require.Zero(t, p.Stats().DroppedWriteError, "kept while the broker is down")

	b, err = StartEmbeddedBroker(ctx, BrokerConfig{Addr: addr, DataDir: dir})
	require.NoError(t, err)
	eventually(t, func() bool { return p.Stats().Published == 2 }, "the decision made during the outage is published once the broker is back")
	p.Publish(testDecision(3))
	eventually(t, func() bool { return p.Stats().Published == 3 }, "publishing again once the broker is back")
	require.NoError(t, stop())
	s := p.Stats()
	require.Zero(t, s.DroppedWriteError+s.DroppedQueueFull+s.DroppedShutdown, "nothing dropped: %+v", s)
	require.Equal(t, s.Published, uint64(len(readAll(t, []string{addr}, DefaultDecisionsTopic))), "what is counted published is in the topic")
}
