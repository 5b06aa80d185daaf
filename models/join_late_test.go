package models_test

import (
	"slices"
	"testing"
	"time"

	"situ/models"
)

// TestCompactJoinerLateTier holds the late tier to the join's contract
// for the late fields of decisions whose early window closed: found by
// their id's time and message key, a newer value applied and an older
// one stale, duplicates once, closing at the late window with and
// without a default reward, and the parts it cannot take counted by
// reason. Every scenario runs in rounds of one event and in one round:
// the matches are the same, in the same order.
func TestCompactJoinerLateTier(t *testing.T) {
	const (
		res = models.FieldResolved
		cs  = models.FieldCSAT
		rc  = models.FieldRecontact7d
		ch  = models.FieldChurned
	)
	h, day := time.Hour, 24*time.Hour
	reward := 0.0
	w := models.JoinConfig{Window: h, LateWindow: 7 * day}
	wr := w
	wr.DefaultReward = &reward
	early := "resolved,csat,upsell_accepted,revenue,handle_seconds,escalated"
	cases := []partsCase{
		{"a late field after its decision left the queue", w,
			[]event{D("a", 0, 0), part("a", "o1", time.Minute, res), D("x", 1, 2*h), part("a", "o2", 3*day, rc)},
			[]string{"a:resolved+", "a:recontact_7d"}, models.JoinStats{Joined: 2, LateLookups: 1, LateFound: 1}},
		{"parts before their decision, then the late tier", w,
			[]event{part("a", "o1", time.Minute, res), D("a", 0, 0), D("x", 1, 2*h), part("a", "o2", 2*day, ch)},
			[]string{"a:resolved+", "a:churned"}, models.JoinStats{Joined: 2, LateLookups: 1, LateFound: 1}},
		{"parts split across the tiers: one late field in the queue, the other in the late tier", w,
			[]event{D("a", 0, 0), part("a", "o1", 10*time.Minute, res, rc), D("x", 1, 2*h), part("a", "o2", 4*day, ch)},
			[]string{"a:resolved,recontact_7d+", "a:churned"}, models.JoinStats{Joined: 2, LateLookups: 1, LateFound: 1}},
		{"a newer value of a late field applies, an older one is stale", w,
			[]event{D("a", 0, 0), part("a", "o1", 10*time.Minute, rc), D("x", 1, 2*h), part("a", "o2", 3*day, rc), part("a", "o3", 2*day, rc)},
			[]string{"a:recontact_7d+", "a:recontact_7d"}, models.JoinStats{Joined: 2, Stale: 1, LateLookups: 2, LateFound: 2}},
		{"a value moved in from the queue is kept: an older one is stale there too", w,
			[]event{D("a", 0, 0), part("a", "o1", 5*h, rc), D("x", 1, 2*h), part("a", "o2", 2*h, rc)},
			[]string{"a:recontact_7d+"}, models.JoinStats{Joined: 1, Stale: 1, LateLookups: 1, LateFound: 1}},
		{"a duplicate in the late tier changes nothing", w,
			[]event{D("a", 0, 0), D("x", 1, 2*h), part("a", "o1", 3*day, ch), part("a", "o1", 3*day, ch)},
			[]string{"a:churned+"}, models.JoinStats{Joined: 1, Expired: 1, Duplicates: 1, LateLookups: 2, LateFound: 2}},
		{"an early field after the early window: late, and no first part with a default reward", wr,
			[]event{D("a", 0, 0), D("x", 1, 2*h), part("a", "o1", 3*h, res, rc)},
			[]string{"a:" + early + "+*", "a:recontact_7d"}, models.JoinStats{Joined: 1, Expired: 1, ExpiredRewarded: 1, LateLookups: 1, LateFound: 1}},
		{"the late window closes with a default reward: the late fields never reported, as zero", wr,
			[]event{D("a", 0, 0), D("b", 1, 0), part("a", "o1", time.Minute, res), D("x", 2, 2*h), part("b", "o2", 2*day, rc), D("y", 3, 8*day)},
			[]string{"a:resolved+", "a:csat,upsell_accepted,revenue,handle_seconds,escalated*", "b:" + early + "+*", "b:recontact_7d",
				"a:recontact_7d,churned*", "b:churned*", "x:" + early + "+*", "x:recontact_7d,churned*"},
			models.JoinStats{Joined: 2, Expired: 2, ExpiredRewarded: 2, LateLookups: 1, LateFound: 1}},
		{"the late window closes without a default reward: nothing learned", w,
			[]event{D("a", 0, 0), part("a", "o1", time.Minute, res), D("x", 1, 2*h), D("y", 2, 8*day)},
			[]string{"a:resolved+"}, models.JoinStats{Joined: 1, Expired: 1}},
		{"a part after the late window closed is late", w,
			[]event{D("a", 0, 0), D("x", 1, 2*h), D("y", 200, 8*day), D("z", 201, 9*day), part("a", "o1", 8*day, rc)},
			nil, models.JoinStats{Expired: 3, Late: 1}},
		{"a late window closing while a lookup waits: the lookup first, as it came first", wr,
			[]event{D("a", 0, 0), D("x", 1, 2*h), part("a", "o1", 6*day, rc), D("y", 2, 7*day+3*h)},
			[]string{"a:" + early + "+*", "a:recontact_7d", "a:churned*", "x:" + early + "+*", "x:recontact_7d,churned*"},
			models.JoinStats{Joined: 1, Expired: 2, ExpiredRewarded: 2, LateLookups: 1, LateFound: 1}},
		{"a lookup after the late window closed in the same round is late", wr,
			[]event{D("a", 0, 0), D("x", 1, 2*h), D("y", 2, 7*day+3*h), part("a", "o1", 6*day, rc)},
			[]string{"a:" + early + "+*", "a:recontact_7d,churned*", "x:" + early + "+*", "x:recontact_7d,churned*"},
			models.JoinStats{Expired: 2, ExpiredRewarded: 2, Late: 1}},
		{"an id that is not a UUIDv7 cannot be looked up", w,
			[]event{D("!a", 0, 0), D("x", 1, 2*h), part("!a", "o1", 2*h, rc)},
			nil, models.JoinStats{Expired: 1, LateNotUUID: 1}},
		{"a decision the late tier does not hold is not found", w,
			[]event{D("a", 0, 0), D("x", 1, 2*h), part("ghost", "o1", 2*h, rc)},
			nil, models.JoinStats{Expired: 1, LateLookups: 1, LateNotFound: 1}},
		{"the late tier's cap drops its oldest block", models.JoinConfig{Window: h, LateWindow: 7 * day, MaxLate: 100},
			[]event{D("a", 0, 0), D("b", 200, 0), D("x", 201, 2*h), part("a", "o1", 2*h, rc), part("b", "o2", 2*h, rc)},
			[]string{"b:recontact_7d+"}, models.JoinStats{Expired: 2, DroppedLate: 1, Joined: 1, LateLookups: 2, LateFound: 1, LateNotFound: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var first []string
			for _, round := range []int{1, 0} {
				j := models.NewCompactJoiner(tc.cfg)
				got := runPartsRounds(j, tc.events, round)
				got = slices.DeleteFunc(got, func(s string) bool { return s == "" })
				want := slices.DeleteFunc(slices.Clone(tc.want), func(s string) bool { return s == "" })
				if !slices.Equal(got, want) {
					t.Errorf("rounds of %d: matches %q, want %q", round, got, want)
				}
				if first != nil && !slices.Equal(got, first) {
					t.Errorf("rounds of %d: matches %q, in rounds of one %q", round, got, first)
				}
				first = got
				st := j.Stats()
				st.Closed = 0
				if st != tc.stats {
					t.Errorf("rounds of %d: stats %+v, want %+v", round, st, tc.stats)
				}
			}
		})
	}
}
