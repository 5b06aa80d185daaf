package feedback

import (
	"fmt"
	"testing"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
)

func TestPartitionForKey(t *testing.T) {
	// CRC-32/IEEE("123456789") = 0xCBF43926, the standard check value:
	// librdkafka's consistent_random uses this polynomial (not Castagnoli).
	tests := []struct {
		name       string
		key        string
		partitions int
		want       int
	}{
		{name: "check value, 7 partitions", key: "123456789", partitions: 7, want: int(uint32(0xCBF43926) % 7)},
		{name: "check value, 3 partitions", key: "123456789", partitions: 3, want: int(uint32(0xCBF43926) % 3)},
		{name: "one partition", key: "d-1", partitions: 1, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, PartitionForKey([]byte(tt.key), tt.partitions))
		})
	}
}

func TestPartitionerMatchesPartitionForKey(t *testing.T) {
	b := Partitioner()
	for _, n := range []int{1, 2, 3, 6, 12, 64} {
		partitions := make([]int, n)
		for i := range partitions {
			partitions[i] = i
		}
		seen := map[int]bool{}
		for i := range 500 {
			key := []byte(fmt.Sprintf("d-%08x", i*7919))
			got := b.Balance(kafka.Message{Key: key}, partitions...)
			require.Equal(t, PartitionForKey(key, n), got, "key %s, %d partitions", key, n)
			require.Equal(t, got, b.Balance(kafka.Message{Key: key}, partitions...), "stable")
			seen[got] = true
		}
		require.Len(t, seen, n, "keys spread over all %d partitions", n)
	}
}
