package e2e

import (
	"fmt"
	"os"
	"testing"

	"situ/feedback"
	"situ/internal/brokertest"
	"situ/internal/situtest"
)

// situBin is the situ binary built for the tests.
var situBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "situ-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if situBin, err = situtest.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "build situ:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// startBroker starts an embedded broker with situ's topics.
func startBroker(t *testing.T, partitions int) *feedback.EmbeddedBroker {
	t.Helper()
	return brokertest.Start(t, partitions)
}

// startSitu runs `situ serve` with args and waits until it is ready.
func startSitu(t *testing.T, args ...string) *situtest.Process {
	t.Helper()
	return situtest.Serve(t, situBin, args...)
}
