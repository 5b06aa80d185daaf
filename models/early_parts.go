package models

import "time"

// EarlyParts holds the outcome parts that came before their decision, by
// decision id, until the decision comes (Take), one window of stream time
// passes (ExpireBefore) or the cap drops them, the oldest decision first.
// It counts parts, not decisions: a decision may wait with several, and
// each is one outcome written to nba.outcomes, so that the join's counts
// of outcomes add up. The zero value is not usable: make one with
// NewEarlyParts.
type EarlyParts struct {
	byID  map[string]*earlyDecision
	queue []*earlyDecision // in the order each decision's first part came
	parts int
	max   int
}

// earlyDecision is the parts waiting for one decision; done once the
// decision came or they were dropped (the queue skips it then).
type earlyDecision struct {
	id    string
	parts []Outcome
	seen  time.Time // stream time when its first part came
	done  bool
}

// NewEarlyParts returns an empty store of at most max parts.
func NewEarlyParts(max int) EarlyParts {
	return EarlyParts{byID: map[string]*earlyDecision{}, max: max}
}

// Len returns the parts waiting.
func (e *EarlyParts) Len() int { return e.parts }

// Waiting reports whether parts of decision id wait.
func (e *EarlyParts) Waiting(id string) bool {
	_, ok := e.byID[id]
	return ok
}

// Add keeps part o of a decision not read yet, at stream time seen. It
// keeps nothing and returns false for a part of an outcome id that waits
// already (a duplicate). dropped is the parts the cap then removed.
func (e *EarlyParts) Add(o Outcome, seen time.Time) (added bool, dropped int) {
	if d, ok := e.byID[o.DecisionID]; ok {
		for _, p := range d.parts {
			if p.OutcomeID == o.OutcomeID {
				return false, 0
			}
		}
		d.parts = append(d.parts, o)
	} else {
		d := &earlyDecision{id: o.DecisionID, parts: []Outcome{o}, seen: seen}
		e.byID[d.id] = d
		e.queue = append(e.queue, d)
	}
	e.parts++
	for e.parts > e.max && len(e.queue) > 0 {
		dropped += e.popHead()
	}
	return true, dropped
}

// Take removes and returns the parts waiting for decision id (nil: none).
func (e *EarlyParts) Take(id string) []Outcome {
	d, ok := e.byID[id]
	if !ok {
		return nil
	}
	delete(e.byID, id)
	d.done = true
	e.parts -= len(d.parts)
	return d.parts
}

// SetSeen gives every waiting part the stream time t: the parts that came
// before the first decision wait one window from its time.
func (e *EarlyParts) SetSeen(t time.Time) {
	for _, d := range e.queue {
		d.seen = t
	}
}

// ExpireBefore removes the decisions whose first part came before stream
// time cut, and returns how many parts they held.
func (e *EarlyParts) ExpireBefore(cut time.Time) int {
	n := 0
	for len(e.queue) > 0 && (e.queue[0].done || e.queue[0].seen.Before(cut)) {
		n += e.popHead()
	}
	return n
}

// Each calls f with each waiting part and the stream time its decision's
// first part came, in the order the decisions' first parts came.
func (e *EarlyParts) Each(f func(o Outcome, seen time.Time)) {
	for _, d := range e.queue {
		if !d.done {
			for _, o := range d.parts {
				f(o, d.seen)
			}
		}
	}
}

// popHead removes the oldest decision of the queue and returns the parts
// it still held.
func (e *EarlyParts) popHead() int {
	d := e.queue[0]
	e.queue[0] = nil
	e.queue = e.queue[1:]
	if d.done {
		return 0
	}
	delete(e.byID, d.id)
	e.parts -= len(d.parts)
	return len(d.parts)
}
