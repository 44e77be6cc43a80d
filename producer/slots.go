package producer

import (
	"context"
	"sync/atomic"
)

// slots bounds the records a producer has taken in and not yet reported
// ([MaxBufferedRecords]): a publisher takes a slot before its record is
// handed to kgo, and the record's promise gives it back.
//
// Every event passes here twice, on two goroutines (the publisher's and
// kgo's promise goroutine), so the common case is one atomic operation on
// each side; a buffered channel used as a semaphore took its lock on both.
// Only a publisher that finds the bound reached waits, on wake.
//
// The protocol, and why no wake-up is lost:
//   - take: a publisher counts itself in waiting, then tries again, then
//     sleeps on wake (or ctx, or the producer closing).
//   - put: the promise decrements n, then, if anyone is waiting, sends on
//     wake without blocking (wake holds one signal).
//
// The atomics are sequentially consistent, so either the waiter's retry
// sees put's decrement, or put's read of waiting sees the waiter and
// signals. Two puts may leave one signal for two waiters; so a waiter that
// takes a slot passes a signal on while others still wait, and the chain
// reaches every waiter while slots are free. A spurious signal costs a
// retry.
type slots struct {
	n       atomic.Int64
	max     int64
	waiting atomic.Int32
	wake    chan struct{}
}

func newSlots(max int) *slots {
	return &slots{max: int64(max), wake: make(chan struct{}, 1)}
}

// try takes a slot if one is free.
func (s *slots) try() bool {
	for {
		n := s.n.Load()
		if n >= s.max {
			return false
		}
		if s.n.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// take takes a slot, waiting for one until ctx ends (ctx's error) or
// closed is closed (ErrClosed).
func (s *slots) take(ctx context.Context, closed <-chan struct{}) error {
	if s.try() {
		return nil
	}
	s.waiting.Add(1)
	defer s.waiting.Add(-1)
	for {
		if s.try() {
			if s.waiting.Load() > 1 {
				s.signal() // pass a coalesced signal on (see slots)
			}
			return nil
		}
		select {
		case <-s.wake:
		case <-closed:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// put gives a slot back.
func (s *slots) put() {
	s.n.Add(-1)
	if s.waiting.Load() > 0 {
		s.signal()
	}
}

func (s *slots) signal() {
	select {
	case s.wake <- struct{}{}:
	default: // a signal is already pending
	}
}
