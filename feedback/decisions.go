package feedback

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"situ/models"
)

// DecisionPublisherConfig configures a DecisionPublisher.
type DecisionPublisherConfig struct {
	// Brokers is the bootstrap list. Required.
	Brokers []string
	// Topic receives the decision events. Default "nba.decisions".
	Topic string
	// QueueSize is how many decisions wait for the writer; when it is full
	// Publish drops. Default 10,000.
	QueueSize int
	// MaxBatch is the most decisions written in one request. Default 500.
	MaxBatch int
	// BatchTimeout is how long the writer waits to fill a batch. Default
	// 5ms (kafka-go's own default, 1 s, would stall every write).
	BatchTimeout time.Duration
	// RequiredAcks is the acknowledgement every write waits for. Default
	// (and the zero value, RequireNone, which situ never uses) RequireAll:
	// the learner depends on decisions.
	RequiredAcks kafka.RequiredAcks
	// WriteTimeout bounds one batch write, kafka-go's retries included. A
	// batch that fails with an error worth retrying (the broker down, a
	// timeout) is written again after a pause (50 ms doubling to 1 s) until
	// it is written, while new decisions wait in the queue; decisions the
	// broker refuses for good are dropped and counted. Default 5s.
	WriteTimeout time.Duration
	// MaxAttempts is how often kafka-go tries a batch within WriteTimeout.
	// Default 3.
	MaxAttempts int
	// FlushTimeout bounds the flush of queued decisions after Run's context
	// is cancelled. Default 5s.
	FlushTimeout time.Duration
	// Registerer receives the metrics, situ_kafka_records_written_total
	// and situ_kafka_write_errors_total of the topic among them. Default
	// nil: not registered.
	Registerer prometheus.Registerer
	// Logger is the parent logger; the publisher logs as "decisions".
	// Default: no logging.
	Logger *zap.Logger
}

func (c DecisionPublisherConfig) withDefaults() DecisionPublisherConfig {
	if c.Topic == "" {
		c.Topic = DefaultDecisionsTopic
	}
	if c.QueueSize == 0 {
		c.QueueSize = 10_000
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 500
	}
	if c.BatchTimeout == 0 {
		c.BatchTimeout = 5 * time.Millisecond
	}
	if c.RequiredAcks == kafka.RequireNone {
		c.RequiredAcks = kafka.RequireAll
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 5 * time.Second
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 3
	}
	if c.FlushTimeout == 0 {
		c.FlushTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// Validate checks a config after its defaults are filled in.
func (c DecisionPublisherConfig) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("decision publisher: no brokers")
	case c.QueueSize < 1 || c.QueueSize > 10_000_000:
		return fmt.Errorf("decision publisher: queue size must be between 1 and 10,000,000, got %d", c.QueueSize)
	case c.MaxBatch < 1 || c.MaxBatch > 10_000:
		return fmt.Errorf("decision publisher: max batch must be between 1 and 10,000, got %d", c.MaxBatch)
	case c.BatchTimeout < 0 || c.BatchTimeout > time.Second:
		return fmt.Errorf("decision publisher: batch timeout must be at most 1s, got %s", c.BatchTimeout)
	case c.RequiredAcks != kafka.RequireOne && c.RequiredAcks != kafka.RequireAll:
		return fmt.Errorf("decision publisher: required acks must be RequireOne or RequireAll, got %d", c.RequiredAcks)
	case c.WriteTimeout < 0 || c.FlushTimeout < 0 || c.MaxAttempts < 1:
		return errors.New("decision publisher: timeouts must be positive and max attempts at least 1")
	}
	return nil
}

// maxMessageBytes is the largest message the writer sends: Kafka's default
// message.max.bytes is 1 MiB. A larger decision is dropped as a write error.
const maxMessageBytes = 1 << 20

// DecisionPublisher publishes decision events to nba.decisions off the
// request path. Publish only puts the decision on a bounded queue; when the
// queue is full (the broker is slow or down) the decision is dropped and
// counted. Run writes the queue in batches.
type DecisionPublisher struct {
	cfg    DecisionPublisherConfig
	log    *zap.Logger
	queue  chan event
	writer *kafka.Writer
	tr     *kafka.Transport

	running atomic.Bool
	closed  atomic.Bool

	published, droppedFull, droppedWrite, droppedShutdown atomic.Uint64
	writes                                                *writerMetrics
}

// event is one encoded decision waiting for the writer.
type event struct {
	key, value []byte
	time       time.Time
}

// DecisionPublisherStats are the publisher's counters since it started.
type DecisionPublisherStats struct {
	Published uint64
	// Dropped by reason.
	DroppedQueueFull, DroppedWriteError, DroppedShutdown uint64
	// Queued is how many decisions wait for the writer now.
	Queued int
}

// NewDecisionPublisher returns a publisher; call Run to start writing.
func NewDecisionPublisher(cfg DecisionPublisherConfig) (*DecisionPublisher, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &DecisionPublisher{
		cfg:   cfg,
		log:   cfg.Logger.Named("decisions"),
		queue: make(chan event, cfg.QueueSize),
		tr:    &kafka.Transport{DialTimeout: 3 * time.Second, ClientID: clientID},
	}
	p.writer = &kafka.Writer{
		Addr:            kafka.TCP(cfg.Brokers...),
		Topic:           cfg.Topic,
		Balancer:        Partitioner(),
		RequiredAcks:    cfg.RequiredAcks,
		BatchTimeout:    cfg.BatchTimeout,
		BatchSize:       cfg.MaxBatch,
		BatchBytes:      maxMessageBytes,
		MaxAttempts:     cfg.MaxAttempts,
		WriteBackoffMin: 50 * time.Millisecond,
		WriteBackoffMax: 500 * time.Millisecond,
		WriteTimeout:    cfg.WriteTimeout,
		ReadTimeout:     cfg.WriteTimeout,
		Transport:       p.tr,
		Logger:          kafkaLogger(p.log),
		ErrorLogger:     kafkaLogger(p.log),
	}
	km, err := newKafkaMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("decision publisher: %w", err)
	}
	p.writes = km.writer(cfg.Topic)
	const dropped, droppedHelp = "situ_decisions_dropped_total", "Decision events not published, by reason: queue_full (the queue was full), write_error (the broker refused them for good), shutdown (still queued when the flush time ran out)."
	err = register(cfg.Registerer,
		counterFunc(&p.published, "situ_decisions_published_total", "Decision events written to Kafka.", nil),
		counterFunc(&p.droppedFull, dropped, droppedHelp, prometheus.Labels{"reason": "queue_full"}),
		counterFunc(&p.droppedWrite, dropped, droppedHelp, prometheus.Labels{"reason": "write_error"}),
		counterFunc(&p.droppedShutdown, dropped, droppedHelp, prometheus.Labels{"reason": "shutdown"}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "situ_decisions_queue_length", Help: "Decision events waiting for the Kafka writer."},
			func() float64 { return float64(len(p.queue)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "situ_decisions_queue_capacity", Help: "Capacity of the decision event queue."},
			func() float64 { return float64(cap(p.queue)) }),
	)
	if err != nil {
		return nil, fmt.Errorf("decision publisher: %w", err)
	}
	return p, nil
}

// Publish encodes d and queues it for writing, and reports whether it was
// queued. It never blocks: when the queue is full it drops d and counts it;
// a decision that cannot be encoded is dropped as a write error. The request
// path uses PublishEncoded, which saves building d.
func (p *DecisionPublisher) Publish(d models.DecisionEvent) bool {
	value, err := d.AppendJSON(nil)
	if err != nil {
		p.droppedWrite.Add(1)
		p.log.Error("decision event not encodable, dropped", zap.Error(err))
		return false
	}
	return p.PublishEncoded([]byte(d.DecisionID), value, d.Time)
}

// PublishEncoded queues an encoded decision event (key the decision id,
// value its models.DecisionEvent.AppendJSON, t the decision time) and
// reports whether it was queued. It never blocks and does not allocate:
// when the queue is full it drops the event and counts it, and an event
// larger than a Kafka message may be is dropped as a write error. key and
// value are read later by the writer: the caller must not change them.
func (p *DecisionPublisher) PublishEncoded(key, value []byte, t time.Time) bool {
	if p.closed.Load() {
		p.droppedShutdown.Add(1)
		return false
	}
	if len(key)+len(value) > maxMessageBytes-512 {
		p.droppedWrite.Add(1)
		p.log.Error("decision event too large, dropped", zap.Int("bytes", len(value)))
		return false
	}
	select {
	case p.queue <- event{key: key, value: value, time: t}:
		return true
	default:
		p.droppedFull.Add(1)
		return false
	}
}

// Stats returns the counters.
func (p *DecisionPublisher) Stats() DecisionPublisherStats {
	return DecisionPublisherStats{
		Published:         p.published.Load(),
		DroppedQueueFull:  p.droppedFull.Load(),
		DroppedWriteError: p.droppedWrite.Load(),
		DroppedShutdown:   p.droppedShutdown.Load(),
		Queued:            len(p.queue),
	}
}

// Run writes queued decisions until ctx is cancelled, then flushes what is
// queued within FlushTimeout, closes the writer and returns nil. A batch in
// flight when ctx is cancelled finishes first, so Run returns at most
// WriteTimeout + FlushTimeout after the cancellation. Run may be called
// once.
func (p *DecisionPublisher) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("decision publisher: Run called twice")
	}
	defer func() {
		_ = p.writer.Close()
		p.tr.CloseIdleConnections()
	}()

	msgs := make([]kafka.Message, 0, p.cfg.MaxBatch)
	batch := make([]event, 0, p.cfg.MaxBatch)
	pause := time.Duration(0)
	for {
		// msgs holds what a failed write left to retry; until it is
		// written no new decision is taken, so the queue absorbs them
		// (and PublishEncoded drops beyond it)
		if len(msgs) == 0 {
			select {
			case <-ctx.Done():
				p.flush(ctx, batch, msgs)
				return nil
			case d := <-p.queue:
				batch = p.fill(append(batch[:0], d))
				msgs = messagesOf(msgs[:0], batch)
			}
		}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.WriteTimeout)
		msgs = p.write(wctx, msgs)
		cancel()
		if len(msgs) == 0 {
			pause = 0
			continue
		}
		// The broker is failing: retry the same decisions after a pause
		// instead of hammering it, while the queue absorbs new ones.
		pause = min(max(2*pause, 50*time.Millisecond), time.Second)
		select {
		case <-ctx.Done():
			p.flush(ctx, batch, msgs)
			return nil
		case <-time.After(pause):
		}
	}
}

// messagesOf appends the messages of batch to msgs and lets the events go.
func messagesOf(msgs []kafka.Message, batch []event) []kafka.Message {
	for _, e := range batch {
		msgs = append(msgs, kafka.Message{Key: e.key, Value: e.value, Time: e.time})
	}
	clear(batch)
	return msgs
}

// fill appends queued decisions to batch up to MaxBatch without waiting.
func (p *DecisionPublisher) fill(batch []event) []event {
	for len(batch) < p.cfg.MaxBatch {
		select {
		case d := <-p.queue:
			batch = append(batch, d)
		default:
			return batch
		}
	}
	return batch
}

// flush writes pending (what a failed write left) and what is queued
// until nothing is left or FlushTimeout passes; the rest is dropped as
// "shutdown".
func (p *DecisionPublisher) flush(ctx context.Context, batch []event, pending []kafka.Message) {
	p.closed.Store(true)
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.FlushTimeout)
	defer cancel()
	for (len(pending) > 0 || len(p.queue) > 0) && fctx.Err() == nil {
		if len(pending) == 0 {
			batch = p.fill(batch[:0])
			pending = messagesOf(pending[:0], batch)
		}
		if pending = p.write(fctx, pending); len(pending) > 0 {
			select {
			case <-fctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	left := uint64(len(pending))
	clear(pending)
	for drained := false; !drained; {
		select {
		case <-p.queue:
			left++
		default:
			drained = true
		}
	}
	if left > 0 {
		p.droppedShutdown.Add(left)
		p.log.Warn("decisions dropped at shutdown", zap.Uint64("dropped", left))
	}
}

// write writes msgs and returns those to retry: none when all were
// written, those that failed with an error worth retrying (the broker
// unreachable, a leader moving, a timeout) otherwise. Messages the broker
// refused for good (a kafka.Error that is not temporary) are dropped and
// counted as write errors.
func (p *DecisionPublisher) write(ctx context.Context, msgs []kafka.Message) []kafka.Message {
	if len(msgs) == 0 {
		return msgs
	}
	err := p.writer.WriteMessages(ctx, msgs...)
	if err == nil {
		p.published.Add(uint64(len(msgs)))
		p.writes.wrote(len(msgs), 0)
		clear(msgs)
		return msgs[:0]
	}
	retry, dropped := msgs[:0], 0
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) && len(werrs) == len(msgs) {
		for i, m := range msgs {
			switch {
			case werrs[i] == nil:
				p.published.Add(1)
			case retriable(werrs[i]):
				retry = append(retry, m)
			default:
				dropped++
			}
		}
	} else if retriable(err) {
		retry = msgs
	} else {
		dropped = len(msgs)
	}
	p.writes.wrote(len(msgs), len(retry)+dropped)
	if dropped > 0 {
		p.droppedWrite.Add(uint64(dropped))
	}
	p.log.Warn("decision events not written", zap.Int("retrying", len(retry)), zap.Int("dropped", dropped), zap.Int("batch", len(msgs)),
		zap.Int("queued", len(p.queue)), zap.Uint64("dropped_total", p.droppedWrite.Load()+p.droppedFull.Load()), zap.Error(err))
	clear(msgs[len(retry):])
	return retry
}

// retriable reports whether a write that failed with err may succeed
// later: anything but an error the broker answered that is not
// temporary.
func retriable(err error) bool {
	var kerr kafka.Error
	if errors.As(err, &kerr) {
		return kerr.Temporary()
	}
	return true
}
