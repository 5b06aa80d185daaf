package feedback

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// counterFunc exposes an atomic counter as a Prometheus counter, so hot
// paths pay one atomic add and Stats reads the same numbers.
func counterFunc(v *atomic.Uint64, name, help string, labels prometheus.Labels) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels},
		func() float64 { return float64(v.Load()) })
}

// register registers every collector with reg (nil: none). On failure it
// unregisters what it registered, so a constructor can fail cleanly.
func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return fmt.Errorf("register metrics: already registered (one component per registry): %w", err)
			}
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	return nil
}

// Names of the metrics every Kafka reader and writer reports, by topic.
const (
	metricReadErrors     = "situ_kafka_read_errors_total"
	metricRecordsRead    = "situ_kafka_records_read_total"
	metricReaderUp       = "situ_kafka_reader_up"
	metricLastFetch      = "situ_kafka_last_fetch_success_timestamp_seconds"
	metricWriteErrors    = "situ_kafka_write_errors_total"
	metricRecordsWritten = "situ_kafka_records_written_total"
)

// kafkaMetrics are the per-topic metrics of situ's Kafka readers and
// writers. Components of one process share one registry and so these
// vectors: newKafkaMetrics registers each vector once and reuses the one
// another component registered before it.
type kafkaMetrics struct {
	readErrors, recordsRead, writeErrors, recordsWritten *prometheus.CounterVec
	readerUp, lastFetch                                  *prometheus.GaugeVec
}

// newKafkaMetrics returns the Kafka metrics of reg (nil: unregistered
// vectors that still count).
func newKafkaMetrics(reg prometheus.Registerer) (*kafkaMetrics, error) {
	topic := []string{"topic"}
	m := &kafkaMetrics{
		readErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricReadErrors,
			Help: "Failed Kafka fetches and listings (retried), per topic read."}, topic),
		recordsRead: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricRecordsRead,
			Help: "Records read from Kafka, per topic."}, topic),
		readerUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: metricReaderUp,
			Help: "1 while the last fetches from the topic succeeded, 0 after an error and until a fetch succeeds again."}, topic),
		lastFetch: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: metricLastFetch,
			Help: "Unix time of the last successful fetch from the topic (0: none yet)."}, topic),
		writeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricWriteErrors,
			Help: "Records that could not be written to Kafka, per topic."}, topic),
		recordsWritten: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricRecordsWritten,
			Help: "Records written to Kafka and acknowledged, per topic."}, topic),
	}
	var err error
	for _, c := range []**prometheus.CounterVec{&m.readErrors, &m.recordsRead, &m.writeErrors, &m.recordsWritten} {
		if *c, err = registerShared(reg, *c); err != nil {
			return nil, err
		}
	}
	for _, g := range []**prometheus.GaugeVec{&m.readerUp, &m.lastFetch} {
		if *g, err = registerShared(reg, *g); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// registerShared registers c with reg (nil: none) and returns it, or the
// equal collector already registered there.
func registerShared[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("register metrics: %w", err)
}

// reader returns the metrics of a reader that follows topic: its error and
// record counters and its health. Its series exist from then on, the
// health at 0 until the first fetch succeeds.
func (m *kafkaMetrics) reader(topic string) *readerMetrics {
	return &readerMetrics{
		errors: m.readErrors.WithLabelValues(topic), records: m.recordsRead.WithLabelValues(topic),
		up: m.readerUp.WithLabelValues(topic), lastSuccess: m.lastFetch.WithLabelValues(topic),
	}
}

// writer returns the metrics of a writer to topic.
func (m *kafkaMetrics) writer(topic string) *writerMetrics {
	return &writerMetrics{errors: m.writeErrors.WithLabelValues(topic), written: m.recordsWritten.WithLabelValues(topic)}
}

// readerMetrics are one topic's reader metrics. A nil *readerMetrics
// records nothing (one-off reads such as ReadLatest).
type readerMetrics struct {
	errors, records prometheus.Counter
	up, lastSuccess prometheus.Gauge
}

// read counts n records read.
func (r *readerMetrics) read(n int) {
	if r != nil {
		r.records.Add(float64(n))
	}
}

// ok records that fetching from the topic works, at now.
func (r *readerMetrics) ok(now time.Time) {
	if r != nil {
		r.up.Set(1)
		r.lastSuccess.Set(float64(now.UnixMilli()) / 1e3)
	}
}

// failed counts n failed fetches and marks the reader down.
func (r *readerMetrics) failed(n int) {
	if r != nil && n > 0 {
		r.errors.Add(float64(n))
		r.up.Set(0)
	}
}

// down marks the reader down without counting an error (it was counted
// where it happened, or belongs to no topic of this reader).
func (r *readerMetrics) down() {
	if r != nil {
		r.up.Set(0)
	}
}

// writerMetrics are one topic's writer metrics.
type writerMetrics struct {
	errors, written prometheus.Counter
}

// wrote counts the records of one write: n in all, failed of them not
// written.
func (w *writerMetrics) wrote(n, failed int) {
	w.written.Add(float64(n - failed))
	w.errors.Add(float64(failed))
}
