//go:build race

package scoring_test

// raceEnabled: the race detector makes sync.Pool (the customer-id
// hasher's) drop items at random, so allocation counts with a hasher mean
// nothing under it.
const raceEnabled = true
