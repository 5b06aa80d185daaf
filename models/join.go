package models

import (
	"slices"
	"time"
)

// JoinConfig configures the join of decisions and outcomes. Zero fields
// take the defaults.
type JoinConfig struct {
	// Window is how long a decision waits for its outcome, and an outcome
	// for its decision, in stream time. Default 24h.
	Window time.Duration
	// MaxPending bounds the decisions waiting for an outcome; beyond it the
	// oldest is dropped (counted). Default 500,000.
	MaxPending int
	// MaxEarly bounds the outcomes waiting for their decision. Default 100,000.
	MaxEarly int
	// DefaultReward, when set, is the reward of a decision whose window
	// passed without an outcome; when nil such decisions are skipped.
	DefaultReward *float64
	// MaxRecent bounds the memory of recently joined decision ids used to
	// recognise duplicate outcomes. Default 200,000.
	MaxRecent int
}

func (c *JoinConfig) fill() {
	if c.Window == 0 {
		c.Window = 24 * time.Hour
	}
	if c.MaxPending == 0 {
		c.MaxPending = 500_000
	}
	if c.MaxEarly == 0 {
		c.MaxEarly = 100_000
	}
	if c.MaxRecent == 0 {
		c.MaxRecent = 200_000
	}
}

// Joined is a decision with what it earned: its outcome, or (Outcome nil)
// the default reward after its window passed.
type Joined struct {
	Decision DecisionEvent
	Outcome  *Outcome
}

// JoinStats counts what the join did.
type JoinStats struct {
	Joined           int64 // decision met its outcome
	Expired          int64 // decision window passed without outcome
	ExpiredRewarded  int64 // … and got the default reward
	EarlyExpired     int64 // outcome never met its decision (unknown decision)
	Duplicates       int64 // second outcome for a decision already joined or waiting
	DroppedPending   int64 // decisions dropped because MaxPending was reached
	DroppedEarly     int64 // outcomes dropped because MaxEarly was reached
	ReplayedDecision int64 // decision read again after a restore and skipped
}

type pendingEntry struct {
	d         DecisionEvent
	partition int32
	offset    int64
	done      bool
}

type earlyEntry struct {
	o    Outcome
	seen time.Time
	done bool
}

// Joiner matches decisions with their outcomes by decision id, in either
// arrival order, within a reward window measured in stream time (the
// latest decision time seen), so a replay of the same input makes the same
// joins and expiries. It is not safe for concurrent use.
type Joiner struct {
	cfg        JoinConfig
	pending    map[string]*pendingEntry
	queue      []*pendingEntry // arrival order; done entries are skipped
	early      map[string]*earlyEntry
	earlyQueue []*earlyEntry
	recent     map[string]struct{}
	recentQ    []string
	streamTime time.Time
	stats      JoinStats
	// replay: decisions below resume[p] are added only when listed in keep.
	resume map[int32]int64
	keep   map[int32][][2]int64
}

// NewJoiner returns an empty joiner.
func NewJoiner(cfg JoinConfig) *Joiner {
	cfg.fill()
	return &Joiner{cfg: cfg, pending: map[string]*pendingEntry{}, early: map[string]*earlyEntry{}, recent: map[string]struct{}{}}
}

// RestoreJoiner rebuilds a joiner from a snapshot's join state. The
// decisions topic must then be re-read from ReplayFrom: decisions below
// resume (the snapshot's next decision offsets) are re-added only when the
// state lists them as pending.
func RestoreJoiner(cfg JoinConfig, state JoinState, resume map[int32]int64) *Joiner {
	j := NewJoiner(cfg)
	j.streamTime = state.StreamTime
	j.resume = resume
	j.keep = state.Pending
	for _, e := range state.Early {
		ee := &earlyEntry{o: e.Outcome, seen: e.Seen}
		j.early[e.Outcome.DecisionID] = ee
		j.earlyQueue = append(j.earlyQueue, ee)
	}
	return j
}

// ReplayFrom returns, per decisions partition, the offset to read from
// after a restore: the first pending decision, or the resume offset.
func (j *Joiner) ReplayFrom() map[int32]int64 {
	out := map[int32]int64{}
	for p, off := range j.resume {
		out[p] = off
		if r := j.keep[p]; len(r) > 0 && r[0][0] < off {
			out[p] = r[0][0]
		}
	}
	return out
}

// Stats returns the counters.
func (j *Joiner) Stats() JoinStats { return j.stats }

// Pending returns the number of decisions waiting for an outcome.
func (j *Joiner) Pending() int { return len(j.pending) }

// Early returns the number of outcomes waiting for their decision.
func (j *Joiner) Early() int { return len(j.early) }

// StreamTime returns the latest decision time seen.
func (j *Joiner) StreamTime() time.Time { return j.streamTime }

// AddDecision adds a decision read at partition/offset of the decisions
// topic and calls emit for what it completes: its early outcome, or
// decisions whose window the advancing stream time closed.
func (j *Joiner) AddDecision(partition int32, offset int64, d DecisionEvent, emit func(Joined)) {
	if end, ok := j.resume[partition]; ok && offset < end {
		if !inRanges(j.keep[partition], offset) {
			j.stats.ReplayedDecision++
			return
		}
	}
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
	if _, done := j.recent[d.DecisionID]; done {
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
		pe := &pendingEntry{d: d, partition: partition, offset: offset}
		j.pending[d.DecisionID] = pe
		j.queue = append(j.queue, pe)
		for len(j.pending) > j.cfg.MaxPending {
			j.popOldest(false, emit)
		}
	}
	j.expire(emit)
}

// AddOutcome adds an outcome and calls emit when it completes a decision.
func (j *Joiner) AddOutcome(o Outcome, emit func(Joined)) {
	if pe, ok := j.pending[o.DecisionID]; ok {
		delete(j.pending, o.DecisionID)
		pe.done = true
		j.remember(o.DecisionID)
		j.stats.Joined++
		emit(Joined{Decision: pe.d, Outcome: &o})
		j.compact()
		return
	}
	if _, done := j.recent[o.DecisionID]; done {
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

func (j *Joiner) remember(id string) {
	j.recent[id] = struct{}{}
	j.recentQ = append(j.recentQ, id)
	if len(j.recentQ) > j.cfg.MaxRecent {
		delete(j.recent, j.recentQ[0])
		j.recentQ = j.recentQ[1:]
	}
}

// expire closes the windows that stream time has passed.
func (j *Joiner) expire(emit func(Joined)) {
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
}

// popOldest removes the oldest pending decision: expired (default reward
// when configured) or dropped for the cap.
func (j *Joiner) popOldest(expired bool, emit func(Joined)) {
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
func (j *Joiner) compact() {
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

// State returns what a snapshot needs to rebuild the joiner: pending
// decisions as offset ranges per partition, early outcomes, stream time.
func (j *Joiner) State() JoinState {
	s := JoinState{StreamTime: j.streamTime}
	byPartition := map[int32][]int64{}
	for _, e := range j.pending {
		byPartition[e.partition] = append(byPartition[e.partition], e.offset)
	}
	if len(byPartition) > 0 {
		s.Pending = map[int32][][2]int64{}
	}
	for p, offs := range byPartition {
		slices.Sort(offs)
		var ranges [][2]int64
		for _, o := range offs {
			if n := len(ranges); n > 0 && ranges[n-1][1]+1 == o {
				ranges[n-1][1] = o
				continue
			}
			ranges = append(ranges, [2]int64{o, o})
		}
		s.Pending[p] = ranges
	}
	for _, e := range j.earlyQueue {
		if !e.done {
			s.Early = append(s.Early, EarlyOutcome{Outcome: e.o, Seen: e.seen})
		}
	}
	return s
}

// DefaultRewardValue returns the configured default reward, if any.
func (j *Joiner) DefaultRewardValue() (float64, bool) {
	if j.cfg.DefaultReward == nil {
		return 0, false
	}
	return *j.cfg.DefaultReward, true
}

func inRanges(ranges [][2]int64, off int64) bool {
	i, _ := slices.BinarySearchFunc(ranges, off, func(r [2]int64, o int64) int {
		switch {
		case r[1] < o:
			return -1
		case r[0] > o:
			return 1
		}
		return 0
	})
	return i < len(ranges) && ranges[i][0] <= off && off <= ranges[i][1]
}
