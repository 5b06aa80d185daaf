package deploy

import (
	"testing"

	"situ/feedback"
	"situ/internal/brokertest"
	"situ/internal/situtest"
)

// startBroker starts an embedded Kafka-compatible broker on a free
// loopback port, as the Kafka cluster of a production layout.
func startBroker(t *testing.T) *feedback.EmbeddedBroker {
	t.Helper()
	return brokertest.Start(t, 0)
}

// startServe runs `situ serve` with args (situtest.Serve).
func startServe(t *testing.T, args ...string) *situtest.Process {
	t.Helper()
	return situtest.Serve(t, situBin, args...)
}
