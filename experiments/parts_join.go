package experiments

import (
	"math"
	"time"

	"situ/models"
)

// JoinDecision is what PartsJoin keeps of a decision made in an
// experiment: enough to place its values and reward its outcome.
type JoinDecision[R any] struct {
	ID   string
	Time time.Time
	// Ref places its values: for the results engine, the unit in its arm
	// (Aggregator.AddExposure).
	Ref R
	// ConfigVersion names the reward definition that rewards it.
	ConfigVersion int64
}

// Change is what an outcome part did to a joined decision (Decision.ID is
// not kept: the join holds a 64-bit hash of it): Before holds
// the latest value of each field its parts had reported until then
// (nothing, Held() == 0, for the first part that brought a field), After
// the same with the part applied. Both are only valid during the emit
// call.
type Change[R any] struct {
	Decision      JoinDecision[R]
	Before, After models.Outcome
	csat          [2]float64 // behind Before.CSAT and After.CSAT
}

// First reports whether the part was the first to bring the decision a
// field: the decision is observed from then on.
func (c *Change[R]) First() bool { return c.Before.Held() == 0 }

// latest is the latest value of each outcome field a decision's parts
// reported, with the occurred_at of the part that brought it.
type latest struct {
	held    models.OutcomeFields
	truth   models.OutcomeFields // the boolean fields that are true; FieldCSAT: csat null (no survey)
	csat    float64
	revenue float64
	handle  float64
	// at is the occurred_at of each value, in milliseconds after the
	// decision's time (within about ±24 days of it; beyond, the nearest:
	// such parts are ordered by arrival, the first applied)
	at [models.NumOutcomeFields]int32
}

// relMillis returns occurred_at in the milliseconds after decision time
// t (Unix ns) that latest.at holds.
func relMillis(occurred time.Time, t int64) int32 {
	ms := (occurred.UnixNano() - t) / int64(time.Millisecond)
	return int32(max(min(ms, math.MaxInt32), math.MinInt32))
}

// set takes field f's value from o.
func (l *latest) set(f models.OutcomeField, o *models.Outcome) {
	l.held = l.held.With(f)
	var b bool
	switch f {
	case models.FieldResolved:
		b = o.Resolved
	case models.FieldCSAT:
		b = o.CSAT == nil
		if !b {
			l.csat = *o.CSAT
		}
	case models.FieldUpsellAccepted:
		b = o.UpsellAccepted
	case models.FieldRevenue:
		l.revenue = o.Revenue
	case models.FieldHandleSeconds:
		l.handle = o.HandleSeconds
	case models.FieldEscalated:
		b = o.Escalated
	case models.FieldRecontact7d:
		b = o.Recontact7d
	case models.FieldChurned:
		b = o.Churned
	}
	if b {
		l.truth = l.truth.With(f)
	} else {
		l.truth &^= 1 << f
	}
}

// same reports whether o's value of field f is the one l holds.
func (l *latest) same(f models.OutcomeField, o *models.Outcome) bool {
	t := l.truth.Has(f)
	switch f {
	case models.FieldResolved:
		return o.Resolved == t
	case models.FieldCSAT:
		if o.CSAT == nil || t {
			return (o.CSAT == nil) == t
		}
		return *o.CSAT == l.csat
	case models.FieldUpsellAccepted:
		return o.UpsellAccepted == t
	case models.FieldRevenue:
		return o.Revenue == l.revenue
	case models.FieldHandleSeconds:
		return o.HandleSeconds == l.handle
	case models.FieldEscalated:
		return o.Escalated == t
	case models.FieldRecontact7d:
		return o.Recontact7d == t
	case models.FieldChurned:
		return o.Churned == t
	}
	return true
}

// outcome writes l as an outcome into o, csat pointing at *csat.
func (l *latest) outcome(o *models.Outcome, csat *float64) {
	*o = models.Outcome{
		Missing:        models.AllOutcomeFields &^ l.held,
		Resolved:       l.truth.Has(models.FieldResolved),
		UpsellAccepted: l.truth.Has(models.FieldUpsellAccepted),
		Revenue:        l.revenue,
		HandleSeconds:  l.handle,
		Escalated:      l.truth.Has(models.FieldEscalated),
		Recontact7d:    l.truth.Has(models.FieldRecontact7d),
		Churned:        l.truth.Has(models.FieldChurned),
	}
	if l.held.Has(models.FieldCSAT) && !l.truth.Has(models.FieldCSAT) {
		*csat = l.csat
		o.CSAT = csat
	}
}

// partsEntry is a decision waiting for parts: with the results engine's
// UnitRef 112 bytes, about 150 with its share of the table and the queue.
type partsEntry[R any] struct {
	key    uint64
	t      int64 // decision time, Unix ns
	ref    R
	config int64
	l      latest
}

// decision returns what the join keeps of e's decision.
func (e *partsEntry[R]) decision() JoinDecision[R] {
	return JoinDecision[R]{Time: time.Unix(0, e.t).UTC(), Ref: e.ref, ConfigVersion: e.config}
}

// PartsJoin joins the decisions made in experiments with the parts of
// their outcomes and keeps, per decision, the latest value of each field:
// a decision may receive several outcome events over its window, each
// with its own outcome_id and the fields known when it was sent. It uses
// the learner's windows (models.CompactJoiner), in stream time (the latest
// decision time seen): a part's fields but recontact_7d and churned count
// while the decision is younger than Window, those two while it is
// younger than LateWindow; a decision stays pending until then. A field
// given again counts when its occurred_at is later than the value held;
// an older or equal one changes nothing, so a part delivered twice counts
// once. Parts that come before their decision wait for it (at most
// MaxEarly decisions' worth, for one Window of stream time); the parts of
// decisions that are not an experiment's (never added) wait the same way
// and are dropped. At most MaxPending decisions wait; beyond it the oldest
// is dropped (counted).
//
// Every part that changes a decision's values is handed to emit as a
// Change, which the caller turns into Values: the first with
// Aggregator.Observe, later ones with Replace. R is the caller's
// reference to where a decision's values go (the results engine's
// UnitRef); the join keeps it and hands it back. It is not safe for
// concurrent use.
type PartsJoin[R any] struct {
	cfg        models.JoinConfig
	pending    map[uint64]*partsEntry[R]
	queue      []*partsEntry[R] // arrival order: entries leave at the head
	early      models.EarlyParts
	recent     models.RecentIDs[uint64]
	streamTime time.Time
	stats      models.JoinStats
	change     Change[R]
}

// NewPartsJoin returns an empty join; cfg's zero fields take
// models.JoinConfig's defaults (DefaultReward is not used: a decision
// without outcome is no observation).
func NewPartsJoin[R any](cfg models.JoinConfig) *PartsJoin[R] {
	if cfg.Window == 0 {
		cfg.Window = 24 * time.Hour
	}
	if cfg.LateWindow == 0 {
		cfg.LateWindow = 7 * 24 * time.Hour
	}
	cfg.LateWindow = max(cfg.LateWindow, cfg.Window)
	if cfg.MaxPending == 0 {
		cfg.MaxPending = 500_000
	}
	if cfg.MaxEarly == 0 {
		cfg.MaxEarly = 100_000
	}
	if cfg.MaxRecent == 0 {
		cfg.MaxRecent = 200_000
	}
	return &PartsJoin[R]{cfg: cfg, pending: map[uint64]*partsEntry[R]{}, early: models.NewEarlyParts(cfg.MaxEarly),
		recent: models.NewRecentIDs[uint64](cfg.MaxRecent)}
}

// Stats returns the counters: Joined counts the parts that changed a
// decision's values, Closed the decisions whose late window closed and
// Expired those of them that received no part.
func (j *PartsJoin[R]) Stats() models.JoinStats { return j.stats }

// Pending returns the number of decisions waiting for parts.
func (j *PartsJoin[R]) Pending() int { return len(j.pending) }

// Early returns the number of outcome parts waiting for their decision.
func (j *PartsJoin[R]) Early() int { return j.early.Len() }

// StreamTime returns the latest decision time seen.
func (j *PartsJoin[R]) StreamTime() time.Time { return j.streamTime }

// MaxPending returns the cap on pending decisions.
func (j *PartsJoin[R]) MaxPending() int { return j.cfg.MaxPending }

// AddDecision adds a decision and calls emit for the parts that waited
// for it. It returns false for a decision it holds or held already (a
// duplicate event), which it ignores.
func (j *PartsJoin[R]) AddDecision(d JoinDecision[R], emit func(*Change[R])) bool {
	if d.Time.After(j.streamTime) {
		if j.streamTime.IsZero() {
			j.early.SetSeen(d.Time)
		}
		j.streamTime = d.Time
	}
	key := models.DecisionKey(d.ID)
	if _, dup := j.pending[key]; dup {
		j.stats.Duplicates++
		return false
	}
	if j.recent.Has(key) {
		j.stats.Duplicates++
		return false
	}
	e := &partsEntry[R]{key: key, t: d.Time.UnixNano(), ref: d.Ref, config: d.ConfigVersion}
	j.pending[key] = e
	j.queue = append(j.queue, e)
	parts := j.early.Take(d.ID)
	for i := range parts {
		j.apply(e, &parts[i], emit)
	}
	for len(j.pending) > j.cfg.MaxPending {
		j.popOldest(false)
	}
	j.expire()
	return true
}

// AddOutcome adds an outcome part and calls emit when it changes its
// decision's values.
func (j *PartsJoin[R]) AddOutcome(o *models.Outcome, emit func(*Change[R])) {
	key := models.DecisionKey(o.DecisionID)
	if e, ok := j.pending[key]; ok {
		j.apply(e, o, emit)
		return
	}
	if j.recent.Has(key) {
		j.stats.Late++
		return
	}
	added, dropped := j.early.Add(*o, j.streamTime)
	if !added {
		j.stats.Duplicates++
	}
	j.stats.DroppedEarly += int64(dropped)
}

// apply applies part o to e: each field o holds within its window whose
// occurred_at is later than the value e holds (or that e has no value
// of).
func (j *PartsJoin[R]) apply(e *partsEntry[R], o *models.Outcome, emit func(*Change[R])) {
	held := o.Held()
	if e.t < j.streamTime.Add(-j.cfg.Window).UnixNano() {
		held &= models.LateFields // the other fields' window has closed
	}
	at := relMillis(o.OccurredAt, e.t)
	var newer, changed models.OutcomeFields
	older := false
	for f := range models.OutcomeField(models.NumOutcomeFields) {
		if !held.Has(f) {
			continue
		}
		switch {
		case !e.l.held.Has(f) || at > e.l.at[f]:
			newer = newer.With(f)
			if !e.l.held.Has(f) || !e.l.same(f, o) {
				changed = changed.With(f)
			}
		case at < e.l.at[f]:
			older = true
		}
	}
	switch {
	case newer == 0 && held == 0 && o.Held() != 0:
		j.stats.Late++
		return
	case newer == 0 && older:
		j.stats.Stale++
		return
	case newer == 0:
		j.stats.Duplicates++
		return
	}
	if older {
		j.stats.Stale++
	}
	c := &j.change
	if changed != 0 {
		e.l.outcome(&c.Before, &c.csat[0])
	}
	for f := range models.OutcomeField(models.NumOutcomeFields) {
		if newer.Has(f) {
			e.l.set(f, o)
			e.l.at[f] = at
		}
	}
	if changed == 0 {
		return // the same values, reported later
	}
	j.stats.Joined++
	c.Decision = e.decision()
	e.l.outcome(&c.After, &c.csat[1])
	emit(c)
}

// expire closes the late windows stream time has passed, and drops the
// early parts and recent ids one Window old.
func (j *PartsJoin[R]) expire() {
	lateCut := j.streamTime.Add(-j.cfg.LateWindow).UnixNano()
	for len(j.queue) > 0 && j.queue[0].t < lateCut {
		j.popOldest(true)
	}
	cut := j.streamTime.Add(-j.cfg.Window)
	j.stats.EarlyExpired += int64(j.early.ExpireBefore(cut))
	j.recent.ForgetBefore(cut)
}

// popOldest removes the oldest pending decision: its late window closed,
// or the cap dropped it.
func (j *PartsJoin[R]) popOldest(expired bool) {
	if len(j.queue) > 0 {
		head := j.queue[0]
		j.queue[0] = nil
		j.queue = j.queue[1:]
		delete(j.pending, head.key)
		switch {
		case expired:
			j.stats.Closed++
			if head.l.held == 0 {
				j.stats.Expired++
			}
			j.remember(head.key)
		case head.t < j.streamTime.Add(-j.cfg.Window).UnixNano():
			j.stats.DroppedLate++ // its late fields are lost
		default:
			j.stats.DroppedPending++
		}
	}
}

func (j *PartsJoin[R]) remember(key uint64) { j.recent.Add(key, j.streamTime) }

// Holds reports whether decision id is pending, or was within a Window
// of stream time: AddDecision would take it as a duplicate.
func (j *PartsJoin[R]) Holds(id string) bool {
	key := models.DecisionKey(id)
	_, pending := j.pending[key]
	done := j.recent.Has(key)
	return pending || done
}
