package breaker

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeClock is the breaker's clock in tests: time moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recorder collects events.
type recorder struct {
	mu  sync.Mutex
	evs []Event
}

func (r *recorder) on(e Event) {
	r.mu.Lock()
	r.evs = append(r.evs, e)
	r.mu.Unlock()
}

func (r *recorder) kinds() []Kind {
	r.mu.Lock()
	defer r.mu.Unlock()
	ks := make([]Kind, len(r.evs))
	for i, e := range r.evs {
		ks[i] = e.Kind
	}
	return ks
}

func (r *recorder) last() Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.evs[len(r.evs)-1]
}

// newTest returns a breaker with the default thresholds, a fake clock and
// a recorder.
func newTest(t *testing.T) (*Breaker, *fakeClock, *recorder) {
	t.Helper()
	clk, rec := newClock(), &recorder{}
	b, err := New(Config{Now: clk.Now, OnEvent: rec.on})
	if err != nil {
		t.Fatal(err)
	}
	return b, clk, rec
}

// dbDown is what a handler sees while its database restarts: the same
// error for every key, with addresses that differ in digits only.
func dbDown(i int) error {
	return fmt.Errorf("update order %d: %w", i, fmt.Errorf("dial tcp 10.0.0.%d:5432: connect: connection refused", i%3))
}

func key(i int) []byte { return []byte(fmt.Sprintf("key-%d", i)) }

// open drives b open with MinKeys distinct keys failing alike.
func open(t *testing.T, b *Breaker) {
	t.Helper()
	for i := range DefaultMinKeys {
		b.Failure(key(i), dbDown(i))
	}
	if s := b.Snapshot().State; s != Open {
		t.Fatalf("state %v after %d keys failed alike, want open", s, DefaultMinKeys)
	}
}
