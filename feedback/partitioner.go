package feedback

import (
	"hash/crc32"

	"github.com/segmentio/kafka-go"
)

// Partitioner returns the balancer every situ producer uses: CRC-32 (IEEE)
// of the key modulo the partition count, the default partitioner of
// librdkafka ("consistent_random") and so of kcat and the confluent-kafka
// clients. A message keyed with a decision_id lands on the same partition
// number whichever of those clients produced it; Java clients use murmur2
// and must be configured with a CRC-32 partitioner to match.
//
// Messages without a key go to a random partition, as in librdkafka. situ
// keys every message it produces.
func Partitioner() kafka.Balancer { return &kafka.CRC32Balancer{} }

// PartitionForKey returns the partition [Partitioner] and librdkafka's
// default partitioner choose for a non-empty key on a topic with
// numPartitions partitions.
func PartitionForKey(key []byte, numPartitions int) int {
	return int(crc32.ChecksumIEEE(key) % uint32(numPartitions))
}
