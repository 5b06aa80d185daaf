package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"situ/feedback"
	"situ/internal/brokertest"
	"situ/internal/situtest"
)

// situBin is the situ binary built for the tests.
var situBin string

func TestMain(m *testing.M) {
	var remove func()
	situBin, remove = situtest.BuildTemp("situ-e2e-")
	code := m.Run()
	remove()
	os.Exit(code)
}

// startBroker starts an embedded broker with situ's topics.
func startBroker(t *testing.T, partitions int) *feedback.EmbeddedBroker {
	t.Helper()
	return brokertest.Start(t, partitions)
}

// latestOfDefault returns the latest record of the default model on a
// compacted topic, if there is one.
func latestOfDefault(t *testing.T, brokers []string, topic string) (feedback.TailRecord, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recs, err := feedback.ReadLatest(ctx, brokers, topic)
	require.NoError(t, err)
	rec, ok := recs["default"]
	return rec, ok
}

// poll calls done every interval until it reports true and returns how
// long that took. Once within has passed it fails the test with the
// message failure gives after the last call.
func poll(t *testing.T, within, interval time.Duration, done func() bool, failure func() string) time.Duration {
	t.Helper()
	start := time.Now()
	for !done() {
		if time.Since(start) > within {
			t.Fatal(failure())
		}
		time.Sleep(interval)
	}
	return time.Since(start)
}

// startSitu runs `situ serve` with args and waits until it is ready.
func startSitu(t *testing.T, args ...string) *situtest.Process {
	t.Helper()
	return situtest.Serve(t, situBin, args...)
}
