package experiments

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"situ/models"
)

// BenchmarkPartsJoinPending measures the Go heap a pending experiment
// decision takes in the results engine's join (reported as
// heap-bytes/pending): 200,000 decisions of 100,000 units, each with one
// part (resolution and handle time) applied, as they wait for their late
// fields. The units are the aggregator's (not counted).
func BenchmarkPartsJoinPending(b *testing.B) {
	const n, units = 200_000, 100_000
	agg := NewAggregator()
	refs := make([]UnitRef, units)
	for i := range refs {
		refs[i] = agg.AddExposure(Exposure{Experiment: "philosophy", Arm: "control", Unit: fmt.Sprintf("%064x", i)})
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("0190a1b2-c3d4-7e5f-8a9b-%012x", i)
	}
	t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	emit := func(*Change[UnitRef]) {}
	var perPending float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		j := NewPartsJoin[UnitRef](models.JoinConfig{MaxPending: n})
		for i := range n {
			at := t0.Add(time.Duration(i) * time.Second)
			j.AddDecision(JoinDecision[UnitRef]{ID: ids[i], Time: at, Ref: refs[i%units], ConfigVersion: 3}, emit)
			o := models.Outcome{OutcomeID: "o", DecisionID: ids[i], Resolved: true, HandleSeconds: 300, OccurredAt: at.Add(time.Hour),
				Missing: models.AllOutcomeFields &^ (1<<models.FieldResolved | 1<<models.FieldHandleSeconds)}
			j.AddOutcome(&o, emit)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perPending = float64(after.HeapAlloc-before.HeapAlloc) / float64(j.Pending())
		runtime.KeepAlive(j)
	}
	b.ReportMetric(perPending, "heap-bytes/pending")
}
