package producer

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/telemetry"
	"github.com/ordo-go/ordo/partition"
)

// guarded wraps kgo's default partitioner, UniformBytesPartitioner with
// keys hashed by murmur2 (the Java client's and librdkafka's placement,
// and partition.For's), with the partition-count guard. Records without a
// key are spread in large batches by buffered bytes (KIP-794). It is
// preferred to StickyKeyPartitioner, which places keys the same way but
// makes kgo hold the topic's partitioner lock while buffering every record
// (its OnNewBatch hook): measured on kfake, that cost ordo about a third
// of its publish throughput.
//
// kgo hands every keyed record the topic's full partition list (the
// partitioner requires consistency for keyed records), so n is the
// topic's partition count as of the client's latest metadata.
//
// kgo turns a pick of -1 into a generic "invalid record partitioning
// choice" error. To give the caller the real reason, the guard stores its
// error in the record's inflight (the record's Context) before returning
// -1, and the promise reports that error instead. kgo calls the promise
// after the partitioner, through its promise queue (a mutex), so the write
// is visible to the promise goroutine.
//
// Keyed records carry the ordo-partitions header (see count.go): the
// publisher stamps the count on record before handing a record over, so
// that kgo sizes the record with the header in place, and the
// partitioner sets it to the count the record is actually placed under,
// which differs only for records caught in a change.
type guarded struct {
	inner  kgo.Partitioner
	guard  *partition.Guard
	policy CountChangePolicy
	log    *slog.Logger
	tel    telemetry.Config

	countsMu sync.Mutex
	counts   map[string]*topicCount
}

var _ kgo.Partitioner = (*guarded)(nil)

func newGuarded(policy CountChangePolicy, log *slog.Logger, tel telemetry.Config) *guarded {
	return &guarded{
		inner:  kgo.UniformBytesPartitioner(64<<10, true, true, nil),
		guard:  new(partition.Guard),
		policy: policy,
		log:    log,
		tel:    tel,
		counts: make(map[string]*topicCount),
	}
}

// count returns topic's count state, shared by its publishers and its
// partitioner.
func (g *guarded) count(topic string) *topicCount {
	g.countsMu.Lock()
	defer g.countsMu.Unlock()
	tc := g.counts[topic]
	if tc == nil {
		tc = new(topicCount)
		g.counts[topic] = tc
	}
	return tc
}

// accept makes n the count on record for topic, in the guard and in the
// stamps.
func (g *guarded) accept(topic string, n int) {
	g.guard.Accept(topic, n)
	tc := g.count(topic)
	tc.set(n)
	tc.epoch.Add(1)
}

func (g *guarded) ForTopic(topic string) kgo.TopicPartitioner {
	t := &guardedTopic{g: g, inner: g.inner.ForTopic(topic), tc: g.count(topic)}
	if b, ok := t.inner.(kgo.TopicBackupPartitioner); ok {
		return &guardedBackup{guardedTopic: t, inner: b}
	}
	return t
}

// check runs the guard for r's topic at n partitions. Under Warn it logs
// the change and adopts n. The warning is logged with r's context: it
// carries the trace of the publish that noticed the change.
func (g *guarded) check(r *kgo.Record, n int) error {
	err := g.guard.Check(r.Topic, n)
	if err == nil || g.policy == Refuse {
		return err
	}
	was, _ := g.guard.Count(r.Topic)
	ctx, typ := context.Background(), ""
	if in, ok := r.Context.(*inflight); ok {
		// The caller's ctx, not the inflight: a handler may keep the ctx
		// past the call, and the inflight is recycled after its promise.
		ctx, typ = in.parent, in.c.typ
	}
	g.log.WarnContext(ctx, "ordo producer: topic partition count changed; keys now map to other partitions and per-key order across the change is not guaranteed",
		"topic", r.Topic, "was", was, "now", n, "type", typ, g.tel.LogKey(r.Key))
	g.accept(r.Topic, n)
	return nil
}

// guardedTopic is used by kgo for one topic, one record at a time (kgo
// holds the topic's partitioner lock), so ok needs no lock of its own.
type guardedTopic struct {
	g     *guarded
	inner kgo.TopicPartitioner
	tc    *topicCount
	ok    int    // the count last passed by the guard; 0 before the first
	okDec []byte // ok in decimal, the ordo-partitions value
	epoch uint64 // tc.epoch when ok was passed: an accept since voids ok
}

func (t *guardedTopic) RequiresConsistency(r *kgo.Record) bool {
	return t.inner.RequiresConsistency(r)
}

func (t *guardedTopic) Partition(r *kgo.Record, n int) int {
	if t.refuse(r, n) {
		return -1
	}
	return t.inner.Partition(r, n)
}

// refuse runs the guard for a keyed record and reports whether it refused.
// Records without a key carry no order to protect, and kgo may offer them
// only the writable subset of partitions: their n is not the count.
func (t *guardedTopic) refuse(r *kgo.Record, n int) bool {
	if r.Key == nil {
		return false
	}
	in, _ := r.Context.(*inflight)
	if epoch := t.tc.epoch.Load(); n != t.ok || epoch != t.epoch {
		t.ok, t.epoch = 0, epoch
		if err := t.g.check(r, n); err != nil {
			if in != nil {
				in.refused = err
			}
			return true
		}
		t.ok, t.okDec = n, strconv.AppendInt(nil, int64(n), 10)
		if !bytes.Equal(t.tc.value(), t.okDec) {
			t.tc.set(n) // the first count seen: later records are stamped right
		}
	}
	if in != nil && in.countAt > 0 {
		// A record stamped just before a change gets the count it is
		// placed under; its size then differs from the size kgo counted
		// by a digit or so, which matters only to kgo.MaxBufferedBytes.
		r.Headers[in.countAt].Value = t.okDec
	}
	return false
}

// guardedBackup guards a partitioner that picks by buffered backlog; kgo
// calls PartitionByBackup instead of Partition for those.
type guardedBackup struct {
	*guardedTopic
	inner kgo.TopicBackupPartitioner
}

var _ kgo.TopicBackupPartitioner = (*guardedBackup)(nil)

func (t *guardedBackup) PartitionByBackup(r *kgo.Record, n int, backup kgo.TopicBackupIter) int {
	if t.refuse(r, n) {
		return -1
	}
	return t.inner.PartitionByBackup(r, n, backup)
}
