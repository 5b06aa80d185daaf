package feedback

import (
	"slices"

	"situ/models"
)

// recentDecisionsBytes bounds the learner's cache of the decision events
// it read last: an outcome that comes soon after its decision, as in a
// backlog, then needs no second read.
const recentDecisionsBytes = 32 << 20

// recentDecisions keeps the values of the decisions read last, oldest
// out first, up to a number of bytes. It only saves reads: a decision not
// in it is read again from the topic, with the same bytes.
//
// The values are copied into one ring of bytes, and each partition's
// entries are kept in offset order, so that adding a decision (every
// decision the learner reads, millions in a restore) allocates nothing
// and finding one is a binary search. Each partition's decisions must be
// added in increasing offset order, as the learner reads them.
type recentDecisions struct {
	buf   []byte // the ring, allocated on first use
	limit int
	next  int64 // ring position (ever growing) of the next value
	parts map[int32]*recentPartition
	order []int32 // partition of each entry, oldest first, from head
	head  int
	last  *recentPartition // of the last add: most adds follow the one before
}

// recentPartition is one partition's entries, oldest first, from head.
type recentPartition struct {
	id      int32
	entries []recentEntry
	head    int
}

// recentEntry is a value of n bytes at ring position at.
type recentEntry struct {
	offset int64
	at     int64
	n      int
}

func newRecentDecisions(limit int) *recentDecisions {
	return &recentDecisions{limit: limit, parts: map[int32]*recentPartition{}}
}

// add keeps a copy of v, the value of the decision at pos; it forgets
// the oldest values to make room, and ignores a pos not after the last
// one added in its partition.
func (r *recentDecisions) add(pos models.DecisionPos, v []byte) {
	if len(v) > r.limit/4 {
		return
	}
	p := r.last
	if p == nil || p.id != pos.Partition {
		if p = r.parts[pos.Partition]; p == nil {
			p = &recentPartition{id: pos.Partition}
			r.parts[pos.Partition] = p
		}
		r.last = p
	}
	if n := len(p.entries); n > p.head && p.entries[n-1].offset >= pos.Offset {
		return
	}
	if r.buf == nil {
		r.buf = make([]byte, r.limit)
	}
	at := r.next
	if i := int(at % int64(r.limit)); i+len(v) > r.limit {
		at += int64(r.limit - i) // the value does not fit before the ring's end: start it over
	}
	r.next = at + int64(len(v))
	for r.head < len(r.order) {
		q := r.parts[r.order[r.head]]
		if q.entries[q.head].at >= r.next-int64(r.limit) {
			break
		}
		q.forgetOldest()
		r.head++
	}
	i := int(at % int64(r.limit))
	copy(r.buf[i:i+len(v)], v)
	p.entries = append(p.entries, recentEntry{offset: pos.Offset, at: at, n: len(v)})
	r.order = append(r.order, pos.Partition)
	if r.head > len(r.order)/2 && r.head >= 1024 {
		r.order = r.order[:copy(r.order, r.order[r.head:])]
		r.head = 0
	}
}

// held returns how many bytes of the ring have been written, up to its
// size: the ring is allocated whole on first use, and its pages are
// touched, so resident, as it fills.
func (r *recentDecisions) held() int {
	return int(min(r.next, int64(r.limit)))
}

func (p *recentPartition) forgetOldest() {
	p.head++
	if p.head > len(p.entries)/2 && p.head >= 1024 {
		p.entries = p.entries[:copy(p.entries, p.entries[p.head:])]
		p.head = 0
	}
}

// get returns the value of the decision at pos, if it is kept. The slice
// is the cache's own: it is valid until the next add.
func (r *recentDecisions) get(pos models.DecisionPos) ([]byte, bool) {
	p := r.parts[pos.Partition]
	if p == nil {
		return nil, false
	}
	live := p.entries[p.head:]
	k, found := slices.BinarySearchFunc(live, pos.Offset, func(e recentEntry, off int64) int {
		switch {
		case e.offset < off:
			return -1
		case e.offset > off:
			return 1
		}
		return 0
	})
	if !found {
		return nil, false
	}
	e := live[k]
	i := int(e.at % int64(r.limit))
	return r.buf[i : i+e.n : i+e.n], true
}
