// Package brokertest starts the embedded Kafka-compatible broker for the
// tests that drive situ processes against it (cmd/situ, e2e, deploy). It
// is apart from situtest because it imports feedback, whose own tests use
// situtest.
package brokertest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"situ/feedback"
)

// Start starts an embedded broker on a free loopback port with situ's
// topics (decisions and outcomes with the given partition count; 0 means
// the default), closed when the test ends.
func Start(t testing.TB, partitions int) *feedback.EmbeddedBroker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := feedback.StartEmbeddedBroker(ctx, feedback.BrokerConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Logger: zap.NewNop()})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	topics := feedback.TopicsConfig{DecisionPartitions: partitions, OutcomePartitions: partitions}.WithDefaults()
	require.NoError(t, feedback.EnsureTopics(ctx, b.Brokers(), topics))
	return b
}
