package models_test

import (
	"runtime"
	"testing"

	"situ/internal/situtest"
	"situ/models"
)

// BenchmarkCompactJoinerPending24hWithParts is BenchmarkCompactJoinerPending24h
// with every decision's first outcome part joined (resolved and handle
// seconds, as when the case closes): the decisions stay pending for their
// window, with the record of the fields applied.
// Run it with `go test -run '^$' -bench CompactJoinerPending24hWithParts -benchtime 1x ./models`.
func BenchmarkCompactJoinerPending24hWithParts(b *testing.B) {
	benchPending24h(b, &models.Outcome{OutcomeID: "o", Resolved: true, HandleSeconds: 300,
		Missing: models.AllOutcomeFields &^ (1<<models.FieldResolved | 1<<models.FieldHandleSeconds)})
}

// BenchmarkCompactJoinerPending7dWithParts holds the 24 h window and the
// late fields' 7 days at 200 decisions/s: 7 days of decisions with UUIDv7
// ids over 10 partitions (120.96 million), each with its first outcome
// part joined a minute after it, so that at the end 17.28 million wait in
// the queue and 103.68 million in the late tier. It reports the storage
// of each tier, the bytes per late decision and the process's RSS at the
// end and at its peak (run one benchmark a process: the peak is the
// process's).
// Run it with `go test -run '^$' -bench CompactJoinerPending7dWithParts -benchtime 1x ./models`.
func BenchmarkCompactJoinerPending7dWithParts(b *testing.B) {
	for b.Loop() {
		j := models.NewCompactJoiner(models.JoinConfig{MaxPending: 20_000_000})
		elapsed := situtest.FillWeek(j)
		runtime.GC()
		queue, late := j.Pending(), j.LateDecisions()
		if queue < 17_200_000 || late < 103_600_000 || j.Stats().Joined != situtest.WeekDecisions {
			b.Fatalf("%d in the queue, %d in the late tier, %d joined; want 17.28M, 103.68M, %d", queue, late, j.Stats().Joined, situtest.WeekDecisions)
		}
		lateBytes := float64(j.LateStorageBytes())
		b.ReportMetric(float64(queue), "queue")
		b.ReportMetric(float64(late), "late")
		b.ReportMetric((float64(j.StorageBytes())-lateBytes)/(1<<20), "queue_storage_MiB")
		b.ReportMetric(lateBytes/(1<<20), "late_storage_MiB")
		b.ReportMetric(lateBytes/float64(late), "B/late")
		b.ReportMetric(situtest.ProcStatusMiB("VmRSS:"), "rss_MiB")
		b.ReportMetric(situtest.ProcStatusMiB("VmHWM:"), "rss_peak_MiB")
		b.ReportMetric(float64(situtest.WeekDecisions)/elapsed.Seconds(), "adds/s")
		runtime.KeepAlive(j)
	}
}
