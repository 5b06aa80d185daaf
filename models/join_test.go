package models_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"situ/models"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func dec(id string, at time.Duration) models.DecisionEvent {
	return models.DecisionEvent{DecisionID: id, Time: t0.Add(at), Treatment: "fast_resolution", Propensity: 1}
}

func out(decisionID string) models.Outcome {
	return models.Outcome{OutcomeID: "o-" + decisionID, DecisionID: decisionID, Resolved: true, OccurredAt: t0}
}

// event is one step of a join scenario: a decision (at an offset) or an outcome.
type event struct {
	decision *models.DecisionEvent
	offset   int64
	outcome  *models.Outcome
}

func D(id string, off int64, at time.Duration) event {
	d := dec(id, at)
	return event{decision: &d, offset: off}
}
func O(id string) event { o := out(id); return event{outcome: &o} }

func TestJoinScenarios(t *testing.T) {
	reward := -0.1
	cases := []struct {
		name   string
		cfg    models.JoinConfig
		events []event
		want   []string // joined decision ids, "id*" when joined by default reward
		stats  models.JoinStats
	}{
		{"outcome after decision", models.JoinConfig{}, []event{D("a", 0, 0), O("a")}, []string{"a"}, models.JoinStats{Joined: 1}},
		{"outcome before decision", models.JoinConfig{}, []event{O("a"), D("a", 0, 0)}, []string{"a"}, models.JoinStats{Joined: 1}},
		{"duplicate outcome applied once", models.JoinConfig{}, []event{D("a", 0, 0), O("a"), O("a")}, []string{"a"}, models.JoinStats{Joined: 1, Duplicates: 1}},
		{"duplicate early outcome", models.JoinConfig{}, []event{O("a"), O("a"), D("a", 0, 0)}, []string{"a"}, models.JoinStats{Joined: 1, Duplicates: 1}},
		{"duplicate decision", models.JoinConfig{}, []event{D("a", 0, 0), D("a", 1, 0), O("a")}, []string{"a"}, models.JoinStats{Joined: 1, Duplicates: 1}},
		{"window passes: skipped", models.JoinConfig{Window: time.Hour}, []event{D("a", 0, 0), D("b", 1, 2*time.Hour), O("a"), O("b")},
			[]string{"b"}, models.JoinStats{Joined: 1, Expired: 1, EarlyExpired: 0}},
		{"window passes: default reward", models.JoinConfig{Window: time.Hour, DefaultReward: &reward}, []event{D("a", 0, 0), D("b", 1, 2*time.Hour), O("b")},
			[]string{"a*", "b"}, models.JoinStats{Joined: 1, Expired: 1, ExpiredRewarded: 1}},
		{"outcome for unknown decision expires", models.JoinConfig{Window: time.Hour}, []event{D("x", 0, 0), O("ghost"), D("b", 1, 2*time.Hour), O("b")},
			[]string{"b"}, models.JoinStats{Joined: 1, Expired: 1, EarlyExpired: 1}},
		{"outcome before any decision waits from the first decision", models.JoinConfig{Window: time.Hour}, []event{O("a"), D("x", 0, 2*time.Hour), D("a", 1, 2*time.Hour+time.Minute)},
			[]string{"a"}, models.JoinStats{Joined: 1}},
		{"pending cap drops the oldest", models.JoinConfig{MaxPending: 2}, []event{D("a", 0, 0), D("b", 1, 0), D("c", 2, 0), O("a"), O("c")},
			[]string{"c"}, models.JoinStats{Joined: 1, DroppedPending: 1}},
		{"early cap drops the oldest", models.JoinConfig{MaxEarly: 1}, []event{O("a"), O("b"), D("a", 0, 0), D("b", 1, 0)},
			[]string{"b"}, models.JoinStats{Joined: 1, DroppedEarly: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := models.NewJoiner(tc.cfg)
			got := run(j, tc.events)
			if !slices.Equal(got, tc.want) {
				t.Errorf("joined %v, want %v", got, tc.want)
			}
			if j.Stats() != tc.stats {
				t.Errorf("stats %+v, want %+v", j.Stats(), tc.stats)
			}
		})
	}
}

func run(j *models.Joiner, events []event) []string {
	var got []string
	emit := func(x models.Joined) {
		id := x.Decision.DecisionID
		if x.Outcome == nil {
			id += "*"
		}
		got = append(got, id)
	}
	for _, e := range events {
		if e.decision != nil {
			j.AddDecision(0, e.offset, *e.decision, emit)
		} else {
			j.AddOutcome(*e.outcome, emit)
		}
	}
	return got
}

// TestJoinRestoreReplaysExactly: a stream cut at random points, each time
// restored from State() with the decisions re-read from ReplayFrom(), joins
// exactly what an uninterrupted join does.
func TestJoinRestoreReplaysExactly(t *testing.T) {
	reward := 0.0
	cfg := models.JoinConfig{Window: 30 * time.Minute, DefaultReward: &reward}
	rng := rand.New(rand.NewPCG(5, 6))
	const n = 3000
	// decisions arrive in order on one partition; outcomes lag randomly,
	// some come first, some never, some twice
	var decisions []models.DecisionEvent
	type ev struct {
		isDecision bool
		idx        int
		o          models.Outcome
	}
	var stream []ev
	var lagging []models.Outcome
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("d%04d", i)
		decisions = append(decisions, dec(id, time.Duration(i)*time.Second))
		r := rng.Float64()
		switch {
		case r < 0.1:
			stream = append(stream, ev{o: out(id)}) // outcome first
			stream = append(stream, ev{isDecision: true, idx: i})
		case r < 0.2:
			stream = append(stream, ev{isDecision: true, idx: i}) // never an outcome
		default:
			stream = append(stream, ev{isDecision: true, idx: i})
			lagging = append(lagging, out(id))
			if r > 0.95 {
				lagging = append(lagging, out(id)) // duplicate
			}
		}
		for len(lagging) > 0 && rng.Float64() < 0.5 {
			k := rng.IntN(len(lagging))
			stream = append(stream, ev{o: lagging[k]})
			lagging = slices.Delete(lagging, k, k+1)
		}
	}
	for _, o := range lagging {
		stream = append(stream, ev{o: o})
	}

	collect := func(got *[]string) func(models.Joined) {
		return func(x models.Joined) {
			s := x.Decision.DecisionID
			if x.Outcome == nil {
				s += "*"
			}
			*got = append(*got, s)
		}
	}
	var want []string
	j := models.NewJoiner(cfg)
	for _, e := range stream {
		if e.isDecision {
			j.AddDecision(0, int64(e.idx), decisions[e.idx], collect(&want))
		} else {
			j.AddOutcome(e.o, collect(&want))
		}
	}

	// the same stream with restarts: the consumer position is (stream index,
	// next decision offset); decisions are re-read from ReplayFrom.
	var got []string
	j = models.NewJoiner(cfg)
	nextDecision := int64(0)
	cuts := map[int]bool{}
	for len(cuts) < 12 {
		cuts[rng.IntN(len(stream))] = true
	}
	for k, e := range stream {
		if cuts[k] {
			state := j.State()
			j = models.RestoreJoiner(cfg, state, map[int32]int64{0: nextDecision})
			for off := j.ReplayFrom()[0]; off < nextDecision; off++ {
				j.AddDecision(0, off, decisions[off], collect(&got))
			}
		}
		if e.isDecision {
			j.AddDecision(0, int64(e.idx), decisions[e.idx], collect(&got))
			nextDecision = int64(e.idx) + 1
		} else {
			j.AddOutcome(e.o, collect(&got))
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("with restarts the join emitted %d results, without %d; first difference at %d", len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
