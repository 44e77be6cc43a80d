package producer

import (
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/partition"
)

// guarded wraps kgo's murmur2 key partitioner with the partition-count
// guard. kgo hands every keyed record the topic's full partition list
// (StickyKeyPartitioner requires consistency for keyed records), so n is
// the topic's partition count as of the client's latest metadata.
//
// kgo turns a pick of -1 into a generic "invalid record partitioning
// choice" error. To give the caller the real reason, Partition stores the
// guard's error in the record's inflight (the record's Context) before
// returning -1, and the promise reports that error instead. kgo calls the
// promise after the partitioner, through its promise queue (a mutex), so
// the write is visible to the promise goroutine.
type guarded struct {
	inner  kgo.Partitioner
	guard  *partition.Guard
	policy CountChangePolicy
	log    *slog.Logger
}

var _ kgo.Partitioner = (*guarded)(nil)

func newGuarded(policy CountChangePolicy, log *slog.Logger) *guarded {
	return &guarded{
		inner:  kgo.StickyKeyPartitioner(nil),
		guard:  new(partition.Guard),
		policy: policy,
		log:    log,
	}
}

func (g *guarded) ForTopic(topic string) kgo.TopicPartitioner {
	t := &guardedTopic{g: g, topic: topic, inner: g.inner.ForTopic(topic)}
	if nb, ok := t.inner.(kgo.TopicPartitionerOnNewBatch); ok {
		return &guardedTopicNewBatch{guardedTopic: t, nb: nb}
	}
	return t
}

// check runs the guard for topic at n partitions. Under Warn it logs the
// change and adopts n.
func (g *guarded) check(topic string, n int) error {
	err := g.guard.Check(topic, n)
	if err == nil || g.policy == Refuse {
		return err
	}
	was, _ := g.guard.Count(topic)
	g.log.Warn("ordo producer: topic partition count changed; keys now map to other partitions and per-key order across the change is not guaranteed",
		"topic", topic, "was", was, "now", n)
	g.guard.Accept(topic, n)
	return nil
}

// guardedTopic is used by kgo for one topic, one record at a time (kgo
// holds the topic's partitioner lock), so ok needs no lock of its own.
type guardedTopic struct {
	g     *guarded
	topic string
	inner kgo.TopicPartitioner
	ok    int // the count last passed by the guard; 0 before the first
}

func (t *guardedTopic) RequiresConsistency(r *kgo.Record) bool {
	return t.inner.RequiresConsistency(r)
}

func (t *guardedTopic) Partition(r *kgo.Record, n int) int {
	// Records without a key carry no order to protect, and kgo may offer
	// them only the writable subset of partitions: n is not the count.
	if r.Key != nil && n != t.ok {
		if err := t.g.check(t.topic, n); err != nil {
			if in, ok := r.Context.(*inflight); ok {
				in.refused = err
			}
			return -1
		}
		t.ok = n
	}
	return t.inner.Partition(r, n)
}

type guardedTopicNewBatch struct {
	*guardedTopic
	nb kgo.TopicPartitionerOnNewBatch
}

func (t *guardedTopicNewBatch) OnNewBatch() { t.nb.OnNewBatch() }
