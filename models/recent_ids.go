package models

import "time"

// RecentIDs remembers the decisions a join matched recently (or expired
// with the default reward), by key, so that a later outcome for one of
// them counts as a duplicate rather than waiting for its decision: each
// for one window of stream time (ForgetBefore) and at most max of them,
// the oldest forgotten first. Keys are added in stream-time order. The
// zero value is not usable: make one with NewRecentIDs.
type RecentIDs[K comparable] struct {
	set   map[K]struct{}
	queue []recentID[K] // in the order added, so stream-time order
	max   int
}

type recentID[K comparable] struct {
	key K
	at  time.Time
}

// NewRecentIDs returns an empty memory of at most max keys.
func NewRecentIDs[K comparable](max int) RecentIDs[K] {
	return RecentIDs[K]{set: map[K]struct{}{}, max: max}
}

// Has reports whether key is remembered.
func (r *RecentIDs[K]) Has(key K) bool {
	_, ok := r.set[key]
	return ok
}

// Add remembers key as matched at stream time at, forgetting the oldest
// beyond max.
func (r *RecentIDs[K]) Add(key K, at time.Time) {
	r.set[key] = struct{}{}
	r.queue = append(r.queue, recentID[K]{key: key, at: at})
	if len(r.queue) > r.max {
		r.forgetOldest()
	}
}

// ForgetBefore forgets the keys added before stream time cut.
func (r *RecentIDs[K]) ForgetBefore(cut time.Time) {
	for len(r.queue) > 0 && r.queue[0].at.Before(cut) {
		r.forgetOldest()
	}
}

func (r *RecentIDs[K]) forgetOldest() {
	delete(r.set, r.queue[0].key)
	r.queue[0] = recentID[K]{}
	r.queue = r.queue[1:]
}
