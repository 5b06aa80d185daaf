package models

import "time"

// JoinConfig configures the join of decisions and outcomes. Zero fields
// take the defaults.
type JoinConfig struct {
	// Window is how long a decision waits for its outcome, and an outcome
	// for its decision, in stream time. Default 24h. In the compact join
	// it is the window of the outcome fields but the late ones.
	Window time.Duration
	// LateWindow is how long the compact join waits for the late fields,
	// recontact_7d and churned (LateFields), which are known only days
	// after the contact. Default 7 days; never shorter than Window.
	LateWindow time.Duration
	// MaxPending bounds the decisions waiting for an outcome; beyond it the
	// oldest is dropped (counted). Default 500,000.
	MaxPending int
	// MaxEarly bounds the outcomes waiting for their decision. Default 100,000.
	MaxEarly int
	// DefaultReward, when set, is the reward of a decision whose window
	// passed without an outcome; when nil such decisions are skipped.
	DefaultReward *float64
	// MaxRecent bounds the memory of recently joined decision ids used to
	// recognise duplicate outcomes; an id is also forgotten one Window after
	// its join, in stream time (a later duplicate then waits as an early
	// outcome and counts as unknown_decision: it is never applied either
	// way). Default 200,000.
	MaxRecent int
	// MaxLate bounds the offsets the compact join's late tier spans (the
	// decisions whose early window closed, waiting for their late fields,
	// about 2.25 bytes each); beyond it the oldest block of 128 offsets
	// is dropped (DroppedLate). Default 125,000,000: 7 days at 200
	// decisions/s (121 million) and some room.
	MaxLate int
}

func (c *JoinConfig) fill() {
	if c.Window == 0 {
		c.Window = 24 * time.Hour
	}
	if c.LateWindow == 0 {
		c.LateWindow = 7 * 24 * time.Hour
	}
	c.LateWindow = max(c.LateWindow, c.Window)
	if c.MaxPending == 0 {
		c.MaxPending = 500_000
	}
	if c.MaxEarly == 0 {
		c.MaxEarly = 100_000
	}
	if c.MaxRecent == 0 {
		c.MaxRecent = 200_000
	}
	if c.MaxLate == 0 {
		c.MaxLate = 125_000_000
	}
}

// JoinState is what, besides its pending decisions, the join holds
// between checkpoints: outcomes that arrived before their decision, and
// the stream time.
type JoinState struct {
	// Early are outcomes whose decision had not been read yet.
	Early []EarlyOutcome
	// StreamTime is the latest event time seen; the reward window is
	// measured in stream time so that a replay expires the same decisions.
	StreamTime time.Time
	// Late is the compact join's late tier, by partition.
	Late []LateRegion
}

// EarlyOutcome is an outcome waiting for its decision, with the stream
// time at which it arrived (it expires a reward window later).
type EarlyOutcome struct {
	Outcome Outcome   `json:"outcome"`
	Seen    time.Time `json:"seen"`
}

// Joined is a decision with what it earned: its outcome, or (Outcome nil)
// the default reward after its window passed.
type Joined struct {
	Decision DecisionEvent
	Outcome  *Outcome
}

// JoinStats counts what the join did.
type JoinStats struct {
	Joined          int64 // decision met its outcome
	Expired         int64 // decision window passed without outcome
	ExpiredRewarded int64 // … and got the default reward
	EarlyExpired    int64 // outcome (part) never met its decision (unknown decision)
	Duplicates      int64 // second outcome for a decision already joined or waiting
	DroppedPending  int64 // decisions dropped because MaxPending was reached
	DroppedEarly    int64 // outcomes (parts) dropped because MaxEarly was reached
	// Of the compact join, whose decisions receive outcomes in parts:
	Stale int64 // parts with a field older than the value applied for it (that field not applied)
	Late  int64 // parts that came after their decision's window closed
	// decisions dropped from the late tier because MaxLate was reached:
	// their late fields are never applied
	DroppedLate int64
	// Of the late tier (decisions whose early window closed):
	LateLookups  int64 // parts looked up there by their decision id's time
	LateFound    int64 // … whose decision was found there by message key
	LateNotFound int64 // … whose decision was in none of the offsets its id's time gave
	// parts holding late fields of a decision that left the queue not
	// long ago, whose id is not a UUIDv7 (its time unknown): the late
	// tier cannot look them up, and they are not applied
	LateNotUUID int64
	// decisions whose every window closed (joined in parts or not): with
	// Pending and the drops, every decision the compact join took
	Closed int64
}

type pendingEntry[R any] struct {
	d    DecisionEvent
	ref  R
	done bool
}

type earlyEntry struct {
	o    Outcome
	seen time.Time
	done bool
}

// Joiner matches decisions with their outcomes by decision id, in either
// arrival order, within a reward window measured in stream time (the
// latest decision time seen), so a replay of the same input makes the same
// joins and expiries. R is the caller's reference to where a decision came
// from (a topic position): the joiner keeps it with the pending decision
// and hands it back in PendingRefs, it never reads it. It is not safe for
// concurrent use.
type Joiner[R any] struct {
	cfg        JoinConfig
	pending    map[string]*pendingEntry[R]
	queue      []*pendingEntry[R] // arrival order; done entries are skipped
	early      map[string]*earlyEntry
	earlyQueue []*earlyEntry
	recent     RecentIDs[string]
	streamTime time.Time
	stats      JoinStats
}

// NewJoiner returns an empty joiner.
func NewJoiner[R any](cfg JoinConfig) *Joiner[R] {
	cfg.fill()
	return &Joiner[R]{cfg: cfg, pending: map[string]*pendingEntry[R]{}, early: map[string]*earlyEntry{}, recent: NewRecentIDs[string](cfg.MaxRecent)}
}

// RestoreJoiner rebuilds a joiner from its State. The decisions that were
// pending then must be added again, in their original order, before
// anything newer: State does not hold them, only PendingRefs says where
// they are.
func RestoreJoiner[R any](cfg JoinConfig, state JoinState) *Joiner[R] {
	j := NewJoiner[R](cfg)
	j.streamTime = state.StreamTime
	for _, e := range state.Early {
		ee := &earlyEntry{o: e.Outcome, seen: e.Seen}
		j.early[e.Outcome.DecisionID] = ee
		j.earlyQueue = append(j.earlyQueue, ee)
	}
	return j
}

// Stats returns the counters.
func (j *Joiner[R]) Stats() JoinStats { return j.stats }

// Pending returns the number of decisions waiting for an outcome.
func (j *Joiner[R]) Pending() int { return len(j.pending) }

// Early returns the number of outcomes waiting for their decision.
func (j *Joiner[R]) Early() int { return len(j.early) }

// StreamTime returns the latest decision time seen.
func (j *Joiner[R]) StreamTime() time.Time { return j.streamTime }

// AddDecision adds a decision found at ref and calls emit for what it
// completes: its early outcome, or decisions whose window the advancing
// stream time closed.
func (j *Joiner[R]) AddDecision(ref R, d DecisionEvent, emit func(Joined)) {
	if d.Time.After(j.streamTime) {
		if j.streamTime.IsZero() {
			// outcomes that came before any decision start their window now
			for _, e := range j.earlyQueue {
				e.seen = d.Time
			}
		}
		j.streamTime = d.Time
	}
	if _, dup := j.pending[d.DecisionID]; dup {
		j.stats.Duplicates++
		return
	}
	if j.recent.Has(d.DecisionID) {
		j.stats.Duplicates++
		return
	}
	if e, ok := j.early[d.DecisionID]; ok {
		delete(j.early, d.DecisionID)
		e.done = true
		o := e.o
		j.remember(d.DecisionID)
		j.stats.Joined++
		emit(Joined{Decision: d, Outcome: &o})
	} else {
		pe := &pendingEntry[R]{d: d, ref: ref}
		j.pending[d.DecisionID] = pe
		j.queue = append(j.queue, pe)
		for len(j.pending) > j.cfg.MaxPending {
			j.popOldest(false, emit)
		}
	}
	j.expire(emit)
}

// AddOutcome adds an outcome and calls emit when it completes a decision.
func (j *Joiner[R]) AddOutcome(o Outcome, emit func(Joined)) {
	if pe, ok := j.pending[o.DecisionID]; ok {
		delete(j.pending, o.DecisionID)
		pe.done = true
		j.remember(o.DecisionID)
		j.stats.Joined++
		emit(Joined{Decision: pe.d, Outcome: &o})
		j.compact()
		return
	}
	if j.recent.Has(o.DecisionID) {
		j.stats.Duplicates++
		return
	}
	if _, waiting := j.early[o.DecisionID]; waiting {
		j.stats.Duplicates++
		return
	}
	ee := &earlyEntry{o: o, seen: j.streamTime}
	j.early[o.DecisionID] = ee
	j.earlyQueue = append(j.earlyQueue, ee)
	for len(j.early) > j.cfg.MaxEarly {
		head := j.earlyQueue[0]
		j.earlyQueue = j.earlyQueue[1:]
		if !head.done {
			delete(j.early, head.o.DecisionID)
			j.stats.DroppedEarly++
		}
	}
}

func (j *Joiner[R]) remember(id string) { j.recent.Add(id, j.streamTime) }

// expire closes the windows that stream time has passed.
func (j *Joiner[R]) expire(emit func(Joined)) {
	cutoff := j.streamTime.Add(-j.cfg.Window)
	for len(j.queue) > 0 {
		head := j.queue[0]
		if head.done {
			j.queue = j.queue[1:]
			continue
		}
		if !head.d.Time.Before(cutoff) {
			break
		}
		j.popOldest(true, emit)
	}
	for len(j.earlyQueue) > 0 {
		head := j.earlyQueue[0]
		if !head.done && !head.seen.Before(cutoff) {
			break
		}
		j.earlyQueue = j.earlyQueue[1:]
		if !head.done {
			delete(j.early, head.o.DecisionID)
			j.stats.EarlyExpired++
		}
	}
	j.recent.ForgetBefore(cutoff)
}

// popOldest removes the oldest pending decision: expired (default reward
// when configured) or dropped for the cap.
func (j *Joiner[R]) popOldest(expired bool, emit func(Joined)) {
	for len(j.queue) > 0 {
		head := j.queue[0]
		j.queue = j.queue[1:]
		if head.done {
			continue
		}
		delete(j.pending, head.d.DecisionID)
		head.done = true
		if !expired {
			j.stats.DroppedPending++
			return
		}
		j.stats.Expired++
		if j.cfg.DefaultReward != nil {
			j.stats.ExpiredRewarded++
			j.remember(head.d.DecisionID)
			emit(Joined{Decision: head.d})
		}
		return
	}
}

// compact drops joined entries from the queue when they dominate it.
func (j *Joiner[R]) compact() {
	if len(j.queue) < 1024 || len(j.queue) < 2*len(j.pending) {
		return
	}
	live := j.queue[:0]
	for _, e := range j.queue {
		if !e.done {
			live = append(live, e)
		}
	}
	clear(j.queue[len(live):])
	j.queue = live
}

// PendingRefs returns the references of the decisions waiting for their
// outcome, in arrival order.
func (j *Joiner[R]) PendingRefs() []R {
	refs := make([]R, 0, len(j.pending))
	for _, e := range j.queue {
		if !e.done {
			refs = append(refs, e.ref)
		}
	}
	return refs
}

// State returns what, besides the pending decisions (PendingRefs), a
// restore needs to rebuild the joiner: early outcomes and stream time.
func (j *Joiner[R]) State() JoinState {
	s := JoinState{StreamTime: j.streamTime}
	for _, e := range j.earlyQueue {
		if !e.done {
			s.Early = append(s.Early, EarlyOutcome{Outcome: e.o, Seen: e.seen})
		}
	}
	return s
}

// DefaultRewardValue returns the configured default reward, if any.
func (j *Joiner[R]) DefaultRewardValue() (float64, bool) {
	if j.cfg.DefaultReward == nil {
		return 0, false
	}
	return *j.cfg.DefaultReward, true
}
