package models_test

import (
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
		{"duplicate within a window of the join", models.JoinConfig{Window: time.Hour}, []event{D("a", 0, 0), O("a"), D("x", 1, 59*time.Minute), O("a")},
			[]string{"a"}, models.JoinStats{Joined: 1, Duplicates: 1}},
		{"duplicate more than a window after the join waits as an unknown decision", models.JoinConfig{Window: time.Hour},
			[]event{D("a", 0, 0), O("a"), D("x", 1, 61*time.Minute), O("a"), D("y", 2, 3*time.Hour)},
			[]string{"a"}, models.JoinStats{Joined: 1, Expired: 1, EarlyExpired: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := models.NewJoiner[int64](tc.cfg)
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

func run(j *models.Joiner[int64], events []event) []string {
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
			j.AddDecision(e.offset, *e.decision, emit)
		} else {
			j.AddOutcome(*e.outcome, emit)
		}
	}
	return got
}
