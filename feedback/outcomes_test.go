package feedback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"situ/models"
)

// outcomeLog collects what an OutcomeConsumer hands out.
type outcomeLog struct {
	mu      sync.Mutex
	records []OutcomeRecord
	skipped []Position
	offsets Offsets
}

func newOutcomeLog() *outcomeLog { return &outcomeLog{offsets: Offsets{}} }

func (l *outcomeLog) handle(_ context.Context, r OutcomeRecord) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r)
	l.offsets.Advance(r.Position)
	return nil
}

func (l *outcomeLog) skip(_ context.Context, pos Position) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.skipped = append(l.skipped, pos)
	l.offsets.Advance(pos)
	return nil
}

func (l *outcomeLog) counts() (records, skipped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.records), len(l.skipped)
}

func (l *outcomeLog) ids() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, len(l.records))
	for i, r := range l.records {
		ids[i] = r.Outcome.OutcomeID
	}
	return ids
}

func (l *outcomeLog) consumer(t *testing.T, brokers []string, start Offsets, reg prometheus.Registerer) *OutcomeConsumer {
	t.Helper()
	c, err := NewOutcomeConsumer(OutcomeConsumerConfig{
		Brokers: brokers, Start: start, Handler: l.handle, Skipped: l.skip,
		MaxWait: 100 * time.Millisecond, Registerer: reg, Logger: testLogger(t),
	})
	require.NoError(t, err)
	return c
}

func TestOutcomeRoundTrip(t *testing.T) {
	b, topics := startBroker(t)
	reg := prometheus.NewRegistry()
	pub, err := NewOutcomePublisher(OutcomePublisherConfig{Brokers: b.Brokers(), Registerer: reg, Logger: testLogger(t)})
	require.NoError(t, err)
	defer pub.Close()

	ctx := context.Background()
	var want []models.Outcome
	for i := range 30 {
		o := testOutcome(i, testDecision(i).DecisionID)
		if i == 3 {
			o.CSAT = nil // not surveyed
		}
		want = append(want, o)
		require.NoError(t, pub.PublishOutcome(ctx, o))
	}
	bad := testOutcome(99, "")
	err = pub.PublishOutcome(ctx, bad)
	var oerr *models.OutcomeError
	require.ErrorAs(t, err, &oerr, "an invalid outcome is refused with the field")
	require.Equal(t, "decision_id", oerr.Field)

	log := newOutcomeLog()
	c := log.consumer(t, b.Brokers(), nil, reg)
	stop := runBackground(t, c.Run)
	eventually(t, func() bool { n, _ := log.counts(); return n == len(want) }, "all outcomes consumed")
	require.NoError(t, stop())

	got := map[string]OutcomeRecord{}
	for _, r := range log.records {
		got[r.Outcome.OutcomeID] = r
	}
	for _, o := range want {
		r, ok := got[o.OutcomeID]
		require.True(t, ok, "outcome %s consumed", o.OutcomeID)
		require.Equal(t, o, r.Outcome)
		require.Equal(t, topics.Outcomes, r.Topic)
		require.Equal(t, PartitionForKey([]byte(o.DecisionID), topics.OutcomePartitions), int(r.Partition),
			"outcome lands on its decision's partition")
	}
	require.Empty(t, log.skipped)
	require.Equal(t, OutcomeConsumerStats{Consumed: uint64(len(want))}, c.Stats())
	require.Equal(t, float64(len(want)), metricValue(t, reg, "situ_outcomes_published_total", nil))
	require.Equal(t, float64(len(want)), metricValue(t, reg, "situ_outcomes_consumed_total", nil))
}

func TestOutcomePublisherBrokerDown(t *testing.T) {
	b, _ := startBroker(t)
	pub, err := NewOutcomePublisher(OutcomePublisherConfig{Brokers: b.Brokers(), WriteTimeout: time.Second})
	require.NoError(t, err)
	defer pub.Close()
	b.Close()
	start := time.Now()
	err = pub.PublishOutcome(context.Background(), testOutcome(1, "d-1"))
	require.ErrorContains(t, err, "publish outcome to nba.outcomes")
	require.Less(t, time.Since(start), 3*time.Second, "bounded by the write timeout")
}

func TestOutcomePoisonMessagesGoToDLQ(t *testing.T) {
	b, topics := startBroker(t)
	good := func(i int) []byte {
		v, err := json.Marshal(testOutcome(i, "d-poison"))
		require.NoError(t, err)
		return v
	}
	poison := []struct {
		name, value, reason, detail string
	}{
		{"not json", `this is not json`, DLQReasonInvalidJSON, "invalid character"},
		{"wrong type", `{"outcome_id": 5, "decision_id": "d-poison", "occurred_at": "2026-11-22T10:00:00Z"}`, DLQReasonInvalidJSON, "cannot unmarshal number"},
		{"csat as text", `{"outcome_id": "o-x", "decision_id": "d-poison", "csat": "good", "occurred_at": "2026-11-22T10:00:00Z"}`, DLQReasonInvalidJSON, "cannot unmarshal string"},
		{"trailing data", `{"outcome_id": "o-t", "decision_id": "d-poison", "occurred_at": "2026-11-22T10:00:00Z"} {}`, DLQReasonInvalidJSON, "data after the JSON value"},
		{"empty", ``, DLQReasonInvalidJSON, "empty message value"},
		{"missing decision_id", `{"outcome_id": "o-m", "occurred_at": "2026-11-22T10:00:00Z"}`, DLQReasonInvalidOutcome, "decision_id: is required"},
		{"csat 9", `{"outcome_id": "o-c", "decision_id": "d-poison", "csat": 9, "occurred_at": "2026-11-22T10:00:00Z"}`, DLQReasonInvalidOutcome, "csat: must be between 1 and 5"},
		{"no time", `{"outcome_id": "o-n", "decision_id": "d-poison"}`, DLQReasonInvalidOutcome, "occurred_at"},
	}
	// One key: one partition, so the order below is the order read.
	msgs := []kafka.Message{{Key: []byte("d-poison"), Value: good(1)}}
	for _, p := range poison {
		msgs = append(msgs, kafka.Message{Key: []byte("d-poison"), Value: []byte(p.value),
			Headers: []kafka.Header{{Key: "test-case", Value: []byte(p.name)}}})
	}
	msgs = append(msgs, kafka.Message{Key: []byte("d-poison"), Value: good(2)})
	produce(t, b.Brokers(), topics.Outcomes, msgs...)

	reg := prometheus.NewRegistry()
	log := newOutcomeLog()
	c := log.consumer(t, b.Brokers(), nil, reg)
	stop := runBackground(t, c.Run)
	eventually(t, func() bool { n, _ := log.counts(); return n == 2 }, "the good message after the poison is consumed")
	require.NoError(t, stop())
	require.Equal(t, []string{"o-00001", "o-00002"}, log.ids())

	partition := int32(PartitionForKey([]byte("d-poison"), topics.OutcomePartitions))
	require.Len(t, log.skipped, len(poison))
	for i, pos := range log.skipped {
		require.Equal(t, Position{Topic: topics.Outcomes, Partition: partition, Offset: int64(i + 1)}, pos, "skipped %s", poison[i].name)
	}
	require.Equal(t, Offsets{partition: int64(len(msgs))}, log.offsets, "offsets advance past the poison")

	dead := readAll(t, b.Brokers(), topics.OutcomesDLQ)
	require.Len(t, dead, len(poison))
	for i, m := range dead {
		p := poison[i]
		t.Run(p.name, func(t *testing.T) {
			h := map[string]string{}
			for _, kv := range m.Headers {
				h[kv.Key] = string(kv.Value)
			}
			require.Equal(t, "d-poison", string(m.Key), "key as received")
			require.Equal(t, p.value, string(m.Value), "value as received")
			require.Equal(t, p.name, h["test-case"], "original headers kept")
			require.Equal(t, p.reason, h[HeaderDLQReason])
			require.Contains(t, h[HeaderDLQError], p.detail)
			require.Equal(t, topics.Outcomes, h[HeaderDLQTopic])
			require.Equal(t, strconv.Itoa(int(partition)), h[HeaderDLQPartition])
			require.Equal(t, strconv.Itoa(i+1), h[HeaderDLQOffset])
		})
	}
	s := c.Stats()
	require.Equal(t, OutcomeConsumerStats{Consumed: 2, DLQInvalidJSON: 5, DLQInvalidOutcome: 3}, s)
	require.Equal(t, float64(5), metricValue(t, reg, "situ_outcomes_dlq_total", map[string]string{"reason": DLQReasonInvalidJSON}))
	require.Equal(t, float64(3), metricValue(t, reg, "situ_outcomes_dlq_total", map[string]string{"reason": DLQReasonInvalidOutcome}))
}

func TestOutcomeDuplicatesAppliedOnce(t *testing.T) {
	b, topics := startBroker(t)
	pub, err := NewOutcomePublisher(OutcomePublisherConfig{Brokers: b.Brokers()})
	require.NoError(t, err)
	defer pub.Close()
	ctx := context.Background()
	first := testOutcome(1, "d-1")
	for _, o := range []models.Outcome{first, first, testOutcome(2, "d-2"), first} {
		require.NoError(t, pub.PublishOutcome(ctx, o))
	}
	// The same outcome_id under another decision's key (another partition
	// perhaps) is still the same outcome.
	again := first
	again.DecisionID = "d-elsewhere"
	require.NoError(t, pub.PublishOutcome(ctx, again))

	reg := prometheus.NewRegistry()
	log := newOutcomeLog()
	c := log.consumer(t, b.Brokers(), nil, reg)
	stop := runBackground(t, c.Run)
	eventually(t, func() bool { n, s := log.counts(); return n+s == 5 }, "every message processed")
	require.NoError(t, stop())
	require.ElementsMatch(t, []string{"o-00001", "o-00002"}, log.ids())
	require.Equal(t, uint64(3), c.Stats().Duplicates)
	require.Equal(t, float64(3), metricValue(t, reg, "situ_outcomes_duplicates_total", nil))
	require.Empty(t, readAll(t, b.Brokers(), topics.OutcomesDLQ), "a duplicate is not a dead letter")
}

func TestOutcomeConsumerResumesFromOffsets(t *testing.T) {
	b, _ := startBroker(t)
	pub, err := NewOutcomePublisher(OutcomePublisherConfig{Brokers: b.Brokers()})
	require.NoError(t, err)
	defer pub.Close()
	ctx := context.Background()
	const n = 60
	for i := range n {
		require.NoError(t, pub.PublishOutcome(ctx, testOutcome(i, testDecision(i).DecisionID)))
	}

	// First run: stop after 25 outcomes, taking the offsets the way a
	// learner snapshot would (in the handler goroutine).
	var (
		mu       sync.Mutex
		firstIDs []string
		snapshot Offsets
	)
	offsets := Offsets{}
	first, err := NewOutcomeConsumer(OutcomeConsumerConfig{
		Brokers: b.Brokers(), MaxWait: 100 * time.Millisecond,
		Handler: func(_ context.Context, r OutcomeRecord) error {
			mu.Lock()
			defer mu.Unlock()
			if snapshot != nil {
				return errors.New("stopped") // after the snapshot: a crash
			}
			firstIDs = append(firstIDs, r.Outcome.OutcomeID)
			offsets.Advance(r.Position)
			if len(firstIDs) == 25 {
				snapshot = offsets.Clone()
			}
			return nil
		},
	})
	require.NoError(t, err)
	err = first.Run(ctx)
	require.ErrorContains(t, err, "stopped", "a handler error stops Run")

	// Second run from the snapshot: exactly the rest.
	log := newOutcomeLog()
	second := log.consumer(t, b.Brokers(), snapshot, nil)
	stop := runBackground(t, second.Run)
	eventually(t, func() bool { k, _ := log.counts(); return k >= n-25 }, "the rest consumed")
	time.Sleep(300 * time.Millisecond) // anything read twice would arrive by now
	require.NoError(t, stop())

	all := append(append([]string{}, firstIDs...), log.ids()...)
	require.Len(t, all, n, "no outcome lost or read twice")
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("o-%05d", i)
	}
	require.ElementsMatch(t, want, all)
}

func TestConsumerStartErrors(t *testing.T) {
	b, topics := startBroker(t)
	produce(t, b.Brokers(), topics.Outcomes, kafka.Message{Key: []byte("d-1"), Value: []byte("{}")})
	p := int32(PartitionForKey([]byte("d-1"), topics.OutcomePartitions))
	tests := []struct {
		name  string
		start Offsets
		topic string
		err   string
	}{
		{name: "offset past the end", start: Offsets{p: 5}, err: "past the end of the log"},
		{name: "unknown partition", start: Offsets{7: 0}, err: "start offset given for partition 7"},
		{name: "missing topic", topic: "nba.nothing", err: "create it with EnsureTopics"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewOutcomeConsumer(OutcomeConsumerConfig{
				Brokers: b.Brokers(), Topic: tt.topic, Start: tt.start,
				Handler: func(context.Context, OutcomeRecord) error { return nil },
			})
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.ErrorContains(t, c.Run(ctx), tt.err)
		})
	}

	_, err := NewOutcomeConsumer(OutcomeConsumerConfig{Brokers: b.Brokers()})
	require.ErrorContains(t, err, "handler is required")
	_, err = NewOutcomeConsumer(OutcomeConsumerConfig{Brokers: b.Brokers(), MaxWait: 10 * time.Second,
		Handler: func(context.Context, OutcomeRecord) error { return nil }})
	require.ErrorContains(t, err, "max wait")
}

func TestStartLatestSkipsHistory(t *testing.T) {
	b, topics := startBroker(t)
	produce(t, b.Brokers(), topics.Outcomes, kafka.Message{Key: []byte("d-1"), Value: []byte("old")})
	ranges, err := partitionRanges(context.Background(), readerConfig{
		brokers: b.Brokers(), topic: topics.Outcomes, startAt: StartLatest,
		start: Offsets{0: 0}, log: testLogger(t),
	})
	require.NoError(t, err)
	require.Len(t, ranges, topics.OutcomePartitions)
	p := PartitionForKey([]byte("d-1"), topics.OutcomePartitions)
	require.NotZero(t, p, "the test needs a key outside partition 0")
	for _, r := range ranges {
		switch {
		case r.partition == 0:
			require.Equal(t, int64(0), r.start, "an explicit start wins")
		case r.partition == p:
			require.Equal(t, int64(1), r.start, "latest: after the existing message")
		default:
			require.Equal(t, int64(0), r.start)
		}
	}
}

func TestOutcomeConsumerSurvivesBrokerRestart(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := StartEmbeddedBroker(ctx, BrokerConfig{Addr: "127.0.0.1:0", DataDir: dir})
	require.NoError(t, err)
	defer func() { b.Close() }()
	require.NoError(t, EnsureTopics(ctx, b.Brokers(), TopicsConfig{}))
	addr := b.Addr()
	publish := func(i int) {
		pub, err := NewOutcomePublisher(OutcomePublisherConfig{Brokers: []string{addr}})
		require.NoError(t, err)
		defer pub.Close()
		require.NoError(t, pub.PublishOutcome(ctx, testOutcome(i, testDecision(i).DecisionID)))
	}

	log := newOutcomeLog()
	c := log.consumer(t, []string{addr}, nil, nil)
	stop := runBackground(t, c.Run)
	publish(1)
	eventually(t, func() bool { n, _ := log.counts(); return n == 1 }, "consumed before the restart")

	b.Close()
	time.Sleep(300 * time.Millisecond) // the readers notice
	b, err = StartEmbeddedBroker(ctx, BrokerConfig{Addr: addr, DataDir: dir})
	require.NoError(t, err)
	publish(2)
	eventually(t, func() bool { n, _ := log.counts(); return n == 2 }, "consumed after the restart")
	require.NoError(t, stop())
	require.Equal(t, []string{"o-00001", "o-00002"}, log.ids(), "nothing lost or read twice")
}
