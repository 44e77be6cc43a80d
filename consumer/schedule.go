package consumer

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
)

// dispatch queues a polled record behind its key. Called with c.mu held,
// in offset order per partition.
func (c *Consumer) dispatch(r *kgo.Record) {
	c.stats.fetched.Add(1)
	ps := c.parts[tp{r.Topic, r.Partition}]
	if c.admitLocked(ps, r) {
		return // before the replay floor: accounted with the floor's offsets
	}
	if ps == nil || ps.revoked || c.stopping || !ps.tracker.add(r.Offset, r.LeaderEpoch, r.Timestamp) {
		c.stats.dropped.Add(1)
		return
	}
	c.buffered++
	c.bufBytes += recordBytes(r)
	c.ins.consumed.AddSet(context.Background(), 1, ps.consumedSet)
	var kq *keyQueue
	if r.Key == nil {
		kq = &keyQueue{ps: ps, keyless: true}
		ps.keyless[kq] = struct{}{}
	} else if kq = ps.keys[string(r.Key)]; kq == nil {
		kq = &keyQueue{ps: ps, key: string(r.Key)}
		ps.keys[kq.key] = kq
	}
	c.dispatched++
	it := &item{rec: r, order: c.dispatched, ps: ps}
	c.checkSeq(ps, it)
	kq.items = append(kq.items, it)
	if !kq.scheduled {
		kq.scheduled = true
		c.ready.push(kq)
		c.work.Signal()
	}
}

// checkSeq reads the record's ordo headers once, for the sequence check
// here and for the handler's Meta later.
func (c *Consumer) checkSeq(ps *partState, it *item) {
	r := it.rec
	var count uint64
	redriven := false
	for _, h := range r.Headers {
		switch h.Key {
		case header.Producer:
			it.producer = ps.intern(h.Value)
		case header.Seq:
			it.seq = parseSeq(h.Value)
		case header.ID:
			it.eventID = string(h.Value)
		case header.Partitions:
			count = parseSeq(h.Value)
		case header.Redrives:
			redriven = true
		}
	}
	if count > 0 && count <= math.MaxInt32 {
		c.checkPlacement(ps, r, int(count))
	}
	prod, seq := it.producer, it.seq
	// A redriven record carries the sequence number it was first
	// published with, behind the key's later records: it says nothing
	// about the producer's order, and checking it counted a regression
	// per redrive (and a gap at the key's next record).
	if prod == "" || seq == 0 || redriven {
		return
	}
	if v := ps.checker.Observe(prod, r.Key, seq); v.Violation() {
		c.stats.orderViolations.Add(1)
		c.ins.violations.Add(context.Background(), 1, ps.add...)
		c.log.Warn("per-key sequence violation", "verdict", v.String(), "topic", r.Topic,
			"partition", r.Partition, "offset", r.Offset, c.logKey(r.Key), "producer", prod, "seq", seq)
	}
}

// checkPlacement checks a record stamped with the partition count its
// producer placed it under. A count this consumer has not seen for the
// topic before means the topic's partition count changed under an ordered
// stream: keys moved, and a key's records before and after the change
// may be handled out of order. A key that does not hash to the record's
// partition under the stamped count was placed by another partitioner or
// count. Called with c.mu held.
func (c *Consumer) checkPlacement(ps *partState, r *kgo.Record, n int) {
	seen := c.counts[r.Topic]
	if !slices.Contains(seen, n) {
		if len(seen) > 0 {
			c.stats.countChanges.Add(1)
			c.ins.countChanges.Add(context.Background(), 1, ps.add...)
			c.log.Warn("partition count changed under an ordered stream: keys moved, per-key order across the change is not guaranteed",
				"topic", r.Topic, "old_count", seen[len(seen)-1], "new_count", n, "partition", r.Partition, "offset", r.Offset)
		}
		if len(seen) < 64 { // counts only grow; stay bounded anyway
			c.counts[r.Topic] = append(seen, n)
		}
	}
	if r.Key != nil && keyHasher.Partition(r, n) != int(r.Partition) {
		if c.stats.placement.Add(1) == 1 {
			c.log.Warn("record not in the partition its key hashes to under its stamped count (another partitioner?); further ones are only counted",
				"topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "count", n)
		}
		c.ins.placement.Add(context.Background(), 1, ps.add...)
	}
}

// keyHasher is partition.For's partitioner (murmur2, as Java's default),
// called on the record itself: partition.For would allocate a record per
// call. TestPlacementCheck holds the two to the same answers.
var keyHasher = kgo.StickyKeyPartitioner(nil).ForTopic("")

// lane runs until the consumer stops, handling the head record of one
// ready key at a time. Settling a record and taking the next happen in one
// critical section: a lane that puts its key back and takes the oldest
// ready key leaves the ready count as it was, so it wakes nobody.
func (c *Consumer) lane() {
	defer c.lanes.Done()
	var (
		kq  *keyQueue
		it  *item
		out outcome
		lt  = c.newLaneToken()
	)
	c.mu.Lock()
	for {
		if kq != nil {
			c.settleLocked(kq, it, out)
		}
		if kq, it = c.nextLocked(lt); kq == nil {
			c.mu.Unlock()
			return
		}
		ctx := kq.ps.handlerCtx(c.handlerCtx)
		c.mu.Unlock()
		out = c.processOrExpire(ctx, kq.ps, it)
		if out.done || out.fatal != nil {
			c.recordDuration(ctx, kq.ps, it, out.err)
		}
		c.mu.Lock()
	}
}

// nextLocked waits for a ready key and claims its head record; it returns
// nil when the consumer stops. This is the "dispatch gated" seam
// (replay.go): a lane parked by the slow start takes nothing, and under a
// rate cap a lane holds a token (lt) before it takes the oldest ready key,
// waiting for one with mu released and no key held.
func (c *Consumer) nextLocked(lt *laneToken) (*keyQueue, *item) {
	for {
		for (c.ready.len() == 0 || c.parkedLocked()) && !c.stopping {
			c.work.Wait()
		}
		if c.stopping {
			return nil, nil
		}
		if c.waitTokenLocked(lt) {
			continue // mu was released: look again
		}
		kq := c.ready.pop()
		if kq.ps.revoked || len(kq.items) == 0 {
			kq.scheduled = false
			continue
		}
		if c.holdLocked(kq) {
			continue // paused: Resume puts it back
		}
		if kq.ps.q != nil {
			c.quarantineLocked(kq.ps, kq.items[0])
		}
		c.takenLocked(lt, kq.items[0])
		kq.running = true
		kq.ps.inflight++
		c.inflight++
		if it := kq.items[0]; it.start.IsZero() {
			it.start = time.Now() // under mu: a revoke reads it
		}
		return kq, kq.items[0]
	}
}

// settleLocked applies a lane's outcome to the record's key queue and
// partition. The partition's new commit point is marked to kgo in batches
// by the marker, not here: a mark per record would cost a lock and two
// maps each.
func (c *Consumer) settleLocked(kq *keyQueue, it *item, out outcome) {
	ps := kq.ps
	kq.running = false
	ps.inflight--
	c.inflight--
	switch {
	case out.fatal != nil:
		if c.fatal == nil {
			c.fatal = out.fatal
		}
		c.requestStopLocked() // the key stays stuck at its head: nothing passes it
	case out.done:
		if ps.q != nil && (out.dead || it.q.kind == qRedriven) {
			c.settleQuarantineLocked(ps, it, out)
		}
		it.how = howOf(out.outcome)
		c.finishLocked(kq, it)
	case out.after > 0 && !c.stopping && !ps.revoked:
		c.afterLocked(out.after, kq)
	default: // abandoned: stopping, or revoked while it ran
		if out.abandoned { // counted once, as abandoned; the rest are dropped
			endRecord(it.span, "abandoned", nil)
			it.span = nil
			kq.items[0] = nil
			kq.items = kq.items[1:]
			c.unbuffer(it)
		}
		c.dropLocked(kq, 0)
		kq.scheduled = false
	}
	if out.done || out.fatal != nil {
		endRecord(it.span, out.outcome, out.fatal)
		it.span = nil
	}
	c.idle.Broadcast()
}

// finishLocked takes a finished record (handled, or finished elsewhere)
// off the head of its key queue and marks its offset finished in the
// partition's tracker: the one place an offset becomes markable. The
// key's next record, if any, goes back on the ready list.
func (c *Consumer) finishLocked(kq *keyQueue, it *item) {
	ps := kq.ps
	kq.items[0] = nil
	kq.items = kq.items[1:]
	c.unbuffer(it)
	c.space.Signal()
	if ps.tracker.finishAs(it.rec.Offset, it.how) {
		ps.dirty = true
	}
	if len(kq.items) > 0 {
		c.ready.push(kq) // this lane takes the oldest next: no signal
	} else {
		kq.scheduled = false
		ps.forget(kq)
	}
}

// afterLocked puts kq back on the ready list after d: the "not ready until"
// seam. The key's later records wait with it; other keys keep their lanes.
func (c *Consumer) afterLocked(d time.Duration, kq *keyQueue) {
	var t *time.Timer
	kq.ps.parked++
	t = time.AfterFunc(d, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, ok := c.timers[t]; !ok {
			return // stopped
		}
		delete(c.timers, t)
		kq.ps.parked--
		if c.stopping || kq.ps.revoked {
			kq.scheduled = false
			return
		}
		c.ready.push(kq)
		c.work.Signal()
	})
	c.timers[t] = struct{}{}
}

// intern returns the producer ID b as a string, shared by every record of
// that producer in the partition (a handful of IDs, many records).
func (ps *partState) intern(b []byte) string {
	if s, ok := ps.producers[string(b)]; ok {
		return s
	}
	if len(ps.producers) >= 1024 { // producers restart with new IDs: stay bounded
		clear(ps.producers)
	}
	s := string(b)
	ps.producers[s] = s
	return s
}

// parseSeq reads a decimal sequence number without allocating; anything
// else (empty, non-digits, overflow) is 0, which is never stamped.
func parseSeq(b []byte) uint64 {
	if len(b) == 0 || len(b) > 19 {
		return 0
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + uint64(c-'0')
	}
	return n
}

// dropLocked drops kq's records after the first keep (the one a lane is
// running, if any). They were never started; whoever reads the partition
// next handles them.
func (c *Consumer) dropLocked(kq *keyQueue, keep int) {
	n := len(kq.items) - keep
	if n <= 0 {
		return
	}
	c.stats.dropped.Add(int64(n))
	for _, it := range kq.items[keep:] {
		c.unbuffer(it)
		endRecord(it.span, "released", nil) // started, then released for redelivery
	}
	clear(kq.items[keep:])
	kq.items = kq.items[:keep]
	c.space.Broadcast()
}

// unbuffer takes a finished or dropped record off the buffer counts.
func (c *Consumer) unbuffer(it *item) {
	c.buffered--
	c.bufBytes -= recordBytes(it.rec)
}

// recordBytes is what a buffered record is counted as against
// MaxBufferedBytes: its key and value, and the bookkeeping around them
// (kgo's Record, the item, the tracker entry), which for small records is
// most of it.
func recordBytes(r *kgo.Record) int { return len(r.Key) + len(r.Value) + 256 }

// headSeq is the dispatch number of the head record; 0 for an empty queue.
func (kq *keyQueue) headSeq() uint64 {
	if len(kq.items) == 0 {
		return 0
	}
	return kq.items[0].order
}

func (kq *keyQueue) runningCount() int {
	if kq.running {
		return 1
	}
	return 0
}

// forget removes an empty queue from its partition.
func (ps *partState) forget(kq *keyQueue) {
	if kq.keyless {
		delete(ps.keyless, kq)
	} else if ps.keys[kq.key] == kq {
		delete(ps.keys, kq.key)
	}
}
