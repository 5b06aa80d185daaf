package feedback

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"situ/features"
	"situ/models"
)

// outcomesIn decodes the outcome messages of topic, in offset order per
// partition.
func outcomesIn(t *testing.T, brokers []string, topic string) ([]models.Outcome, []kafka.Message) {
	t.Helper()
	msgs := readAll(t, brokers, topic)
	out := make([]models.Outcome, len(msgs))
	for i, m := range msgs {
		require.NoError(t, decodeJSON(m.Value, &out[i]))
	}
	return out, msgs
}

func TestOutcomePublisherRoundTrip(t *testing.T) {
	b, topics := startBroker(t)
	reg := prometheus.NewRegistry()
	pub, err := NewOutcomePublisher(OutcomePublisherConfig{Brokers: b.Brokers(), Registerer: reg, Logger: testLogger(t)})
	require.NoError(t, err)
	defer pub.Close()

	ctx := context.Background()
	want := map[string]models.Outcome{}
	for i := range 30 {
		o := testOutcome(i, testDecision(i).DecisionID)
		if i == 3 {
			o.CSAT = nil // not surveyed
		}
		want[o.OutcomeID] = o
		require.NoError(t, pub.PublishOutcome(ctx, o))
	}
	err = pub.PublishOutcome(ctx, testOutcome(99, ""))
	var oerr *features.FieldError
	require.ErrorAs(t, err, &oerr, "an invalid outcome is refused with the field")
	require.Equal(t, "decision_id", oerr.Field)

	got, msgs := outcomesIn(t, b.Brokers(), topics.Outcomes)
	require.Len(t, got, len(want), "every valid outcome written once, the invalid one not at all")
	for i, o := range got {
		require.Equal(t, want[o.OutcomeID], o)
		require.Equal(t, o.DecisionID, string(msgs[i].Key), "keyed by decision_id")
		require.Equal(t, PartitionForKey(msgs[i].Key, topics.OutcomePartitions), msgs[i].Partition,
			"outcome lands on its decision's partition")
	}
	require.Equal(t, float64(len(want)), metricValue(t, reg, "situ_outcomes_published_total", nil))
	require.Equal(t, float64(0), metricValue(t, reg, "situ_outcomes_deduplicated_total", nil))
}

// TestOutcomePublisherIsIdempotent: a channel that retries POST
// /v1/outcomes with the same outcome_id gets its acknowledgement without
// the outcome being produced again, within the TTL and the item cap.
func TestOutcomePublisherIsIdempotent(t *testing.T) {
	b, topics := startBroker(t)
	ctx := context.Background()
	invalid := func(o models.Outcome) models.Outcome {
		csat := 9.0
		o.CSAT = &csat
		return o
	}
	type publish struct {
		o       models.Outcome
		advance time.Duration // of the dedup cache's clock, before publishing
	}
	tests := []struct {
		name   string
		dedup  DedupConfig
		calls  func(o func(i int) models.Outcome) []publish
		want   []int // outcome numbers on the topic, in order
		dedups float64
		full   float64
	}{
		{
			name: "retries of one outcome are written once",
			calls: func(o func(int) models.Outcome) []publish {
				return []publish{{o: o(1)}, {o: o(1)}, {o: o(1)}, {o: o(2)}}
			},
			want: []int{1, 2}, dedups: 2,
		},
		{
			name:  "a retry after the TTL is written again",
			dedup: DedupConfig{TTL: time.Hour},
			calls: func(o func(int) models.Outcome) []publish {
				return []publish{{o: o(1)}, {o: o(1), advance: time.Hour}}
			},
			want: []int{1, 1},
		},
		{
			name: "a refused outcome is not remembered",
			calls: func(o func(int) models.Outcome) []publish {
				return []publish{{o: invalid(o(1))}, {o: o(1)}, {o: o(1)}}
			},
			want: []int{1}, dedups: 1,
		},
		{
			name:  "a full cache forgets, it never refuses",
			dedup: DedupConfig{MaxItems: 1},
			calls: func(o func(int) models.Outcome) []publish {
				return []publish{{o: o(1)}, {o: o(2)}, {o: o(2)}, {o: o(1)}}
			},
			want: []int{1, 2, 2}, dedups: 1, full: 2,
		},
	}
	for n, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One key per case: one partition, read in the order written.
			key := fmt.Sprintf("d-case-%d", n)
			outcome := func(i int) models.Outcome {
				o := testOutcome(i, key)
				o.OutcomeID = fmt.Sprintf("%s-o%d", key, i)
				return o
			}
			clock := newManualClock()
			tt.dedup.Now = clock.Now
			dedup, err := NewDedupCache(tt.dedup)
			require.NoError(t, err)
			reg := prometheus.NewRegistry()
			pub, err := NewOutcomePublisher(OutcomePublisherConfig{Brokers: b.Brokers(), Dedup: dedup, Registerer: reg, Logger: testLogger(t)})
			require.NoError(t, err)
			defer pub.Close()
			for _, c := range tt.calls(outcome) {
				clock.Advance(c.advance)
				err := pub.PublishOutcome(ctx, c.o)
				if c.o.Validate() != nil {
					require.Error(t, err)
				} else {
					require.NoError(t, err, "acknowledged, written or not")
				}
			}

			got, _ := outcomesIn(t, b.Brokers(), topics.Outcomes)
			var ids []string
			for _, o := range got {
				if strings.HasPrefix(o.OutcomeID, key+"-") {
					ids = append(ids, o.OutcomeID)
				}
			}
			var want []string
			for _, i := range tt.want {
				want = append(want, outcome(i).OutcomeID)
			}
			require.Equal(t, want, ids, "what reached the topic")
			require.Equal(t, float64(len(tt.want)), metricValue(t, reg, "situ_outcomes_published_total", nil))
			require.Equal(t, tt.dedups, metricValue(t, reg, "situ_outcomes_deduplicated_total", nil))
			require.Equal(t, tt.full, metricValue(t, reg, "situ_outcomes_dedup_full_total", nil))
		})
	}
}

// TestOutcomePublisherBrokerDown: a publish fails within the write timeout
// while the broker is down; the failed id is not remembered, so the
// channel's retry once the broker is back writes the outcome.
func TestOutcomePublisherBrokerDown(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := StartEmbeddedBroker(ctx, BrokerConfig{Addr: "127.0.0.1:0", DataDir: dir, Logger: testLogger(t)})
	require.NoError(t, err)
	defer func() { b.Close() }()
	require.NoError(t, EnsureTopics(ctx, b.Brokers(), TopicsConfig{}))
	addr := b.Addr()

	reg := prometheus.NewRegistry()
	pub, err := NewOutcomePublisher(OutcomePublisherConfig{Brokers: []string{addr}, WriteTimeout: time.Second, Registerer: reg, Logger: testLogger(t)})
	require.NoError(t, err)
	defer pub.Close()
	o := testOutcome(1, "d-1")

	b.Close()
	start := time.Now()
	err = pub.PublishOutcome(ctx, o)
	require.ErrorContains(t, err, "publish outcome to nba.outcomes")
	require.Less(t, time.Since(start), 3*time.Second, "bounded by the write timeout")

	b, err = StartEmbeddedBroker(ctx, BrokerConfig{Addr: addr, DataDir: dir, Logger: testLogger(t)})
	require.NoError(t, err)
	eventually(t, func() bool { return pub.PublishOutcome(ctx, o) == nil }, "the retry is written once the broker is back")
	require.NoError(t, pub.PublishOutcome(ctx, o), "a retry of a written outcome is acknowledged")

	got, _ := outcomesIn(t, []string{addr}, DefaultOutcomesTopic)
	require.Equal(t, []models.Outcome{o}, got, "written once")
	require.Equal(t, float64(1), metricValue(t, reg, "situ_outcomes_published_total", nil))
	require.Equal(t, float64(1), metricValue(t, reg, "situ_outcomes_deduplicated_total", nil))
	require.GreaterOrEqual(t, metricValue(t, reg, "situ_outcomes_publish_errors_total", nil), float64(1))
}

func TestOutcomePublisherConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  OutcomePublisherConfig
		err  string
	}{
		{name: "no brokers", cfg: OutcomePublisherConfig{}, err: "no brokers"},
		{name: "slow batch timeout", cfg: OutcomePublisherConfig{Brokers: []string{"x:1"}, BatchTimeout: 2 * time.Second}, err: "batch timeout"},
		{name: "negative write timeout", cfg: OutcomePublisherConfig{Brokers: []string{"x:1"}, WriteTimeout: -time.Second}, err: "write timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewOutcomePublisher(tt.cfg)
			require.ErrorContains(t, err, tt.err)
		})
	}
}
