package breaker

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Lanes reporting, a prober and a clock all at once (run with -race):
// events come out whole and in a valid order (opened, probe failed...,
// closed), once per transition, and agree with the snapshot.
func TestConcurrentUse(t *testing.T) {
	clk, rec := newClock(), &recorder{}
	var b *Breaker
	var inHook atomic.Bool
	b, err := New(Config{Now: clk.Now, OnEvent: func(e Event) {
		if !inHook.CompareAndSwap(false, true) {
			t.Error("OnEvent called while another call runs")
		}
		defer inHook.Store(false)
		_ = b.Snapshot() // a hook may call back in
		rec.on(e)
	}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var stop atomic.Bool
	for g := range 8 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				if (i+g)%10 == 0 { // 90% fail alike: it opens
					b.Success()
				} else {
					b.Failure(key(i%50), dbDown(i))
				}
				_ = b.Allow()
			}
		})
	}
	wg.Go(func() { // the prober: alternately fails and succeeds
		defer stop.Store(true)
		probes := 0
		deadline := time.Now().Add(20 * time.Second) // real time: a bound, not a measure
		for b.Snapshot().Opens < 5 && time.Now().Before(deadline) {
			if p, ok := b.Probe(); ok {
				probes++
				if probes%2 == 0 {
					p.Failed(dbDown(probes))
				} else {
					p.Succeeded()
				}
			}
			clk.Advance(time.Second)
			runtime.Gosched()
		}
	})
	wg.Wait()
	checkSequence(t, rec.kinds(), b.Snapshot())
}

func checkSequence(t *testing.T, ks []Kind, s Snapshot) {
	t.Helper()
	open, opens := false, int64(0)
	for i, k := range ks {
		switch {
		case k == EventOpened && !open:
			open = true
			opens++
		case k == EventProbeFailed && open:
		case k == EventClosed && open:
			open = false
		default:
			t.Fatalf("event %d: %v while open=%v (sequence %v)", i, k, open, ks[max(i-3, 0):i+1])
		}
	}
	if opens != s.Opens || open != (s.State != Closed) {
		t.Fatalf("events say %d opens, open=%v; snapshot %d opens, %v", opens, open, s.Opens, s.State)
	}
	if opens < 5 {
		t.Fatalf("only %d opens: the test did not exercise the cycle", opens)
	}
	t.Logf("%d events, %d opens", len(ks), opens)
}

// A hook that reports a failure or resets from inside the callback does
// not deadlock; its events are delivered after the current one returns,
// never nested in it.
func TestHookReentry(t *testing.T) {
	clk, rec := newClock(), &recorder{}
	var b *Breaker
	var inHook atomic.Bool
	b, err := New(Config{Now: clk.Now, OnEvent: func(e Event) {
		if !inHook.CompareAndSwap(false, true) {
			t.Errorf("%v delivered inside another event's hook", e.Kind)
		}
		defer inHook.Store(false)
		rec.on(e)
		if e.Kind == EventOpened {
			b.Failure(key(1), dbDown(1))
			b.Reset("from the hook")
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range DefaultMinKeys {
			b.Failure(key(i), dbDown(i))
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("deadlock: a hook calling back into the breaker")
	}
	if got := rec.kinds(); len(got) != 2 || got[1] != EventClosed {
		t.Fatalf("events %v, want opened then closed", got)
	}
}

// A panicking hook does not stop later events from being delivered.
func TestHookPanicDoesNotLatch(t *testing.T) {
	clk := newClock()
	var n int
	b, err := New(Config{Now: clk.Now, OnEvent: func(e Event) {
		n++
		if e.Kind == EventOpened {
			panic("hook")
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() { _ = recover() }()
		open(t, b)
	}()
	b.Reset("after panic")
	if n != 2 {
		t.Fatalf("%d events delivered, want 2 (opened, closed)", n)
	}
}

// A flood of distinct error classes keeps at most maxClasses of them.
func TestClassesBounded(t *testing.T) {
	b, _, _ := newTest(t)
	for i := range 1000 {
		b.Failure(key(i), &typedErr{i})
	}
	if n := len(b.win.classes); n > maxClasses {
		t.Fatalf("%d classes kept, want <= %d", n, maxClasses)
	}
}

type typedErr struct{ n int }

func (e *typedErr) Error() string {
	return string(rune('a'+e.n%26)) + string(rune('a'+e.n/26%26)) + " went wrong"
}
