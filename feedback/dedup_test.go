package feedback

import (
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
	require.True(t, d.Add("e"), "expired ids are swept to make room")
	require.Equal(t, 3, d.Len(), "a swept; b, c and e held")

	require.False(t, d.Add("f"), "full again, and the sweep ran less than TTL/10 ago")
	clock.Advance(30 * time.Minute)
	require.True(t, d.Add("f"), "b and c expired, swept at the next sweep")
	require.False(t, d.Seen("b"))
	require.Equal(t, uint64(2), d.Full())

	_, err = NewDedupCache(DedupConfig{MaxItems: -1})
	require.Error(t, err)
}
