package models

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// The late tier of the compact join. A decision stays in the queue (and
// its hash table) while the window of its early fields is open; when it
// closes, the decision moves to the late tier of its partition, where it
// waits for its late fields (LateFields) until the late window closes. The
// tier keeps no hash of the id: per offset of nba.decisions it keeps 2
// bytes (lateState), and per block of 128 offsets a time index of 32 bytes
// (lateBlock): about 2.25 bytes per decision, 234 MB for 7 days at 200
// decisions/s.
//
// An outcome part whose decision is not in the queue is looked up in the
// late tier by its decision id's time: situ's ids are UUIDv7, whose first
// 48 bits are the Unix milliseconds of the decision. The blocks whose ids'
// times can hold it give offset ranges; the caller reads those ranges of
// nba.decisions again and says at which offsets the message key is the id
// (LateReads, ResolveLate). Until then the part waits, and so does
// everything else the late tier would do in the meantime (a late window
// that closes, the cap): each is a placeholder Match (Match.Deferred),
// resolved in the order it came, so the matches are the same whichever
// way the stream is cut into rounds.

const (
	// lateBlockBits sizes the time index's blocks: 128 offsets.
	lateBlockBits = 7
	// lateStateChunkBits and lateBlockChunkBits size the chunks of the
	// tier's arrays (128 KiB each), allocated and released whole.
	lateStateChunkBits = 16
	lateBlockChunkBits = 12
)

// lateState is what the late tier holds of one offset: bit 15 set while
// the decision there waits for its late fields, bit 14 once any part
// came, and per late field 7 bits (recontact_7d in bits 0–6, churned in
// 7–13): 0 when no value was applied, else 1 plus the value's occurred_at
// in lateTick units after the base of the offset's block.
type lateState = uint16

const (
	lateLive lateState = 1 << 15
	lateHad  lateState = 1 << 14
	// lateTicks is the most ticks a late field's time takes (1 to 127).
	lateTicks = 127
)

// lateFieldShift is where field f's ticks sit in a lateState.
func lateFieldShift(f OutcomeField) uint {
	if f == FieldChurned {
		return 7
	}
	return 0
}

func lateTickOf(s lateState, f OutcomeField) lateState {
	return s >> lateFieldShift(f) & lateTicks
}

func withLateTick(s lateState, f OutcomeField, at lateState) lateState {
	sh := lateFieldShift(f)
	return s&^(lateTicks<<sh) | at<<sh
}

// lateBlock is the time index of one block of 128 offsets of a partition.
type lateBlock struct {
	// idMin is the earliest UUIDv7 time (Unix ms) of the ids read at the
	// block's offsets (MaxInt64: none); idMax the latest of this block and
	// every block before it (so it only grows along the blocks).
	idMin, idMax int64
	// base is the decision time (Unix ms) of the first decision read in
	// the block (MinInt64: none yet): the late fields' ticks count from it.
	base int64
	// moved is the latest decision time (Unix ms) of the block's decisions
	// in the late tier (MinInt64: none): they leave it together once
	// stream time is a late window past it.
	moved int64
}

// storedSeq is an array indexed from first on, made of chunks of 2^bits
// values from a joinStorage: it grows at its end and is released from
// its start, a chunk at a time.
type storedSeq[T storable] struct {
	chunks [][]T
	first  int64 // index of chunks[0][0], a multiple of 2^bits
	bits   uint
}

func (s *storedSeq[T]) get(i int64) *T {
	if i < s.first {
		return nil
	}
	k := (i - s.first) >> s.bits
	if k >= int64(len(s.chunks)) {
		return nil
	}
	return &s.chunks[k][i&(1<<s.bits-1)]
}

// ensure returns the value at i, making the chunks up to it; nil when i
// is before the array's start.
func (s *storedSeq[T]) ensure(st *joinStorage, i int64) *T {
	if len(s.chunks) == 0 {
		s.first = i &^ (1<<s.bits - 1)
	}
	if i < s.first {
		return nil
	}
	for (i-s.first)>>s.bits >= int64(len(s.chunks)) {
		s.chunks = append(s.chunks, makeStored[T](st, 1<<s.bits))
	}
	return s.get(i)
}

// releaseBefore releases the chunks wholly before i.
func (s *storedSeq[T]) releaseBefore(st *joinStorage, i int64) {
	for len(s.chunks) > 0 && s.first+1<<s.bits <= i {
		freeStored(st, s.chunks[0])
		s.chunks[0] = nil
		s.chunks = s.chunks[1:]
		s.first += 1 << s.bits
	}
	if len(s.chunks) == 0 {
		s.chunks = nil
	}
}

func (s *storedSeq[T]) bytes(size int64) int64 { return int64(len(s.chunks)) << s.bits * size }

// latePartition is the late tier of one partition: the states of the
// offsets [closedTo, end) and the time index of their blocks and of the
// blocks of the decisions read after them.
type latePartition struct {
	p      int32
	states storedSeq[lateState]
	blocks storedSeq[lateBlock]
	// closedTo is the first offset whose late window has not closed;
	// closing, at or after it, the first whose closing is not under way
	// (a deferred close moves closedTo to it when resolved)
	closedTo, closing int64
	// end is the offset after the last decision moved in
	end int64
	// lastBlock is the last block of the index made, -1 before any
	lastBlock int64
	// disorder is how far (ms) a block's earliest id time came before the
	// latest of the blocks before it: a lookup scans that far on
	disorder int64
	// gaps are the offsets in [closedTo, end) that never held a decision
	// of the tier, in order (a restore marks the others live)
	gaps []offRange
	// closedIDs is the latest id time (Unix ms) among the blocks whose
	// late window closed: an id no later than it, not found in the tier,
	// came after its window
	closedIDs int64
	live      int
}

// offRange is the offsets [from, to) of partition p.
type offRange struct {
	p        int32
	from, to int64
}

// lateLookup is an outcome part waiting for the re-read of its ranges.
type lateLookup struct {
	o      Outcome
	ranges []offRange
	replay bool // of a restore: brings the state up to date, matches nothing
}

// lateEvent is one deferred step of the late tier: a lookup (lookup ≥ 0)
// or the closing of offsets [from, to) of a partition (for its window, or
// the cap: drop).
type lateEvent struct {
	lookup   int
	p        int32
	from, to int64
	drop     bool
}

// latePart returns the late tier of partition p, made when create.
func (j *CompactJoiner) latePart(p int32, create bool) *latePartition {
	if p < 0 {
		return nil
	}
	if int(p) < len(j.late) && j.late[p] != nil {
		return j.late[p]
	}
	if !create {
		return nil
	}
	if int(p) >= len(j.late) {
		j.late = append(j.late, make([]*latePartition, int(p)+1-len(j.late))...)
	}
	lp := &latePartition{p: p, lastBlock: -1, closedTo: -1, closedIDs: math.MinInt64,
		states: storedSeq[lateState]{bits: lateStateChunkBits}, blocks: storedSeq[lateBlock]{bits: lateBlockChunkBits}}
	j.late[p] = lp
	return lp
}

// block returns the index block of offset off, making the blocks up to
// it; nil for an offset before the index.
func (j *CompactJoiner) block(lp *latePartition, off int64) *lateBlock {
	b := off >> lateBlockBits
	for lp.lastBlock < b {
		prev := int64(math.MinInt64)
		if lp.lastBlock >= 0 {
			if pb := lp.blocks.get(lp.lastBlock); pb != nil {
				prev = pb.idMax
			}
			lp.lastBlock++
		} else {
			lp.lastBlock = b
		}
		nb := lp.blocks.ensure(j.store, lp.lastBlock)
		if nb == nil {
			return nil
		}
		*nb = lateBlock{idMin: math.MaxInt64, idMax: prev, base: math.MinInt64, moved: math.MinInt64}
	}
	return lp.blocks.get(b)
}

// indexDecision records in the time index the decision of id and time t
// (Unix ns) read at pos.
func (j *CompactJoiner) indexDecision(pos DecisionPos, id string, t int64) {
	lp := j.latePart(pos.Partition, true)
	if lp.closedTo < 0 {
		lp.closedTo, lp.closing, lp.end = pos.Offset, pos.Offset, pos.Offset
	}
	blk := j.block(lp, pos.Offset)
	if blk == nil {
		return
	}
	if blk.base == math.MinInt64 {
		blk.base = t / int64(time.Millisecond)
	}
	ms, version, ok := parseUUID(id)
	if !ok || version != 7 {
		return
	}
	blk.idMin = min(blk.idMin, ms)
	blk.idMax = max(blk.idMax, ms)
	if b := pos.Offset >> lateBlockBits; b > lp.blocks.first {
		if pb := lp.blocks.get(b - 1); pb != nil && pb.idMax-ms > lp.disorder {
			lp.disorder = pb.idMax - ms
		}
	}
}

// IndexDecision records a decision read again by a restore that it does
// not add (joined or closed before the checkpoint) in the late tier's
// time index, as AddDecision did when it was first read.
func (j *CompactJoiner) IndexDecision(pos DecisionPos, id string, t time.Time) {
	j.indexDecision(pos, id, t.UnixNano())
}

// lateBase returns the base of the block of pos (Unix ms), which the
// late fields' ticks count from; t (Unix ns) when it has none.
func (j *CompactJoiner) lateBase(pos DecisionPos, t int64) int64 {
	if lp := j.latePart(pos.Partition, false); lp != nil {
		if b := lp.blocks.get(pos.Offset >> lateBlockBits); b != nil && b.base != math.MinInt64 {
			return b.base
		}
	}
	return t / int64(time.Millisecond)
}

// lateTick returns the tick of occurred_at occ (Unix ns) after base (Unix
// ms): 1 to lateTicks.
func (j *CompactJoiner) lateTick(occ, base int64) lateState {
	rel := (occ - base*int64(time.Millisecond)) / int64(j.lateTickSize)
	return lateState(max(min(rel, lateTicks-1), 0)) + 1
}

// LateTick is the resolution at which the late tier compares two values
// of one late field: two values within it of each other are ordered by
// arrival, the first applied. It is the late window over 112, rounded up
// to the second (90 minutes for 7 days).
func (j *CompactJoiner) LateTick() time.Duration { return j.lateTickSize }

func lateTickFor(lateWindow time.Duration) time.Duration {
	t := (lateWindow + 111) / 112
	return max(t.Round(time.Second), time.Second)
}

// moveLate moves the decision at seq, whose early window just closed,
// from the queue to the late tier of its partition.
func (j *CompactJoiner) moveLate(seq uint64, emit func(Match)) {
	e := j.queue.at(seq)
	key, pos, t := e.key, unpackPos(e.pos), j.queue.time(seq)
	rec, had := *j.queue.rec(seq), j.queue.had(seq)
	slot, _ := j.find(key)
	j.remove(slot)
	e.key = 0
	j.pending--
	j.remember(key)
	lp := j.latePart(pos.Partition, true)
	if lp.closedTo < 0 {
		lp.closedTo, lp.closing, lp.end = pos.Offset, pos.Offset, pos.Offset
	}
	if pos.Offset < lp.end {
		j.stats.DroppedLate++ // out of offset order: never in a partition of Kafka
		return
	}
	blk := j.block(lp, pos.Offset)
	st := lp.states.ensure(j.store, pos.Offset)
	if blk == nil || st == nil {
		j.stats.DroppedLate++
		return
	}
	ms := t / int64(time.Millisecond)
	if blk.base == math.MinInt64 {
		blk.base = ms
	}
	s := lateLive
	if had {
		s |= lateHad
	}
	for _, f := range [...]OutcomeField{FieldRecontact7d, FieldChurned} {
		s = withLateTick(s, f, lateState(min(rec.at[f], lateTicks))) // in late ticks already
	}
	*st = s
	if pos.Offset > lp.end {
		lp.gaps = append(lp.gaps, offRange{p: pos.Partition, from: lp.end, to: pos.Offset})
	}
	j.lateSpan += pos.Offset + 1 - lp.end
	lp.end = pos.Offset + 1
	blk.moved = max(blk.moved, ms)
	lp.live++
	j.lateLive++
	for j.lateSpan > int64(j.cfg.MaxLate) {
		j.dropLate(emit)
	}
}

// dropLate closes, for the cap, the oldest block of the late tier.
func (j *CompactJoiner) dropLate(emit func(Match)) {
	var oldest *latePartition
	var at int64
	for _, lp := range j.late {
		if lp == nil || lp.closing >= lp.end {
			continue
		}
		if b := lp.blocks.get(lp.closing >> lateBlockBits); b != nil && (oldest == nil || b.base < at) {
			oldest, at = lp, b.base
		}
	}
	if oldest == nil {
		j.lateSpan = 0
		return
	}
	j.closeLate(oldest, true, emit)
}

// closeLate closes the offsets from lp.closing to the end of its block
// (or of the tier): their late window closed, or (drop) the cap needs
// room. While lookups wait, the closing waits behind them (a placeholder).
func (j *CompactJoiner) closeLate(lp *latePartition, drop bool, emit func(Match)) {
	from := lp.closing
	to := min((from>>lateBlockBits+1)<<lateBlockBits, lp.end)
	lp.closing = to
	j.lateSpan -= to - from
	if b := lp.blocks.get(from >> lateBlockBits); b != nil {
		b.moved = math.MinInt64
	}
	ev := lateEvent{lookup: -1, p: lp.p, from: from, to: to, drop: drop}
	if len(j.lookups) > 0 {
		j.events = append(j.events, ev)
		emit(Match{Deferred: len(j.events)})
		return
	}
	j.applyClose(ev, emit)
	j.releaseLate(lp)
}

// applyClose closes the offsets of ev: with a default reward, each
// decision there learns the late fields no part reported as zero.
func (j *CompactJoiner) applyClose(ev lateEvent, emit func(Match)) {
	lp := j.late[ev.p]
	for off := ev.from; off < ev.to; off++ {
		st := lp.states.get(off)
		if st == nil || *st&lateLive == 0 {
			continue
		}
		s := *st
		*st = 0
		lp.live--
		j.lateLive--
		if ev.drop {
			j.stats.DroppedLate++
			continue
		}
		j.stats.Closed++
		if j.cfg.DefaultReward == nil {
			continue
		}
		var missing OutcomeFields
		for _, f := range [...]OutcomeField{FieldRecontact7d, FieldChurned} {
			if lateTickOf(s, f) == 0 {
				missing = missing.With(f)
			}
		}
		if missing != 0 {
			emit(Match{Pos: DecisionPos{Partition: ev.p, Offset: off}, Fields: missing})
		}
	}
	if b := lp.blocks.get(ev.from >> lateBlockBits); b != nil {
		lp.closedIDs = max(lp.closedIDs, b.idMax)
	}
	lp.closedTo = max(lp.closedTo, ev.to)
}

// releaseLate returns the chunks before lp's closed offsets.
func (j *CompactJoiner) releaseLate(lp *latePartition) {
	lp.states.releaseBefore(j.store, lp.closedTo)
	lp.blocks.releaseBefore(j.store, lp.closedTo>>lateBlockBits)
	for len(lp.gaps) > 0 && lp.gaps[0].to <= lp.closedTo {
		lp.gaps = lp.gaps[1:]
	}
}

// expireLate closes the late windows stream time has passed, block by
// block: a block's decisions leave together, a late window after the
// latest of them.
func (j *CompactJoiner) expireLate(emit func(Match)) {
	cutoff := j.streamTime.Add(-j.cfg.LateWindow).UnixNano() / int64(time.Millisecond)
	for _, lp := range j.late {
		if lp == nil {
			continue
		}
		for lp.closing < lp.end {
			b := lp.blocks.get(lp.closing >> lateBlockBits)
			if b != nil && b.moved >= cutoff {
				break
			}
			j.closeLate(lp, false, emit)
		}
	}
}

// lateCandidates returns the offset ranges of partition p (every
// partition when p < 0) whose blocks can hold a decision id of time ms.
func (j *CompactJoiner) lateCandidates(p int32, ms int64) []offRange {
	var out []offRange
	for _, lp := range j.late {
		if lp == nil || (p >= 0 && lp.p != p) || lp.closing >= lp.end {
			continue
		}
		b0, b1 := lp.closing>>lateBlockBits, (lp.end-1)>>lateBlockBits
		// the first block whose running latest id time reaches ms
		lo, hi := b0, b1+1
		for lo < hi {
			mid := lo + (hi-lo)/2
			if lp.blocks.get(mid).idMax < ms {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		for b := lo; b <= b1; b++ {
			blk := lp.blocks.get(b)
			if b > lo && lp.blocks.get(b-1).idMax > ms+lp.disorder {
				break // no later block has an id that early
			}
			if blk.idMin > ms {
				continue
			}
			from, to := max(b<<lateBlockBits, lp.closing), min((b+1)<<lateBlockBits, lp.end)
			if k := len(out) - 1; k >= 0 && out[k].p == lp.p && out[k].to == from {
				out[k].to = to
				continue
			}
			out = append(out, offRange{p: lp.p, from: from, to: to})
		}
	}
	return out
}

// lookupLate takes part o of a decision that is not in the queue: when
// the late tier can hold its decision, it waits for the re-read
// (a placeholder for emit), and lookupLate reports true.
func (j *CompactJoiner) lookupLate(p int32, o *Outcome, replay bool, emit func(Match)) bool {
	if !replay && o.Held()&LateFields == 0 && j.cfg.DefaultReward != nil {
		return false // nothing it holds can be applied, and it cannot be a first part
	}
	ms, version, ok := parseUUID(o.DecisionID)
	if !ok || version != 7 {
		return false
	}
	ranges := j.lateCandidates(p, ms)
	if len(ranges) == 0 {
		return false
	}
	j.lookups = append(j.lookups, lateLookup{o: *o, ranges: ranges, replay: replay})
	j.events = append(j.events, lateEvent{lookup: len(j.lookups) - 1})
	if !replay {
		j.stats.LateLookups++
		emit(Match{Deferred: len(j.events)})
	}
	return true
}

// afterLateWindow reports whether a decision id (not found) is of a time
// no later than the decisions whose late window closed in partition p.
func (j *CompactJoiner) afterLateWindow(p int32, id string) bool {
	ms, version, ok := parseUUID(id)
	if !ok || version != 7 {
		return false
	}
	for _, lp := range j.late {
		if lp != nil && (p < 0 || lp.p == p) && lp.closedIDs != math.MinInt64 && ms <= lp.closedIDs {
			return true
		}
	}
	return false
}

// LateRead is what the late tier needs read again in one partition of
// nba.decisions: the offsets [From, To) of Ranges, in order, and the
// decision ids to find there by message key.
type LateRead struct {
	Ranges [][2]int64
	IDs    map[string]struct{}
}

// LateLookups reports whether outcome parts wait for a re-read
// (LateReads, then ResolveLate).
func (j *CompactJoiner) LateLookups() bool { return len(j.events) > 0 }

// LateReads returns, per partition, the offsets of nba.decisions to read
// again and the ids to find there, for the parts waiting in the late tier.
func (j *CompactJoiner) LateReads() map[int32]*LateRead {
	out := map[int32]*LateRead{}
	for _, l := range j.lookups {
		for _, r := range l.ranges {
			lr := out[r.p]
			if lr == nil {
				lr = &LateRead{IDs: map[string]struct{}{}}
				out[r.p] = lr
			}
			lr.IDs[l.o.DecisionID] = struct{}{}
			lr.Ranges = append(lr.Ranges, [2]int64{r.from, r.to})
		}
	}
	for _, lr := range out {
		slices.SortFunc(lr.Ranges, func(a, b [2]int64) int { return int(a[0] - b[0]) })
		merged := lr.Ranges[:0]
		for _, r := range lr.Ranges {
			if k := len(merged) - 1; k >= 0 && r[0] <= merged[k][1] {
				merged[k][1] = max(merged[k][1], r[1])
				continue
			}
			merged = append(merged, r)
		}
		lr.Ranges = merged
	}
	return out
}

// ResolveLate resolves what waited for the re-read, in the order it came:
// find returns the offsets of partition p, ascending, whose message key
// is id (among the ranges LateReads gave). It returns, for each
// placeholder Match (Deferred k), the matches it stands for at index
// k-1: none, one for a part, or those of closed late windows.
func (j *CompactJoiner) ResolveLate(find func(p int32, id string) []int64) [][]Match {
	out := make([][]Match, len(j.events))
	for i, ev := range j.events {
		emit := func(m Match) { out[i] = append(out[i], m) }
		if ev.lookup < 0 {
			j.applyClose(ev, emit)
			continue
		}
		l := &j.lookups[ev.lookup]
		j.resolveLookup(l, find, emit)
	}
	clear(j.lookups)
	j.lookups = j.lookups[:0]
	j.events = j.events[:0]
	for _, lp := range j.late {
		if lp != nil {
			j.releaseLate(lp)
		}
	}
	return out
}

func (j *CompactJoiner) resolveLookup(l *lateLookup, find func(p int32, id string) []int64, emit func(Match)) {
	closed := false
	var seen []int32
	for _, r := range l.ranges {
		if slices.Contains(seen, r.p) {
			continue
		}
		seen = append(seen, r.p)
		lp := j.late[r.p]
		for _, off := range find(r.p, l.o.DecisionID) {
			if !inOffRanges(l.ranges, r.p, off) {
				continue
			}
			st := lp.states.get(off)
			if st == nil || *st&lateLive == 0 {
				closed = closed || off < lp.closedTo
				continue
			}
			if l.replay {
				j.applyLate(lp, off, &l.o)
				return
			}
			j.stats.LateFound++
			fields, first, res := j.applyLate(lp, off, &l.o)
			pos := DecisionPos{Partition: r.p, Offset: off}
			switch res {
			case partMatchedStale:
				j.stats.Stale++
				fallthrough
			case partMatched:
				j.stats.Joined++
				o := l.o // the lookups are cleared once resolved
				emit(Match{Pos: pos, Outcome: &o, Fields: fields, First: first})
			case partDuplicate:
				j.stats.Duplicates++
			case partStale:
				j.stats.Stale++
			case partLate:
				j.stats.Late++
			}
			return
		}
	}
	switch {
	case l.replay:
	case closed:
		j.stats.Late++
	default:
		j.stats.LateNotFound++
	}
}

func inOffRanges(rs []offRange, p int32, off int64) bool {
	for _, r := range rs {
		if r.p == p && r.from <= off && off < r.to {
			return true
		}
	}
	return false
}

// applyLate applies part o to the late state at off, as record does in
// the queue once the early window closed: only its late fields, each
// when its occurred_at (at lateTick resolution) is later than the value
// applied before.
func (j *CompactJoiner) applyLate(lp *latePartition, off int64, o *Outcome) (fields OutcomeFields, first bool, res partResult) {
	st := lp.states.get(off)
	s := *st
	held := o.Held() & LateFields
	at := j.lateTick(o.OccurredAt.UnixNano(), lp.blocks.get(off>>lateBlockBits).base)
	same := true
	for _, f := range [...]OutcomeField{FieldRecontact7d, FieldChurned} {
		if !held.Has(f) {
			continue
		}
		switch cur := lateTickOf(s, f); {
		case cur == 0 || at > cur:
			fields = fields.With(f)
			s = withLateTick(s, f, at)
		case at < cur:
			same = false
		}
	}
	first = s&lateHad == 0 && j.cfg.DefaultReward == nil
	*st = s | lateHad
	return partOutcome(fields, held, o.Held(), first, same)
}

// LateDecisions returns the number of decisions in the late tier.
func (j *CompactJoiner) LateDecisions() int { return j.lateLive }

// LateStorageBytes returns the bytes of the late tier's arrays (part of
// StorageBytes).
func (j *CompactJoiner) LateStorageBytes() int64 {
	var n int64
	for _, lp := range j.late {
		if lp != nil {
			n += lp.states.bytes(2) + lp.blocks.bytes(32)
		}
	}
	return n
}

// MaxLate returns the cap on the late tier's offsets.
func (j *CompactJoiner) MaxLate() int { return j.cfg.MaxLate }

// OldestLate returns about the time of the oldest decision in the late
// tier (the base of its block), and false when it is empty.
func (j *CompactJoiner) OldestLate() (time.Time, bool) {
	oldest, ok := int64(math.MaxInt64), false
	for _, lp := range j.late {
		if lp == nil || lp.live == 0 {
			continue
		}
		if b := lp.blocks.get(lp.closedTo >> lateBlockBits); b != nil && b.base != math.MinInt64 {
			oldest, ok = min(oldest, b.base), true
		}
	}
	return time.UnixMilli(oldest), ok
}

// LateRegion is the late tier of one partition, as a checkpoint keeps it:
// the offsets [From, End) but its Gaps (run-length: the offsets holding
// no decision of the tier, nearly none) wait for their late fields.
// The late state of each (which late fields came, and when) is not in
// it: a restore reads the outcomes of the late window again
// (ReplayOutcomeFrom).
type LateRegion struct {
	Partition int32      `json:"partition"`
	From      int64      `json:"from"`
	End       int64      `json:"end"`
	Gaps      [][2]int64 `json:"gaps,omitempty"`
	// ClosedIDs is the latest id time (Unix ms) of the decisions whose
	// late window closed; absent: none closed.
	ClosedIDs int64 `json:"closed_ids_ms,omitzero"`
}

// LateRegions returns the late tier of every partition, by partition.
func (j *CompactJoiner) LateRegions() []LateRegion {
	var out []LateRegion
	for _, lp := range j.late {
		if lp == nil || lp.closedTo < 0 {
			continue
		}
		r := LateRegion{Partition: lp.p, From: lp.closedTo, End: lp.end}
		if lp.closedIDs != math.MinInt64 {
			r.ClosedIDs = lp.closedIDs
		}
		for _, g := range lp.gaps {
			if g.to > lp.closedTo {
				r.Gaps = append(r.Gaps, [2]int64{max(g.from, lp.closedTo), g.to})
			}
		}
		out = append(out, r)
	}
	return out
}

// restoreLate sets up the late tier of the regions of a checkpoint; the
// decisions then read again from each region's block (RestoreLateFrom)
// go to RestoreLateDecision.
func (j *CompactJoiner) restoreLate(regions []LateRegion) {
	for _, r := range regions {
		lp := j.latePart(r.Partition, true)
		lp.closedTo, lp.closing, lp.end = r.From, r.From, r.End
		if r.ClosedIDs != 0 {
			lp.closedIDs = r.ClosedIDs
		}
		for _, g := range r.Gaps {
			lp.gaps = append(lp.gaps, offRange{p: r.Partition, from: g[0], to: g[1]})
		}
		j.lateSpan += r.End - r.From
	}
}

// LateBlockStart returns the first offset of off's block of the late
// tier's time index.
func LateBlockStart(off int64) int64 { return off &^ (1<<lateBlockBits - 1) }

// RestoreLateFrom returns the offset of partition p from which a restore
// reads nba.decisions again to rebuild the late tier: the start of the
// block of its first offset; false when the checkpoint had no late tier
// there.
func (j *CompactJoiner) RestoreLateFrom(p int32) (int64, bool) {
	lp := j.latePart(p, false)
	if lp == nil || lp.closedTo < 0 {
		return 0, false
	}
	return lp.closedTo &^ (1<<lateBlockBits - 1), true
}

// InLateRegion reports whether offset off of partition p is before the
// end of the late tier the checkpoint restored: such a decision goes to
// RestoreLateDecision, not AddDecision.
func (j *CompactJoiner) InLateRegion(p int32, off int64) bool {
	lp := j.latePart(p, false)
	return lp != nil && off < lp.end && lp.closedTo >= 0
}

// RestoreLateDecision takes a decision of id and time t read again at pos,
// before the end of its partition's late tier (in offset order): it goes
// to the time index and, when the checkpoint had it waiting there, into
// the late tier, its late state empty until the outcomes are replayed.
func (j *CompactJoiner) RestoreLateDecision(pos DecisionPos, id string, t time.Time) {
	j.indexDecision(pos, id, t.UnixNano())
	lp := j.latePart(pos.Partition, false)
	off := pos.Offset
	if lp == nil || off < lp.closedTo || off >= lp.end || inOffRanges(lp.gaps, pos.Partition, off) {
		return
	}
	st := lp.states.ensure(j.store, off)
	blk := lp.blocks.get(off >> lateBlockBits)
	if st == nil || blk == nil || *st&lateLive != 0 {
		return
	}
	*st = lateLive
	blk.moved = max(blk.moved, t.UnixNano()/int64(time.Millisecond))
	lp.live++
	j.lateLive++
}

// LateTierCopy is the late tier of one partition as a copy of the join
// (the learner's join snapshot) keeps it: its region, its time index's
// blocks [FirstBlock, FirstBlock+len) and the states of [ClosedTo, End).
type LateTierCopy struct {
	Partition  int32
	ClosedTo   int64
	End        int64
	Disorder   int64
	ClosedIDs  int64 // 0: none closed
	FirstBlock int64
	Blocks     int64
	Gaps       [][2]int64
}

// LateBlockCopy is one block of a late tier's time index: its ids'
// earliest time, the latest up to it (Unix ms), the time of its first
// decision and the latest of its decisions in the tier (Unix ms;
// math.MinInt64: none).
type LateBlockCopy struct{ IDMin, IDMax, Base, Moved int64 }

// LateTiers calls fn with every partition's late tier, by partition, and
// with functions that give its blocks and its states (bit 15: waiting,
// 14: a part came, 0–6 and 7–13: recontact_7d's and churned's ticks).
func (j *CompactJoiner) LateTiers(fn func(h LateTierCopy, block func(b int64) LateBlockCopy, state func(off int64) uint16) error) error {
	for _, lp := range j.late {
		if lp == nil || lp.closedTo < 0 {
			continue
		}
		h := LateTierCopy{Partition: lp.p, ClosedTo: lp.closedTo, End: lp.end, Disorder: lp.disorder}
		if lp.closedIDs != math.MinInt64 {
			h.ClosedIDs = lp.closedIDs
		}
		if lp.lastBlock >= 0 {
			h.FirstBlock = max(lp.closedTo>>lateBlockBits, lp.blocks.first)
			h.Blocks = lp.lastBlock + 1 - h.FirstBlock
		}
		for _, g := range lp.gaps {
			if g.to > lp.closedTo {
				h.Gaps = append(h.Gaps, [2]int64{max(g.from, lp.closedTo), g.to})
			}
		}
		block := func(b int64) LateBlockCopy {
			if x := lp.blocks.get(b); x != nil {
				return LateBlockCopy{x.idMin, x.idMax, x.base, x.moved}
			}
			return LateBlockCopy{math.MaxInt64, math.MinInt64, math.MinInt64, math.MinInt64}
		}
		state := func(off int64) uint16 {
			if s := lp.states.get(off); s != nil {
				return *s
			}
			return 0
		}
		if err := fn(h, block, state); err != nil {
			return err
		}
	}
	return nil
}

// AddLateTier adds back a partition's late tier LateTiers gave, to a join
// restored from a checkpoint at or after the copy (its State's Late):
// what closed between the copy and the checkpoint stays closed, without
// matching anything. block and state are called for each block and each
// state of h, in order. It must come before the pending entries
// (AddPendingEntry, RestoreLateEntry) and any decision.
func (j *CompactJoiner) AddLateTier(h LateTierCopy, block func() (LateBlockCopy, error), state func() (uint16, error)) error {
	lp := j.latePart(h.Partition, true)
	closedTo := h.ClosedTo
	if lp.closedTo < 0 { // the checkpoint has no late tier there
		lp.closedTo, lp.closing, lp.end = h.ClosedTo, h.ClosedTo, h.End
		lp.closedIDs = math.MinInt64
		if h.ClosedIDs != 0 {
			lp.closedIDs = h.ClosedIDs
		}
		for _, g := range h.Gaps {
			lp.gaps = append(lp.gaps, offRange{p: h.Partition, from: g[0], to: g[1]})
		}
		j.lateSpan += h.End - h.ClosedTo
	}
	closedTo = max(closedTo, lp.closedTo)
	lp.disorder = h.Disorder
	for b := h.FirstBlock; b < h.FirstBlock+h.Blocks; b++ {
		v, err := block()
		if err != nil {
			return err
		}
		if b < closedTo>>lateBlockBits {
			continue
		}
		x := lp.blocks.ensure(j.store, b)
		if x == nil {
			return fmt.Errorf("late tier of partition %d: block %d out of order", h.Partition, b)
		}
		*x = lateBlock{idMin: v.IDMin, idMax: v.IDMax, base: v.Base, moved: v.Moved}
		lp.lastBlock = b
	}
	for off := h.ClosedTo; off < h.End; off++ {
		s, err := state()
		if err != nil {
			return err
		}
		if off < closedTo || s&lateLive == 0 || off >= lp.end || inOffRanges(lp.gaps, h.Partition, off) {
			continue
		}
		st := lp.states.ensure(j.store, off)
		if st == nil {
			return fmt.Errorf("late tier of partition %d: offset %d out of order", h.Partition, off)
		}
		*st = s
		lp.live++
		j.lateLive++
	}
	return nil
}

// RestoreLateEntry takes a pending entry of a copy of the join whose
// decision the checkpoint since restored has in its late tier (its early
// window closed between the copy and the checkpoint): it moves there with
// what its part record holds of the late fields, and RestoreLateEntry
// reports true. It reports false for an entry that goes to
// AddPendingEntry.
func (j *CompactJoiner) RestoreLateEntry(e PendingEntry) bool {
	lp := j.latePart(e.Pos.Partition, false)
	off := e.Pos.Offset
	if lp == nil || lp.closedTo < 0 || off >= lp.end {
		return false
	}
	if off < lp.closedTo || inOffRanges(lp.gaps, e.Pos.Partition, off) {
		return true // closed, or dropped, before the checkpoint
	}
	blk := j.block(lp, off)
	st := lp.states.ensure(j.store, off)
	if blk == nil || st == nil || *st&lateLive != 0 {
		return true
	}
	ms := e.Time / int64(time.Millisecond)
	if blk.base == math.MinInt64 {
		blk.base = ms
	}
	s := lateLive
	if e.Parts.Had {
		s |= lateHad
	}
	for _, f := range [...]OutcomeField{FieldRecontact7d, FieldChurned} {
		if e.Parts.Applied.Has(f) {
			s = withLateTick(s, f, lateState(min(e.Parts.At[f]+1, lateTicks)))
		}
	}
	*st = s
	blk.moved = max(blk.moved, ms)
	lp.live++
	j.lateLive++
	return true
}
