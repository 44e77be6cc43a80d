package consumer

import (
	"context"
	"slices"
)

// Fair shares of the buffer: catch-up never starves live traffic.
//
// A partition held back by a rate cap ([PartitionRateLimit] on it, or
// [RateLimit] while it is in catch-up or with scope [Always]) drains at
// its cap. Were its records free to fill the shared buffer (MaxBuffered,
// half of MaxBufferedBytes), the poller would stop dispatching, and then
// polling, for every partition until the cap let them out: a live
// partition's events waited behind a 20,000-record catch-up (issue 21:
// 0 of 500 handled in 12 s). So a capped partition holds at most its
// share of the buffer, the buffer split evenly over the assigned
// partitions (at least one record). At its share it is over: its staged
// records wait in the poller (they are not dispatched, and count nothing
// against the buffer), its fetch is paused at kgo (fetchpause.go, reason
// fetchCap: what kgo had buffered for it is dropped and fetched again
// later), and the poller goes on polling and dispatching the other
// partitions. When the lanes have drained it to half its share, the
// poller dispatches its staged records and resumes its fetch. Memory
// stays what MaxBufferedBytes bounds: the dispatched records count as
// before, and an over partition's staged records are at most the fetch
// it was polled in.
//
// The ready list serves partitions not in catch-up first (ready.go), so
// that under the global cap a live partition's records take tokens before
// any backlog's: the catch-up takes the rest of the cap.
//
// State: fair and partState.share are the scheduler's, under its lock;
// over is set and cleared by the poller only. wake ends the poller's
// PollFetches when an over partition drains (unbuffer, by a lane):
// without it, a poll waiting for records of other partitions, or for
// none, would hold the drained partition's staged records and paused
// fetch until something else arrived.
type fair struct {
	over map[*partState]struct{} // partitions at their share
	wake context.CancelFunc      // ends the poller's current poll; nil while it does not poll
}

// partShare is a partition's part of the buffer counts.
type partShare struct {
	buffered int  // its records dispatched and not finished or dropped
	bytes    int  // what they hold (recordBytes)
	over     bool // at its share: staged records wait, fetch paused
}

// cappedLocked reports whether a rate cap holds ps back now. Called with
// the scheduler's lock held.
func (s *scheduler) cappedLocked(ps *partState) bool {
	catchingUp := ps.tracker.acct != nil
	if pr := s.partRate; pr.rate > 0 && (pr.scope == Always || catchingUp) {
		return true
	}
	return s.gate.limitingLocked() && (catchingUp || s.gate.cfg.scope == Always)
}

// shareLocked is a capped partition's share of the buffer: records, and
// bytes of the dispatched half of MaxBufferedBytes.
func (s *scheduler) shareLocked() (recs, bytes int) {
	n := max(1, len(s.parts))
	return max(1, s.maxBuffered/n), max(1, s.maxBufferedBytes/2/n)
}

// atShareLocked reports whether capped ps holds its share.
func (s *scheduler) atShareLocked(ps *partState) bool {
	recs, bytes := s.shareLocked()
	return ps.share.buffered >= recs || ps.share.bytes >= bytes
}

// drainedLocked reports whether an over partition may take records
// again: its cap no longer applies, or the lanes drained it to half its
// share, or it is no longer assigned as it was.
func (s *scheduler) drainedLocked(ps *partState) bool {
	if ps.revoked || s.parts[ps.tp] != ps || !s.cappedLocked(ps) {
		return true
	}
	recs, bytes := s.shareLocked()
	return ps.share.buffered <= recs/2 && ps.share.bytes <= bytes/2
}

// countLocked adds (n > 0) or takes off a record of ps from its share;
// a drained over partition wakes the poller.
func (s *scheduler) countLocked(ps *partState, n, bytes int) {
	ps.share.buffered += n
	ps.share.bytes += bytes
	if n < 0 && ps.share.over && s.fair.wake != nil && s.drainedLocked(ps) {
		s.fair.wake()
		s.fair.wake = nil
	}
}

// markOverLocked makes ps over if a cap holds it and it is at its share.
func (s *scheduler) markOverLocked(ps *partState) {
	if ps.share.over || !s.cappedLocked(ps) || !s.atShareLocked(ps) {
		return
	}
	ps.share.over = true
	if s.fair.over == nil {
		s.fair.over = make(map[*partState]struct{})
	}
	s.fair.over[ps] = struct{}{}
}

// pollContext returns the context to poll with, and what ends it once
// the poll returned; nil when the poller must not poll now: staged
// records can be dispatched, or an over partition drained (fairFetch
// resumes it first).
func (s *scheduler) pollContext(pollCtx context.Context, staged []stagedPart) (context.Context, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range staged {
		if ps := staged[i].ps; ps == nil || !ps.share.over {
			return nil, nil
		}
	}
	for ps := range s.fair.over {
		if s.drainedLocked(ps) {
			return nil, nil
		}
	}
	ctx, cancel := context.WithCancel(pollCtx)
	s.fair.wake = cancel
	return ctx, func() {
		s.mu.Lock()
		s.fair.wake = nil
		s.mu.Unlock()
		cancel()
	}
}

// fairFetch brings the fetch in line with the shares: an over partition's
// fetch is paused, and one no longer over (drained, or revoked) resumed.
// Called by the poller before it allows a rebalance: a partition's state
// does not change under it.
func (c *Consumer) fairFetch() {
	s := &c.sched
	held := s.fetch.heldFor(fetchCap)
	var pause, resume map[string][]int32
	s.mu.Lock()
	if len(held) == 0 && len(s.fair.over) == 0 {
		s.mu.Unlock()
		return
	}
	for ps := range s.fair.over {
		if s.drainedLocked(ps) {
			ps.share.over = false
			delete(s.fair.over, ps)
		} else if !slices.Contains(held, ps.tp) {
			pause = addPartition(pause, ps.tp)
		}
	}
	for _, k := range held {
		if ps := s.parts[k]; ps == nil || !ps.share.over {
			resume = addPartition(resume, k)
		}
	}
	s.mu.Unlock()
	if len(pause) > 0 {
		s.fetch.pause(c.cl, fetchCap, pause)
	}
	if len(resume) > 0 {
		s.fetch.resume(c.cl, fetchCap, resume)
	}
}

// addPartition adds k to m, made if nil.
func addPartition(m map[string][]int32, k tp) map[string][]int32 {
	if m == nil {
		m = make(map[string][]int32)
	}
	m[k.topic] = append(m[k.topic], k.partition)
	return m
}
