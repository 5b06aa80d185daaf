package feedback

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
)

// TestPartitionRanges: where the learner starts reading each partition
// from the offsets of its snapshot, and the snapshots it must refuse (the
// topic was recreated or lost data).
func TestPartitionRanges(t *testing.T) {
	b, topics := startBroker(t)
	key := []byte("d-1")
	p := int32(PartitionForKey(key, topics.OutcomePartitions))
	twice := []kafka.Message{{Key: key, Value: []byte("{}")}, {Key: key, Value: []byte("{}")}}
	produce(t, b.Brokers(), topics.Outcomes, twice...)
	tests := []struct {
		name  string
		topic string
		start Offsets
		want  map[int32]int64 // partition → start; every end is 0 but p's, 2
		err   string
	}{
		{name: "no snapshot: from the first offset", want: map[int32]int64{0: 0, 1: 0, 2: 0}},
		{name: "from the checkpoint's offsets", start: Offsets{p: 1}, want: map[int32]int64{0: 0, 1: 0, 2: 0, p: 1}},
		{name: "at the end", start: Offsets{p: 2}, want: map[int32]int64{0: 0, 1: 0, 2: 0, p: 2}},
		{name: "offset past the end", start: Offsets{p: 5}, err: "past the end of the log"},
		{name: "unknown partition", start: Offsets{7: 0}, err: "start offset given for partition 7"},
		{name: "missing topic", topic: "nba.nothing", err: "create it with EnsureTopics"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			topic := tt.topic
			if topic == "" {
				topic = topics.Outcomes
			}
			ranges, err := partitionRanges(ctx, b.Brokers(), topic, tt.start, testLogger(t))
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			got := map[int32]int64{}
			for _, r := range ranges {
				got[int32(r.partition)] = r.start
				wantEnd := int64(0)
				if int32(r.partition) == p {
					wantEnd = 2
				}
				require.Equal(t, wantEnd, r.end, "end of partition %d", r.partition)
			}
			require.Equal(t, tt.want, got)
		})
	}
}
