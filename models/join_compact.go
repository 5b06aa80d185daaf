package models

import (
	"math/bits"
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

// Match is what the compact join found: the decision at Pos met Outcome,
// or (Outcome nil) its window passed and it earns the default reward. The
// caller reads the decision at Pos again to learn from it.
type Match struct {
	Pos     DecisionPos
	Outcome *Outcome
}

// CompactJoiner matches decisions with their outcomes as Joiner does — in
// either arrival order, within a reward window measured in stream time,
// duplicates once, the default reward on expiry — but keeps of a pending
// decision only a 64-bit hash of its id, its position and its time:
// 24 bytes in an arrival-ordered queue plus 4 to 8 bytes of hash table,
// whatever the decision's payload. The caller reads a matched decision
// again from its position. It is not safe for concurrent use.
type CompactJoiner struct {
	cfg     JoinConfig
	queue   compactQueue
	table   []uint32 // open addressing, linear probing: a slot (below), 0 empty
	shift   uint     // 64 - log2(len(table))
	seqBits uint     // low bits of a slot holding the queue sequence
	pending int

	early      map[string]*earlyEntry
	earlyQueue []*earlyEntry
	recent     map[uint64]struct{}
	recentQ    []compactRecent // join order, so stream-time order
	streamTime time.Time
	stats      JoinStats
}

// compactRecent is the hash of a decision id joined (or expired with the
// default reward) at stream time at (Unix nanoseconds).
type compactRecent struct {
	key uint64
	at  int64
}

// compactEntry is one decision in the queue. A joined, expired or dropped
// entry has key 0.
type compactEntry struct {
	key  uint64 // hash of the decision id, never 0 while pending
	pos  uint64 // packPos
	time int64  // decision time, Unix nanoseconds
}

// chunkBits sizes the queue's chunks (65,536 entries, 1.5 MiB): the queue
// grows and shrinks by whole chunks, never by doubling one array.
const chunkBits = 16

// compactQueue is a FIFO of entries addressed by a sequence number that
// only grows.
type compactQueue struct {
	chunks [][]compactEntry
	base   uint64 // sequence of chunks[0][0]
	head   uint64 // first live sequence
	tail   uint64 // next sequence to append
	spare  []compactEntry
}

func (q *compactQueue) at(seq uint64) *compactEntry {
	i := seq - q.base
	return &q.chunks[i>>chunkBits][i&(1<<chunkBits-1)]
}

func (q *compactQueue) push(e compactEntry) uint64 {
	i := q.tail - q.base
	if int(i>>chunkBits) == len(q.chunks) {
		c := q.spare
		q.spare = nil
		if c == nil {
			c = make([]compactEntry, 1<<chunkBits)
		}
		q.chunks = append(q.chunks, c)
	}
	*q.at(q.tail) = e
	q.tail++
	return q.tail - 1
}

// pop advances the head by one and releases a chunk the head left.
func (q *compactQueue) pop() {
	q.head++
	if q.head-q.base == 1<<chunkBits {
		c := q.chunks[0]
		clear(c)
		q.spare = c
		q.chunks[0] = nil
		q.chunks = q.chunks[1:]
		q.base += 1 << chunkBits
	}
}

func (q *compactQueue) len() uint64 { return q.tail - q.head }

// NewCompactJoiner returns an empty compact joiner.
func NewCompactJoiner(cfg JoinConfig) *CompactJoiner {
	cfg.fill()
	j := &CompactJoiner{cfg: cfg, early: map[string]*earlyEntry{}, recent: map[uint64]struct{}{}}
	j.seqBits = seqBitsFor(cfg.MaxPending)
	j.resize(1 << 10)
	return j
}

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
	for _, e := range state.Early {
		ee := &earlyEntry{o: e.Outcome, seen: e.Seen}
		j.early[e.Outcome.DecisionID] = ee
		j.earlyQueue = append(j.earlyQueue, ee)
	}
	return j
}

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

// Early returns the number of outcomes waiting for their decision.
func (j *CompactJoiner) Early() int { return len(j.early) }

// StreamTime returns the latest decision time seen.
func (j *CompactJoiner) StreamTime() time.Time { return j.streamTime }

// MaxPending returns the cap on pending decisions.
func (j *CompactJoiner) MaxPending() int { return j.cfg.MaxPending }

// Window returns the reward window.
func (j *CompactJoiner) Window() time.Duration { return j.cfg.Window }

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
			for _, e := range j.earlyQueue {
				e.seen = t
			}
		}
		j.streamTime = t
	}
	key := DecisionKey(id)
	if _, dup := j.find(key); dup {
		j.stats.Duplicates++
		return
	}
	if _, done := j.recent[key]; done {
		j.stats.Duplicates++
		return
	}
	if e, ok := j.early[id]; ok {
		delete(j.early, id)
		e.done = true
		o := e.o
		j.remember(key)
		j.stats.Joined++
		emit(Match{Pos: pos, Outcome: &o})
	} else {
		if j.queue.len() >= j.seqLimit() {
			j.rebuild() // the slots could no longer tell the sequences apart
		}
		seq := j.queue.push(compactEntry{key: key, pos: packPos(pos), time: t.UnixNano()})
		j.insert(key, seq)
		j.pending++
		for j.pending > j.cfg.MaxPending {
			j.popOldest(false, emit)
		}
	}
	j.expire(emit)
}

// AddOutcome adds an outcome and calls emit when it completes a decision.
func (j *CompactJoiner) AddOutcome(o Outcome, emit func(Match)) {
	key := DecisionKey(o.DecisionID)
	if slot, ok := j.find(key); ok {
		e := j.queue.at(j.seqOf(j.table[slot]))
		pos := unpackPos(e.pos)
		e.key = 0
		j.remove(slot)
		j.pending--
		j.remember(key)
		j.stats.Joined++
		emit(Match{Pos: pos, Outcome: &o})
		j.compact()
		return
	}
	if _, done := j.recent[key]; done {
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
		j.earlyQueue[0] = nil
		j.earlyQueue = j.earlyQueue[1:]
		if !head.done {
			delete(j.early, head.o.DecisionID)
			j.stats.DroppedEarly++
		}
	}
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

// expire closes the windows that stream time has passed.
func (j *CompactJoiner) expire(emit func(Match)) {
	cutoff := j.streamTime.Add(-j.cfg.Window).UnixNano()
	for j.queue.len() > 0 {
		head := j.queue.at(j.queue.head)
		if head.key == 0 {
			j.queue.pop()
			continue
		}
		if head.time >= cutoff {
			break
		}
		j.popOldest(true, emit)
	}
	cut := j.streamTime.Add(-j.cfg.Window)
	for len(j.earlyQueue) > 0 {
		head := j.earlyQueue[0]
		if !head.done && !head.seen.Before(cut) {
			break
		}
		j.earlyQueue[0] = nil
		j.earlyQueue = j.earlyQueue[1:]
		if !head.done {
			delete(j.early, head.o.DecisionID)
			j.stats.EarlyExpired++
		}
	}
	for len(j.recentQ) > 0 && j.recentQ[0].at < cutoff {
		j.forgetOldest()
	}
}

// popOldest removes the oldest pending decision: expired (default reward
// when configured) or dropped for the cap.
func (j *CompactJoiner) popOldest(expired bool, emit func(Match)) {
	for j.queue.len() > 0 {
		head := j.queue.at(j.queue.head)
		if head.key == 0 {
			j.queue.pop()
			continue
		}
		key, pos := head.key, unpackPos(head.pos)
		slot, _ := j.find(key) // before the pop: the table addresses live entries
		j.remove(slot)
		head.key = 0
		j.queue.pop()
		j.pending--
		if !expired {
			j.stats.DroppedPending++
			return
		}
		j.stats.Expired++
		if j.cfg.DefaultReward != nil {
			j.stats.ExpiredRewarded++
			j.remember(key)
			emit(Match{Pos: pos})
		}
		return
	}
}

// compact rewrites the queue without its joined entries when they
// dominate it, and re-indexes it.
func (j *CompactJoiner) compact() {
	n := j.queue.len()
	if n < 1<<chunkBits || n < 2*uint64(j.pending) {
		return
	}
	j.rebuild()
}

// rebuild rewrites the queue without its joined entries and re-indexes it.
func (j *CompactJoiner) rebuild() {
	old := j.queue
	j.queue = compactQueue{base: old.tail, head: old.tail, tail: old.tail}
	for seq := old.head; seq < old.tail; seq++ {
		if e := old.at(seq); e.key != 0 {
			j.queue.push(*e)
		}
		if seq-old.base == 1<<chunkBits-1 {
			old.chunks[0] = nil // release as we go
			old.chunks = old.chunks[1:]
			old.base += 1 << chunkBits
		}
	}
	j.resize(len(j.table))
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
	s := JoinState{StreamTime: j.streamTime}
	for _, e := range j.earlyQueue {
		if !e.done {
			s.Early = append(s.Early, EarlyOutcome{Outcome: e.o, Seen: e.seen})
		}
	}
	return s
}

// A slot of the table holds, in its seqBits low bits, the sequence of its
// queue entry modulo 2^seqBits-1, plus one (never 0), and in the bits
// above them a fingerprint of the entry's key: a probe compares the
// fingerprint and reads the queue entry (a cache miss in a large join)
// only when it matches. seqBitsFor gives the sequences the bits that a
// queue of a joiner capped at maxPending needs — the queue holds at most
// the pending decisions and as many joined ones, compact keeps it so —
// and the fingerprint the rest: 6 bits at the default 20 million,
// 12 at 200,000. A queue that reaches seqLimit is rebuilt first.
func seqBitsFor(maxPending int) uint {
	need := 2*uint64(maxPending) + 2<<chunkBits
	return min(max(uint(bits.Len64(need)), 20), 32)
}

func (j *CompactJoiner) seqMod() uint64 { return 1<<j.seqBits - 1 }

// seqLimit is the longest queue whose sequences the slots tell apart.
func (j *CompactJoiner) seqLimit() uint64 { return j.seqMod() - 1 }

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
	if cap(j.table) >= 1<<bits && len(j.table) == 1<<bits {
		clear(j.table)
	} else {
		j.table = nil // before the new one: the old is garbage while it is made
		j.table = make([]uint32, 1<<bits)
	}
	j.shift = 64 - bits
	for seq := j.queue.head; seq < j.queue.tail; seq++ {
		if e := j.queue.at(seq); e.key != 0 {
			slot, _ := j.find(e.key)
			j.table[slot] = j.slot(e.key, seq)
		}
	}
}
