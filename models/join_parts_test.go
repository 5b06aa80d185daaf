package models_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"situ/models"
)

// part is an outcome part of decision id holding fields, sent at t0+at.
func part(id, outcomeID string, at time.Duration, fields ...models.OutcomeField) event {
	o := models.Outcome{OutcomeID: outcomeID, DecisionID: id, OccurredAt: t0.Add(at), Missing: models.AllOutcomeFields}
	for _, f := range fields {
		o.Missing &^= 1 << f
		switch f {
		case models.FieldResolved:
			o.Resolved = true
		case models.FieldRecontact7d:
			o.Recontact7d = true
		}
	}
	return event{outcome: &o}
}

// uid is the UUIDv7 id of decision name made at t ("!name": the id name,
// not a UUID).
func uid(name string, t time.Time) string {
	if raw, ok := strings.CutPrefix(name, "!"); ok {
		return raw
	}
	ms := t.UnixMilli()
	var tail uint64
	for _, c := range name {
		tail = tail*131 + uint64(c)
	}
	return fmt.Sprintf("%08x-%04x-7000-8000-%012x", ms>>16, ms&0xffff, tail&(1<<48-1))
}

// partsCase is a scenario of decisions and outcome parts through a
// compact joiner: the matches it must make (runParts' notation) and its
// counts (but Closed).
type partsCase struct {
	name   string
	cfg    models.JoinConfig
	events []event
	want   []string
	stats  models.JoinStats
}

// runParts runs events through a compact joiner, each event a round of
// its own, and writes each match as "id:field,field" with "+" for a first
// match and "*" for a closed window (runPartsRounds).
func runParts(j *models.CompactJoiner, events []event) []string { return runPartsRounds(j, events, 1) }

// runPartsRounds runs events through a compact joiner in rounds of round
// events (0: one round), as the learner does: the decision ids are
// UUIDv7 (uid), decisions go to partition 1 at their offset, and at the
// end of each round the parts waiting in the late tier are resolved from
// the decisions added so far, by message key within the ranges the tier
// asked for.
func runPartsRounds(j *models.CompactJoiner, events []event, round int) []string {
	return newPartsRun().run(j, events, round)
}

// partsRun is the topic of decisions a scenario ran so far: what the
// late tier's re-reads find.
type partsRun struct {
	at   map[int64]string   // offset → decision name
	byID map[string][]int64 // decision id → offsets
	ids  map[string]string  // decision name → id, of its decision's time
}

func newPartsRun() *partsRun {
	return &partsRun{at: map[int64]string{}, byID: map[string][]int64{}, ids: map[string]string{}}
}

// id returns name's decision id: of its decision's time, t0 for a name
// no decision has.
func (r *partsRun) id(name string) string {
	if id, ok := r.ids[name]; ok {
		return id
	}
	return uid(name, t0)
}

func (r *partsRun) format(m models.Match) string {
	var names []string
	for f := range models.OutcomeField(models.NumOutcomeFields) {
		if m.Fields.Has(f) {
			names = append(names, f.String())
		}
	}
	s := r.at[m.Pos.Offset] + ":" + strings.Join(names, ",")
	if m.First {
		s += "+"
	}
	if m.Outcome == nil {
		s += "*"
	}
	return s
}

// find is the re-read of the late tier's ranges: the offsets whose key is
// id, among those ranges only.
func (r *partsRun) find(reads map[int32]*models.LateRead) func(p int32, id string) []int64 {
	return func(p int32, id string) []int64 {
		var offs []int64
		for _, off := range r.byID[id] {
			for _, rg := range reads[p].Ranges {
				if rg[0] <= off && off < rg[1] {
					offs = append(offs, off)
				}
			}
		}
		return offs
	}
}

// run runs events through j in rounds of round events (0: one round) and
// returns the matches, the placeholders resolved in their place.
func (r *partsRun) run(j *models.CompactJoiner, events []event, round int) []string {
	var got []string
	var placeholders []models.Match
	emit := func(m models.Match) { placeholders = append(placeholders, m) }
	resolve := func() {
		var resolved [][]models.Match
		if j.LateLookups() {
			resolved = j.ResolveLate(r.find(j.LateReads()))
		}
		for _, m := range placeholders {
			if m.Deferred == 0 {
				got = append(got, r.format(m))
				continue
			}
			for _, x := range resolved[m.Deferred-1] {
				got = append(got, r.format(x))
			}
		}
		placeholders = placeholders[:0]
	}
	for _, e := range events {
		if e.decision != nil {
			if _, ok := r.ids[e.decision.DecisionID]; !ok {
				r.ids[e.decision.DecisionID] = uid(e.decision.DecisionID, e.decision.Time)
			}
		}
	}
	for i, e := range events {
		if e.decision != nil {
			r.at[e.offset] = e.decision.DecisionID
			id := r.id(e.decision.DecisionID)
			r.byID[id] = append(r.byID[id], e.offset)
			j.AddDecision(models.DecisionPos{Partition: 1, Offset: e.offset}, id, e.decision.Time, emit)
		} else {
			o := *e.outcome
			o.DecisionID = r.id(o.DecisionID)
			j.AddOutcomeFrom(1, o, emit)
		}
		if round > 0 && (i+1)%round == 0 {
			resolve()
		}
	}
	resolve()
	return got
}

// TestCompactJoinerParts holds the join of outcomes in parts to its
// contract: every part within the window joins, a field given twice takes
// the later occurred_at, stale parts and duplicates are counted and not
// applied, and a closed window with a default reward teaches the fields
// no part reported as their zero value.
func TestCompactJoinerParts(t *testing.T) {
	const (
		res = models.FieldResolved
		cs  = models.FieldCSAT
		rc  = models.FieldRecontact7d
		ch  = models.FieldChurned
	)
	reward := 0.0
	h := time.Hour
	all := "resolved,csat,upsell_accepted,revenue,handle_seconds,escalated,recontact_7d,churned"
	cases := []partsCase{
		{"a partial outcome followed by its late field updates both", models.JoinConfig{},
			[]event{D("a", 0, 0), part("a", "o1", h, res, cs), part("a", "o2", 20*h, rc)},
			[]string{"a:resolved,csat+", "a:recontact_7d"}, models.JoinStats{Joined: 2}},
		{"parts before their decision join when it comes, in order", models.JoinConfig{},
			[]event{part("a", "o1", h, res), part("a", "o2", 2*h, ch), D("a", 0, 0)},
			[]string{"a:resolved+", "a:churned"}, models.JoinStats{Joined: 2}},
		{"a field given twice: the later occurred_at wins", models.JoinConfig{},
			[]event{D("a", 0, 0), part("a", "o1", h, res), part("a", "o2", 3*h, res)},
			[]string{"a:resolved+", "a:resolved"}, models.JoinStats{Joined: 2}},
		{"an older part for an applied field is counted and not applied", models.JoinConfig{},
			[]event{D("a", 0, 0), part("a", "o2", 3*h, res), part("a", "o1", h, res)},
			[]string{"a:resolved+"}, models.JoinStats{Joined: 1, Stale: 1}},
		{"an older part still applies the fields not given yet", models.JoinConfig{},
			[]event{D("a", 0, 0), part("a", "o1", h, cs), part("a", "o2", 3*h, res), part("a", "o3", 2*h, res, cs)},
			[]string{"a:csat+", "a:resolved", "a:csat"}, models.JoinStats{Joined: 3, Stale: 1}},
		{"a duplicate part changes nothing", models.JoinConfig{},
			[]event{D("a", 0, 0), part("a", "o1", h, res), part("a", "o1", h, res)},
			[]string{"a:resolved+"}, models.JoinStats{Joined: 1, Duplicates: 1}},
		{"a duplicate early part waits once", models.JoinConfig{},
			[]event{part("a", "o1", h, res), part("a", "o1", h, res), D("a", 0, 0)},
			[]string{"a:resolved+"}, models.JoinStats{Joined: 1, Duplicates: 1}},
		{"outcomes arriving late in the window are joined", models.JoinConfig{Window: 24 * h, LateWindow: 24 * h},
			[]event{D("a", 0, 0), D("x", 1, 24*h-time.Second), part("a", "o1", 24*h-time.Second, res), D("y", 2, 24*h+time.Second), part("a", "o2", 24*h, cs)},
			[]string{"a:resolved+"}, models.JoinStats{Joined: 1, Late: 1}},
		{"expiry without a default reward: nothing learned", models.JoinConfig{Window: h, LateWindow: h},
			[]event{D("a", 0, 0), D("b", 1, 0), part("a", "o1", time.Minute, res), D("x", 2, 2*h)},
			[]string{"a:resolved+"}, models.JoinStats{Joined: 1, Expired: 1}},
		{"expiry with a default reward: the fields never reported, as zero", models.JoinConfig{Window: h, LateWindow: h, DefaultReward: &reward},
			[]event{D("a", 0, 0), D("b", 1, 0), part("a", "o1", time.Minute, res), D("x", 2, 2*h)},
			[]string{"a:resolved+", "a:csat,upsell_accepted,revenue,handle_seconds,escalated*",
				"b:resolved,csat,upsell_accepted,revenue,handle_seconds,escalated+*", "a:recontact_7d,churned*", "b:recontact_7d,churned*"},
			models.JoinStats{Joined: 1, Expired: 1, ExpiredRewarded: 1}},
		{"windows per field: the late fields wait their own window, the others close", models.JoinConfig{Window: h, LateWindow: 7 * 24 * h},
			[]event{D("a", 0, 0), part("a", "o1", time.Minute, res), D("x", 1, 2*h),
				part("a", "o2", 2*h, cs), part("a", "o3", 3*24*h, rc, ch), D("y", 2, 8*24*h), part("a", "o4", 8*24*h, ch)},
			[]string{"a:resolved+", "a:recontact_7d,churned"}, models.JoinStats{Joined: 2, Late: 2, Expired: 1, LateLookups: 2, LateFound: 2}},
		{"per-field expiry with a default reward: each at its window", models.JoinConfig{Window: h, LateWindow: 3 * h, DefaultReward: &reward},
			[]event{D("a", 0, 0), D("b", 1, 0), part("a", "o1", time.Minute, res, cs), D("x", 2, 2*h), part("a", "o2", 2*h, rc), part("b", "o3", 2*h, ch), D("y", 3, 4*h)},
			[]string{"a:resolved,csat+", "a:upsell_accepted,revenue,handle_seconds,escalated*", "b:resolved,csat,upsell_accepted,revenue,handle_seconds,escalated+*",
				"a:recontact_7d", "b:churned", "a:churned*", "b:recontact_7d*", "x:resolved,csat,upsell_accepted,revenue,handle_seconds,escalated+*"},
			models.JoinStats{Joined: 3, Expired: 2, ExpiredRewarded: 2, LateLookups: 2, LateFound: 2}},
		{"per-field expiry without a default reward: nothing learned at either window", models.JoinConfig{Window: h, LateWindow: 3 * h},
			[]event{D("a", 0, 0), D("b", 1, 0), part("a", "o1", time.Minute, res), D("x", 2, 2*h), part("b", "o3", 2*h, ch), D("y", 3, 4*h)},
			[]string{"a:resolved+", "b:churned+"}, models.JoinStats{Joined: 2, Expired: 2, LateLookups: 1, LateFound: 1}},
		{"two early parts of a decision that never comes are two unknown outcomes", models.JoinConfig{Window: h, LateWindow: h},
			[]event{part("a", "o1", 0, res), part("a", "o2", 0, cs), D("x", 1, 0), D("y", 2, 2*h)},
			nil, models.JoinStats{EarlyExpired: 2, Expired: 1}},
		{"the early cap counts parts: both of the oldest decision's are dropped", models.JoinConfig{MaxEarly: 2},
			[]event{part("a", "o1", 0, res), part("a", "o2", 0, cs), part("b", "o3", 0, res), D("b", 0, 0)},
			[]string{"b:resolved+"}, models.JoinStats{Joined: 1, DroppedEarly: 2}},
		{"a complete outcome leaves nothing to expire", models.JoinConfig{Window: h, DefaultReward: &reward},
			[]event{D("a", 0, 0), O("a"), D("x", 2, 2*h)},
			[]string{"a:" + all + "+"}, models.JoinStats{Joined: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := models.NewCompactJoiner(tc.cfg)
			got := runParts(j, tc.events)
			if !slices.Equal(got, tc.want) {
				t.Errorf("matches %q, want %q", got, tc.want)
			}
			// every decision whose windows both closed, counted apart
			closed, lw := int64(0), max(tc.cfg.LateWindow, tc.cfg.Window)
			for _, e := range tc.events {
				if e.decision != nil && e.decision.Time.Before(j.StreamTime().Add(-lw)) {
					closed++
				}
			}
			st := j.Stats()
			if tc.cfg.LateWindow != 0 && st.Closed != closed {
				t.Errorf("closed %d, want %d", st.Closed, closed)
			}
			st.Closed = 0
			if st != tc.stats {
				t.Errorf("stats %+v, want %+v", st, tc.stats)
			}
		})
	}
}

// TestCompactJoinerJoinsOutcomesBeyondTheOldCap: an outcome that comes
// after 331,000 later decisions (beyond the 200,000 the join once held)
// joins its decision, and its late field, days later, is applied from the
// late tier.
func TestCompactJoinerJoinsOutcomesBeyondTheOldCap(t *testing.T) {
	const later = 331_000
	events := []event{D("a", 0, 0)}
	for i := range later {
		events = append(events, D(fmt.Sprintf("x%d", i), int64(i+1), time.Second+time.Duration(i)*250*time.Millisecond))
	}
	events = append(events, part("a", "o1", 23*time.Hour, models.FieldResolved),
		D("y", later+1, 30*time.Hour), // a's 24 h window closes: it moves to the late tier
		part("a", "o2", 3*24*time.Hour, models.FieldRecontact7d))
	j := models.NewCompactJoiner(models.JoinConfig{})
	got := runParts(j, events)
	if want := []string{"a:resolved+", "a:recontact_7d"}; !slices.Equal(got, want) {
		t.Errorf("matches %q, want %q", got, want)
	}
	if st := j.Stats(); st.Joined != 2 || st.LateFound != 1 || st.DroppedPending != 0 {
		t.Errorf("stats %+v: want 2 joined, 1 found in the late tier, none dropped", st)
	}
}
