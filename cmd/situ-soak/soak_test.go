package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"situ/internal/situtest"
)

// TestSoakSmoke runs the whole soak against a real `situ serve` for 15
// seconds with a 3 s reward window: every outcome kind is sent, the
// learner's counters add up, nothing answers 5xx and the plot is drawn.
// Fifteen seconds say nothing about memory, and whether a shared machine
// keeps up with the rate is not situ's doing, so the memory checks, the
// steady state they need and the rate are not held here (make soak is for
// them).
func TestSoakSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts situ serve for 15 s")
	}
	dir := t.TempDir()
	bin, err := situtest.Build(dir)
	require.NoError(t, err, "build situ")
	cfg := config{
		situ: bin, duration: 15 * time.Second, warmup: 5 * time.Second, rate: 200, concurrency: 16,
		window: 3 * time.Second, sample: 500 * time.Millisecond, maxSlope: 1, customers: 1000, seed: 7,
		out: filepath.Join(dir, "soak.png"), logFile: filepath.Join(dir, "situ.log"), settle: 30 * time.Second,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := soak(ctx, cfg, io.Discard)
	if err != nil {
		logs, _ := os.ReadFile(cfg.logFile)
		t.Fatalf("soak: %v\nsitu's log:\n%s", err, tail(string(logs), 4000))
	}
	var report strings.Builder
	require.NoError(t, res.writeText(&report))
	for _, c := range res.checks {
		switch c.Name {
		case "RSS flat", "Go heap flat", "Go heap goal flat", "steady state", "rate held":
			continue
		}
		require.True(t, c.OK, "%s: %s\n%s", c.Name, c.Detail, report.String())
	}
	for k := kindOnTime; k < numKinds; k++ {
		require.Positive(t, res.sent.Planned[k], "no decision got an outcome of kind %q", kindNames[k])
	}
	f := res.final
	require.Positive(t, f.joined, report.String())
	require.Positive(t, f.expired, report.String())
	require.Positive(t, f.unknown, report.String())
	require.Positive(t, f.dedupHTTP, report.String())
	require.Positive(t, f.dlqJSON+f.dlqInvalid, report.String())
	require.NotEmpty(t, res.samples)
	last := res.samples[len(res.samples)-1]
	for _, p := range procNames {
		require.Positive(t, last.Procs[p].RSS, "the RSS of %s", p)
		require.Positive(t, last.Procs[p].HeapGoal, "the heap goal of %s", p)
	}

	require.NoError(t, writePlot(cfg.out, res))
	st, err := os.Stat(cfg.out)
	require.NoError(t, err)
	require.Greater(t, st.Size(), int64(10_000), "a PNG with three panels")
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
