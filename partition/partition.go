package partition

import "github.com/twmb/franz-go/pkg/kgo"

// Keyed is implemented by every event that is published in order. The key
// names the entity whose events must stay in order (an order ID, an account
// number); all events with one key land on one partition and are handled one
// at a time, in the order they were published.
//
// ordo's publishing functions take Keyed as a type constraint, so a type
// without a key does not compile. An empty key is refused at run time with
// [ErrNoKey].
type Keyed interface {
	PartitionKey() string
}

// hasher is kgo's Kafka-compatible key partitioner. For a non-nil key it is
// stateless (murmur2, sign bit masked, modulo n), so one value serves every
// caller concurrently.
var hasher = kgo.StickyKeyPartitioner(nil).ForTopic("")

// For returns the partition that key lands on in a topic of numPartitions
// partitions: murmur2 of the key with the sign bit cleared, modulo the
// count. It is the Java client's default partitioner, librdkafka's
// murmur2_random and franz-go's StickyKeyPartitioner, so producers in any of
// those languages agree on where a key goes. A nil key is hashed as an empty
// one. For returns -1 if numPartitions is not positive.
//
// For is safe for concurrent use.
func For(key []byte, numPartitions int) int {
	if numPartitions <= 0 {
		return -1
	}
	if key == nil {
		key = []byte{}
	}
	return hasher.Partition(&kgo.Record{Key: key}, numPartitions)
}
