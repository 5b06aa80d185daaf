package models_test

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"situ/models"
)

// TestCompactJoinerPendingEntriesCarryOn copies a join, mid-scenario,
// through PendingEntries and AddPendingEntry into a join restored from
// its State (as the learner's join snapshot does), and runs the rest of
// the scenario through both: the copy must match exactly what the
// original matches — parts after the copy are applied against the same
// records (the later occurred_at wins, duplicates and stale parts
// counted), and windows close alike.
func TestCompactJoinerPendingEntriesCarryOn(t *testing.T) {
	const (
		res = models.FieldResolved
		cs  = models.FieldCSAT
		rc  = models.FieldRecontact7d
		ch  = models.FieldChurned
	)
	h := time.Hour
	reward := 0.0
	cases := []struct {
		name   string
		cfg    models.JoinConfig
		before []event
		after  []event
	}{
		{"a late field after the copy", models.JoinConfig{},
			[]event{D("a", 0, 0), part("a", "o1", h, res, cs)},
			[]event{part("a", "o2", 20*h, rc)}},
		{"an older part after the copy is stale, a newer one applies", models.JoinConfig{},
			[]event{D("a", 0, 0), D("b", 1, 0), part("a", "o1", 3*h, res), part("b", "o2", h, res)},
			[]event{part("a", "o3", 2*h, res), part("b", "o4", 2*h, res)}},
		{"a duplicate after the copy", models.JoinConfig{},
			[]event{D("a", 0, 0), part("a", "o1", h, res)},
			[]event{part("a", "o1", h, res), part("a", "o2", 2*h, cs)}},
		{"no part before the copy: the first comes after", models.JoinConfig{},
			[]event{D("a", 0, 0), D("b", 1, time.Minute)},
			[]event{part("b", "o1", h, cs), part("a", "o2", h, ch)}},
		{"windows close after the copy, with a default reward", models.JoinConfig{Window: h, LateWindow: 3 * h, DefaultReward: &reward},
			[]event{D("a", 0, 0), D("b", 1, 0), part("a", "o1", time.Minute, res, cs)},
			[]event{D("x", 2, 2*h), part("a", "o2", 2*h, rc), part("b", "o3", 2*h, ch), D("y", 3, 4*h)}},
		{"an early window closed before the copy is not closed again", models.JoinConfig{Window: h, LateWindow: 3 * h, DefaultReward: &reward},
			[]event{D("a", 0, 0), part("a", "o1", time.Minute, res), D("x", 1, 2*h)},
			[]event{part("a", "o2", 2*h, rc), D("y", 2, 2*h+time.Minute), D("z", 3, 4*h)}},
		{"a decision in the late tier at the copy: a newer late value applies, an older is stale", models.JoinConfig{Window: h, LateWindow: 3 * 24 * h},
			[]event{D("a", 0, 0), part("a", "o1", time.Minute, res, rc), D("x", 1, 2*h)},
			[]event{part("a", "o2", 2*24*h, rc), part("a", "o3", 2*h, rc), part("a", "o2", 2*24*h, rc), part("a", "o4", 5*h, ch), D("y", 2, 5*24*h)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			orig := models.NewCompactJoiner(tc.cfg)
			topic := newPartsRun()
			topic.run(orig, tc.before, 1)
			cp := models.RestoreCompactJoiner(tc.cfg, orig.State())
			if err := copyLateTiers(orig, cp); err != nil {
				t.Fatal(err)
			}
			n := 0
			orig.PendingEntries(func(e models.PendingEntry) {
				if !cp.AddPendingEntry(e) {
					t.Fatalf("entry %+v not added", e)
				}
				n++
			})
			if n != orig.Pending() || cp.Pending() != n || cp.LateDecisions() != orig.LateDecisions() {
				t.Fatalf("%d entries of %d pending, %d added; %d in the late tier, %d copied", n, orig.Pending(), cp.Pending(), orig.LateDecisions(), cp.LateDecisions())
			}
			cp.Expire(func(m models.Match) { t.Errorf("the copy closed %+v again", m) })
			cp.Restored()
			copied := *topic
			copied.at, copied.byID = maps.Clone(topic.at), maps.Clone(topic.byID)
			before := orig.Stats()
			want, got := topic.run(orig, tc.after, 1), copied.run(cp, tc.after, 0)
			if fmt.Sprint(want) != fmt.Sprint(got) {
				t.Fatalf("matches after the copy:\n got %v\nwant %v", got, want)
			}
			ws, gs := orig.Stats(), cp.Stats()
			ws.Joined, ws.Duplicates, ws.Stale, ws.Late, ws.Expired, ws.ExpiredRewarded, ws.Closed =
				ws.Joined-before.Joined, ws.Duplicates-before.Duplicates, ws.Stale-before.Stale, ws.Late-before.Late,
				ws.Expired-before.Expired, ws.ExpiredRewarded-before.ExpiredRewarded, ws.Closed-before.Closed
			ws.LateLookups, ws.LateFound, ws.LateNotFound = ws.LateLookups-before.LateLookups, ws.LateFound-before.LateFound, ws.LateNotFound-before.LateNotFound
			if ws != gs {
				t.Fatalf("counters after the copy: got %+v, want %+v", gs, ws)
			}
			if len(want) == 0 {
				t.Fatal("the scenario matches nothing after the copy")
			}
		})
	}
}

// copyLateTiers copies from's late tiers into to, as the join snapshot
// does.
func copyLateTiers(from, to *models.CompactJoiner) error {
	return from.LateTiers(func(h models.LateTierCopy, block func(int64) models.LateBlockCopy, state func(int64) uint16) error {
		b, off := h.FirstBlock, h.ClosedTo
		return to.AddLateTier(h,
			func() (models.LateBlockCopy, error) { b++; return block(b - 1), nil },
			func() (uint16, error) { off++; return state(off - 1), nil })
	})
}
