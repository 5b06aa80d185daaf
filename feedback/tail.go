package feedback

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"situ/internal/backoff"
)

// TailRecord is one message of a compacted topic (nba.models, nba.control).
type TailRecord struct {
	Key     []byte
	Value   []byte // nil for a tombstone: the key was deleted
	Headers []kafka.Header
	// Time is the message timestamp.
	Time time.Time
	Position
}

// Tombstone reports whether the record deletes its key.
func (r TailRecord) Tombstone() bool { return r.Value == nil }

// TailConfig configures a TailReader.
type TailConfig struct {
	// Brokers is the bootstrap list. Required.
	Brokers []string
	// Topic is read, from the first offset of every partition. Required
	// (e.g. "nba.models" or "nba.control").
	Topic string
	// Handler receives every record in offset order per partition, one call
	// at a time; with compaction the last record per key is its current
	// value. An error stops Run: return nil to skip a record. When the
	// topic cannot be listed (a broker starting), Run retries from the
	// start, so the handler may see records again. Required.
	Handler func(ctx context.Context, r TailRecord) error
	// MaxWait bounds one fetch and so how late Run notices cancellation.
	// Default 500ms; at most 1s.
	MaxWait time.Duration
	// Registerer receives the metrics: situ_kafka_records_read_total,
	// situ_kafka_read_errors_total, situ_kafka_reader_up and
	// situ_kafka_last_fetch_success_timestamp_seconds with the label
	// topic. Default nil: not registered.
	Registerer prometheus.Registerer
	// Logger is the parent logger; the reader logs as "tail".
	Logger *zap.Logger
}

// TailReader reads a compacted topic from its start and then follows it,
// without a consumer group, so every replica sees the latest value of every
// key. CaughtUp tells when the records present at start have been handled.
type TailReader struct {
	cfg       TailConfig
	log       *zap.Logger
	metrics   *readerMetrics
	running   atomic.Bool
	caughtUp  chan struct{}
	closeOnce sync.Once
}

// NewTailReader returns a reader; Run reads.
func NewTailReader(cfg TailConfig) (*TailReader, error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	switch {
	case cfg.Topic == "":
		return nil, errors.New("tail reader: a topic is required")
	case cfg.Handler == nil:
		return nil, errors.New("tail reader: a handler is required")
	}
	if err := validateReaderSettings(cfg.Brokers, cfg.MaxWait); err != nil {
		return nil, fmt.Errorf("tail reader %s: %w", cfg.Topic, err)
	}
	km, err := newKafkaMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("tail reader %s: %w", cfg.Topic, err)
	}
	return &TailReader{
		cfg: cfg, log: cfg.Logger.Named("tail").With(zap.String("topic", cfg.Topic)),
		metrics: km.reader(cfg.Topic), caughtUp: make(chan struct{}),
	}, nil
}

// CaughtUp is closed once every record that was in the topic when Run
// started has been handled: a replica is ready to serve from then on.
func (t *TailReader) CaughtUp() <-chan struct{} { return t.caughtUp }

// Run reads until ctx is cancelled (it then returns nil) or the handler
// fails (it returns that error). Run may be called once.
func (t *TailReader) Run(ctx context.Context) error {
	if !t.running.CompareAndSwap(false, true) {
		return fmt.Errorf("tail reader %s: Run called twice", t.cfg.Topic)
	}
	retry, err := backoff.New(backoff.Policy{First: 100 * time.Millisecond, Max: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("tail reader %s: %w", t.cfg.Topic, err)
	}
	for {
		handlerFailed := false
		err := readTopic(ctx, readerConfig{
			brokers: t.cfg.Brokers, topic: t.cfg.Topic, maxWait: t.cfg.MaxWait,
			log: t.log, metrics: t.metrics,
			caughtUp: func() { t.closeOnce.Do(func() { close(t.caughtUp) }) },
		}, func(ctx context.Context, m kafka.Message) error {
			err := t.cfg.Handler(ctx, tailRecord(m))
			handlerFailed = err != nil
			return err
		})
		if err == nil || handlerFailed || ctx.Err() != nil {
			return err
		}
		// The topic could not be listed (a broker starting or restarting):
		// read it again from the start, which the handler must tolerate.
		t.metrics.failed(1)
		pause := retry.Next()
		t.log.Warn("cannot read the topic yet, retrying", zap.Error(err), zap.Duration("retry_in", pause))
		if retry.Sleep(ctx, pause) != nil {
			return nil
		}
	}
}

func tailRecord(m kafka.Message) TailRecord {
	return TailRecord{
		Key: m.Key, Value: m.Value, Headers: m.Headers, Time: m.Time,
		Position: Position{Topic: m.Topic, Partition: int32(m.Partition), Offset: m.Offset},
	}
}

// ReadLatest reads a compacted topic from its start up to its end as of the
// call and returns the latest record of every key (tombstoned keys are
// absent): how a learner restores its last snapshot before it resumes.
func ReadLatest(ctx context.Context, brokers []string, topic string) (map[string]TailRecord, error) {
	if err := validateReaderSettings(brokers, 0); err != nil {
		return nil, fmt.Errorf("read latest of %s: %w", topic, err)
	}
	latest := make(map[string]TailRecord)
	err := readTopic(ctx, readerConfig{brokers: brokers, topic: topic, untilEnd: true, log: zap.NewNop()},
		func(_ context.Context, m kafka.Message) error {
			if m.Value == nil {
				delete(latest, string(m.Key))
			} else {
				latest[string(m.Key)] = tailRecord(m)
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("read latest of %s: %w", topic, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read latest of %s: %w", topic, err)
	}
	return latest, nil
}
