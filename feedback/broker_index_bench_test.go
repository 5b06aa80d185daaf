package feedback

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
)

// BenchmarkBrokerIndexAfterFull measures the embedded broker's live heap
// while a size-limited partition, already at its limit, keeps taking
// one-record batches (a decision published alone, an outcome posted
// alone): kfake holds an index entry per retained batch, and what it
// holds should stay level once retention deletes as much as is produced.
// The partition (32 MiB, 4 MiB segments) is filled, then six times as
// much again is produced; the live heap (after a forced GC) is read at
// every segment's worth. It reports the lowest and highest live heap
// after the partition is full and their ratio (index-peak/level): about
// 1.0 when the index of deleted batches is released, towards 2 when it is
// held until the broker's slice of segments is next reallocated.
//
//	go test -run '^$' -bench BenchmarkBrokerIndexAfterFull -benchtime 1x ./feedback
func BenchmarkBrokerIndexAfterFull(b *testing.B) {
	const (
		partitionBytes = 32 << 20
		segmentBytes   = 4 << 20
		valueBytes     = 900
		writers        = 16
	)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for b.Loop() {
		ret := BrokerRetention{Limits: []TopicLimit{{Topic: "index", Partitions: 1, PartitionBytes: partitionBytes, SegmentBytes: segmentBytes}}, Interval: 100 * time.Millisecond}
		broker, err := StartEmbeddedBroker(ctx, BrokerConfig{Addr: "127.0.0.1:0", DataDir: b.TempDir(), Retention: ret})
		require.NoError(b, err)
		tr := &kafka.Transport{}
		client := &kafka.Client{Addr: kafka.TCP(broker.Addr()), Transport: tr}
		_, err = client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: "index", NumPartitions: 1, ReplicationFactor: 1}}})
		require.NoError(b, err)
		require.Eventually(b, func() bool {
			info := broker.cluster.TopicInfo("index")
			return info != nil && info.Configs["segment.bytes"] != nil
		}, 5*time.Second, 10*time.Millisecond, "the retention loop sets the limits")
		// BatchSize 1: every message is a produce request and a batch of its own.
		w := &kafka.Writer{Addr: kafka.TCP(broker.Addr()), Topic: "index", BatchSize: 1, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireOne, Transport: tr}
		value := []byte(strings.Repeat("x", valueBytes))
		produce := func(n int) {
			var wg sync.WaitGroup
			for range writers {
				wg.Go(func() {
					for range n / writers {
						if err := w.WriteMessages(ctx, kafka.Message{Value: value}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
		}
		liveHeap := func() float64 {
			broker.cluster.ApplyRetention()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return float64(ms.HeapAlloc)
		}
		perSegment := segmentBytes / valueBytes
		for full := false; !full; {
			produce(perSegment)
			liveHeap()
			full = broker.cluster.PartitionInfos("index")[0].LogStartOffset > 0
		}
		lo, hi := liveHeap(), 0.0
		for range 6 * partitionBytes / segmentBytes {
			produce(perSegment)
			h := liveHeap()
			lo, hi = min(lo, h), max(hi, h)
		}
		require.NoError(b, w.Close())
		tr.CloseIdleConnections()
		broker.Close()
		b.ReportMetric(lo/(1<<20), "live-MiB-low")
		b.ReportMetric(hi/(1<<20), "live-MiB-high")
		b.ReportMetric(hi/lo, "index-peak/level")
	}
}
