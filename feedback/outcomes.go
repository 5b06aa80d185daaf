package feedback

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
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
	// Dedup remembers the outcome_ids this publisher wrote, so a channel
	// that retries POST /v1/outcomes does not produce the outcome again.
	// Default: NewDedupCache(DedupConfig{}), i.e. ids kept for 24 h (the
	// reward window), at most 1,000,000 of them.
	Dedup *DedupCache
	// Registerer receives the metrics, situ_kafka_records_written_total
	// and situ_kafka_write_errors_total of the topic among them. Default
	// nil: not registered.
	Registerer prometheus.Registerer
	// Logger is the parent logger; the publisher logs as "outcomes".
	Logger *zap.Logger
}

// OutcomePublisher writes outcomes to nba.outcomes, keyed by decision_id,
// and waits for every in-sync replica to have them (RequireAll). It is the
// sink behind POST /v1/outcomes and is safe for concurrent use: concurrent
// calls share batches. It is idempotent per replica: an outcome_id it has
// written within the Dedup TTL is acknowledged without being written again.
type OutcomePublisher struct {
	cfg    OutcomePublisherConfig
	log    *zap.Logger
	writer *kafka.Writer
	tr     *kafka.Transport

	published, failed, deduplicated atomic.Uint64
	writes                          *writerMetrics
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
	if cfg.Dedup == nil {
		d, err := NewDedupCache(DedupConfig{})
		if err != nil {
			return nil, fmt.Errorf("outcome publisher: %w", err)
		}
		cfg.Dedup = d
	}
	p := &OutcomePublisher{cfg: cfg, log: cfg.Logger.Named("outcomes"), tr: &kafka.Transport{DialTimeout: 3 * time.Second, ClientID: clientID}}
	p.writer = newSyncWriter(cfg.Brokers, cfg.Topic, cfg.BatchTimeout, cfg.WriteTimeout, p.tr, p.log)
	km, err := newKafkaMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("outcome publisher: %w", err)
	}
	p.writes = km.writer(cfg.Topic)
	err = register(cfg.Registerer,
		counterFunc(&p.published, "situ_outcomes_published_total", "Outcomes written to Kafka by this process (POST /v1/outcomes).", nil),
		counterFunc(&p.failed, "situ_outcomes_publish_errors_total", "Outcomes that could not be written to Kafka.", nil),
		counterFunc(&p.deduplicated, "situ_outcomes_deduplicated_total", "Outcomes acknowledged without a write: this process had already written their outcome_id (a retry).", nil),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "situ_outcomes_dedup_full_total", Help: "Outcome ids not remembered because the de-duplication cache was full."},
			func() float64 { return float64(cfg.Dedup.Full()) }),
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
// *features.FieldError; a failed write returns an error wrapping kafka-go's.
//
// An outcome_id this publisher wrote within the Dedup TTL returns nil
// without a second write (counted in situ_outcomes_deduplicated_total): a
// retry is safe. An id is remembered only once its write succeeded, so a
// retry after a failure writes again; a failed write (or one whose ctx
// ended) may still have reached the broker, and concurrent calls with the
// same id may both write. The learner's join applies one outcome per
// decision whatever reaches the topic.
func (p *OutcomePublisher) PublishOutcome(ctx context.Context, o models.Outcome) error {
	if err := o.Validate(); err != nil {
		return fmt.Errorf("invalid outcome: %w", err)
	}
	if p.cfg.Dedup.Seen(o.OutcomeID) {
		p.deduplicated.Add(1)
		return nil
	}
	value, err := json.Marshal(&o)
	if err != nil {
		return fmt.Errorf("encode outcome: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.WriteTimeout)
	defer cancel()
	if err := p.writer.WriteMessages(ctx, kafka.Message{Key: []byte(o.DecisionID), Value: value}); err != nil {
		p.failed.Add(1)
		p.writes.wrote(1, 1)
		p.log.Warn("outcome not published", zap.Error(err))
		return fmt.Errorf("publish outcome to %s: %w", p.cfg.Topic, err)
	}
	p.cfg.Dedup.Add(o.OutcomeID)
	p.published.Add(1)
	p.writes.wrote(1, 0)
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

// deadLetterMessage returns the dead letter of m: the original key, value
// and headers, plus the reason headers.
func deadLetterMessage(m kafka.Message, pos Position, reason string, cause error) kafka.Message {
	headers := make([]kafka.Header, 0, len(m.Headers)+5)
	headers = append(headers, m.Headers...)
	headers = append(headers,
		kafka.Header{Key: HeaderDLQReason, Value: []byte(reason)},
		kafka.Header{Key: HeaderDLQError, Value: []byte(truncate(cause.Error(), 1024))},
		kafka.Header{Key: HeaderDLQTopic, Value: []byte(pos.Topic)},
		kafka.Header{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(int(pos.Partition)))},
		kafka.Header{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(pos.Offset, 10))},
	)
	return kafka.Message{Key: m.Key, Value: m.Value, Headers: headers}
}

// decodeJSON decodes exactly one JSON value from data into v with
// github.com/go-json-experiment/json: valid UTF-8, names matched exactly and
// given once, nothing after the value but white space. Unknown names are
// skipped, so that producers may add fields.
func decodeJSON(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("empty message value")
	}
	return describeDecodeError(json.Unmarshal(data, v))
}

// decodeOutcome decodes an nba.outcomes value with models.DecodeOutcome,
// the decoder POST /v1/outcomes uses too, so both accept the same JSON.
func decodeOutcome(data []byte, o *models.Outcome) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("empty message value")
	}
	return describeDecodeError(models.DecodeOutcome(data, o))
}

// describeDecodeError says where and how a value did not decode.
func describeDecodeError(err error) error {
	if err == nil {
		return nil
	}
	var (
		semErr *json.SemanticError
		synErr *jsontext.SyntacticError
	)
	switch {
	case errors.As(err, &semErr) && semErr.JSONKind != 0:
		// "decode: outcome_id: cannot unmarshal number into string"
		return fmt.Errorf("decode: %s: cannot unmarshal %s into %v: %w", pointerPath(semErr.JSONPointer),
			kindName(semErr.JSONKind), semErr.GoType, err)
	case errors.As(err, &synErr) && strings.HasSuffix(synErr.Err.Error(), "after top-level value"):
		return fmt.Errorf("decode: data after the JSON value: %w", err)
	}
	return fmt.Errorf("decode: %w", err)
}

// pointerPath turns a JSON Pointer into a dotted path (/a/b → a.b).
func pointerPath(p jsontext.Pointer) string {
	return strings.ReplaceAll(strings.TrimPrefix(string(p), "/"), "/", ".")
}

func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 't', 'f':
		return "boolean"
	case '"':
		return "string"
	case '0':
		return "number"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return k.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
