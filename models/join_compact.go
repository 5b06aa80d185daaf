package models

import (
	"math"
	"math/bits"
	"runtime"
	"time"

	"github.com/cespare/xxhash/v2"
)

// DecisionPos is where a decision event sits in nba.decisions: its
// partition and offset. The compact join keeps it instead of the event.
type DecisionPos struct {
	Partition int32
	Offset    int64
}

// posBits is how many low bits of a packed position hold the offset; the
// partition takes the 16 above them.
const posBits = 48

func packPos(p DecisionPos) uint64 { return uint64(p.Partition)<<posBits | uint64(p.Offset) }

func unpackPos(v uint64) DecisionPos {
	return DecisionPos{Partition: int32(v >> posBits), Offset: int64(v & (1<<posBits - 1))}
}

// Match is what the compact join found: the decision at Pos met a part of
// its outcome, or (Outcome nil) its window passed with a default reward
// configured. The caller reads the decision at Pos again to learn from it.
type Match struct {
	Pos DecisionPos
	// Outcome is the part that joined; nil when the window closed.
	Outcome *Outcome
	// Fields are what to learn from: the fields of Outcome newer (by
	// occurred_at) than the value applied before for them, or, when the
	// window closed, the fields no part reported, learned as their zero
	// value (false, 0, csat neutral).
	Fields OutcomeFields
	// First marks the decision's first part (Outcome set), or a window
	// that closed without any part (Outcome nil): the decision then earns
	// the default reward.
	First bool
	// Deferred, when not 0, marks a placeholder: a part looked up in the
	// late tier, or a late window that closed while one waited. The
	// matches it stands for are ResolveLate's result at index Deferred-1,
	// in its place.
	Deferred int
}

// CompactJoiner matches decisions with the parts of their outcomes — in
// either arrival order, within a reward window measured in stream time,
// duplicates once, the default reward on expiry — and keeps of a pending
// decision only a 64-bit hash of its id, its position and its time (to
// the millisecond): 20 bytes in an arrival-ordered queue plus 4 to 8
// bytes of hash table, whatever the decision's payload, and beside it a
// 16-byte partRecord (which fields were applied, and their occurred_at):
// about 44 bytes per pending decision in a large join. A decision stays
// in the queue until its reward window (Window) closes, then waits for
// its late fields in the late tier (join_late.go: about 2.25 bytes per
// decision, found again by its UUIDv7 id's time and a re-read of message
// keys) until JoinConfig.LateWindow: every part that arrives within a
// field's window is matched, each field applied when its occurred_at is
// later than the value applied before for it. The caller reads a matched
// decision again from its position. The queue, the records, the table
// and the late tier are kept outside the Go heap (joinStorage) and
// released when the joiner becomes unreachable. It is not safe for
// concurrent use.
type CompactJoiner struct {
	cfg   JoinConfig
	store *joinStorage
	queue compactQueue
	// earlyHead is the first queue sequence whose window of the early
	// fields has not closed yet
	earlyHead uint64
	// closedBefore, while a restore adds the pending decisions again, is
	// the decision time (Unix ns) before which the early window closed
	// before the checkpoint (Restored ends it)
	closedBefore int64
	table        []uint32 // open addressing, linear probing: a slot (below), 0 empty
	shift        uint     // 64 - log2(len(table))
	seqBits      uint     // low bits of a slot holding the queue sequence
	pending      int

	early      EarlyParts
	recent     map[uint64]struct{}
	recentQ    []compactRecent // join order, so stream-time order
	streamTime time.Time
	stats      JoinStats

	// the late tier (join_late.go), by partition
	late         []*latePartition
	lateSpan     int64 // offsets the tier spans, open ones
	lateLive     int
	lateTickSize time.Duration
	lookups      []lateLookup // waiting for the re-read
	events       []lateEvent  // deferred, in order
}

// partRecord is what the join remembers of the parts a pending decision
// received (16 bytes beside its queue entry): per field, 0 when no value
// was applied for it, else 1 plus the occurred_at of the value applied,
// in units of recordTick after the decision's time (0 to 12 days) — for
// the late fields, as the late tier keeps them (lateState: in LateTick
// units after the base of the decision's block).
// Whether any part came is in the entry's stamp (queueChunk).
type partRecord struct {
	at [NumOutcomeFields]uint16
}

// applied returns the fields a value was applied for.
func (r *partRecord) applied() OutcomeFields {
	var fs OutcomeFields
	for f, at := range r.at {
		if at != 0 {
			fs = fs.With(OutcomeField(f))
		}
	}
	return fs
}

// recordTick is the resolution at which a part record compares the
// occurred_at of two values of one field: two parts within 16 s of each
// other are ordered by arrival, the first applied.
const recordTick = 16 * time.Second

// compactRecent is the hash of a decision id joined (or expired with the
// default reward) at stream time at (Unix nanoseconds).
type compactRecent struct {
	key uint64
	at  int64
}

// compactEntry is one decision in the queue. A joined, expired or dropped
// entry has key 0.
type compactEntry struct {
	key uint64 // hash of the decision id, never 0 while pending
	pos uint64 // packPos
}

// chunkBits sizes the queue's chunks (65,536 entries: 1 MiB of entries,
// 256 KiB of stamps, 1 MiB of records): the queue grows and shrinks by
// whole chunks, never by doubling one array.
const chunkBits = 16

// queueChunk holds 2^chunkBits consecutive entries of the queue with, for
// each, its stamp and its part record. A stamp holds, in its bit 0,
// whether a part came and, in the bits above, the decision's time in
// milliseconds after base: within about 12 days of it (stampFar, else).
// The join keeps a decision's time to the millisecond (Unix nanoseconds
// truncated), the same in every comparison, so a restore adds it back
// alike.
type queueChunk struct {
	entries []compactEntry
	stamps  []int32
	recs    []partRecord
	base    int64 // Unix milliseconds: the time of the chunk's first entry
}

// stampFar is the time of a stamp whose decision time is too far from its
// chunk's base: the time is in compactQueue.far.
const stampFar = math.MinInt32 >> 1

// compactQueue is a FIFO of entries addressed by a sequence number that
// only grows. Its chunks are made from store.
type compactQueue struct {
	store  *joinStorage
	chunks []queueChunk
	base   uint64 // sequence of chunks[0]'s first entry
	head   uint64 // first live sequence
	tail   uint64 // next sequence to append
	spare  queueChunk
	// far holds the decision times (Unix ns, to the ms) that their
	// stamp cannot, by sequence: decisions more than 12 days from the
	// first of their chunk (a low decision rate, or a stray time)
	far map[uint64]int64
}

func (q *compactQueue) chunk(seq uint64) (*queueChunk, uint64) {
	i := seq - q.base
	return &q.chunks[i>>chunkBits], i & (1<<chunkBits - 1)
}

func (q *compactQueue) at(seq uint64) *compactEntry {
	c, i := q.chunk(seq)
	return &c.entries[i]
}

// rec returns the part record of the entry at seq.
func (q *compactQueue) rec(seq uint64) *partRecord {
	c, i := q.chunk(seq)
	return &c.recs[i]
}

// time returns the time of the decision at seq, in Unix nanoseconds
// truncated to the millisecond.
func (q *compactQueue) time(seq uint64) int64 {
	c, i := q.chunk(seq)
	if ms := c.stamps[i] >> 1; ms != stampFar {
		return (c.base + int64(ms)) * int64(time.Millisecond)
	}
	return q.far[seq]
}

// had reports whether the decision at seq received a part.
func (q *compactQueue) had(seq uint64) bool {
	c, i := q.chunk(seq)
	return c.stamps[i]&1 != 0
}

// markHad records that the decision at seq received a part.
func (q *compactQueue) markHad(seq uint64) {
	c, i := q.chunk(seq)
	c.stamps[i] |= 1
}

// push appends the decision of key, packed position pos and time t (Unix
// nanoseconds).
func (q *compactQueue) push(key, pos uint64, t int64) uint64 {
	seq := q.tail
	ms := t / int64(time.Millisecond)
	i := seq - q.base
	if int(i>>chunkBits) == len(q.chunks) {
		c := q.spare
		q.spare = queueChunk{}
		if c.entries == nil {
			c = queueChunk{
				entries: makeStored[compactEntry](q.store, 1<<chunkBits),
				stamps:  makeStored[int32](q.store, 1<<chunkBits),
				recs:    makeStored[partRecord](q.store, 1<<chunkBits),
			}
		}
		c.base = ms
		q.chunks = append(q.chunks, c)
	}
	c, k := q.chunk(seq)
	c.entries[k] = compactEntry{key: key, pos: pos}
	c.recs[k] = partRecord{}
	if d := ms - c.base; d > stampFar && d <= math.MaxInt32>>1 {
		c.stamps[k] = int32(d) << 1
	} else {
		c.stamps[k] = stampFar << 1
		if q.far == nil {
			q.far = map[uint64]int64{}
		}
		q.far[seq] = ms * int64(time.Millisecond)
	}
	q.tail++
	return seq
}

// pop advances the head by one and releases a chunk the head left: it
// is kept for the next chunk the tail needs, or, when one is kept
// already, returned to the OS.
func (q *compactQueue) pop() {
	if len(q.far) > 0 {
		delete(q.far, q.head)
	}
	q.head++
	if q.head-q.base < 1<<chunkBits {
		return
	}
	c := q.chunks[0]
	if q.spare.entries == nil {
		clear(c.entries)
		clear(c.stamps)
		clear(c.recs)
		q.spare = c
	} else {
		freeStored(q.store, c.entries)
		freeStored(q.store, c.stamps)
		freeStored(q.store, c.recs)
	}
	q.chunks[0] = queueChunk{}
	q.chunks = q.chunks[1:]
	q.base += 1 << chunkBits
}

func (q *compactQueue) len() uint64 { return q.tail - q.head }

// NewCompactJoiner returns an empty compact joiner.
func NewCompactJoiner(cfg JoinConfig) *CompactJoiner {
	cfg.fill()
	store := newJoinStorage()
	j := &CompactJoiner{cfg: cfg, store: store, queue: compactQueue{store: store}, closedBefore: math.MinInt64, early: NewEarlyParts(cfg.MaxEarly), recent: map[uint64]struct{}{}}
	runtime.AddCleanup(j, (*joinStorage).release, store)
	j.seqBits = seqBitsFor(cfg.MaxPending)
	j.lateTickSize = lateTickFor(cfg.LateWindow)
	j.resize(1 << 10)
	return j
}

// StorageBytes returns the bytes of the arrays that hold the pending
// decisions: the queue's chunks, their part records and the hash table.
// They are kept outside the Go heap (where the OS allows), so the Go
// runtime's memory statistics do not count them; the process's RSS does.
func (j *CompactJoiner) StorageBytes() int64 { return j.store.bytes }

// Reserve sizes the hash table for n pending decisions, so that adding
// them (a restore adds millions) never rebuilds it.
func (j *CompactJoiner) Reserve(n int) {
	if n > j.pending && n*4 > len(j.table)*3 {
		j.resize(n*4/3 + 1)
	}
}

// RestoreCompactJoiner rebuilds a compact joiner from its State; the
// decisions then pending are added again with AddDecision, in their
// original order, before anything newer.
func RestoreCompactJoiner(cfg JoinConfig, state JoinState) *CompactJoiner {
	j := NewCompactJoiner(cfg)
	j.streamTime = state.StreamTime
	if !state.StreamTime.IsZero() {
		j.closedBefore = state.StreamTime.Add(-j.cfg.Window).UnixNano()
	}
	j.restoreLate(state.Late)
	for _, e := range state.Early {
		_, dropped := j.early.Add(e.Outcome, e.Seen)
		j.stats.DroppedEarly += int64(dropped)
	}
	return j
}

// Restored says that the decisions pending at the checkpoint have all been
// added again: until then, a decision whose early window had closed
// before the checkpoint is not closed (and rewarded) a second time.
func (j *CompactJoiner) Restored() { j.closedBefore = math.MinInt64 }

// DecisionKey is the 64-bit hash (xxHash64, seed 0) the compact join
// keeps of a decision id; never 0. It is computed for every decision and
// outcome the learner reads and is never stored outside the process.
func DecisionKey(id string) uint64 {
	h := xxhash.Sum64String(id)
	if h == 0 {
		h = 1
	}
	return h
}

// Stats returns the counters.
func (j *CompactJoiner) Stats() JoinStats { return j.stats }

// Pending returns the number of decisions waiting for an outcome.
func (j *CompactJoiner) Pending() int { return j.pending }

// Early returns the number of outcome parts waiting for their decision.
func (j *CompactJoiner) Early() int { return j.early.Len() }

// StreamTime returns the latest decision time seen.
func (j *CompactJoiner) StreamTime() time.Time { return j.streamTime }

// MaxPending returns the cap on pending decisions.
func (j *CompactJoiner) MaxPending() int { return j.cfg.MaxPending }

// Window returns the reward window of the fields but the late ones.
func (j *CompactJoiner) Window() time.Duration { return j.cfg.Window }

// LateWindow returns the window of the late fields (LateFields): how
// long a decision stays pending.
func (j *CompactJoiner) LateWindow() time.Duration { return j.cfg.LateWindow }

// LateFields are the outcome fields known only days after the contact,
// which have a window of their own (JoinConfig.LateWindow).
const LateFields = OutcomeFields(1<<FieldRecontact7d | 1<<FieldChurned)

// FieldWindow returns field f's window.
func (j *CompactJoiner) FieldWindow(f OutcomeField) time.Duration {
	if LateFields.Has(f) {
		return j.cfg.LateWindow
	}
	return j.cfg.Window
}

// DefaultRewardValue returns the configured default reward, if any.
func (j *CompactJoiner) DefaultRewardValue() (float64, bool) {
	if j.cfg.DefaultReward == nil {
		return 0, false
	}
	return *j.cfg.DefaultReward, true
}

// AddDecision adds the decision id of time t found at pos, and calls emit
// for what it completes: its early outcome, or decisions whose window the
// advancing stream time closed.
func (j *CompactJoiner) AddDecision(pos DecisionPos, id string, t time.Time, emit func(Match)) {
	if t.After(j.streamTime) {
		if j.streamTime.IsZero() {
			j.early.SetSeen(t)
		}
		j.streamTime = t
	}
	j.indexDecision(pos, id, t.UnixNano())
	key := DecisionKey(id)
	if _, dup := j.find(key); dup {
		j.stats.Duplicates++
		return
	}
	if _, done := j.recent[key]; done {
		j.stats.Duplicates++
		return
	}
	seq := j.queue.push(key, packPos(pos), t.UnixNano())
	j.insert(key, seq)
	j.pending++
	parts := j.early.Take(id)
	for i := range parts {
		j.applyPart(seq, &parts[i], emit)
	}
	for j.pending > j.cfg.MaxPending {
		j.popOldest(emit)
	}
	j.expire(emit)
}

// AddOutcome adds an outcome part, from any partition, and calls emit
// when it joins its decision (AddOutcomeFrom).
func (j *CompactJoiner) AddOutcome(o Outcome, emit func(Match)) { j.AddOutcomeFrom(-1, o, emit) }

// AddOutcomeFrom adds an outcome part read from partition p of
// nba.outcomes (its decision's partition of nba.decisions; p < 0: any)
// and calls emit when it joins its decision: at once when the decision
// is in the queue, when the decision arrives if it has not yet; a
// decision in the late tier is looked up by its id's time, and emit gets
// a placeholder (Match.Deferred) resolved by ResolveLate.
func (j *CompactJoiner) AddOutcomeFrom(p int32, o Outcome, emit func(Match)) {
	key := DecisionKey(o.DecisionID)
	if slot, ok := j.find(key); ok {
		j.applyPart(j.seqOf(j.table[slot]), &o, emit)
		return
	}
	if j.early.Waiting(o.DecisionID) {
		j.addEarly(o)
		return
	}
	if j.lookupLate(p, &o, false, emit) {
		return
	}
	if _, done := j.recent[key]; done {
		// its decision left the queue not long ago: a part that the late
		// tier could take, were the id's time known, is counted apart
		if _, v7 := uuidV7(o.DecisionID); !v7 && o.Held()&LateFields != 0 && j.cfg.LateWindow > j.cfg.Window {
			j.stats.LateNotUUID++
		} else {
			j.stats.Late++
		}
		return
	}
	if j.afterLateWindow(p, o.DecisionID) {
		j.stats.Late++
		return
	}
	j.addEarly(o)
}

// addEarly keeps part o until its decision comes.
func (j *CompactJoiner) addEarly(o Outcome) {
	added, dropped := j.early.Add(o, j.streamTime)
	if !added {
		j.stats.Duplicates++
	}
	j.stats.DroppedEarly += int64(dropped)
}

// uuidV7 returns the time (Unix ms) of a UUIDv7 id.
func uuidV7(id string) (int64, bool) {
	ms, version, ok := parseUUID(id)
	return ms, ok && version == 7
}

// applyPart matches part o with the pending decision e: each field o
// holds is applied when no value was applied for it yet or o's
// occurred_at is later than that value's. A part that changes nothing is
// a duplicate (every field it holds was applied at the same occurred_at)
// or stale (counted, not applied).
func (j *CompactJoiner) applyPart(seq uint64, o *Outcome, emit func(Match)) {
	fields, first, res := j.record(seq, o)
	pos := unpackPos(j.queue.at(seq).pos)
	switch res {
	case partMatched:
		j.stats.Joined++
		emit(Match{Pos: pos, Outcome: o, Fields: fields, First: first})
	case partMatchedStale:
		j.stats.Joined++
		j.stats.Stale++ // some of its fields were older than the values applied
		emit(Match{Pos: pos, Outcome: o, Fields: fields, First: first})
	case partDuplicate:
		j.stats.Duplicates++
	case partStale:
		j.stats.Stale++
	case partLate:
		j.stats.Late++
	}
}

// What record did with a part.
type partResult uint8

const (
	partMatched      partResult = iota // fields applied, or the decision's first part
	partMatchedStale                   // … and some of its fields older than the values applied
	partDuplicate                      // every field it holds applied at the same occurred_at
	partStale                          // every field it holds older than the value applied
	partLate                           // every field it holds came after its window
)

// ReplayOutcome brings the part record of o's decision up to date with
// o, as AddOutcome did before a restore, without matching or counting
// anything: a restored join is given again the parts its pending
// decisions received before the checkpoint (their records are not in
// it). The record keeps, per field, the latest occurred_at applied, so
// the order in which parts are replayed does not matter. A part of a
// decision that is not pending is ignored.
func (j *CompactJoiner) ReplayOutcome(o Outcome) { j.ReplayOutcomeFrom(-1, o) }

// ReplayOutcomeFrom is ReplayOutcome for a part read from partition p of
// nba.outcomes. A part whose decision may be in the late tier waits for
// the re-read (LateLookups): ResolveLate then brings its late state up to
// date, matching and counting nothing.
func (j *CompactJoiner) ReplayOutcomeFrom(p int32, o Outcome) {
	if slot, ok := j.find(DecisionKey(o.DecisionID)); ok {
		j.record(j.seqOf(j.table[slot]), &o)
		return
	}
	j.lookupLate(p, &o, true, nil)
}

// OldestPending returns the time of the oldest pending decision, and
// false when none is pending.
func (j *CompactJoiner) OldestPending() (time.Time, bool) {
	for seq := j.queue.head; seq < j.queue.tail; seq++ {
		if j.queue.at(seq).key != 0 {
			return time.Unix(0, j.queue.time(seq)), true
		}
	}
	return time.Time{}, false
}

// record applies part o to e's part record: each field o holds within
// its window is applied when no value was applied for it yet or o's
// occurred_at is later than that value's.
func (j *CompactJoiner) record(seq uint64, o *Outcome) (fields OutcomeFields, first bool, res partResult) {
	rec, t := j.queue.rec(seq), j.queue.time(seq)
	had := j.queue.had(seq)
	held := o.Held()
	closed := j.earlyClosed(t)
	if closed {
		held &= LateFields // the other fields' window has closed
	}
	rel := (o.OccurredAt.UnixNano() - t) / int64(recordTick)
	early := uint16(max(min(rel, math.MaxUint16-1), 0)) + 1 // 0 is "none applied"
	late := j.lateTick(o.OccurredAt.UnixNano(), j.lateBase(unpackPos(j.queue.at(seq).pos), t))
	applied := rec.applied()
	same := true
	for f := range OutcomeField(NumOutcomeFields) {
		if !held.Has(f) {
			continue
		}
		at := early
		if LateFields.Has(f) {
			at = uint16(late) // as the late tier keeps it, so that moving there changes nothing
		}
		switch {
		case !applied.Has(f) || at > rec.at[f]:
			fields = fields.With(f)
			rec.at[f] = at
		case at < rec.at[f]:
			same = false
		}
	}
	// The decision's first part is its first within the late window,
	// whatever it holds: the prior learns from it, but for a decision
	// whose early window closed with a default reward, whose first
	// learning was then (the Match.First of the closed window). Any part
	// marks the record, so that a restore, which replays parts without
	// knowing which came after their early window, marks it alike.
	first = !had && !(closed && j.cfg.DefaultReward != nil)
	j.queue.markHad(seq)
	return partOutcome(fields, held, o.Held(), first, same)
}

// partOutcome says what a part did, of the fields it held (all), those
// of them still within their window (held) and those it applied
// (fields); first: it is its decision's first part; same: none of its
// fields was older than the value applied. A first part is matched even
// when it applies nothing (no field, or only fields past their window).
func partOutcome(fields, held, all OutcomeFields, first, same bool) (OutcomeFields, bool, partResult) {
	switch {
	case fields == 0 && first:
	case fields == 0 && held == 0 && all != 0:
		return 0, false, partLate
	case fields == 0 && same:
		return 0, false, partDuplicate
	case fields == 0:
		return 0, false, partStale
	}
	if fields != held {
		return fields, first, partMatchedStale
	}
	return fields, first, partMatched
}

// earlyClosed reports whether the window of the early fields of a
// decision of time t (Unix ns) has closed.
func (j *CompactJoiner) earlyClosed(t int64) bool {
	return t < j.streamTime.Add(-j.cfg.Window).UnixNano()
}

func (j *CompactJoiner) remember(key uint64) {
	j.recent[key] = struct{}{}
	j.recentQ = append(j.recentQ, compactRecent{key: key, at: j.streamTime.UnixNano()})
	if len(j.recentQ) > j.cfg.MaxRecent {
		j.forgetOldest()
	}
}

// forgetOldest forgets the oldest recently joined id.
func (j *CompactJoiner) forgetOldest() {
	delete(j.recent, j.recentQ[0].key)
	j.recentQ = j.recentQ[1:]
}

// expire closes the windows that stream time has passed: the early
// fields' (closeEarly), then the late fields' (popOldest).
func (j *CompactJoiner) expire(emit func(Match)) {
	j.expireLate(emit)
	cutoff := j.streamTime.Add(-j.cfg.Window).UnixNano()
	j.earlyHead = max(j.earlyHead, j.queue.head)
	for ; j.earlyHead < j.queue.tail; j.earlyHead++ {
		if j.queue.at(j.earlyHead).key == 0 {
			continue
		}
		t := j.queue.time(j.earlyHead)
		if t >= cutoff {
			break
		}
		if t >= j.closedBefore { // else closed before the checkpoint
			j.closeEarly(j.earlyHead, emit)
		}
		j.moveLate(j.earlyHead, emit)
	}
	for j.queue.len() > 0 && j.queue.at(j.queue.head).key == 0 {
		j.queue.pop()
	}
	j.expireLate(emit) // those that just moved, when the two windows are alike
	cut := j.streamTime.Add(-j.cfg.Window)
	j.stats.EarlyExpired += int64(j.early.ExpireBefore(cut))
	for len(j.recentQ) > 0 && j.recentQ[0].at < cutoff {
		j.forgetOldest()
	}
}

// closeEarly closes the window of e's fields but the late ones. A
// decision without any part then counts as expired; with a default
// reward, the fields no part reported are learned as their zero value,
// and a decision without any part earns the default reward (First).
func (j *CompactJoiner) closeEarly(seq uint64, emit func(Match)) {
	e, rec := j.queue.at(seq), j.queue.rec(seq)
	had := j.queue.had(seq)
	if !had {
		j.stats.Expired++
	}
	if j.cfg.DefaultReward == nil {
		return
	}
	if !had {
		j.stats.ExpiredRewarded++
	}
	if missing := AllOutcomeFields &^ LateFields &^ rec.applied(); missing != 0 || !had {
		emit(Match{Pos: unpackPos(e.pos), Fields: missing, First: !had})
	}
}

// popOldest drops the oldest decision of the queue for the cap: its
// early window has not closed, and it never will.
func (j *CompactJoiner) popOldest(emit func(Match)) {
	for j.queue.len() > 0 {
		head := j.queue.at(j.queue.head)
		if head.key == 0 {
			j.queue.pop()
			continue
		}
		slot, _ := j.find(head.key) // before the pop: the table addresses live entries
		j.remove(slot)
		head.key = 0
		j.queue.pop()
		j.pending--
		j.stats.DroppedPending++
		return
	}
}

// PendingPositions calls fn with the position of every pending decision,
// in arrival order.
func (j *CompactJoiner) PendingPositions(fn func(DecisionPos)) {
	for seq := j.queue.head; seq < j.queue.tail; seq++ {
		if e := j.queue.at(seq); e.key != 0 {
			fn(unpackPos(e.pos))
		}
	}
}

// State returns what, besides the pending decisions (PendingPositions), a
// restore needs: early outcomes and stream time.
func (j *CompactJoiner) State() JoinState {
	s := JoinState{StreamTime: j.streamTime, Late: j.LateRegions()}
	j.early.Each(func(o Outcome, seen time.Time) {
		s.Early = append(s.Early, EarlyOutcome{Outcome: o, Seen: seen})
	})
	return s
}

// A slot of the table holds, in its seqBits low bits, the sequence of its
// queue entry modulo 2^seqBits-1, plus one (never 0), and in the bits
// above them a fingerprint of the entry's key: a probe compares the
// fingerprint and reads the queue entry (a cache miss in a large join)
// only when it matches. seqBitsFor gives the sequences the bits that a
// queue of a joiner capped at maxPending needs — the queue holds only
// pending decisions (a decision leaves it at the head, when its windows
// have closed or the cap drops it), at most maxPending+1, and the bits
// leave room for twice that — and the fingerprint the rest: 6 bits at the
// default 20 million, 12 at 200,000.
func seqBitsFor(maxPending int) uint {
	need := 2*uint64(maxPending) + 2<<chunkBits
	return min(max(uint(bits.Len64(need)), 20), 32)
}

func (j *CompactJoiner) seqMod() uint64 { return 1<<j.seqBits - 1 }

func (j *CompactJoiner) fingerprint(key uint64) uint32 {
	return uint32(key) &^ uint32(j.seqMod())
}

func (j *CompactJoiner) slot(key, seq uint64) uint32 {
	return j.fingerprint(key) | (uint32(seq%j.seqMod()) + 1)
}

func (j *CompactJoiner) seqOf(v uint32) uint64 {
	m := j.seqMod()
	s := uint64(v&uint32(m)) - 1
	h := j.queue.head % m
	return j.queue.head + (s+m-h)%m
}

func (j *CompactJoiner) home(key uint64) int { return int(key * 0x9E3779B97F4A7C15 >> j.shift) }

// find returns the table slot of key.
func (j *CompactJoiner) find(key uint64) (int, bool) {
	mask := len(j.table) - 1
	fp, fpMask := j.fingerprint(key), ^uint32(j.seqMod())
	for i := j.home(key); ; i = (i + 1) & mask {
		v := j.table[i]
		if v == 0 {
			return i, false
		}
		if v&fpMask == fp && j.queue.at(j.seqOf(v)).key == key {
			return i, true
		}
	}
}

func (j *CompactJoiner) insert(key, seq uint64) {
	if (j.pending+1)*4 > len(j.table)*3 {
		j.resize(2 * len(j.table))
	}
	slot, _ := j.find(key)
	j.table[slot] = j.slot(key, seq)
}

// remove empties slot i and shifts the entries after it back (no
// tombstones).
func (j *CompactJoiner) remove(i int) {
	mask := len(j.table) - 1
	j.table[i] = 0
	for k := (i + 1) & mask; j.table[k] != 0; k = (k + 1) & mask {
		h := j.home(j.queue.at(j.seqOf(j.table[k])).key)
		// move k to i when its home is not cyclically within (i, k]
		if (k > i && (h <= i || h > k)) || (k < i && h <= i && h > k) {
			j.table[i], j.table[k] = j.table[k], 0
			i = k
		}
	}
}

// resize rebuilds the table with size slots (a power of two) from the
// queue's pending entries.
func (j *CompactJoiner) resize(size int) {
	for size*3 < j.pending*4 {
		size *= 2
	}
	bits := uint(0)
	for 1<<bits < size {
		bits++
	}
	if len(j.table) == 1<<bits {
		clear(j.table)
	} else {
		// the old table is released before the new one is made: the
		// new one is built from the queue
		freeStored(j.store, j.table)
		j.table = makeStored[uint32](j.store, 1<<bits)
	}
	j.shift = 64 - bits
	for seq := j.queue.head; seq < j.queue.tail; seq++ {
		if e := j.queue.at(seq); e.key != 0 {
			slot, _ := j.find(e.key)
			j.table[slot] = j.slot(e.key, seq)
		}
	}
}
