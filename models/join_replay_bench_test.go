package models_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"situ/internal/situtest"
	"situ/models"
)

// BenchmarkLateOutcomeReplay replays eight days of stream time compressed
// into one run of the compact join: a decision every 500 ms of stream time
// (1.38 million), each with a first part (resolved, csat, handle seconds)
// arriving uniformly between 1 minute and 24 hours after its decision and
// a part with the late fields (recontact_7d, churned) uniformly between 1
// minute and 7 days after it, every event in the order of its time. Every
// first part must join, every late field be applied, nothing expire,
// nothing come late or be dropped (a last decision eight days on closes
// every window); it prints the join's counters. Parts whose decision has
// left the queue for the late tier are looked up there at the end of
// each round of 1,000 events, as the learner does: the offsets its
// ranges name are compared by key (the replay's ids), which stands for
// the learner's re-read of nba.decisions.
// Run it with `make replay-late`.
func BenchmarkLateOutcomeReplay(b *testing.B) {
	const (
		every = 500 * time.Millisecond
		span  = 8 * 24 * time.Hour
		n     = int(span / every)
	)
	type event struct {
		at       time.Duration
		decision int // index, or -1 for an outcome part
		part     models.Outcome
	}
	rng := rand.New(rand.NewPCG(12, 24))
	t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	events := make([]event, 0, 3*n)
	ids := make([]string, n)
	var id [36]byte
	for i := range n {
		at := time.Duration(i) * every
		ids[i] = situtest.UUIDv7(&id, t0.Add(at), uint64(i))
		events = append(events, event{at: at, decision: i})
		early := at + time.Minute + time.Duration(rng.Int64N(int64(24*time.Hour-time.Minute)))
		late := at + time.Minute + time.Duration(rng.Int64N(int64(7*24*time.Hour-time.Minute)))
		csat := float64(1 + rng.IntN(5))
		events = append(events,
			event{at: early, decision: -1, part: models.Outcome{OutcomeID: ids[i] + "a", DecisionID: ids[i], OccurredAt: t0.Add(early),
				Resolved: true, CSAT: &csat, HandleSeconds: 300, Missing: models.LateFields | 1<<models.FieldUpsellAccepted | 1<<models.FieldRevenue | 1<<models.FieldEscalated}},
			event{at: late, decision: -1, part: models.Outcome{OutcomeID: ids[i] + "b", DecisionID: ids[i], OccurredAt: t0.Add(late),
				Recontact7d: rng.Float64() < 0.2, Missing: models.AllOutcomeFields &^ models.LateFields}})
	}
	slices.SortStableFunc(events, func(x, y event) int { return cmp.Compare(x.at, y.at) })
	partitionOf := make(map[string]int32, n)
	for i, id := range ids {
		partitionOf[id] = int32(i % 3)
	}
	parts := len(events) - n
	for b.Loop() {
		j := models.NewCompactJoiner(models.JoinConfig{Window: 24 * time.Hour, LateWindow: 7 * 24 * time.Hour, MaxPending: 2 * n})
		var firsts, lateApplied int
		var count func(m models.Match)
		deferred := 0
		emit := func(m models.Match) { count(m) }
		count = func(m models.Match) {
			if m.Deferred != 0 {
				deferred++
				return
			}
			if m.Outcome == nil {
				return
			}
			if m.First {
				firsts++
			}
			if m.Fields&models.LateFields == models.LateFields {
				lateApplied++
			}
		}
		// the re-read: the offsets of p in the ranges asked for whose key
		// (the decision id) is id
		find := func(reads map[int32]*models.LateRead) func(p int32, id string) []int64 {
			keys := map[int32]map[string][]int64{}
			for p, r := range reads {
				keys[p] = map[string][]int64{}
				for _, rg := range r.Ranges {
					for off := rg[0]; off < rg[1]; off++ {
						if i := int(off)*3 + int(p); i < n {
							if _, wanted := r.IDs[ids[i]]; wanted {
								keys[p][ids[i]] = append(keys[p][ids[i]], off)
							}
						}
					}
				}
			}
			return func(p int32, id string) []int64 { return keys[p][id] }
		}
		resolve := func() {
			if !j.LateLookups() {
				return
			}
			for _, ms := range j.ResolveLate(find(j.LateReads())) {
				for _, m := range ms {
					count(m)
				}
			}
		}
		start := time.Now()
		for k, e := range events {
			if e.decision >= 0 {
				j.AddDecision(models.DecisionPos{Partition: int32(e.decision % 3), Offset: int64(e.decision / 3)}, ids[e.decision], t0.Add(e.at), emit)
			} else {
				j.AddOutcomeFrom(partitionOf[e.part.DecisionID], e.part, emit)
			}
			if k%1000 == 999 {
				resolve()
			}
		}
		resolve()
		elapsed := time.Since(start)
		// one decision past every window closes them all
		j.AddDecision(models.DecisionPos{Partition: 9}, "end", t0.Add(span+8*24*time.Hour), emit)
		s := j.Stats()
		fmt.Printf("late-outcome replay: %d decisions over %s of stream time, %d parts (first parts 1 min–24 h after their decision, late fields 1 min–7 days)\n", n, span, parts)
		fmt.Printf("  joined %d (first parts %d, late fields applied %d), expired %d, late %d, stale %d, duplicates %d, dropped pending %d, dropped late %d, unknown decision %d\n",
			s.Joined, firsts, lateApplied, s.Expired, s.Late, s.Stale, s.Duplicates, s.DroppedPending, s.DroppedLate, s.EarlyExpired)
		fmt.Printf("  late tier: %d parts looked up (%d placeholders), %d found, %d not found, %d ids not UUIDv7\n",
			s.LateLookups, deferred, s.LateFound, s.LateNotFound, s.LateNotUUID)
		want := parts / 2
		if s.Joined != int64(parts) || s.Expired != 0 || firsts != want || lateApplied != want || s.Late != 0 || s.DroppedPending != 0 || s.DroppedLate != 0 || s.EarlyExpired != 0 ||
			s.LateFound != s.LateLookups || s.LateFound == 0 {
			b.Fatalf("not every part joined and applied: %+v, first parts %d and late fields %d of %d", s, firsts, lateApplied, want)
		}
		b.ReportMetric(float64(len(events))/elapsed.Seconds(), "events/s")
	}
}
