package feedback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"situ/models"
)

// OutcomePublisherConfig configures an OutcomePublisher.
type OutcomePublisherConfig struct {
	// Brokers is the bootstrap list. Required.
	Brokers []string
	// Topic receives the outcomes. Default "nba.outcomes".
	Topic string
	// BatchTimeout is how long a write waits for concurrent writes to join
	// its batch. Default 2ms.
	BatchTimeout time.Duration
	// WriteTimeout bounds one PublishOutcome, retries included. Default 5s.
	WriteTimeout time.Duration
	// Registerer receives the metrics. Default nil: not registered.
	Registerer prometheus.Registerer
	// Logger is the parent logger; the publisher logs as "outcomes".
	Logger *zap.Logger
}

// OutcomePublisher writes outcomes to nba.outcomes, keyed by decision_id,
// and waits for every in-sync replica to have them (RequireAll). It is the
// sink behind POST /v1/outcomes and is safe for concurrent use: concurrent
// calls share batches.
type OutcomePublisher struct {
	cfg    OutcomePublisherConfig
	log    *zap.Logger
	writer *kafka.Writer
	tr     *kafka.Transport

	published, failed atomic.Uint64
}

// NewOutcomePublisher returns a publisher; Close releases its connections.
func NewOutcomePublisher(cfg OutcomePublisherConfig) (*OutcomePublisher, error) {
	if cfg.Topic == "" {
		cfg.Topic = DefaultOutcomesTopic
	}
	if cfg.BatchTimeout == 0 {
		cfg.BatchTimeout = 2 * time.Millisecond
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	switch {
	case len(cfg.Brokers) == 0:
		return nil, errors.New("outcome publisher: no brokers")
	case cfg.BatchTimeout < 0 || cfg.BatchTimeout > time.Second || cfg.WriteTimeout < 0:
		return nil, fmt.Errorf("outcome publisher: batch timeout must be at most 1s and write timeout positive, got %s and %s", cfg.BatchTimeout, cfg.WriteTimeout)
	}
	p := &OutcomePublisher{cfg: cfg, log: cfg.Logger.Named("outcomes"), tr: &kafka.Transport{DialTimeout: 3 * time.Second, ClientID: clientID}}
	p.writer = newSyncWriter(cfg.Brokers, cfg.Topic, cfg.BatchTimeout, cfg.WriteTimeout, p.tr, p.log)
	err := register(cfg.Registerer,
		counterFunc(&p.published, "situ_outcomes_published_total", "Outcomes written to Kafka by this process (POST /v1/outcomes).", nil),
		counterFunc(&p.failed, "situ_outcomes_publish_errors_total", "Outcomes that could not be written to Kafka.", nil),
	)
	if err != nil {
		return nil, fmt.Errorf("outcome publisher: %w", err)
	}
	return p, nil
}

// newSyncWriter returns a writer for synchronous, acknowledged writes.
func newSyncWriter(brokers []string, topic string, batchTimeout, writeTimeout time.Duration, tr *kafka.Transport, log *zap.Logger) *kafka.Writer {
	return &kafka.Writer{
		Addr:            kafka.TCP(brokers...),
		Topic:           topic,
		Balancer:        Partitioner(),
		RequiredAcks:    kafka.RequireAll,
		BatchTimeout:    batchTimeout,
		BatchBytes:      maxMessageBytes,
		MaxAttempts:     5,
		WriteBackoffMin: 50 * time.Millisecond,
		WriteBackoffMax: 500 * time.Millisecond,
		WriteTimeout:    writeTimeout,
		ReadTimeout:     writeTimeout,
		Transport:       tr,
		Logger:          kafkaLogger(log),
		ErrorLogger:     kafkaLogger(log),
	}
}

// PublishOutcome validates o and writes it to the outcomes topic, keyed by
// its decision_id. An invalid outcome returns an error wrapping the
// *models.OutcomeError; a failed write returns an error wrapping kafka-go's.
// A write that fails (or whose ctx ends) may still have reached the broker:
// callers retry with the same outcome_id, which is applied once.
func (p *OutcomePublisher) PublishOutcome(ctx context.Context, o models.Outcome) error {
	if err := o.Validate(); err != nil {
		return fmt.Errorf("invalid outcome: %w", err)
	}
	value, err := json.Marshal(&o)
	if err != nil {
		return fmt.Errorf("encode outcome: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.WriteTimeout)
	defer cancel()
	if err := p.writer.WriteMessages(ctx, kafka.Message{Key: []byte(o.DecisionID), Value: value}); err != nil {
		p.failed.Add(1)
		p.log.Warn("outcome not published", zap.Error(err))
		return fmt.Errorf("publish outcome to %s: %w", p.cfg.Topic, err)
	}
	p.published.Add(1)
	return nil
}

// Close waits for writes in flight and releases the connections.
func (p *OutcomePublisher) Close() error {
	err := p.writer.Close()
	p.tr.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("close outcome publisher: %w", err)
	}
	return nil
}

// Dead-letter reasons: the value of the DLQ header HeaderDLQReason.
const (
	// DLQReasonInvalidJSON: the value is not one JSON object of the outcome
	// format (not JSON, wrong field types, trailing data, empty).
	DLQReasonInvalidJSON = "invalid_json"
	// DLQReasonInvalidOutcome: the JSON decodes but a field is missing or
	// out of range (models.Outcome.Validate).
	DLQReasonInvalidOutcome = "invalid_outcome"
)

// Headers situ adds to a dead letter, after the original message's headers.
// Key and value are the original message's.
const (
	HeaderDLQReason    = "situ-dlq-reason"    // DLQReasonInvalidJSON or DLQReasonInvalidOutcome
	HeaderDLQError     = "situ-dlq-error"     // what was wrong, e.g. "csat: must be between 1 and 5 …"
	HeaderDLQTopic     = "situ-dlq-topic"     // topic the message was read from
	HeaderDLQPartition = "situ-dlq-partition" // its partition, decimal
	HeaderDLQOffset    = "situ-dlq-offset"    // its offset, decimal
)

// OutcomeRecord is an outcome read from nba.outcomes with its position.
type OutcomeRecord struct {
	Outcome models.Outcome
	Position
	// Time is the message timestamp.
	Time time.Time
}

// OutcomeConsumerConfig configures an OutcomeConsumer.
type OutcomeConsumerConfig struct {
	// Brokers is the bootstrap list. Required.
	Brokers []string
	// Topic is read. Default "nba.outcomes".
	Topic string
	// DLQTopic receives the messages that cannot be used. Default
	// "nba.outcomes.dlq".
	DLQTopic string
	// Start holds the next offset to read per partition, as stored in a
	// model snapshot. Partitions not in Start begin at StartAt.
	Start Offsets
	// StartAt is where partitions without a Start offset begin. Default
	// StartEarliest.
	StartAt StartAt
	// Handler receives every valid, first-seen outcome, one call at a time,
	// in offset order per partition. An error stops Run. Required.
	Handler func(ctx context.Context, r OutcomeRecord) error
	// Skipped, if set, is called (in the same goroutine as Handler) for
	// every message not handed to Handler — dead-lettered or duplicate — so
	// the caller can advance its stored offsets past it. An error stops Run.
	Skipped func(ctx context.Context, pos Position) error
	// Dedup remembers outcome ids so a duplicate is applied once. Default:
	// a cache with DedupConfig's defaults (TTL 24h, the reward window).
	Dedup *DedupCache
	// MaxWait bounds one fetch and so the time Run takes to return after
	// its context is cancelled. Default 500ms; at most 1s.
	MaxWait time.Duration
	// Registerer receives the metrics. Default nil: not registered.
	Registerer prometheus.Registerer
	// Logger is the parent logger; the consumer logs as "outcome-consumer".
	Logger *zap.Logger
}

// OutcomeConsumer reads outcomes from explicit partition offsets, decodes
// and validates them, drops duplicates and dead-letters what cannot be
// used; a bad message never stops it.
type OutcomeConsumer struct {
	cfg     OutcomeConsumerConfig
	log     *zap.Logger
	dlq     *kafka.Writer
	tr      *kafka.Transport
	running atomic.Bool

	consumed, duplicates, dlqJSON, dlqInvalid, dlqErrors, readErrors atomic.Uint64
}

// OutcomeConsumerStats are the consumer's counters since it started.
type OutcomeConsumerStats struct {
	Consumed   uint64
	Duplicates uint64
	// DeadLettered by reason.
	DLQInvalidJSON, DLQInvalidOutcome uint64
	// DLQWriteErrors counts dead letters that could not be written.
	DLQWriteErrors uint64
	ReadErrors     uint64
}

// NewOutcomeConsumer returns a consumer; Run reads.
func NewOutcomeConsumer(cfg OutcomeConsumerConfig) (*OutcomeConsumer, error) {
	if cfg.Topic == "" {
		cfg.Topic = DefaultOutcomesTopic
	}
	if cfg.DLQTopic == "" {
		cfg.DLQTopic = DefaultOutcomesDLQTopic
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Handler == nil {
		return nil, errors.New("outcome consumer: a handler is required")
	}
	if cfg.Topic == cfg.DLQTopic {
		return nil, fmt.Errorf("outcome consumer: the dead-letter topic must differ from %s", cfg.Topic)
	}
	if err := validateReaderSettings(cfg.Brokers, cfg.MaxWait, cfg.Start, cfg.StartAt); err != nil {
		return nil, fmt.Errorf("outcome consumer: %w", err)
	}
	if cfg.Dedup == nil {
		d, err := NewDedupCache(DedupConfig{})
		if err != nil {
			return nil, fmt.Errorf("outcome consumer: %w", err)
		}
		cfg.Dedup = d
	}
	c := &OutcomeConsumer{cfg: cfg, log: cfg.Logger.Named("outcome-consumer"), tr: &kafka.Transport{DialTimeout: 3 * time.Second, ClientID: clientID}}
	c.dlq = newSyncWriter(cfg.Brokers, cfg.DLQTopic, time.Millisecond, 5*time.Second, c.tr, c.log)
	const dlq, dlqHelp = "situ_outcomes_dlq_total", "Outcome messages sent to the dead-letter topic, by reason."
	err := register(cfg.Registerer,
		counterFunc(&c.consumed, "situ_outcomes_consumed_total", "Valid outcomes read and handed to the learner.", nil),
		counterFunc(&c.duplicates, "situ_outcomes_duplicates_total", "Outcomes skipped because their outcome_id was already applied.", nil),
		counterFunc(&c.dlqJSON, dlq, dlqHelp, prometheus.Labels{"reason": DLQReasonInvalidJSON}),
		counterFunc(&c.dlqInvalid, dlq, dlqHelp, prometheus.Labels{"reason": DLQReasonInvalidOutcome}),
		counterFunc(&c.dlqErrors, "situ_outcomes_dlq_write_errors_total", "Dead letters that could not be written (logged, then skipped).", nil),
		counterFunc(&c.readErrors, "situ_kafka_read_errors_total", "Fetch errors (retried) per topic.", prometheus.Labels{"topic": cfg.Topic}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "situ_outcomes_dedup_full_total", Help: "Outcome ids not remembered because the de-duplication cache was full."},
			func() float64 { return float64(cfg.Dedup.Full()) }),
	)
	if err != nil {
		return nil, fmt.Errorf("outcome consumer: %w", err)
	}
	return c, nil
}

// Stats returns the counters.
func (c *OutcomeConsumer) Stats() OutcomeConsumerStats {
	return OutcomeConsumerStats{
		Consumed: c.consumed.Load(), Duplicates: c.duplicates.Load(),
		DLQInvalidJSON: c.dlqJSON.Load(), DLQInvalidOutcome: c.dlqInvalid.Load(),
		DLQWriteErrors: c.dlqErrors.Load(), ReadErrors: c.readErrors.Load(),
	}
}

// Run reads until ctx is cancelled (it then returns nil) or a callback
// fails (it returns that error). Run may be called once.
func (c *OutcomeConsumer) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("outcome consumer: Run called twice")
	}
	defer func() {
		_ = c.dlq.Close()
		c.tr.CloseIdleConnections()
	}()
	return readTopic(ctx, readerConfig{
		brokers: c.cfg.Brokers, topic: c.cfg.Topic, start: c.cfg.Start, startAt: c.cfg.StartAt,
		maxWait: c.cfg.MaxWait, log: c.log, readErrors: &c.readErrors,
	}, c.handle)
}

func (c *OutcomeConsumer) handle(ctx context.Context, m kafka.Message) error {
	pos := Position{Topic: m.Topic, Partition: int32(m.Partition), Offset: m.Offset}
	var o models.Outcome
	switch err := decodeJSON(m.Value, &o); {
	case err != nil:
		if !c.deadLetter(ctx, m, pos, DLQReasonInvalidJSON, err) {
			return nil // stopping: the message is read again on restart
		}
	case o.Validate() != nil:
		if !c.deadLetter(ctx, m, pos, DLQReasonInvalidOutcome, o.Validate()) {
			return nil
		}
	case c.cfg.Dedup.Seen(o.OutcomeID):
		c.duplicates.Add(1)
	default:
		if err := c.cfg.Handler(ctx, OutcomeRecord{Outcome: o, Position: pos, Time: m.Time}); err != nil {
			return err
		}
		c.cfg.Dedup.Add(o.OutcomeID)
		c.consumed.Add(1)
		return nil
	}
	if c.cfg.Skipped != nil {
		return c.cfg.Skipped(ctx, pos)
	}
	return nil
}

// deadLetter writes m to the DLQ topic with the reason headers. A failed
// write is logged and counted: a poison message never stops the consumer.
// It returns false, counting nothing, when ctx ended before the write
// completed: the consumer is stopping and must not advance past m.
func (c *OutcomeConsumer) deadLetter(ctx context.Context, m kafka.Message, pos Position, reason string, cause error) bool {
	err := writeDeadLetter(ctx, c.dlq, m, pos, reason, cause)
	if err != nil && ctx.Err() != nil {
		return false
	}
	if reason == DLQReasonInvalidJSON {
		c.dlqJSON.Add(1)
	} else {
		c.dlqInvalid.Add(1)
	}
	if err != nil {
		c.dlqErrors.Add(1)
		c.log.Error("dead letter not written, message skipped", zap.Stringer("position", pos), zap.String("reason", reason), zap.Error(err))
		return true
	}
	c.log.Info("outcome dead-lettered", zap.Stringer("position", pos), zap.String("reason", reason), zap.NamedError("cause", cause))
	return true
}

// writeDeadLetter writes m to the dead-letter writer's topic with the
// original key, value and headers, plus the reason headers.
func writeDeadLetter(ctx context.Context, w *kafka.Writer, m kafka.Message, pos Position, reason string, cause error) error {
	headers := make([]kafka.Header, 0, len(m.Headers)+5)
	headers = append(headers, m.Headers...)
	headers = append(headers,
		kafka.Header{Key: HeaderDLQReason, Value: []byte(reason)},
		kafka.Header{Key: HeaderDLQError, Value: []byte(truncate(cause.Error(), 1024))},
		kafka.Header{Key: HeaderDLQTopic, Value: []byte(pos.Topic)},
		kafka.Header{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(int(pos.Partition)))},
		kafka.Header{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(pos.Offset, 10))},
	)
	if err := w.WriteMessages(ctx, kafka.Message{Key: m.Key, Value: m.Value, Headers: headers}); err != nil {
		return fmt.Errorf("write dead letter: %w", err)
	}
	return nil
}

// decodeJSON decodes exactly one JSON value from data into v.
func decodeJSON(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("empty message value")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("decode: data after the JSON value")
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
