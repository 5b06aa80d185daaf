package models

// What a copy of the compact join kept outside the process (the learner's
// local join snapshot) reads and writes: each pending decision as the
// join holds it, in queue order, and back.

// PendingEntry is one pending decision of a CompactJoiner: the hash of its
// id (DecisionKey), its position, its time and the record of the outcome
// parts it received.
type PendingEntry struct {
	Key   uint64
	Pos   DecisionPos
	Time  int64 // Unix nanoseconds
	Parts PartRecord
}

// PartRecord is what the join remembers of the parts a pending decision
// received: whether any came, which fields were applied and, per field,
// the occurred_at of the value applied, in units of 16 s after the
// decision's time.
type PartRecord struct {
	At      [NumOutcomeFields]uint16
	Applied OutcomeFields
	Had     bool
}

// PendingEntries calls fn with every pending decision, in queue (arrival)
// order.
func (j *CompactJoiner) PendingEntries(fn func(PendingEntry)) {
	for seq := j.queue.head; seq < j.queue.tail; seq++ {
		e := j.queue.at(seq)
		if e.key == 0 {
			continue
		}
		r := j.queue.rec(seq)
		fn(PendingEntry{Key: e.key, Pos: unpackPos(e.pos), Time: e.time, Parts: PartRecord{At: r.at, Applied: r.applied, Had: r.had}})
	}
}

// AddPendingEntry adds back a pending decision PendingEntries gave, at
// the end of the queue: without matching early outcomes, moving stream
// time or closing windows (Expire does). An entry whose key is pending
// already, or that the cap leaves no room for, is not added: it reports
// false.
func (j *CompactJoiner) AddPendingEntry(e PendingEntry) bool {
	if e.Key == 0 || j.pending >= j.cfg.MaxPending {
		return false
	}
	if _, dup := j.find(e.Key); dup {
		return false
	}
	seq := j.queue.push(compactEntry{key: e.Key, pos: packPos(e.Pos), time: e.Time})
	*j.queue.rec(seq) = partRecord{at: e.Parts.At, applied: e.Parts.Applied, had: e.Parts.Had}
	j.insert(e.Key, seq)
	j.pending++
	return true
}

// Expire closes the windows that stream time has passed, as adding a
// decision does, and calls emit for what that completes.
func (j *CompactJoiner) Expire(emit func(Match)) { j.expire(emit) }
