package models_test

import (
	"testing"
	"time"

	"situ/models"
)

func TestEarlyParts(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	o := func(decision, outcome string) models.Outcome {
		return models.Outcome{DecisionID: decision, OutcomeID: outcome}
	}
	type step struct {
		add     *models.Outcome
		at      time.Duration // stream time of an add
		take    string        // a decision that came
		expire  time.Duration // ExpireBefore(t0+expire), when > 0
		added   bool          // of an add
		dropped int           // of an add
		taken   int           // of a take
		expired int           // of an expire
		len     int           // Len after the step
	}
	add := func(d, id string, at time.Duration, added bool, dropped, n int) step {
		x := o(d, id)
		return step{add: &x, at: at, added: added, dropped: dropped, len: n}
	}
	cases := []struct {
		name  string
		max   int
		steps []step
	}{
		{"parts of one decision count each", 10, []step{
			add("a", "o1", 0, true, 0, 1), add("a", "o2", 0, true, 0, 2), {take: "a", taken: 2, len: 0}}},
		{"a part of an outcome id waiting already is a duplicate", 10, []step{
			add("a", "o1", 0, true, 0, 1), add("a", "o1", 0, false, 0, 1)}},
		{"the cap drops the oldest decision with all its parts", 3, []step{
			add("a", "o1", 0, true, 0, 1), add("a", "o2", 0, true, 0, 2), add("b", "o3", 0, true, 0, 3),
			add("c", "o4", 0, true, 2, 2), {take: "a", taken: 0, len: 2}, {take: "b", taken: 1, len: 1}}},
		{"expiry by the first part's time, in order, skipping decisions taken", 10, []step{
			add("a", "o1", 0, true, 0, 1), add("b", "o2", time.Minute, true, 0, 2), add("a", "o3", 2*time.Minute, true, 0, 3),
			add("c", "o4", 3*time.Minute, true, 0, 4), {take: "b", taken: 1, len: 3},
			{expire: 2 * time.Minute, expired: 2, len: 1}, {expire: 4 * time.Minute, expired: 1, len: 0}}},
		{"a taken decision's later part waits anew", 10, []step{
			add("a", "o1", 0, true, 0, 1), {take: "a", taken: 1, len: 0}, add("a", "o2", 0, true, 0, 1)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := models.NewEarlyParts(tc.max)
			for i, s := range tc.steps {
				switch {
				case s.add != nil:
					added, dropped := e.Add(*s.add, t0.Add(s.at))
					if added != s.added || dropped != s.dropped {
						t.Fatalf("step %d: Add = %v, %d; want %v, %d", i, added, dropped, s.added, s.dropped)
					}
					if !e.Waiting(s.add.DecisionID) && s.added {
						t.Fatalf("step %d: %s not waiting", i, s.add.DecisionID)
					}
				case s.take != "":
					if got := len(e.Take(s.take)); got != s.taken {
						t.Fatalf("step %d: Take(%s) gave %d parts, want %d", i, s.take, got, s.taken)
					}
					if e.Waiting(s.take) {
						t.Fatalf("step %d: %s still waiting", i, s.take)
					}
				default:
					if got := e.ExpireBefore(t0.Add(s.expire)); got != s.expired {
						t.Fatalf("step %d: ExpireBefore = %d, want %d", i, got, s.expired)
					}
				}
				if e.Len() != s.len {
					t.Fatalf("step %d: Len %d, want %d", i, e.Len(), s.len)
				}
				n := 0
				e.Each(func(models.Outcome, time.Time) { n++ })
				if n != s.len {
					t.Fatalf("step %d: Each gave %d parts, Len %d", i, n, s.len)
				}
			}
		})
	}
}
