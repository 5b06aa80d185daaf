package models_test

import (
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
		// compact is the compact join's count where it differs: it counts
		// a part after its decision's window as late
		compact *models.JoinStats
	}{
		{"outcome after decision", models.JoinConfig{}, []event{D("a", 0, 0), O("a")}, []string{"a"}, models.JoinStats{Joined: 1}, nil},
		{"outcome before decision", models.JoinConfig{}, []event{O("a"), D("a", 0, 0)}, []string{"a"}, models.JoinStats{Joined: 1}, nil},
		{"duplicate outcome applied once", models.JoinConfig{}, []event{D("a", 0, 0), O("a"), O("a")}, []string{"a"}, models.JoinStats{Joined: 1, Duplicates: 1}, nil},
		{"duplicate early outcome", models.JoinConfig{}, []event{O("a"), O("a"), D("a", 0, 0)}, []string{"a"}, models.JoinStats{Joined: 1, Duplicates: 1}, nil},
		{"duplicate decision", models.JoinConfig{}, []event{D("a", 0, 0), D("a", 1, 0), O("a")}, []string{"a"}, models.JoinStats{Joined: 1, Duplicates: 1}, nil},
		{"window passes: skipped", models.JoinConfig{Window: time.Hour}, []event{D("a", 0, 0), D("b", 1, 2*time.Hour), O("a"), O("b")},
			[]string{"b"}, models.JoinStats{Joined: 1, Expired: 1, EarlyExpired: 0}, &models.JoinStats{Joined: 1, Expired: 1, Late: 1}},
		{"window passes: default reward", models.JoinConfig{Window: time.Hour, DefaultReward: &reward}, []event{D("a", 0, 0), D("b", 1, 2*time.Hour), O("b")},
			[]string{"a*", "b"}, models.JoinStats{Joined: 1, Expired: 1, ExpiredRewarded: 1}, nil},
		{"outcome for unknown decision expires", models.JoinConfig{Window: time.Hour}, []event{D("x", 0, 0), O("ghost"), D("b", 1, 2*time.Hour), O("b")},
			[]string{"b"}, models.JoinStats{Joined: 1, Expired: 1, EarlyExpired: 1}, nil},
		{"outcome before any decision waits from the first decision", models.JoinConfig{Window: time.Hour}, []event{O("a"), D("x", 0, 2*time.Hour), D("a", 1, 2*time.Hour+time.Minute)},
			[]string{"a"}, models.JoinStats{Joined: 1}, nil},
		{"pending cap drops the oldest", models.JoinConfig{MaxPending: 2}, []event{D("a", 0, 0), D("b", 1, 0), D("c", 2, 0), O("a"), O("c")},
			[]string{"c"}, models.JoinStats{Joined: 1, DroppedPending: 1}, nil},
		{"early cap drops the oldest", models.JoinConfig{MaxEarly: 1}, []event{O("a"), O("b"), D("a", 0, 0), D("b", 1, 0)},
			[]string{"b"}, models.JoinStats{Joined: 1, DroppedEarly: 1}, nil},
		{"duplicate within a window of the join", models.JoinConfig{Window: time.Hour}, []event{D("a", 0, 0), O("a"), D("x", 1, 59*time.Minute), O("a")},
			[]string{"a"}, models.JoinStats{Joined: 1, Duplicates: 1}, nil},
		{"duplicate more than a window after the join waits as an unknown decision", models.JoinConfig{Window: time.Hour},
			[]event{D("a", 0, 0), O("a"), D("x", 1, 61*time.Minute), O("a"), D("y", 2, 3*time.Hour)},
			[]string{"a"}, models.JoinStats{Joined: 1, Expired: 1, EarlyExpired: 1}, &models.JoinStats{Joined: 1, Expired: 1, Late: 1}},
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
			c := models.NewCompactJoiner(oneWindow(tc.cfg))
			if got := runCompact(c, tc.events); !slices.Equal(got, tc.want) {
				t.Errorf("compact: joined %v, want %v", got, tc.want)
			}
			if tc.compact != nil {
				tc.stats = *tc.compact
			}
			cs := c.Stats()
			cs.Closed = 0 // a count of its own (TestCompactJoinerParts)
			if cs != tc.stats {
				t.Errorf("compact: stats %+v, want %+v", c.Stats(), tc.stats)
			}
		})
	}
}

// oneWindow gives the compact join's late fields the window of the
// others, as Joiner has one window for all.
func oneWindow(cfg models.JoinConfig) models.JoinConfig {
	if cfg.Window == 0 {
		cfg.Window = 24 * time.Hour
	}
	cfg.LateWindow = cfg.Window
	return cfg
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

// runCompact runs events through a compact joiner; the decision at each
// position is found again from the events, as the learner reads it again.
func runCompact(j *models.CompactJoiner, events []event) []string {
	at := map[int64]string{}
	var got []string
	emit := func(m models.Match) {
		if m.Outcome == nil && !m.First {
			return // the late fields' window closing: Joiner has one window
		}
		id := at[m.Pos.Offset]
		if m.Outcome == nil {
			id += "*"
		} else if m.Outcome.DecisionID != id {
			id += "!mismatch"
		}
		got = append(got, id)
	}
	for _, e := range events {
		if e.decision != nil {
			if _, ok := at[e.offset]; !ok {
				at[e.offset] = e.decision.DecisionID
			}
			j.AddDecision(models.DecisionPos{Partition: 1, Offset: e.offset}, e.decision.DecisionID, e.decision.Time, emit)
		} else {
			j.AddOutcome(*e.outcome, emit)
		}
	}
	return got
}

// TestCompactJoinerMatchesJoiner runs a long random stream of complete
// outcomes (before and after their decisions, duplicates, ghosts,
// expiries, the caps) through both joiners: they join, expire and count
// alike. The compact join keeps a joined decision pending until its
// window closes (a later part may still come), so its pending count is
// higher.
func TestCompactJoinerMatchesJoiner(t *testing.T) {
	reward := 0.5
	for _, cfg := range []models.JoinConfig{
		{Window: 10 * time.Minute, MaxPending: 50_000, MaxEarly: 2_000, MaxRecent: 5_000},
		{Window: time.Hour, MaxPending: 3_000, MaxEarly: 500, DefaultReward: &reward},
	} {
		events := joinStream(rand.New(rand.NewPCG(1, 2)), streamShape{n: 200_000, every: 20 * time.Millisecond, waiting: 1, answer: 0.7, spread: 40_000})
		j := models.NewJoiner[int64](cfg)
		want := run(j, events)
		c := models.NewCompactJoiner(oneWindow(cfg))
		checkCompactAgainstJoiner(t, c, runCompact(c, events), j, want)
		t.Logf("%+v pending %d", c.Stats(), c.Pending())
	}
}

// checkCompactAgainstJoiner fails t unless the compact joiner c joined
// what the reference joiner j joined (got and want) and counts as it does,
// but for what holding a joined decision until its window closes changes:
// c may drop more pending decisions and hold more, never fewer.
func checkCompactAgainstJoiner(t *testing.T, c *models.CompactJoiner, got []string, j *models.Joiner[int64], want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("compact joined %d, joiner %d: they differ", len(got), len(want))
	}
	// … and so it reaches the pending cap sooner
	cs, js := c.Stats(), j.Stats()
	if cs.DroppedPending < js.DroppedPending {
		t.Fatalf("compact dropped %d pending decisions, joiner %d", cs.DroppedPending, js.DroppedPending)
	}
	cs.DroppedPending = js.DroppedPending
	cs.DroppedLate = 0 // joined decisions the cap dropped while they waited for late fields
	cs.Closed = 0
	// a duplicate of a decision in the late tier, whose id (not a UUIDv7)
	// it cannot look up, is counted apart
	cs.Duplicates += cs.LateNotUUID
	cs.LateNotUUID = 0
	if cs != js || c.Pending() < j.Pending() || c.Early() != j.Early() {
		t.Fatalf("compact %+v (pending %d, early %d), joiner %+v (pending %d, early %d)", c.Stats(), c.Pending(), c.Early(), j.Stats(), j.Pending(), j.Early())
	}
	var offs []int64
	c.PendingPositions(func(p models.DecisionPos) { offs = append(offs, p.Offset) })
	for _, off := range j.PendingRefs() {
		if c.Stats().DroppedPending+c.Stats().DroppedLate > 0 {
			break // the cap dropped some the joiner holds
		}
		if _, found := slices.BinarySearch(offs, off); !found {
			t.Fatalf("decision at %d pending in the joiner, not in the compact join", off)
		}
	}
}
