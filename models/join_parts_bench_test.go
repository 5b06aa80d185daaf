package models_test

import (
	"runtime"
	"testing"
	"time"

	"situ/models"
)

// BenchmarkCompactJoinerPending24hWithParts is BenchmarkCompactJoinerPending24h
// with every decision's first outcome part joined (resolved and handle
// seconds, as when the case closes): the decisions stay pending for their
// window, with the record of the fields applied.
// Run it with `go test -run '^$' -bench CompactJoinerPending24hWithParts -benchtime 1x ./models`.
func BenchmarkCompactJoinerPending24hWithParts(b *testing.B) {
	const n = 24 * 3600 * 200
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		j := models.NewCompactJoiner(models.JoinConfig{MaxPending: 20_000_000})
		var id [36]byte
		t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
		emit := func(models.Match) {}
		part := models.Outcome{OutcomeID: "o", Resolved: true, HandleSeconds: 300,
			Missing: models.AllOutcomeFields &^ (1<<models.FieldResolved | 1<<models.FieldHandleSeconds)}
		for i := range n {
			at := t0.Add(time.Duration(i) * 5 * time.Millisecond)
			did := uuidv7(&id, at, uint64(i))
			j.AddDecision(models.DecisionPos{Partition: int32(i % 3), Offset: int64(i / 3)}, did, at, emit)
			part.DecisionID, part.OccurredAt = did, at.Add(time.Minute)
			j.AddOutcome(part, emit)
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if j.Pending() != n || j.Stats().Joined != n {
			b.Fatalf("pending %d, joined %d, want %d", j.Pending(), j.Stats().Joined, n)
		}
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/(1<<20), "heap_MiB")
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/n, "heap_B/pending")
		b.ReportMetric(rssMiB(), "rss_MiB")
		runtime.KeepAlive(j)
	}
}
