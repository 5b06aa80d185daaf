package feedback

import "situ/models"

// recentDecisionsBytes bounds the learner's cache of the decision events
// it read last: an outcome that comes soon after its decision, as in a
// backlog, then needs no second read.
const recentDecisionsBytes = 32 << 20

// recentDecisions keeps the values of the decisions read last, oldest
// out first, up to a number of bytes. It only saves reads: a decision not
// in it is read again from the topic, with the same bytes.
type recentDecisions struct {
	values map[models.DecisionPos][]byte
	order  []models.DecisionPos
	bytes  int
	limit  int
}

func newRecentDecisions(limit int) *recentDecisions {
	return &recentDecisions{values: map[models.DecisionPos][]byte{}, limit: limit}
}

func (r *recentDecisions) add(pos models.DecisionPos, v []byte) {
	if _, ok := r.values[pos]; ok || len(v) > r.limit {
		return
	}
	r.values[pos] = v
	r.order = append(r.order, pos)
	r.bytes += len(v)
	for r.bytes > r.limit {
		old := r.order[0]
		r.order = r.order[1:]
		r.bytes -= len(r.values[old])
		delete(r.values, old)
	}
}

func (r *recentDecisions) get(pos models.DecisionPos) ([]byte, bool) {
	v, ok := r.values[pos]
	return v, ok
}
