package feedback

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"situ/features"
	"situ/models"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startBroker starts an embedded broker on a free loopback port with its
// data in a temporary directory, and the default topics.
func startBroker(t *testing.T) (*EmbeddedBroker, TopicsConfig) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := StartEmbeddedBroker(ctx, BrokerConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Logger: testLogger(t)})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	topics := TopicsConfig{}.WithDefaults()
	require.NoError(t, EnsureTopics(ctx, b.Brokers(), topics))
	return b, topics
}

func testLogger(t *testing.T) *zap.Logger {
	return zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
}

// runBackground runs fn until the returned stop is called (or the test
// ends) and returns fn's result; stop fails the test if fn does not return
// within 10 s.
func runBackground(t *testing.T, fn func(ctx context.Context) error) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				err = fmt.Errorf("did not stop within 10s of cancellation")
				t.Error(err)
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// testDecision returns a decision event numbered i.
func testDecision(i int) models.DecisionEvent {
	eligible := features.AllTreatments.Without(features.SelfService)
	return models.DecisionEvent{
		FormatVersion:     models.DecisionEventFormatVersion,
		DecisionID:        fmt.Sprintf("d-%05d", i),
		Time:              time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond),
		ModelName:         "default",
		ModelVersion:      17,
		SchemaVersion:     1,
		SchemaFingerprint: "00000000deadbeef",
		Strategy:          "learned",
		Explorer:          "squarecb",
		Treatment:         "fast_resolution",
		Propensity:        0.9,
		Probabilities:     models.Probabilities{Of: eligible, P: [features.NumTreatments]float64{0.9, 0.1, 0}},
		Eligible:          models.TreatmentList(eligible),
		Candidates:        models.TreatmentList(features.AllTreatments),
		Rules:             []string{"friction-no-self-service"},
		Features:          []features.Entry{{Index: 0, Value: 1}, {Index: int32(3 + i%5), Value: 0.25}},
	}
}

// testOutcome returns a valid outcome numbered i for decision d.
func testOutcome(i int, decisionID string) models.Outcome {
	csat := float64(1 + i%5)
	return models.Outcome{
		OutcomeID:     fmt.Sprintf("o-%05d", i),
		DecisionID:    decisionID,
		Resolved:      i%2 == 0,
		CSAT:          &csat,
		Revenue:       float64(i),
		HandleSeconds: 340,
		OccurredAt:    time.Date(2026, 11, 22, 10, 5, 0, 0, time.UTC),
	}
}

// produce writes raw messages to topic with situ's partitioner.
func produce(t *testing.T, brokers []string, topic string, msgs ...kafka.Message) {
	t.Helper()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w := newSyncWriter(brokers, topic, time.Millisecond, 5*time.Second, tr, zap.NewNop())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, w.WriteMessages(ctx, msgs...))
	require.NoError(t, w.Close())
}

// readAll reads topic from the start up to its current end.
func readAll(t *testing.T, brokers []string, topic string) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var msgs []kafka.Message
	err := readTopic(ctx, readerConfig{brokers: brokers, topic: topic, untilEnd: true, log: zap.NewNop()},
		func(_ context.Context, m kafka.Message) error {
			msgs = append(msgs, m)
			return nil
		})
	require.NoError(t, err)
	require.NoError(t, ctx.Err(), "read %s to its end", topic)
	return msgs
}

// eventually waits up to 10 s for cond.
func eventually(t *testing.T, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 5*time.Millisecond, msgAndArgs...)
}

// metricValue returns the value of the metric name with the given labels
// from reg, or fails the test.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("metric %s%v not found", name, labels)
	return 0
}

// uuidV7 returns a UUIDv7 decision id of time at (what situ's ids are:
// the late tier finds a decision by its id's time), unique by n.
func uuidV7(at time.Time, n uint64) string {
	ms := at.UnixMilli()
	return fmt.Sprintf("%08x-%04x-7%03x-8%03x-%012x", ms>>16, ms&0xffff, n>>60&0xfff, n>>48&0xfff, n&(1<<48-1))
}
