package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"situ/api"
	"situ/feedback"
	"situ/internal/backoff"
	"situ/models"
)

// kafkaWait makes sure situ's topics exist (feedback.EnsureTopics), retrying
// with capped, jittered exponential backoff while Kafka is unreachable, so
// that a process started before its Kafka serves HTTP at once and becomes
// ready by itself. Ready is closed once the topics are there.
type kafkaWait struct {
	brokers []string
	topics  feedback.TopicsConfig
	log     *zap.Logger
	// ensure is feedback.EnsureTopics.
	ensure func(ctx context.Context, brokers []string, cfg feedback.TopicsConfig) error
	// retry paces the attempts: from 500ms doubling up to 30s, each pause
	// jittered by ±20%.
	retry backoff.Policy
	// attemptTimeout bounds one attempt.
	attemptTimeout time.Duration
	// logEvery is the least time between two warnings about failed attempts.
	logEvery time.Duration

	ready chan struct{}
	state atomic.Pointer[waitState]
}

// waitState is the last failed attempt.
type waitState struct {
	err     error
	attempt int
	next    time.Time
}

func newKafkaWait(brokers []string, topics feedback.TopicsConfig, log *zap.Logger) *kafkaWait {
	return &kafkaWait{
		brokers: brokers, topics: topics, log: log.Named("kafka"), ensure: feedback.EnsureTopics,
		retry: backoff.Policy{First: 500 * time.Millisecond, Max: 30 * time.Second}, attemptTimeout: 30 * time.Second, logEvery: 10 * time.Second,
		ready: make(chan struct{}),
	}
}

// Ready is closed once the topics exist.
func (w *kafkaWait) Ready() <-chan struct{} { return w.ready }

// run tries until the topics exist, then blocks until ctx ends; it fails
// only on a topic whose settings situ cannot use (feedback.ErrTopicMismatch).
func (w *kafkaWait) run(ctx context.Context) error {
	retry, err := backoff.New(w.retry)
	if err != nil {
		return fmt.Errorf("kafka wait: %w", err)
	}
	var lastLog time.Time
	skipped := 0
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, w.attemptTimeout)
		err := w.ensure(actx, w.brokers, w.topics)
		cancel()
		if err == nil {
			close(w.ready)
			w.log.Info("kafka ready: topics in place", zap.Strings("brokers", w.brokers), zap.Int("attempts", attempt))
			<-ctx.Done()
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, feedback.ErrTopicMismatch) {
			return fmt.Errorf("kafka topics on %s: %w", strings.Join(w.brokers, ","), err)
		}
		err = w.diagnose(ctx, err)
		delay := retry.Next()
		w.state.Store(&waitState{err: err, attempt: attempt, next: time.Now().Add(delay)})
		if time.Since(lastLog) >= w.logEvery {
			w.log.Warn("kafka not available yet, retrying", zap.Strings("brokers", w.brokers), zap.Int("attempt", attempt),
				zap.Int("attempts_not_logged", skipped), zap.Duration("retry_in", delay), zap.Error(err))
			lastLog, skipped = time.Now(), 0
		} else {
			skipped++
		}
		if retry.Sleep(ctx, delay) != nil {
			return nil
		}
	}
}

// diagnose replaces kafka-go's "Broker Not Available" for a broker that
// does not even accept a connection by the dial error, which says what
// is wrong (connection refused, no such host, timeout).
func (w *kafkaWait) diagnose(ctx context.Context, err error) error {
	d := net.Dialer{Timeout: 2 * time.Second}
	var dialErr error
	for _, b := range w.brokers {
		conn, derr := d.DialContext(ctx, "tcp", b)
		if derr == nil {
			_ = conn.Close()
			return err // something listens: kafka-go's error is the news
		}
		dialErr = derr
	}
	return dialErr
}

// check is the readiness check: nil once the topics exist, else what the
// process waits for, e.g. "waiting for Kafka at 127.0.0.1:9092: dial tcp
// 127.0.0.1:9092: connect: connection refused (attempt 4, next in 8s)".
func (w *kafkaWait) check(context.Context) error {
	select {
	case <-w.ready:
		return nil
	default:
	}
	at := strings.Join(w.brokers, ",")
	st := w.state.Load()
	if st == nil {
		return fmt.Errorf("waiting for Kafka at %s: first attempt under way", at)
	}
	next := max(time.Until(st.next), 0)
	if next >= time.Second {
		next = next.Round(time.Second)
	} else {
		next = next.Round(100 * time.Millisecond)
	}
	return fmt.Errorf("waiting for Kafka at %s: %w (attempt %d, next in %s)", at, st.err, st.attempt, next)
}

// after returns run started once Kafka is ready, or with the cancelled
// context when ctx ends first: every component returns promptly then and
// releases what it holds (the decision publisher counts what it queued).
func (w *kafkaWait) after(run func(ctx context.Context) error) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		select {
		case <-w.ready:
		case <-ctx.Done():
		}
		return run(ctx)
	}
}

// kafkaOutcomes is the outcome sink while Kafka may not be there yet:
// until it is, an outcome is refused at once (503 with Retry-After)
// instead of waiting for a write that cannot succeed.
type kafkaOutcomes struct {
	wait *kafkaWait
	sink api.OutcomeSink
}

func (k kafkaOutcomes) PublishOutcome(ctx context.Context, o models.Outcome) error {
	if err := k.wait.check(ctx); err != nil {
		return err
	}
	return k.sink.PublishOutcome(ctx, o)
}
