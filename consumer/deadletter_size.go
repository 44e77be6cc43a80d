package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/consumer/dlq"
	"github.com/ordo-go/ordo/partition"
)

// The dead-letter topic's size limit. A record the source topic accepted
// can be larger than the dead-letter topic takes (franz-go's default batch
// limit alone is 1,000,012 bytes): a 10 MB poison value, a 1 MiB key or
// 10,000 headers failed MESSAGE_TOO_LARGE on every try, and the consumer
// halted on it at every start. So the dead-letter client is sized from the
// topic's max.message.bytes, read (DescribeConfigs) before the first
// write, and a dead letter that still does not fit is cut by dlq.Fit.
const (
	// kgoDefaultBatch is franz-go's default batch limit, assumed when the
	// topic's configuration cannot be read (not authorized, or a broker
	// without DescribeConfigs): it is below Kafka's default 1,048,588.
	kgoDefaultBatch = 1_000_012
	// dlMaxBatch caps the limit at what franz-go can write in one request
	// (its BrokerMaxWriteBytes default, 100 MiB, less room for the
	// request around the batch).
	dlMaxBatch = 100<<20 - 64<<10
	// dlMinBatch is the least limit ordo shrinks to after a refusal: room
	// for its own and Spring's headers and a cut key.
	dlMinBatch = 8 << 10
)

// dlSize is what ordo knows of the dead-letter topic's max.message.bytes.
// Lanes writing dead letters call limit concurrently; mu guards the two
// fields. The describe runs under mu, so concurrent first writes wait for
// one answer rather than each asking.
type dlSize struct {
	mu    sync.Mutex
	bytes int // the limit records are fitted to; 0 until known
	batch int // what the client's batches were sized with (kgo caches it per partition)
}

// limit returns the limit to fit dead letters to, reading the topic's
// configuration the first time (and again after a refusal). An error is
// a failed write: the caller retries it within DeadLetterPatience.
func (s *dlSize) limit(ctx context.Context, cl *kgo.Client, topic string) (int, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bytes > 0 {
		return s.bytes, false, nil
	}
	n, err := dlq.TopicLimit(ctx, cl, topic)
	assumed := false
	if err != nil {
		if !errors.Is(err, kerr.TopicAuthorizationFailed) && !errors.Is(err, kerr.ClusterAuthorizationFailed) &&
			!errors.Is(err, kerr.UnsupportedVersion) && !errors.Is(err, kerr.InvalidRequest) {
			return 0, false, fmt.Errorf("read max.message.bytes of %q: %w", topic, err)
		}
		n, assumed = kgoDefaultBatch, true
	}
	n = min(max(n, dlMinBatch), dlMaxBatch)
	if s.batch > 0 {
		n = min(n, s.batch) // the client's partitions keep the limit they were made with
	}
	s.bytes = n
	return n, assumed, nil
}

// refused is told that the broker refused a dead letter of size bytes,
// fitted to the limit: the limit is read again before the next write, and
// kept below size, halving, so the write fits at last even when the topic
// cannot be described.
func (s *dlSize) refused(size int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batch = max(dlMinBatch, min(s.batchOr(), size/2))
	s.bytes = 0
}

// batchLimit is the dead-letter client's ProducerBatchMaxBytesFn: franz-go
// calls it when a partition is first written, after limit has answered.
func (s *dlSize) batchLimit(string) int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.batch == 0 && s.bytes > 0 {
		s.batch = s.bytes
	}
	return int32(s.batchOr())
}

func (s *dlSize) batchOr() int {
	switch {
	case s.batch > 0:
		return s.batch
	case s.bytes > 0:
		return s.bytes
	}
	return kgoDefaultBatch
}

// placeKey carries, in a dead letter's context, the key it is partitioned
// by when dlq.Fit cut its own key: the original key, so that the dead
// letter lands on the key's partition beside the key's other dead letters.
type placeKey struct{}

// placer is kgo's sticky key partitioner (murmur2, as Kafka's and
// librdkafka's) that places a record carrying a placeKey by that key.
type placer struct{ kgo.Partitioner }

type topicPlacer struct{ kgo.TopicPartitioner }

func (p placer) ForTopic(t string) kgo.TopicPartitioner {
	return topicPlacer{p.Partitioner.ForTopic(t)}
}

func (p topicPlacer) RequiresConsistency(r *kgo.Record) bool {
	return p.TopicPartitioner.RequiresConsistency(r) || placement(r) != nil
}

func (p topicPlacer) Partition(r *kgo.Record, n int) int {
	if k := placement(r); k != nil {
		return partition.For(k, n)
	}
	return p.TopicPartitioner.Partition(r, n)
}

// OnNewBatch keeps keyless records sticky, as the inner partitioner does.
func (p topicPlacer) OnNewBatch() {
	if o, ok := p.TopicPartitioner.(kgo.TopicPartitionerOnNewBatch); ok {
		o.OnNewBatch()
	}
}

func placement(r *kgo.Record) []byte {
	if r.Context == nil {
		return nil
	}
	k, _ := r.Context.Value(placeKey{}).([]byte)
	return k
}
