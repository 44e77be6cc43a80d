package consumer

import (
	"context"
	"sync/atomic"
	"time"
)

// Lanes: how records are taken, handled and settled.
//
// A lane claims work in one critical section of the scheduler's lock, handles it with the
// lock released, and settles it in the next critical section, where it
// also claims its next work. A claim is a batch: the oldest ready keys,
// each with its head record, up to the lane's batch size (claimSize). A
// key in a batch is running, so no other lane touches it; the lane handles
// the batch's records one after the other, in claim order.
//
// Why batches. With one record per critical section every record cost two
// hand-offs of the engine's one lock (the poller's dispatch and a lane's
// settle-and-next) and, most of the time, a goroutine wake-up: with fast
// handlers the lanes spent more time queued on the scheduler's lock than handling (block
// profile of issue 15: 5.3 s waited in a 1.3 s run). A batch pays those
// once for many records. Its size adapts to the handlers: a lane claims as
// many keys as its recent records say it can handle in batchBudget, and
// never more than its share of the ready keys (ready/Concurrency, rounded
// up), so slow handlers (1 ms and up) get batches of one and every lane
// stays busy, while fast ones amortise the lock over up to maxBatch
// records. A key waits for the rest of its batch before its next record
// can be claimed: batchBudget bounds that wait. A record slower than its
// lane's recent ones must not hold the keys claimed with it: a lane that
// runs out of work takes over the later half of the unstarted claims of
// the fullest batch before it sleeps (stealLocked), and a batch that
// overruns its budget gives its unstarted claims back (giveBack).
//
// Under the rate cap (a token per record) and during the slow start (a
// bound on the records in flight), batches are of one record: the gate
// counts records.
//
// A record claimed and not started can be taken back, under the scheduler's lock: by a
// revoke (its partition is handed over; dropped for redelivery), by a stop
// (dropped), by Pause (held back). The lane learns it when it comes to the
// record: its claim's state is claimed until the lane starts the record
// (claimed → started, by the lane, without the lock) or it is taken back
// (claimed → cancelled, under the scheduler's lock). The state is the claim's, in the
// lane's batch, not the record's: a record taken back and claimed again
// by another lane is a new claim, and the first lane's stays cancelled.
// Taking it back does the settling
// (running, in-flight counts, the queue), so a revoke's drain never waits
// for other partitions' records in the same batch, and the lane then only
// forgets it. The lane registers its batch in the scheduler's batches at start, so that
// those who take records back can find them.

// Claim states (claim.state).
const (
	stateClaimed   uint32 = iota + 1 // in a batch, not started
	stateStarted                     // the lane is handling it
	stateCancelled                   // taken back before it started
)

const (
	// maxBatch bounds the records a lane claims at once.
	maxBatch = 64
	// batchBudget is how long a lane's batch should take, by its recent
	// records' handling time: the most a ready key waits behind its
	// batch-mates.
	batchBudget = 100 * time.Microsecond
)

// claim is a record a lane has taken: its key queue, the record (the
// queue's head) and the handlers' context of its partition.
type claim struct {
	kq    *keyQueue
	it    *item
	ctx   context.Context
	out   outcome
	state uint32 // claimed, started or cancelled; atomic outside the scheduler's lock
}

// batch is a lane's claimed work. claims is written by its lane under
// the scheduler's lock (claim and settle) and read by others under the scheduler's lock; each claim's state
// is the only thing that changes outside the lock.
type batch struct {
	claims []claim
	avg    time.Duration // handling time per record, moving average; 0 before any
	memo   writerMemo    // the lane's last writer schema and its handler (pipeline.go)
}

// lane runs until the consumer stops, handling batches of ready keys'
// head records. Settling a batch and claiming the next happen in one
// critical section.
func (c *Consumer) lane() {
	defer c.lanes.Done()
	b := &batch{claims: make([]claim, 0, 8)}
	lt := c.gate.newLaneToken()
	c.sched.join(b)
	for c.sched.next(b, lt) {
		c.runBatch(b)
	}
}

// join registers a lane's batch, so that those who take claims back can
// find it.
func (s *scheduler) join(b *batch) {
	s.mu.Lock()
	s.batches[b] = struct{}{}
	s.mu.Unlock()
}

// next settles b, the batch its lane has handled, and claims the lane's
// next batch into it, in one critical section; it reports false, and
// forgets b, when the consumer stops.
func (s *scheduler) next(b *batch, lt *laneToken) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleBatchLocked(b)
	if !s.claimLocked(b, lt) {
		delete(s.batches, b)
		return false
	}
	return true
}

// runBatch handles b's records in order, without the lock. A batch that
// overruns its budget (a record slower than the lane's recent ones) gives
// its unstarted records back to the ready list, so that other lanes take
// them: a slow record holds its batch-mates at most as long as it runs
// itself, not for the rest of the batch too.
func (c *Consumer) runBatch(b *batch) {
	start := time.Now()
	end := start
	n, ok := 0, 0
	for i := range b.claims {
		cl := &b.claims[i]
		if !atomic.CompareAndSwapUint32(&cl.state, stateClaimed, stateStarted) {
			continue // taken back
		}
		n++
		if !cl.it.hdr.checked {
			c.checks.checkSeq(cl.kq.ps, cl.it)
		}
		cl.out = c.pipe.processOrExpire(cl.ctx, cl.kq.ps, cl.it, &b.memo)
		if cl.out.outcome == "handled" {
			ok++
		}
		// The monotonic clock only (time.Since reads no wall clock, as
		// time.Now does): end serves durations, and a clock read per
		// record was ~3% of the consumer's CPU per record.
		end = start.Add(time.Since(start))
		if cl.out.done || cl.out.fatal != nil {
			c.obs.recordDuration(cl.ctx, cl.kq.ps, cl.it, cl.out.err, end)
		}
		if cl.out.fatal != nil {
			break // the consumer halts: the rest are settled unstarted
		}
		if i+1 < len(b.claims) && end.Sub(start) > 2*batchBudget {
			c.sched.giveBack(b, i+1)
			break
		}
	}
	c.brk.succeeded(ok) // the breaker's window, one lock per batch
	if n > 0 {
		per := end.Sub(start) / time.Duration(n)
		if b.avg == 0 {
			b.avg = per
		} else {
			b.avg = (3*b.avg + per) / 4
		}
	}
}

// stealLocked is a lane's last look before it waits for work: it takes
// back the later half (rounded up) of the unstarted claims of the batch
// that has the most, putting their keys on the ready list, and reports
// whether it did.
// A lane claims many keys only when many are ready; at the tail of the
// work, or behind a record slower than its batch-mates, the lanes that
// run out of work take over the rest instead of sleeping beside it.
// Claims are started in order, so a batch's unstarted ones are at its end.
// Batches are looked at only while some batch has more than one claim
// (the scheduler's locklti): with hundreds of lanes and slow handlers every batch is of
// one, and the look costs a comparison.
//
// What stealing cannot undo: the records a lane handled before the slow
// one in the same batch are settled with the batch, so their keys' next
// records wait for the slow one too. Those are at most a batch's budget
// of work (the lane batches only while its records take well under
// batchBudget), and their records are done; only the keys' later records
// wait.
func (s *scheduler) stealLocked(own *batch) bool {
	if s.multi == 0 {
		return false // no batch of more than one: nothing to look at (with many lanes, most are idle)
	}
	var from *batch
	most := 0
	for b := range s.batches {
		if b == own {
			continue
		}
		n := 0
		for i := len(b.claims) - 1; i >= 0; i-- {
			st := atomic.LoadUint32(&b.claims[i].state)
			if st == stateStarted {
				break
			}
			if st == stateClaimed {
				n++
			}
		}
		if n > most {
			from, most = b, n
		}
	}
	if from == nil {
		return false
	}
	took := 0
	for i := len(from.claims) - 1; i >= 0 && took < (most+1)/2; i-- {
		cl := &from.claims[i]
		if s.cancelLocked(cl, true) {
			took++
		}
	}
	if took > 0 {
		s.idle.Broadcast()
	}
	return took > 0 && s.ready.len() > 0
}

// giveBack puts b's claims from the from-th on back on the ready list,
// those not started or taken back already, and wakes a lane for them.
func (s *scheduler) giveBack(b *batch, from int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := from; i < len(b.claims); i++ {
		cl := &b.claims[i]
		s.cancelLocked(cl, !s.stopping)
	}
	s.idle.Broadcast()
	s.wakeLocked()
}

// claimSize is how many keys b may claim now.
func (s *scheduler) claimSize(b *batch, limited bool) int {
	if limited || b.avg == 0 {
		return 1
	}
	n := min(maxBatch, int(batchBudget/max(b.avg, 1)))
	share := (s.ready.len() + s.concurrency - 1) / s.concurrency
	return max(1, min(n, share))
}

// claimLocked waits for ready keys and claims a batch of them, oldest
// first; it returns false when the consumer stops. This is the "dispatch
// gated" seam (replay.go): a lane parked by the slow start takes nothing,
// and under a rate cap a lane holds a token (lt) before it takes the
// oldest ready key, waiting for one with mu released and no key held.
func (s *scheduler) claimLocked(b *batch, lt *laneToken) bool {
	for {
		var shut, probe bool // the breaker's gate (breaker.go)
		for !s.stopping {
			shut, probe = s.brk.gateLocked(s)
			parked := s.gate.parkedLocked(s.inflight)
			if s.ready.len() > 0 && !parked && !shut {
				break
			}
			if !parked && !shut && !probe && s.stealLocked(b) {
				break
			}
			s.waiting++
			s.work.Wait()
			s.waiting--
		}
		if s.stopping {
			return false
		}
		if s.gate.waitTokenLocked(lt, &s.mu, s.ending.Done()) {
			continue // mu was released: look again
		}
		now := time.Now() // one clock read for the batch: its records' start
		if probe {
			if s.claimProbeLocked(b, lt, now) {
				return true
			}
			continue
		}
		limited := lt != nil && s.gate.limitingLocked() || s.gate.slowStartingLocked() || s.outputsNearLocked()
		want := s.claimSize(b, limited)
		for len(b.claims) < want && s.ready.len() > 0 {
			s.claimOneLocked(b, lt, now)
		}
		if len(b.claims) == 0 {
			continue
		}
		if len(b.claims) > 1 {
			s.multi++
		}
		if s.waiting > 0 && (s.ready.len() > 0 || len(b.claims) > 1) {
			// Work is left, or this batch can be shared: a lane that
			// sleeps would not take over its unstarted claims should one
			// of its records turn out slow (stealLocked).
			s.work.Signal()
		}
		return true
	}
}

// claimOneLocked pops the oldest ready key and claims its head record into
// b, unless the key's partition is revoked or paused.
func (s *scheduler) claimOneLocked(b *batch, lt *laneToken, now time.Time) {
	s.claimKeyLocked(b, lt, s.ready.pop(), now)
}

// claimKeyLocked claims the head record of kq, popped from the ready
// list, into b, unless its partition is revoked or paused.
func (s *scheduler) claimKeyLocked(b *batch, lt *laneToken, kq *keyQueue, now time.Time) {
	if kq.ps.revoked || len(kq.items) == 0 {
		kq.scheduled = false
		return
	}
	if s.holdLocked(kq) {
		return // paused: Resume puts it back
	}
	it := kq.items[0]
	if s.partitionWaitLocked(kq, it, now) {
		return // its partition's token is due later: it waits for it
	}
	if kq.ps.q != nil {
		markQuarantine(kq.ps, it)
	}
	s.gate.takenLocked(lt, it)
	kq.running = true
	kq.ps.inflight++
	s.inflight++
	if it.trace.start.IsZero() {
		it.trace.start = now // under s.mu: a revoke reads it
	}
	b.claims = append(b.claims, claim{kq: kq, it: it, ctx: kq.ps.handlerCtx(s.handlerCtx), state: stateClaimed})
}

// settleBatchLocked settles every record of b its lane started, and
// empties b.
func (s *scheduler) settleBatchLocked(b *batch) {
	if len(b.claims) == 0 {
		return
	}
	for i := range b.claims {
		cl := &b.claims[i]
		switch atomic.LoadUint32(&cl.state) {
		case stateStarted:
			s.settleLocked(cl.kq, cl.it, cl.out)
		case stateClaimed: // the lane stopped short (a halt): back to the ready list
			cl.state = stateCancelled
			s.untakeLocked(cl.kq, !s.stopping)
		}
	}
	if len(b.claims) > 1 {
		s.multi--
	}
	clear(b.claims)
	b.claims = b.claims[:0]
	s.idle.Broadcast()
}

// takeBackLocked takes back every claimed, unstarted record of the
// partitions that match, as if its lane had settled it untouched: a revoke
// or a stop drops it (it is delivered again), Pause puts its key back on
// the ready list, where it is held.
func (s *scheduler) takeBackLocked(match func(*partState) bool, hold bool) {
	for b := range s.batches {
		for i := range b.claims {
			cl := &b.claims[i]
			if match(cl.kq.ps) {
				s.cancelLocked(cl, hold)
			}
		}
	}
	s.idle.Broadcast()
}

// cancelLocked takes cl back if its lane has not started it (claimed →
// cancelled), and undoes the claim (untakeLocked); it reports whether it
// did.
func (s *scheduler) cancelLocked(cl *claim, requeue bool) bool {
	if !atomic.CompareAndSwapUint32(&cl.state, stateClaimed, stateCancelled) {
		return false
	}
	s.untakeLocked(cl.kq, requeue)
	return true
}

// untakeLocked undoes the claim of kq's head record, which did not start:
// its key goes back on the ready list (requeue), or its records are
// dropped for redelivery.
func (s *scheduler) untakeLocked(kq *keyQueue, requeue bool) {
	if len(kq.items) > 0 {
		s.endProbeLocked(kq.items[0])
	}
	kq.running = false
	kq.ps.inflight--
	s.inflight--
	if requeue && !kq.ps.revoked {
		s.ready.push(kq) // still scheduled
		return
	}
	s.dropLocked(kq, 0)
	kq.scheduled = false
}

// settleLocked applies a lane's outcome to the record's key queue and
// partition. The partition's new commit point is marked to kgo in batches
// by the marker, not here: a mark per record would cost a lock and two
// maps each.
func (s *scheduler) settleLocked(kq *keyQueue, it *item, out outcome) {
	ps := kq.ps
	kq.running = false
	ps.inflight--
	s.inflight--
	s.endProbeLocked(it)
	if out.done && ps.q != nil && (out.dead || it.q.kind == qRedriven) {
		out.fatal = s.quar.settleLocked(ps, it, out) // a full quarantine: halt, the record unfinished
	}
	switch {
	case out.fatal != nil:
		s.haltLocked(out.fatal) // the key stays stuck at its head: nothing passes it
	case out.done:
		it.replay.how = howOf(out.outcome)
		endRecord(it.trace.span, out.outcome, nil)
		s.finishLocked(kq, it)
		return
	case out.after > 0 && !s.stopping && !ps.revoked:
		it.replay.paid = false // another attempt takes another token, as under RateLimit
		s.afterLocked(out.after, kq)
	default: // abandoned: stopping, or revoked while it ran
		if out.abandoned { // counted once, as abandoned; the rest are dropped
			endRecord(it.trace.span, "abandoned", nil)
			it.trace.span = nil
			kq.items[0] = nil
			kq.items = kq.items[1:]
			s.unbuffer(it)
		}
		s.dropLocked(kq, 0)
		kq.scheduled = false
	}
	if out.fatal != nil {
		endRecord(it.trace.span, out.outcome, out.fatal)
		it.trace.span = nil
	}
}

// finishLocked takes a finished record (handled, or finished elsewhere)
// off the head of its key queue and marks its offset finished in the
// partition's tracker: the one place an offset becomes markable. The
// key's next record, if any, goes back on the ready list; an emptied
// queue and the record's item are recycled.
func (s *scheduler) finishLocked(kq *keyQueue, it *item) {
	ps := kq.ps
	kq.items[0] = nil
	kq.items = kq.items[1:]
	s.unbuffer(it)
	s.keepOutputsLocked(ps, it) // until their transaction commits (txn_bound.go)
	before := ps.tracker.pending()
	if ps.tracker.finishAs(it.rec.Offset, it.replay.how) {
		ps.commit.dirty = true
		if !ps.revoked { // a revoked partition's entries were uncounted at once
			s.tracked -= before - ps.tracker.pending()
		}
	}
	s.releaseLowestLocked(ps) // its lowest unfinished record may have moved (txn_bound.go)
	s.freeItem(it)
	if len(kq.items) > 0 {
		s.ready.push(kq) // this lane (or one it signals) takes the oldest next
		return
	}
	kq.scheduled = false
	if s.keepIdleLocked(kq) {
		return
	}
	if ps.forget(kq) && !kq.held {
		s.freeQueue(kq)
	}
}

// keepIdleLocked keeps kq, just emptied, in its partition's keys as an
// idle queue, while the idle queues kept number fewer than MaxBuffered;
// it reports whether it did. The key's next record finds it there
// (dispatch): forgetting it and making it again cost a copy of the key,
// a map insert and a map delete, and with about a record per key
// buffered (10,000 keys, the default MaxBuffered) a quarter of the
// records made their key's queue anew (issue 20). An idle queue is
// empty and unscheduled, like a forgotten one to everything that walks
// the keys; the bound keeps their memory to ~MaxBuffered queues. A
// revoked partition keeps none: release counted its idle queues out.
//
// A keyed queue that finishes a record is in its partition's keys:
// only finishLocked forgets one, and a queue forgotten (emptied) gets no
// record again, the key's next one makes a new queue.
func (s *scheduler) keepIdleLocked(kq *keyQueue) bool {
	if kq.keyless || kq.held || kq.ps.revoked || s.idleKeys >= s.maxBuffered {
		return false
	}
	kq.idle = true
	kq.ps.idleKeys++
	s.idleKeys++
	return true
}

// wakeIdleLocked takes kq, an idle queue a record is dispatched to, off
// the idle count.
func (s *scheduler) wakeIdleLocked(kq *keyQueue) {
	kq.idle = false
	kq.ps.idleKeys--
	s.idleKeys--
}

// afterLocked puts kq back on the ready list after d: the "not ready until"
// seam. The key's later records wait with it; other keys keep their lanes.
func (s *scheduler) afterLocked(d time.Duration, kq *keyQueue) {
	var t *time.Timer
	kq.ps.parked++
	t = time.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.timers[t]; !ok {
			return // stopped
		}
		delete(s.timers, t)
		kq.ps.parked--
		if s.stopping || kq.ps.revoked {
			kq.scheduled = false
			return
		}
		s.ready.push(kq)
		s.work.Signal()
	})
	s.timers[t] = struct{}{}
}

// wakeLocked wakes a waiting lane if keys are ready: the poller calls it
// after dispatching a chunk of records, not per record, and the lane
// passes the wake on while work is left (claimLocked).
func (s *scheduler) wakeLocked() {
	if s.waiting > 0 && s.ready.len() > 0 {
		s.work.Signal()
	}
}

// newItem returns a cleared item, recycled if one is free.
func (s *scheduler) newItem() *item {
	if n := len(s.freeItems); n > 0 {
		it := s.freeItems[n-1]
		s.freeItems[n-1] = nil
		s.freeItems = s.freeItems[:n-1]
		return it
	}
	return new(item)
}

// freeItem recycles a finished record's item. Nothing refers to it any
// more: its key queue let go of it, its lane's batch is being settled, and
// its span, dead-letter state and backoffs are done with.
func (s *scheduler) freeItem(it *item) {
	*it = item{}
	if len(s.freeItems) < s.maxBuffered {
		s.freeItems = append(s.freeItems, it)
	}
}

// newQueue returns an empty key queue for ps, recycled if one is free.
func (s *scheduler) newQueue(ps *partState, key []byte) *keyQueue {
	var kq *keyQueue
	if n := len(s.freeQueues); n > 0 {
		kq = s.freeQueues[n-1]
		s.freeQueues[n-1] = nil
		s.freeQueues = s.freeQueues[:n-1]
	} else {
		kq = new(keyQueue)
	}
	kq.ps = ps
	if key == nil {
		kq.keyless = true
	} else {
		kq.key = string(key)
	}
	return kq
}

// freeQueue recycles an emptied key queue that its partition forgot; its
// backing array is kept.
func (s *scheduler) freeQueue(kq *keyQueue) {
	*kq = keyQueue{buf: kq.buf[:0]}
	if len(s.freeQueues) < s.maxBuffered {
		s.freeQueues = append(s.freeQueues, kq)
	}
}
