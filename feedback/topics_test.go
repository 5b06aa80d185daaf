package feedback

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"situ/internal/situtest"
)

func TestTopicsConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*TopicsConfig)
		err    string
	}{
		{name: "defaults", modify: func(*TopicsConfig) {}},
		{name: "custom partitions", modify: func(c *TopicsConfig) { c.DecisionPartitions, c.OutcomePartitions = 12, 12 }},
		{name: "partition counts differ", modify: func(c *TopicsConfig) { c.OutcomePartitions = 6 }, err: "same partition count"},
		{name: "name reused", modify: func(c *TopicsConfig) { c.Control = c.Models }, err: "two purposes"},
		{name: "too many partitions", modify: func(c *TopicsConfig) { c.DLQPartitions = 20000 }, err: "dlq partitions"},
		{name: "negative partitions", modify: func(c *TopicsConfig) { c.ModelPartitions = -1 }, err: "model partitions"},
		{name: "bad replication", modify: func(c *TopicsConfig) { c.ReplicationFactor = -2 }, err: "replication factor"},
		{name: "short retention", modify: func(c *TopicsConfig) { c.OutcomeRetention = time.Second }, err: "outcome retention"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := TopicsConfig{}.WithDefaults()
			tt.modify(&c)
			err := c.Validate()
			if tt.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.err)
		})
	}
}

func TestEnsureTopicsCreatesTopics(t *testing.T) {
	b, _ := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := TopicsConfig{
		Decisions: "x.decisions", Outcomes: "x.outcomes", OutcomesDLQ: "x.outcomes.dlq", Models: "x.models", Control: "x.control",
		DecisionPartitions: 4, OutcomePartitions: 4, DLQPartitions: 2,
		DecisionRetention: 48 * time.Hour,
	}
	require.NoError(t, EnsureTopics(ctx, b.Brokers(), cfg))
	require.NoError(t, EnsureTopics(ctx, b.Brokers(), cfg), "a second call keeps the existing topics")

	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(b.Addr()), Transport: tr}
	counts, err := partitionCounts(ctx, client, "x.decisions", "x.outcomes", "x.outcomes.dlq", "x.models", "x.control")
	require.NoError(t, err)
	require.Equal(t, map[string]int{"x.decisions": 4, "x.outcomes": 4, "x.outcomes.dlq": 2, "x.models": 1, "x.control": 1}, counts)

	want := map[string]map[string]string{
		"x.decisions":    {"cleanup.policy": "delete", "retention.ms": "172800000"},
		"x.outcomes":     {"cleanup.policy": "delete", "retention.ms": "691200000"},
		"x.outcomes.dlq": {"cleanup.policy": "delete", "retention.ms": "1209600000"},
		"x.models":       {"cleanup.policy": "compact"},
		"x.control":      {"cleanup.policy": "compact"},
	}
	for topic, configs := range want {
		resp, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{
			{ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"cleanup.policy", "retention.ms"}},
		}})
		require.NoError(t, err)
		require.Len(t, resp.Resources, 1)
		got := map[string]string{}
		for _, e := range resp.Resources[0].ConfigEntries {
			got[e.ConfigName] = e.ConfigValue
		}
		for k, v := range configs {
			require.Equal(t, v, got[k], "%s %s", topic, k)
		}
	}
}

func TestEnsureTopicsRejectsIncompatibleExistingTopics(t *testing.T) {
	tests := []struct {
		name   string
		create kafka.TopicConfig
		err    string
	}{
		{
			name:   "outcomes with other partition count",
			create: kafka.TopicConfig{Topic: DefaultOutcomesTopic, NumPartitions: 2, ReplicationFactor: 1},
			err:    "nba.outcomes has 2 partitions, configured 3",
		},
		{
			name:   "models not compacted",
			create: kafka.TopicConfig{Topic: DefaultModelsTopic, NumPartitions: 1, ReplicationFactor: 1},
			err:    "nba.models has cleanup.policy=\"delete\"",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			b, err := StartEmbeddedBroker(ctx, BrokerConfig{Addr: "127.0.0.1:0"})
			require.NoError(t, err)
			defer b.Close()
			tr := &kafka.Transport{}
			defer tr.CloseIdleConnections()
			client := &kafka.Client{Addr: kafka.TCP(b.Addr()), Transport: tr}
			resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{tt.create}})
			require.NoError(t, err)
			require.NoError(t, resp.Errors[tt.create.Topic])

			err = EnsureTopics(ctx, b.Brokers(), TopicsConfig{})
			require.ErrorContains(t, err, tt.err)
			require.ErrorIs(t, err, ErrTopicMismatch, "retrying cannot fix it")
		})
	}
}

func TestEnsureTopicsUnreachableIsRetryable(t *testing.T) {
	addr := situtest.ReserveAddr(t) // nothing listens there
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := EnsureTopics(ctx, []string{addr}, TopicsConfig{})
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrTopicMismatch, "a broker that is not there yet may be there later")
}
