package models_test

import (
	"runtime"
	"testing"
	"time"

	"situ/internal/situtest"
	"situ/models"
)

// BenchmarkCompactJoinerPending24h holds a 24 h window at 200 decisions/s
// in a compact join: 17.28 million pending decisions with UUIDv7 ids, none
// joined yet, and reports the Go heap, the join's storage outside it
// (CompactJoiner.StorageBytes), the bytes of both per pending decision
// and the process's RSS, at the end and at its peak (run one benchmark a
// process: the peak is the process's).
// Run it with `go test -run '^$' -bench CompactJoinerPending24h -benchtime 1x ./models`.
func BenchmarkCompactJoinerPending24h(b *testing.B) { benchPending24h(b, nil) }

// benchPending24h adds 17.28 million decisions to a compact join and,
// when part is set, a copy of it for each as it comes, then reports the
// memory the join holds.
func benchPending24h(b *testing.B, part *models.Outcome) {
	const n = 24 * 3600 * 200
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		j := models.NewCompactJoiner(models.JoinConfig{MaxPending: 20_000_000})
		start := time.Now()
		var id [36]byte
		t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
		emit := func(models.Match) {}
		for i := range n {
			at := t0.Add(time.Duration(i) * 5 * time.Millisecond)
			did := situtest.UUIDv7(&id, at, uint64(i))
			j.AddDecision(models.DecisionPos{Partition: int32(i % 3), Offset: int64(i / 3)}, did, at, emit)
			if part != nil {
				o := *part
				o.DecisionID, o.OccurredAt = did, at.Add(time.Minute)
				j.AddOutcome(o, emit)
			}
		}
		elapsed := time.Since(start)
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		joined := int64(0)
		if part != nil {
			joined = n
		}
		if j.Pending() != n || j.Stats().Joined != joined {
			b.Fatalf("pending %d, joined %d, want %d and %d", j.Pending(), j.Stats().Joined, n, joined)
		}
		heap := float64(after.HeapInuse) - float64(before.HeapInuse)
		storage := float64(j.StorageBytes())
		b.ReportMetric(heap/(1<<20), "heap_MiB")
		b.ReportMetric(storage/(1<<20), "storage_MiB")
		b.ReportMetric((heap+storage)/n, "B/pending")
		b.ReportMetric(situtest.ProcStatusMiB("VmRSS:"), "rss_MiB")
		b.ReportMetric(situtest.ProcStatusMiB("VmHWM:"), "rss_peak_MiB")
		b.ReportMetric(float64(n)/elapsed.Seconds(), "adds/s")
		runtime.KeepAlive(j)
	}
}
