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
		s := newSlots(max, 1<<40)
		var held, peak atomic.Int64
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for range 2000 {
					if err := s.take(context.Background(), nil, 1); err != nil {
						t.Error(err)
						return
					}
					h := held.Add(1)
					for p := peak.Load(); h > p && !peak.CompareAndSwap(p, h); p = peak.Load() {
					}
					held.Add(-1)
					s.put(1)
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
	s := newSlots(1, 1<<40)
	if !s.try(1) || s.try(1) {
		t.Fatal("try: want one slot, then none")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.take(ctx, nil, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("take with ctx ending: %v, want deadline exceeded", err)
	}
	closed := make(chan struct{})
	close(closed)
	if err := s.take(context.Background(), closed, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("take when closed: %v, want ErrClosed", err)
	}
	got := make(chan error, 1)
	go func() { got <- s.take(context.Background(), nil, 1) }()
	time.Sleep(10 * time.Millisecond)
	s.drop(1)
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
	s := newSlots(4, 1<<40)
	s.drain() // nothing taken: returns
	s = newSlots(4, 1<<40)
	s.try(1)
	s.try(1)
	drained := make(chan struct{})
	go func() { s.drain(); close(drained) }()
	s.put(1)
	s.finish()
	s.put(1) // the slot is back, the record's done callback has not run
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

// TestSlotsBytes protects the byte bound: records are admitted while
// their bytes fit, a record larger than the bound goes alone once no
// bytes are held (never a deadlock), and a waiter for bytes is woken when
// they are given back; many publishers of mixed sizes never hold more
// than the bound (the one oversized record alone aside) and all get
// through.
func TestSlotsBytes(t *testing.T) {
	s := newSlots(100, 100)
	if !s.try(60) || s.try(60) || !s.try(40) {
		t.Fatal("try: want 60, then not 60 more, then 40")
	}
	s.drop(60)
	s.drop(40)
	if !s.try(500) {
		t.Fatal("a record over the bound was refused with nothing held")
	}
	if s.try(1) {
		t.Fatal("a record was admitted beside the oversized one")
	}
	got := make(chan error, 1)
	go func() { got <- s.take(context.Background(), nil, 30) }()
	time.Sleep(10 * time.Millisecond)
	s.drop(500)
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("bytes given back did not wake the waiter")
	}
	s.drop(30)

	const max = 1000
	s = newSlots(1<<20, max)
	var held, peak atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 2000 {
				size := int64(1 + (g*7919+i*104729)%400)
				if err := s.take(context.Background(), nil, size); err != nil {
					t.Error(err)
					return
				}
				h := held.Add(size)
				for p := peak.Load(); h > p && !peak.CompareAndSwap(p, h); p = peak.Load() {
				}
				held.Add(-size)
				s.put(size)
				s.finish()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("publishers stuck waiting for bytes (lost wake-up)")
	}
	if p := peak.Load(); p > max {
		t.Fatalf("%d bytes held at once, bound %d", p, max)
	}
	if b := s.bytes.Load(); b != 0 {
		t.Fatalf("%d bytes left counted", b)
	}
}
