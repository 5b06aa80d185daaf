package models

import "math"

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
// decision's time (the late fields: in LateTick units after the time of
// the first decision of its block of 128 offsets, 0 to 126).
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
		fn(PendingEntry{Key: e.key, Pos: unpackPos(e.pos), Time: j.queue.time(seq), Parts: exportRecord(j.queue.rec(seq), j.queue.had(seq))})
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
	seq := j.queue.push(e.Key, packPos(e.Pos), e.Time)
	*j.queue.rec(seq) = importRecord(e.Parts)
	if e.Parts.Had {
		j.queue.markHad(seq)
	}
	j.insert(e.Key, seq)
	j.pending++
	return true
}

// Expire closes the windows that stream time has passed, as adding a
// decision does, and calls emit for what that completes.
func (j *CompactJoiner) Expire(emit func(Match)) { j.expire(emit) }

// exportRecord is the PartRecord of a part record (which stores 1 plus a
// field's time, 0 for none) and of whether any part came.
func exportRecord(r *partRecord, had bool) PartRecord {
	p := PartRecord{Had: had}
	for f, at := range r.at {
		if at != 0 {
			p.At[f], p.Applied = at-1, p.Applied.With(OutcomeField(f))
		}
	}
	return p
}

// importRecord is the part record of p, exportRecord's inverse.
func importRecord(p PartRecord) partRecord {
	var r partRecord
	for f, at := range p.At {
		if p.Applied.Has(OutcomeField(f)) {
			r.at[f] = min(at, math.MaxUint16-1) + 1
		}
	}
	return r
}
