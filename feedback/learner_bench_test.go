package feedback

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"situ/models"
)

// BenchmarkLearnerEndToEnd measures, through the embedded broker over TCP:
// how many outcomes per second one learner applies from a backlog
// (decisions and outcomes already in the topics), and the latency from an
// outcome being written to Kafka to a replica serving a model that
// includes it, at a steady 1,000 outcomes/s with the default snapshot
// interval. Run it with `make bench-learner`.
func BenchmarkLearnerEndToEnd(b *testing.B) {
	for b.Loop() {
		benchThroughput(b, 50000)
		benchLatency(b, 1000, 10*time.Second)
	}
}

func benchBroker(b *testing.B, partitions int) []string {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	br, err := StartEmbeddedBroker(ctx, BrokerConfig{Addr: "127.0.0.1:0", DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(br.Close)
	if err := EnsureTopics(ctx, br.Brokers(), TopicsConfig{DecisionPartitions: partitions, OutcomePartitions: partitions}.WithDefaults()); err != nil {
		b.Fatal(err)
	}
	return br.Brokers()
}

func benchThroughput(b *testing.B, n int) {
	brokers := benchBroker(b, 3)
	schema, base, reward := learnerFixture(b, "default")
	s := makeStream(b, schema, n, 5)
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: Partitioner(), RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, BatchSize: 1000, BatchBytes: maxMessageBytes, Transport: tr}
	defer w.Close()
	ctx := context.Background()
	for topic, msgs := range map[string][]kafka.Message{DefaultDecisionsTopic: s.decisions, DefaultOutcomesTopic: s.outcomes} {
		for m := range slices.Chunk(msgs, 1000) {
			for i := range m {
				m[i].Topic = topic
			}
			if err := w.WriteMessages(ctx, m...); err != nil {
				b.Fatal(err)
			}
		}
	}
	l, err := NewLearningLoop(LearningLoopConfig{Brokers: brokers, Base: base, Reward: reward, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	cpu0 := processCPU()
	start := time.Now()
	go func() { done <- l.Run(runCtx) }()
	deadline := time.Now().Add(2 * time.Minute)
	for l.Stats().Updates < uint64(s.valid) {
		if time.Now().After(deadline) {
			cancel()
			<-done
			b.Fatalf("backlog not applied in 2 minutes: %+v", l.Stats())
		}
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(s.valid)/elapsed.Seconds(), "backlog_outcomes/s")
	b.ReportMetric(cpu.Seconds(), "backlog_cpu_s")
	b.Logf("backlog: %d outcomes (%d messages incl. duplicates and poison) applied in %s from start, restore included", s.valid, len(s.outcomes), elapsed.Round(time.Millisecond))
}

// swapRecorder records when each model version was swapped in and how many
// updates it held.
type swapRecorder struct {
	m     atomic.Pointer[models.Model]
	mu    sync.Mutex
	swaps []swap
}

type swap struct {
	at      time.Time
	updates int64
}

func (r *swapRecorder) Model() *models.Model { return r.m.Load() }
func (r *swapRecorder) SetModel(m *models.Model) {
	r.m.Store(m)
	r.mu.Lock()
	r.swaps = append(r.swaps, swap{time.Now(), m.Updates()})
	r.mu.Unlock()
}

// cleanPairs returns the stream's decisions and, for each, its first valid
// outcome, as messages addressed to their topics.
func cleanPairs(s stream) (int, []kafka.Message, []kafka.Message) {
	seen := map[string]bool{}
	var outs []kafka.Message
	for _, m := range s.outcomes {
		var o models.Outcome
		if json.Unmarshal(m.Value, &o) != nil || o.Validate() != nil || seen[o.DecisionID] || len(o.DecisionID) > 6 && o.DecisionID[:6] == "ghost-" {
			continue
		}
		seen[o.DecisionID] = true
		m.Topic = DefaultOutcomesTopic
		outs = append(outs, m)
	}
	decs := make([]kafka.Message, len(s.decisions))
	for i, m := range s.decisions {
		m.Topic = DefaultDecisionsTopic
		decs[i] = m
	}
	return len(outs), decs, outs
}

func benchLatency(b *testing.B, rate int, d time.Duration) {
	brokers := benchBroker(b, 1) // one partition: outcomes are applied in the order written
	schema, base, reward := learnerFixture(b, "default")
	n := rate * int(d/time.Second)
	s := makeStream(b, schema, n, 6)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := NewLearningLoop(LearningLoopConfig{Brokers: brokers, Base: base, Reward: reward, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	rec := &swapRecorder{}
	rec.m.Store(base)
	f, err := NewModelFollower(ModelFollowerConfig{Brokers: brokers, Name: "default", Schema: schema, Target: rec, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{l.Run, f.Run} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = run(ctx) }()
	}
	<-f.CaughtUp()

	// every 10 ms: ten decisions, then their ten outcomes; keep the time
	// each outcome was acknowledged by the broker
	valid, decisions, outcomes := cleanPairs(s)
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: Partitioner(), RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, Transport: tr}
	defer w.Close()
	written := make([]time.Time, 0, valid)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	per := rate / 100
	for i := 0; i < valid; i += per {
		<-tick.C
		j := min(i+per, valid)
		if err := w.WriteMessages(ctx, decisions[i:j]...); err != nil {
			b.Fatal(err)
		}
		if err := w.WriteMessages(ctx, outcomes[i:j]...); err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		for range j - i {
			written = append(written, now)
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for rec.Model().Updates() < int64(valid) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	rec.mu.Lock()
	swaps := slices.Clone(rec.swaps)
	rec.mu.Unlock()
	var lat []time.Duration
	for i, at := range written {
		k, _ := slices.BinarySearchFunc(swaps, int64(i+1), func(s swap, u int64) int {
			switch {
			case s.updates < u:
				return -1
			case s.updates > u:
				return 1
			}
			return 0
		})
		if k < len(swaps) {
			lat = append(lat, swaps[k].at.Sub(at))
		}
	}
	if len(lat) == 0 {
		b.Fatal("no outcome reached a served model")
	}
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	b.ReportMetric(float64(p(0.5).Milliseconds()), "p50_ms")
	b.ReportMetric(float64(p(0.99).Milliseconds()), "p99_ms")
	b.Logf("latency outcome written → model serving it: %d outcomes at %d/s, p50 %s, p99 %s, max %s, %d model swaps",
		len(lat), rate, p(0.5).Round(time.Millisecond), p(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond), len(swaps))
}
