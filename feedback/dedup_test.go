package feedback

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// manualClock is a clock that moves only when told to.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestDedupCache(t *testing.T) {
	clock := newManualClock()
	d, err := NewDedupCache(DedupConfig{TTL: time.Hour, MaxItems: 3, Now: clock.Now})
	require.NoError(t, err)
	require.False(t, d.Seen("a"))
	require.True(t, d.Add("a"))
	require.True(t, d.Seen("a"))
	clock.Advance(30 * time.Minute)
	require.True(t, d.Add("b"))
	require.True(t, d.Add("c"))
	require.False(t, d.Add("d"), "full of unexpired ids")
	require.False(t, d.Seen("d"))
	require.Equal(t, uint64(1), d.Full())
	require.Equal(t, 3, d.Len(), "the item-count guard holds")
	require.True(t, d.Add("c"), "an id held is refreshed, full or not")

	clock.Advance(30*time.Minute - time.Nanosecond)
	require.True(t, d.Seen("a"), "remembered until the TTL has passed")
	clock.Advance(time.Nanosecond)
	require.False(t, d.Seen("a"), "expired after the TTL")
	require.True(t, d.Seen("b"))
	require.True(t, d.Add("e"), "expired ids are forgotten to make room")
	require.Equal(t, 3, d.Len(), "a forgotten; b, c and e held")

	require.False(t, d.Add("f"), "full again: nothing expired")
	clock.Advance(30 * time.Minute)
	require.True(t, d.Add("f"), "b and c expired, forgotten at the next Add")
	require.False(t, d.Seen("b"))
	require.Equal(t, uint64(2), d.Full())

	_, err = NewDedupCache(DedupConfig{MaxItems: -1})
	require.Error(t, err)
}

// TestDedupCacheHoldsOneTTL holds the cache to the ids of one TTL: far
// below its item bound, an id is forgotten once its TTL has passed, so the
// memory it takes follows the rate of ids, not the time it has run.
func TestDedupCacheHoldsOneTTL(t *testing.T) {
	clock := newManualClock()
	d, err := NewDedupCache(DedupConfig{TTL: time.Minute, Now: clock.Now})
	require.NoError(t, err)
	for i := range 100_000 {
		require.True(t, d.Add(fmt.Sprintf("id-%d", i)))
		clock.Advance(10 * time.Millisecond) // 100 ids/s: 6,000 per TTL
		if i > 10_000 {
			require.LessOrEqual(t, d.Len(), 6_001)
		}
	}
	require.LessOrEqual(t, len(d.order)-d.head, 6_001)
	require.LessOrEqual(t, cap(d.order), 4*6_001, "the queue's spent front is reused")

	// an id added again lives a TTL from its last Add
	require.True(t, d.Add("again"))
	clock.Advance(40 * time.Second)
	require.True(t, d.Add("again"))
	clock.Advance(30 * time.Second)
	require.True(t, d.Add("other"), "expires the first entry of again")
	require.True(t, d.Seen("again"), "its second Add holds it")
	clock.Advance(30 * time.Second)
	require.True(t, d.Add("other2"))
	require.False(t, d.Seen("again"))
	_, held := d.ids.Get("again")
	require.False(t, held, "and it is gone from the map")
}
