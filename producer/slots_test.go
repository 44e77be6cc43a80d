package producer

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSlotsBoundAndNoLostWakeup protects the buffer bound and its wake-up
// protocol: many publishers on few slots never hold more than the bound,
// and every one of them gets through (a lost wake-up would leave one
// asleep with slots free, and the test would time out).
func TestSlotsBoundAndNoLostWakeup(t *testing.T) {
	for _, max := range []int{1, 2, 5} {
		s := newSlots(max)
		var held, peak atomic.Int64
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for range 2000 {
					if err := s.take(context.Background(), nil); err != nil {
						t.Error(err)
						return
					}
					h := held.Add(1)
					for p := peak.Load(); h > p && !peak.CompareAndSwap(p, h); p = peak.Load() {
					}
					held.Add(-1)
					s.put()
					s.finish()
				}
			})
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("max %d: publishers stuck waiting for slots (lost wake-up)", max)
		}
		if p := peak.Load(); p > int64(max) {
			t.Fatalf("max %d: %d slots held at once", max, p)
		}
		if n := s.n.Load(); n != 0 {
			t.Fatalf("max %d: count word %#x, want 0 (no slot taken, no record unfinished)", max, n)
		}
	}
}

// TestSlotsWaitEnds protects the ways a wait for a slot ends: try fails at
// once when full, a ctx ending returns its error, the producer closing
// returns ErrClosed, and a slot given back wakes the waiter.
func TestSlotsWaitEnds(t *testing.T) {
	s := newSlots(1)
	if !s.try() || s.try() {
		t.Fatal("try: want one slot, then none")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.take(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("take with ctx ending: %v, want deadline exceeded", err)
	}
	closed := make(chan struct{})
	close(closed)
	if err := s.take(context.Background(), closed); !errors.Is(err, ErrClosed) {
		t.Fatalf("take when closed: %v, want ErrClosed", err)
	}
	got := make(chan error, 1)
	go func() { got <- s.take(context.Background(), nil) }()
	time.Sleep(10 * time.Millisecond)
	s.drop()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a slot given back did not wake the waiter")
	}
	if w := s.waiting.Load(); w != 0 {
		t.Fatalf("%d waiters left counted", w)
	}
}

// TestSlotsDrain protects Close's wait: drain returns at once with nothing
// unfinished, and otherwise only once the last record taken in finishes,
// after its slot was given back.
func TestSlotsDrain(t *testing.T) {
	s := newSlots(4)
	s.drain() // nothing taken: returns
	s = newSlots(4)
	s.try()
	s.try()
	drained := make(chan struct{})
	go func() { s.drain(); close(drained) }()
	s.put()
	s.finish()
	s.put() // the slot is back, the record's done callback has not run
	select {
	case <-drained:
		t.Fatal("drain returned with a record unfinished")
	case <-time.After(20 * time.Millisecond):
	}
	s.finish()
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
		t.Fatal("drain did not return after the last finish")
	}
}
