package feedback

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
)

func TestNewKafkaMetricsSharesOneRegistry(t *testing.T) {
	tests := []struct {
		name    string
		reg     func() *prometheus.Registry
		wantErr string
	}{
		{name: "nil registry", reg: func() *prometheus.Registry { return nil }},
		{name: "empty registry", reg: prometheus.NewRegistry},
		{name: "registered by another component", reg: func() *prometheus.Registry {
			reg := prometheus.NewRegistry()
			_, err := newKafkaMetrics(reg)
			require.NoError(t, err)
			return reg
		}},
		{name: "name taken by another kind of metric", wantErr: metricReaderUp, reg: func() *prometheus.Registry {
			reg := prometheus.NewRegistry()
			reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: metricReaderUp, Help: "other"}))
			return reg
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := tt.reg()
			var r prometheus.Registerer
			if reg != nil {
				r = reg
			}
			m, err := newKafkaMetrics(r)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			m.reader("a").failed(2)
			m.writer("b").wrote(3, 1)
			if reg == nil {
				return
			}
			again, err := newKafkaMetrics(reg)
			require.NoError(t, err)
			again.reader("a").failed(1)
			require.Equal(t, float64(3), metricValue(t, reg, metricReadErrors, map[string]string{"topic": "a"}), "one counter per name and topic")
			require.Equal(t, float64(2), metricValue(t, reg, metricRecordsWritten, map[string]string{"topic": "b"}))
			require.Equal(t, float64(1), metricValue(t, reg, metricWriteErrors, map[string]string{"topic": "b"}))
		})
	}
}

// awaitMetric polls a metric until cond holds or 20 s pass.
func awaitMetric(t *testing.T, reg *prometheus.Registry, name, topic string, cond func(float64) bool, msg string) {
	t.Helper()
	require.Eventually(t, func() bool {
		return cond(metricValue(t, reg, name, map[string]string{"topic": topic}))
	}, 20*time.Second, 10*time.Millisecond, "%s{topic=%q}: %s", name, topic, msg)
}

func isOne(v float64) bool      { return v == 1 }
func isZero(v float64) bool     { return v == 0 }
func isPositive(v float64) bool { return v > 0 }

// TestModelFollowerReportsAStalledFeed: a replica's follower whose broker
// goes away shows it: read errors for the models topic, its up gauge at 0,
// its last successful fetch no longer advancing.
func TestModelFollowerReportsAStalledFeed(t *testing.T) {
	b, topics := startBroker(t)
	schema, base, _ := learnerFixture(t, "default")
	target := &engineStub{}
	target.SetModel(base)
	reg := prometheus.NewRegistry()
	f, err := NewModelFollower(ModelFollowerConfig{Brokers: b.Brokers(), Name: "default", Schema: schema, Target: target, Registerer: reg, Logger: testLogger(t)})
	require.NoError(t, err)
	require.Equal(t, float64(0), metricValue(t, reg, metricReaderUp, map[string]string{"topic": topics.Models}), "down until a fetch succeeds")
	stop := runBackground(t, f.Run)
	<-f.CaughtUp()
	awaitMetric(t, reg, metricReaderUp, topics.Models, isOne, "up while the broker answers")
	awaitMetric(t, reg, metricLastFetch, topics.Models, isPositive, "a successful fetch is stamped")
	require.Equal(t, float64(0), metricValue(t, reg, metricReadErrors, map[string]string{"topic": topics.Models}))

	b.Close()
	awaitMetric(t, reg, metricReadErrors, topics.Models, isPositive, "fetch errors counted by topic")
	awaitMetric(t, reg, metricReaderUp, topics.Models, isZero, "down once fetches fail")
	last := metricValue(t, reg, metricLastFetch, map[string]string{"topic": topics.Models})
	errs := metricValue(t, reg, metricReadErrors, map[string]string{"topic": topics.Models})
	awaitMetric(t, reg, metricReadErrors, topics.Models, func(v float64) bool { return v > errs }, "errors keep counting while the broker is away")
	require.Equal(t, last, metricValue(t, reg, metricLastFetch, map[string]string{"topic": topics.Models}), "no successful fetch while the broker is away")
	require.Equal(t, float64(0), metricValue(t, reg, metricReaderUp, map[string]string{"topic": topics.Models}))
	select {
	case <-f.CaughtUp():
	default:
		t.Fatal("readiness stays as it was: the follower had caught up")
	}
	require.NoError(t, stop())
}

// topicsOf returns, per metric name, the topic label values the registry
// exposes for the Kafka metrics.
func topicsOf(t *testing.T, reg *prometheus.Registry) map[string][]string {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string][]string{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "topic" {
					out[mf.GetName()] = append(out[mf.GetName()], lp.GetValue())
				}
			}
		}
		slices.Sort(out[mf.GetName()])
	}
	return out
}

// TestKafkaMetricsOfOneProcess: the components of a --role all process on
// one registry (follower, decision and outcome publishers, learner) share
// the Kafka metrics and expose every topic they read or write; the readers
// go up while the broker answers and down when it goes away, and writes
// that fail are counted by topic.
func TestKafkaMetricsOfOneProcess(t *testing.T) {
	b, topics := startBroker(t)
	schema, base, reward := learnerFixture(t, "default")
	reg := prometheus.NewRegistry()
	target := &engineStub{}
	target.SetModel(base)
	follower, err := NewModelFollower(ModelFollowerConfig{Brokers: b.Brokers(), Name: "default", Schema: schema, Target: target, Registerer: reg, Logger: testLogger(t)})
	require.NoError(t, err)
	decisions, err := NewDecisionPublisher(DecisionPublisherConfig{Brokers: b.Brokers(), MaxAttempts: 1, WriteTimeout: time.Second, FlushTimeout: time.Second, Registerer: reg, Logger: testLogger(t)})
	require.NoError(t, err)
	outcomes, err := NewOutcomePublisher(OutcomePublisherConfig{Brokers: b.Brokers(), WriteTimeout: time.Second, Registerer: reg, Logger: testLogger(t)})
	require.NoError(t, err)
	defer outcomes.Close()
	learner := newTestLearner(t, b.Brokers(), base, reward, reg)

	readTopics := []string{topics.Decisions, topics.Models, topics.Outcomes}
	writeTopics := []string{topics.Decisions, topics.Models, topics.Checkpoints, topics.Outcomes, topics.OutcomesDLQ}
	slices.Sort(readTopics)
	slices.Sort(writeTopics)
	require.Equal(t, map[string][]string{
		metricReadErrors: readTopics, metricRecordsRead: readTopics, metricReaderUp: readTopics, metricLastFetch: readTopics,
		metricWriteErrors: writeTopics, metricRecordsWritten: writeTopics,
	}, topicsOf(t, reg), "every topic's series, from the start")

	stopFollower := runBackground(t, follower.Run)
	stopDecisions := runBackground(t, decisions.Run)
	stopLearner := runBackground(t, learner.Run)
	for _, topic := range readTopics {
		awaitMetric(t, reg, metricReaderUp, topic, isOne, "up while the broker answers")
	}

	d := learnableDecision(schema, 1, "d-metrics")
	require.True(t, decisions.Publish(d))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, outcomes.PublishOutcome(ctx, testOutcome(1, d.DecisionID)))
	produce(t, b.Brokers(), topics.Outcomes, kafka.Message{Key: []byte("d-poison"), Value: []byte(`{"outcome_id": 7`)})
	awaitMetric(t, reg, metricRecordsWritten, topics.Decisions, isOne, "the decision written")
	require.Equal(t, float64(1), metricValue(t, reg, metricRecordsWritten, map[string]string{"topic": topics.Outcomes}))
	awaitMetric(t, reg, metricRecordsRead, topics.Decisions, isOne, "the learner read the decision")
	awaitMetric(t, reg, metricRecordsRead, topics.Outcomes, func(v float64) bool { return v == 2 }, "the learner read both outcomes")
	awaitMetric(t, reg, metricRecordsWritten, topics.OutcomesDLQ, isOne, "the poison outcome dead-lettered")
	awaitMetric(t, reg, metricRecordsWritten, topics.Models, isPositive, "a snapshot written")
	awaitMetric(t, reg, metricRecordsRead, topics.Models, isPositive, "the follower read the snapshot")

	b.Close()
	for _, topic := range readTopics {
		awaitMetric(t, reg, metricReaderUp, topic, isZero, "down once the broker is gone")
	}
	readErrors := func(topic string) float64 {
		return metricValue(t, reg, metricReadErrors, map[string]string{"topic": topic})
	}
	require.Positive(t, readErrors(topics.Models), "the follower's errors")
	// the learner fails on whichever topic it used first: reading decisions
	// or outcomes, or writing its checkpoint (its next sessions then fail
	// before reading, at the restore)
	require.Eventually(t, func() bool {
		return readErrors(topics.Decisions)+readErrors(topics.Outcomes)+
			metricValue(t, reg, metricWriteErrors, map[string]string{"topic": topics.Checkpoints}) > 0
	}, 15*time.Second, 20*time.Millisecond, "the learner's errors, on the topic that failed first")
	require.True(t, decisions.Publish(testDecision(2)))
	awaitMetric(t, reg, metricWriteErrors, topics.Decisions, isOne, "the failed decision write counted")
	require.Error(t, outcomes.PublishOutcome(ctx, testOutcome(2, "d-2")))
	require.Equal(t, float64(1), metricValue(t, reg, metricWriteErrors, map[string]string{"topic": topics.Outcomes}))
	require.Equal(t, float64(1), metricValue(t, reg, metricRecordsWritten, map[string]string{"topic": topics.Outcomes}))

	require.NoError(t, stopDecisions())
	require.NoError(t, stopFollower())
	_ = stopLearner() // a final snapshot, if it tries one, cannot be written
}
