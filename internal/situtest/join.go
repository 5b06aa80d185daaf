package situtest

import (
	"os"
	"strconv"
	"strings"
	"time"

	"situ/models"
)

// A week of decisions at 200 a second over 10 partitions, as the late
// tier's figures take it: the 24 h window's 17.28 million wait in the
// queue at the end, the 103.68 million before them in the late tier.
const (
	WeekRate       = 200
	WeekPartitions = 10
	WeekDecisions  = 7 * 24 * 3600 * WeekRate
)

// FillWeek adds WeekDecisions decisions with UUIDv7 ids to j, from
// 2026-11-22 on, each with its first outcome part (resolved and handle
// seconds, as when the case closes) a minute after it, and returns how
// long that took.
func FillWeek(j *models.CompactJoiner) time.Duration {
	part := models.Outcome{OutcomeID: "o", Resolved: true, HandleSeconds: 300,
		Missing: models.AllOutcomeFields &^ (1<<models.FieldResolved | 1<<models.FieldHandleSeconds)}
	start := time.Now()
	var id [36]byte
	t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	emit := func(models.Match) {}
	for i := range WeekDecisions {
		at := t0.Add(time.Duration(i) * time.Second / WeekRate)
		did := UUIDv7(&id, at, uint64(i))
		p := int32(i % WeekPartitions)
		j.AddDecision(models.DecisionPos{Partition: p, Offset: int64(i / WeekPartitions)}, did, at, emit)
		o := part
		o.DecisionID, o.OccurredAt = did, at.Add(time.Minute)
		j.AddOutcomeFrom(p, o, emit)
	}
	return time.Since(start)
}

// ProcStatusMiB returns the process's memory figure named field in
// /proc/self/status (VmRSS: now, VmHWM: its peak), 0 where there is none.
func ProcStatusMiB(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
