package feedback

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDedupCache(t *testing.T) {
	d, err := NewDedupCache(DedupConfig{TTL: 100 * time.Millisecond, MaxItems: 3})
	require.NoError(t, err)
	require.False(t, d.Seen("a"))
	require.True(t, d.Add("a"))
	require.True(t, d.Seen("a"))
	require.True(t, d.Add("b"))
	require.True(t, d.Add("c"))
	require.False(t, d.Add("d"), "full of unexpired ids")
	require.False(t, d.Seen("d"))
	require.Equal(t, uint64(1), d.Full())
	require.Equal(t, 3, d.Len(), "the item-count guard holds")

	time.Sleep(150 * time.Millisecond)
	require.False(t, d.Seen("a"), "expired after the TTL")
	require.True(t, d.Add("e"), "expired ids are swept to make room")
	require.Equal(t, 1, d.Len())

	_, err = NewDedupCache(DedupConfig{MaxItems: -1})
	require.Error(t, err)
}
