package consumer

import (
	"context"
	"log/slog"
	"math"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/internal/telemetry"
)

// dispatch queues a polled record of ps, its partition's current state,
// behind its key; it reports whether it did (a record before the replay
// floor, out of order, or polled while stopping is not). Called with s.mu
// held, by the poller only, in offset order per partition. The caller counts it as fetched
// and consumed, once per run of records (dispatchStaged).
func (s *scheduler) dispatch(ps *partState, r *kgo.Record, pre *prepared) bool {
	if s.gate.admitLocked(ps, r) {
		return false // before the replay floor: accounted with the floor's offsets
	}
	if s.stopping || !ps.tracker.add(r.Offset, r.LeaderEpoch, r.Timestamp) {
		s.stats.dropped.Add(1)
		return false
	}
	s.buffered++
	s.tracked++
	n := pre.bytes
	s.bufBytes += n
	s.countLocked(ps, 1, n)
	var kq *keyQueue
	if r.Key == nil {
		kq = s.newQueue(ps, nil)
		ps.keyless[kq] = struct{}{}
	} else if kq = ps.keys[string(r.Key)]; kq == nil {
		kq = s.newQueue(ps, r.Key)
		ps.keys[kq.key] = kq
	} else if kq.idle {
		s.wakeIdleLocked(kq)
	}
	ps.fed += n
	r = s.detachIfWaiting(kq, r)
	s.dispatched++
	it := s.newItem()
	it.rec, it.order, it.ps, it.bytes, it.fed = r, s.dispatched, ps, n, ps.fed
	s.checks.settleHeaders(ps, it, pre)
	kq.push(it)
	if !kq.scheduled {
		kq.scheduled = true
		s.ready.push(kq) // the poller wakes a lane per chunk (wakeLocked)
	}
	return true
}

// checks are the ordering checks of the records as they arrive: the
// ordo headers read at dispatch, the partition count each topic's records
// are stamped with (counts), and the per-key sequence and the key's
// placement, checked by the lane that first starts a record. counts is
// touched only at dispatch, by the poller goroutine under the scheduler's
// lock; the sequence checker of a partition has its own lock (lanes of one
// partition check at once); counters are atomics. No goroutine.
type checks struct {
	cl     *kgo.Client // ForceMetadataRefresh when a count changes
	stats  *counters
	obs    *observer
	log    *slog.Logger
	counts map[string][]int // per topic, the stamped partition counts seen
}

// readHeaders reads the record's ordo headers, for the checks and the
// handler's Meta, as the poller and dispatch do: prepare, then
// settleHeaders. Called by the poller goroutine (it interns the producer
// ID in the partition).
func (k *checks) readHeaders(ps *partState, it *item) {
	pre := k.prepare(ps, it.rec)
	k.settleHeaders(ps, it, &pre)
}

// prepare reads r before it is dispatched, without the scheduler's lock.
func (k *checks) prepare(ps *partState, r *kgo.Record) prepared {
	h, counts := k.parseHeaders(ps, r)
	return prepared{hdr: h, bytes: recordBytes(r), counts: counts}
}

// prepared is what the poller reads of a record before it takes the
// scheduler's lock to dispatch it (prepare, poll.go): the headers and
// what the record counts against MaxBufferedBytes. Reading them under the
// lock cost a third of a record's dispatch there.
type prepared struct {
	hdr    ordoHeaders
	bytes  int
	counts int // ordo-partitions headers seen: the stamped count is checked when 1
}

// parseHeaders reads r's ordo headers without the scheduler's lock: the
// producer IDs it interns are ps's, which only the poller touches. The
// stamped count is checked at dispatch (settleHeaders), for the records
// dispatched only; counts is the number of ordo-partitions headers.
func (k *checks) parseHeaders(ps *partState, r *kgo.Record) (h ordoHeaders, counts int) {
	for i := range r.Headers {
		v := r.Headers[i].Value
		switch r.Headers[i].Key {
		case header.Producer:
			h.producer = ps.intern(v)
		case header.Seq:
			h.seq = parseSeq(v)
		case header.Partitions:
			counts++
			if n := parseSeq(v); n > 0 && n <= math.MaxInt32 {
				h.count = int32(n)
			}
		case header.Redrives:
			h.redriven = true
		}
	}
	return h, counts
}

// settleHeaders gives it, being dispatched, its prepared headers and
// checks its stamped count. A record with more than one ordo-partitions
// header has each checked, as it was read (readHeadersLocked).
func (k *checks) settleHeaders(ps *partState, it *item, pre *prepared) {
	if pre.counts > 1 {
		k.readHeadersLocked(ps, it)
		return
	}
	it.hdr = pre.hdr
	if pre.hdr.count > 0 {
		k.checkCount(ps, it.rec, int(pre.hdr.count))
	}
}

// readHeadersLocked reads it's headers again, in order, checking every
// stamped count it carries (a record with several is rare: malformed or
// hostile).
func (k *checks) readHeadersLocked(ps *partState, it *item) {
	for _, h := range it.rec.Headers {
		switch h.Key {
		case header.Producer:
			it.hdr.producer = ps.intern(h.Value)
		case header.Seq:
			it.hdr.seq = parseSeq(h.Value)
		case header.Partitions:
			if n := parseSeq(h.Value); n > 0 && n <= math.MaxInt32 {
				it.hdr.count = int32(n)
				k.checkCount(ps, it.rec, int(n))
			}
		case header.Redrives:
			it.hdr.redriven = true
		}
	}
}

// checkSeq runs the record's sequence and placement checks. A lane calls
// it when it first starts the record, not the poller at dispatch: the
// poller is the one goroutine every record passes through, and its work
// per record bounded the consumer's throughput (issue 15). The sequence
// check needs the records of each key in log order, and a key's records
// reach the lanes in log order, one at a time; the partition's checker has
// its own lock.
func (k *checks) checkSeq(ps *partState, it *item) {
	it.hdr.checked = true
	r := it.rec
	if it.hdr.count > 0 {
		k.checkPlacement(ps, r, int(it.hdr.count))
	}
	prod, seq := it.hdr.producer, it.hdr.seq
	// A redriven record carries the sequence number it was first
	// published with, behind the key's later records: it says nothing
	// about the producer's order, and checking it counted a regression
	// per redrive (and a gap at the key's next record).
	if prod == "" || seq == 0 || it.hdr.redriven {
		return
	}
	if v := ps.checker.Observe(prod, r.Key, seq); v.Violation() {
		k.stats.orderViolations.Add(1)
		k.obs.ins.violations.Add(context.Background(), 1, ps.met.add...)
		k.log.Warn("per-key sequence violation", "verdict", v.String(), "topic", r.Topic,
			"partition", r.Partition, "offset", r.Offset, k.obs.logKey(r.Key), "producer", telemetry.Clip(prod), "seq", seq)
	}
}

// checkCount checks the partition count a record is stamped with. A count
// this consumer has not seen for the topic before means the topic's
// partition count changed under an ordered stream: keys moved, and a key's
// records before and after the change may be handled out of order. Called
// at dispatch, with the scheduler's lock held, so that the first record of a new count in
// log order is the one reported.
func (k *checks) checkCount(ps *partState, r *kgo.Record, n int) {
	seen := k.counts[r.Topic]
	if slices.Contains(seen, n) {
		return
	}
	if len(seen) > 0 {
		// New partitions may be unread yet: look now, not at the next
		// metadata refresh (start.go). kgo only signals its refresher.
		k.cl.ForceMetadataRefresh()
		k.stats.countChanges.Add(1)
		k.obs.ins.countChanges.Add(context.Background(), 1, ps.met.add...)
		k.log.Warn("partition count changed under an ordered stream: keys moved, per-key order across the change is not guaranteed",
			"topic", r.Topic, "old_count", seen[len(seen)-1], "new_count", n, "partition", r.Partition, "offset", r.Offset)
	}
	if len(seen) < 64 { // counts only grow; stay bounded anyway
		k.counts[r.Topic] = append(seen, n)
	}
}

// checkPlacement checks that a record's key hashes to its partition under
// the count it is stamped with: one that does not was placed by another
// partitioner or count. A lane calls it (a murmur2 hash per record is
// work the poller need not do). Safe for concurrent use.
func (k *checks) checkPlacement(ps *partState, r *kgo.Record, n int) {
	if r.Key != nil && keyHasher.Partition(r, n) != int(r.Partition) {
		if k.stats.placement.Add(1) == 1 {
			k.log.Warn("record not in the partition its key hashes to under its stamped count (another partitioner?); further ones are only counted",
				"topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "count", n)
		}
		k.obs.ins.placement.Add(context.Background(), 1, ps.met.add...)
	}
}

// keyHasher is partition.For's partitioner (murmur2, as Java's default),
// called on the record itself: partition.For would allocate a record per
// call. Its keyed path is stateless, safe for the lanes to share. TestPlacementCheck holds the two to the same answers.
var keyHasher = kgo.StickyKeyPartitioner(nil).ForTopic("")

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
func (s *scheduler) dropLocked(kq *keyQueue, keep int) {
	n := len(kq.items) - keep
	if n <= 0 {
		return
	}
	s.stats.dropped.Add(int64(n))
	for _, it := range kq.items[keep:] {
		s.unbuffer(it)
		endRecord(it.trace.span, "released", nil) // started, then released for redelivery
	}
	clear(kq.items[keep:])
	kq.items = kq.items[:keep]
}

// unbuffer takes a finished or dropped record off the buffer counts.
func (s *scheduler) unbuffer(it *item) {
	s.buffered--
	s.bufBytes -= it.bytes
	s.countLocked(it.ps, -1, -it.bytes)
	if s.pollWaiting && !s.aboveLowWater() {
		s.space.Signal()
	}
}

// push queues it behind kq's records. An emptied queue starts again at
// the front of its backing array: popping heads (items[1:]) eats the
// array's front, and appending to the rest reallocated for most records.
func (kq *keyQueue) push(it *item) {
	if len(kq.items) == 0 {
		kq.items = kq.buf[:0]
	}
	n := cap(kq.items)
	kq.items = append(kq.items, it)
	if cap(kq.items) != n { // a new array
		kq.buf = kq.items
	}
}

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

// forget removes an empty queue from its partition; it reports whether
// the partition held it (and nothing else does: it may be recycled).
func (ps *partState) forget(kq *keyQueue) bool {
	if kq.keyless {
		_, ok := ps.keyless[kq]
		delete(ps.keyless, kq)
		return ok
	}
	if ps.keys[kq.key] == kq {
		delete(ps.keys, kq.key)
		return true
	}
	return false
}
