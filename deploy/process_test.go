package deploy

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"situ/feedback"
	"situ/internal/situtest"
)

// startBroker starts an embedded Kafka-compatible broker on a free
// loopback port, as the Kafka cluster of a production layout.
func startBroker(t *testing.T) *feedback.EmbeddedBroker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := feedback.StartEmbeddedBroker(ctx, feedback.BrokerConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Logger: zap.NewNop()})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return b
}

// startServe runs `situ serve` with args (situtest.Serve).
func startServe(t *testing.T, args ...string) *situtest.Process {
	t.Helper()
	return situtest.Serve(t, situBin, args...)
}
