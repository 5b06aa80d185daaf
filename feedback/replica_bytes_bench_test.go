package feedback

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"situ/models"
)

// BenchmarkReplicaBytesPerModelVersion runs the learning loop over a backlog of
// outcomes (three partitions, default snapshot settings) and sums the
// bytes of every value on the models topic: what a replica following it
// reads, per model version. Run it with `make bench-replica-bytes`.
func BenchmarkReplicaBytesPerModelVersion(b *testing.B) {
	for b.Loop() {
		brokers := benchBroker(b, 3)
		schema, base, reward := learnerFixture(b, "default")
		s := makeStream(b, schema, 20000, 5)
		writeBacklog(b, brokers, s)
		l, err := NewLearningLoop(LearningLoopConfig{Brokers: brokers, Base: base, Reward: reward, Logger: zap.NewNop()})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- l.Run(ctx) }()
		for l.Stats().Updates < uint64(s.valid) {
			time.Sleep(2 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		reportModelsBytes(b, brokers)
	}
}

func writeBacklog(b *testing.B, brokers []string, s stream) {
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: Partitioner(), RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, BatchSize: 1000, BatchBytes: maxMessageBytes, Transport: tr}
	defer w.Close()
	for topic, msgs := range map[string][]kafka.Message{DefaultDecisionsTopic: s.decisions, DefaultOutcomesTopic: s.outcomes} {
		for i := 0; i < len(msgs); i += 1000 {
			m := msgs[i:min(i+1000, len(msgs))]
			for k := range m {
				m[k].Topic = topic
			}
			if err := w.WriteMessages(context.Background(), m...); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func reportModelsBytes(b *testing.B, brokers []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var total, records int
	versions := map[int64]bool{}
	err := readTopic(ctx, readerConfig{brokers: brokers, topic: DefaultModelsTopic, untilEnd: true, log: zap.NewNop()}, func(_ context.Context, m kafka.Message) error {
		total += len(m.Value)
		records++
		snap, err := models.DecodeSnapshot(m.Value)
		if err != nil {
			return err
		}
		versions[snap.Model.Version] = true
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(total)/float64(len(versions)), "bytes/version")
	b.ReportMetric(float64(records), "records")
	b.ReportMetric(float64(len(versions)), "versions")
	var cpBytes int
	err = readTopic(ctx, readerConfig{brokers: brokers, topic: DefaultCheckpointsTopic, untilEnd: true, log: zap.NewNop()}, func(_ context.Context, m kafka.Message) error {
		cpBytes += len(m.Value)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("checkpoints topic (read by the learner only, at restore): %d bytes in all", cpBytes)
	b.Logf("models topic: %d records, %d versions, %d bytes, %.0f bytes per version", records, len(versions), total, float64(total)/float64(len(versions)))
}
