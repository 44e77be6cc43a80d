package producer

import (
	"context"
	"sync"
	"sync/atomic"
)

// slots bounds the records a producer has taken in and not yet reported
// ([MaxBufferedRecords]) and the bytes they hold ([MaxBufferedBytes]), and
// counts the records not yet finished, for Close. A publisher takes a slot before its record is handed to kgo; the
// record's promise gives the slot back (put) before the record's done
// callback, and marks the record finished (finish) after it.
//
// Every event passes here on two goroutines (the publisher's and kgo's
// promise goroutine), so both counts share one word, n: the publisher's
// take is one atomic operation for both, and the word moves between the
// two cores' caches as little as it can. (A buffered channel used as a
// semaphore and a sync.WaitGroup took a lock on both sides and moved two
// cache lines per event.) Only a publisher that finds the bound reached
// waits, on wake.
//
// The wait, and why no wake-up is lost:
//   - take: a publisher counts itself in waiting, then tries again, then
//     sleeps on wake (or ctx, or the producer closing).
//   - put: decrements the slots taken, then, if anyone is waiting, sends
//     on wake without blocking (wake holds one signal).
//
// The bytes are a second word, taken before the slot and given back with
// it by put (so one signal covers both); a slot not had gives its bytes
// back at once. A record larger than the byte bound is admitted when no
// bytes are held, alone: refusing it would wait for ever.
//
// The atomics are sequentially consistent, so either the waiter's retry
// sees put's decrement, or put's read of waiting sees the waiter and
// signals. Two puts may leave one signal for two waiters; so a waiter that
// takes a slot passes a signal on while others still wait, and the chain
// reaches every waiter while slots are free. A spurious signal costs a
// retry.
//
// Close's wait (drain) works the same way: close sets closing, then reads
// the count of unfinished records; finish decrements it, then reads
// closing. Whichever comes second sees the other: the last finish after
// close closes drained.
type slots struct {
	n       atomic.Uint64 // low half: slots taken; high half: records not finished
	max     uint64
	bytes   atomic.Int64 // bytes held by the records taken
	maxB    int64
	waiting atomic.Int32
	wake    chan struct{}

	closing   atomic.Bool
	drained   chan struct{}
	drainOnce sync.Once
}

const (
	oneSlot    = 1
	oneRecord  = 1 << 32
	slotsMask  = oneRecord - 1
	takeOne    = oneSlot | oneRecord
	maxSlotsOK = slotsMask // MaxBufferedRecords is far below
)

func newSlots(max int, maxBytes int64) *slots {
	return &slots{max: uint64(min(max, maxSlotsOK)), maxB: maxBytes, wake: make(chan struct{}, 1), drained: make(chan struct{})}
}

// try takes a slot and size bytes if both are free.
func (s *slots) try(size int64) bool {
	if !s.tryBytes(size) {
		return false
	}
	if s.trySlot() {
		return true
	}
	s.bytes.Add(-size)
	if s.waiting.Load() > 0 {
		s.signal() // the bytes held for an instant may have turned a waiter away
	}
	return false
}

// tryBytes takes size bytes if they fit, or if none are held (a record
// over the bound goes alone).
func (s *slots) tryBytes(size int64) bool {
	for {
		b := s.bytes.Load()
		if b > 0 && b+size > s.maxB {
			return false
		}
		if s.bytes.CompareAndSwap(b, b+size) {
			return true
		}
	}
}

func (s *slots) trySlot() bool {
	for {
		n := s.n.Load()
		if n&slotsMask >= s.max {
			return false
		}
		if s.n.CompareAndSwap(n, n+takeOne) {
			return true
		}
	}
}

// take takes a slot and size bytes, waiting for them until ctx ends
// (ctx's error) or closed is closed (ErrClosed).
func (s *slots) take(ctx context.Context, closed <-chan struct{}, size int64) error {
	if s.try(size) {
		return nil
	}
	s.waiting.Add(1)
	defer s.waiting.Add(-1)
	for {
		if s.try(size) {
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

// put gives a record's slot and its size bytes back; finish must follow.
func (s *slots) put(size int64) {
	s.bytes.Add(-size)
	s.n.Add(^uint64(oneSlot - 1)) // -oneSlot
	if s.waiting.Load() > 0 {
		s.signal()
	}
}

// finish marks a record finished: its done callback has run, or it was
// never handed to kgo.
func (s *slots) finish() {
	if s.n.Add(^uint64(oneRecord-1))>>32 == 0 && s.closing.Load() {
		s.drainOnce.Do(func() { close(s.drained) })
	}
}

// drop gives back the slot of a record that will not be handed to kgo,
// and marks it finished.
func (s *slots) drop(size int64) {
	s.put(size)
	s.finish()
}

// drain waits until every record taken in is finished. Callers make sure
// no record is handed to kgo after drain starts.
func (s *slots) drain() {
	s.closing.Store(true)
	if s.n.Load()>>32 == 0 {
		return
	}
	<-s.drained
}

func (s *slots) signal() {
	select {
	case s.wake <- struct{}{}:
	default: // a signal is already pending
	}
}
