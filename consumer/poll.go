package consumer

import (
	"context"
	"errors"
	"slices"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The poller: Run's own goroutine, the one every record passes through.
//
// It polls everything franz-go has fetched, stages it, and dispatches the
// staged records into the key queues while the buffer has room: records
// dispatched and not finished never pass MaxBuffered (or half of
// MaxBufferedBytes). When the buffer is full it waits until the lanes
// have drained it to half, then dispatches more; it polls again only when
// nothing staged can be dispatched, so staged records keep their log
// order: what is left staged then belongs to partitions over their share
// of the buffer under a rate cap, whose fetch is paused (fair.go). A record
// counts what it holds (recordBytes); one that joins a key lagging the
// flow is copied out of its batch first (detachIfWaiting).
//
// Why stage, rather than poll only what fits: kgo fetches from a broker
// again only once the fetch it buffered is drained. Polling up to the
// room left a fetch half taken, kgo idle while the lanes worked through
// the room, and then the lanes idle while kgo fetched and decoded the next
// fetch (~100k small records, tens of milliseconds): the consumer ran at
// well under half of a raw poll loop (issue 15). Staged, kgo's next fetch
// overlaps the lanes' work. Staged records take what they took in kgo's
// buffer: one fetch at most, which the fetch limits bound.
//
// A rebalance may run between polls (kgo.BlockRebalanceOnPoll holds it
// only until AllowRebalance), so a staged record can outlive its
// partition's assignment. Each staged run of records remembers the
// partition state it was polled under; a record is dropped at dispatch if
// that state was revoked or replaced (assigned again: kgo then fetches
// from the committed offset, and the record comes again).

// stagedPart is one partition's records of the last poll not yet
// dispatched, with the partition's state when they were polled.
type stagedPart struct {
	ps   *partState
	recs []*kgo.Record
}

// poll fetches records and hands them to the key queues until pollCtx is
// cancelled.
func (c *Consumer) poll(pollCtx context.Context) {
	var staged []stagedPart
	for {
		if !c.sched.waitRoom(pollCtx) {
			return
		}
		if ctx, done := c.sched.pollContext(pollCtx, staged); ctx != nil {
			fs := c.cl.PollFetches(ctx)
			done()
			if fs.IsClientClosed() {
				c.cl.AllowRebalance()
				return
			}
			fs.EachError(func(topic string, p int32, err error) {
				// A stop ends the poll with ctx's error (Canceled, or
				// DeadlineExceeded when Run's ctx had a deadline) or
				// ErrClientClosed, and so does a drained partition's wake
				// (fair.go): not worth a warning.
				if ctx.Err() == nil && !errors.Is(err, kgo.ErrClientClosed) {
					c.log.Warn("fetch error", "topic", topic, "partition", p, "error", err)
				}
			})
			staged = c.sched.stage(fs, staged)
		}
		staged = c.sched.dispatchStaged(staged)
		c.fairFetch()               // before a rebalance may run: the partitions are as dispatched
		c.gate.seek(&c.sched, c.cl) // before a rebalance may run, as kgo asks
		c.cl.AllowRebalance()
	}
}

// waitRoom waits while the buffer is full, until the lanes drain it to
// half: waiting for the first free slot meant dispatching a record at a
// time and a wake-up per finished record. It reports false when the poll
// is to end.
func (s *scheduler) waitRoom(pollCtx context.Context) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.full() {
		s.pollWaiting = true
		for s.aboveLowWater() && !s.stopping && pollCtx.Err() == nil {
			s.space.Wait()
		}
		s.pollWaiting = false
	}
	return pollCtx.Err() == nil
}

// stage records each polled partition's high watermark and appends its
// records to staged, with the partition's state.
func (s *scheduler) stage(fs kgo.Fetches, staged []stagedPart) []stagedPart {
	s.mu.Lock()
	defer s.mu.Unlock()
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		ps := s.parts[tp{p.Topic, p.Partition}]
		if ps != nil && p.Err == nil {
			ps.hwm = p.HighWatermark
		}
		if len(p.Records) > 0 {
			staged = append(staged, stagedPart{ps: ps, recs: p.Records})
		}
	})
	return staged
}

// dispatchStaged dispatches staged records, oldest first, until the
// buffer is full or none are left, and returns what is left. A partition
// over its share of the buffer (fair.go) is passed over: its records wait
// in staged, in their order, and the others' flow. It lets the lanes in
// every 128 records.
//
// Each run's records are read (prepare: headers, size) before the lock is
// taken, while the lanes have it.
func (s *scheduler) dispatchStaged(staged []stagedPart) []stagedPart {
	var buf [dispatchRunLen]prepared
	i := 0 // staged[:i] wait: their partitions are over their share
	pre := s.prepare(staged, i, buf[:0])
	s.mu.Lock()
	defer s.mu.Unlock()
	for i < len(staged) && !s.full() {
		sp := &staged[i]
		if sp.ps == nil || sp.ps.revoked || s.parts[sp.ps.tp] != sp.ps {
			s.stats.fetched.Add(int64(len(sp.recs)))
			s.stats.dropped.Add(int64(len(sp.recs))) // delivered again to the partition's owner
			staged = slices.Delete(staged, i, i+1)
			pre = pre[:0] // they were its records
			continue
		}
		if sp.ps.share.over {
			i++
			pre = pre[:0]
			continue
		}
		if len(pre) == 0 { // after a dropped or passed run: read under the lock, once
			pre = s.prepare(staged, i, buf[:0])
		}
		s.dispatchRun(sp, pre)
		if len(sp.recs) == 0 {
			staged = slices.Delete(staged, i, i+1)
		}
		s.wakeLocked()
		s.mu.Unlock() // let the lanes in
		pre = s.prepare(staged, i, buf[:0])
		s.mu.Lock()
	}
	s.wakeLocked()
	return staged
}

// dispatchRunLen is the most records dispatched in one critical section.
const dispatchRunLen = 128

// prepare reads the next run of staged[i] (up to dispatchRunLen records)
// into pre. Its partition may be revoked
// meanwhile: dispatchStaged looks before it dispatches them. Called by
// the poller only.
func (s *scheduler) prepare(staged []stagedPart, i int, pre []prepared) []prepared {
	if i >= len(staged) || staged[i].ps == nil {
		return pre
	}
	sp := &staged[i]
	for _, r := range sp.recs[:min(len(sp.recs), cap(pre))] {
		pre = append(pre, s.checks.prepare(sp.ps, r))
	}
	return pre
}

// dispatchRun dispatches sp's first records, read into pre, while the
// buffer has room and the partition is under its share (fair.go), and
// counts them once. Called with the scheduler's lock
// held; the partition is still sp.ps.
func (s *scheduler) dispatchRun(sp *stagedPart, pre []prepared) {
	n, queued := 0, 0
	capped := s.cappedLocked(sp.ps)
	for n < len(pre) && !s.full() && !(capped && s.atShareLocked(sp.ps)) {
		if s.dispatch(sp.ps, sp.recs[n], &pre[n]) {
			queued++
		}
		sp.recs[n] = nil
		n++
	}
	sp.recs = sp.recs[n:]
	if capped {
		s.markOverLocked(sp.ps)
	}
	s.stats.fetched.Add(int64(n))
	if queued > 0 {
		s.obs.ins.consumed.AddSet(context.Background(), int64(queued), sp.ps.met.consumedSet)
	}
}

// full reports whether the records buffered reach MaxBuffered or their
// bytes half of MaxBufferedBytes (the other half is kgo's). Called with
// the scheduler's lock held.
func (s *scheduler) full() bool {
	return s.buffered >= s.maxBuffered || s.heldBytes() >= s.maxBufferedBytes/2
}

// aboveLowWater reports whether a full buffer has not yet drained to half
// (of MaxBuffered, and of its share of MaxBufferedBytes). Called with the scheduler's lock
// held.
func (s *scheduler) aboveLowWater() bool {
	return s.buffered > s.maxBuffered/2 || s.heldBytes() > s.maxBufferedBytes/4
}

// heldBytes is what the records held count against MaxBufferedBytes: the
// buffered ones (recordBytes), and the tracker entries of records
// finished behind an unfinished one, which wait there until the commit
// point passes them. A key retrying for minutes while its partition's
// other keys flow leaves an entry per record handled meanwhile: counted,
// they stop the poller before they grow without bound (at the default,
// after more than a million records), and the stuck watcher reports the
// partition. Called with the scheduler's lock held.
func (s *scheduler) heldBytes() int {
	return s.bufBytes + (s.tracked-s.buffered)*trackEntrySize
}

// What a buffered record holds, as counted against MaxBufferedBytes
// (recordBytes). franz-go decodes a record into a Record (160 bytes) in
// a slab per batch, behind a pointer in the fetch; its key, value and
// header values are slices of the batch's bytes, and its headers a slice
// of RecordHeader (40 bytes each) whose keys are strings of their own.
// The consumer adds the item (its queue slot, its tracker entry). A
// header of one or two bytes takes 20 times its wire size decoded:
// counting only key and value, records of 10,000 headers held 219MiB at a
// 4MiB bound (issue 19).
const (
	recordOverhead = int(unsafe.Sizeof(kgo.Record{})+unsafe.Sizeof(item{})) + 8 + 8 + trackEntrySize
	headerOverhead = int(unsafe.Sizeof(kgo.RecordHeader{})) + 8 // and its key's allocation, rounded up
)

// recordBytes is what a buffered record is counted as against
// MaxBufferedBytes: its key, its value twice (the bytes fetched, and the
// event a lane decodes from them, which for Avro takes about the body's
// size in Go values: strings and byte slices are copied out), its
// headers' keys and values with headerOverhead each, and recordOverhead.
// The dispatcher computes it once per record (item.bytes): a record of
// 10,000 headers is read once.
func recordBytes(r *kgo.Record) int {
	n := recordOverhead + len(r.Key) + 2*len(r.Value) + len(r.Headers)*headerOverhead
	for i := range r.Headers {
		n += len(r.Headers[i].Key) + len(r.Headers[i].Value)
	}
	return n
}

// detachIfWaiting returns r, or when r joins a key whose head has waited
// while its partition's records of more than half of MaxBufferedBytes
// were dispatched after it (more than the buffer holds: the head lags the
// flow, a slow or retrying record with its key's later records queued
// behind it), a copy of r that holds only its own bytes. Called with
// the scheduler's lock held.
//
// Why: franz-go decodes a batch's records into one slab of Records, and
// their keys, values and header values are slices of the batch's bytes
// (of the whole fetch response, uncompressed). A record that waits keeps
// its whole batch alive, every record in it, long after the others are
// handled, and counts for only its own bytes: a key blocked among 1,000
// held 44-54MiB at an 8MiB bound, a batch per queued record (issue 19).
// A copy is two allocations, so only the records of a key that lags are
// copied: in a replay of 200,000 records over 1,000 keys on one
// partition, under 1% are (at an eighth of the bound, 60% were). Those
// of the key dispatched before it was seen to lag keep at most the
// batches of half the bound.
func (s *scheduler) detachIfWaiting(kq *keyQueue, r *kgo.Record) *kgo.Record {
	if len(kq.items) == 0 || kq.ps.fed-kq.items[0].fed < s.maxBufferedBytes/2 {
		return r
	}
	return detach(r)
}

// detach returns a copy of r whose key, value and header values are in
// one buffer of its own, and whose Record is not in franz-go's slab. The
// headers slice is r's own allocation (not the batch's): it is kept, its
// values pointed into the copy. A nil key or value stays nil.
func detach(r *kgo.Record) *kgo.Record {
	n := len(r.Key) + len(r.Value)
	for i := range r.Headers {
		n += len(r.Headers[i].Value)
	}
	buf := make([]byte, 0, n)
	own := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		buf = append(buf, b...)
		return buf[len(buf)-len(b) : len(buf) : len(buf)]
	}
	d := *r
	d.Key, d.Value = own(r.Key), own(r.Value)
	for i := range d.Headers {
		d.Headers[i].Value = own(d.Headers[i].Value)
	}
	return &d
}
