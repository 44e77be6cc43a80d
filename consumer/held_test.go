package consumer

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestHeldBytesBoundTrackers protects memory behind a retrying key: the
// records its partition's other keys finish meanwhile wait in the tracker
// until the commit point passes them, and they count against
// MaxBufferedBytes, so the consumer stops taking records at the bound
// instead of remembering an entry per record for as long as the key
// retries. Once the key succeeds, every record is handled.
func TestHeldBytesBoundTrackers(t *testing.T) {
	const (
		total    = 40_000
		maxBytes = 1 << 20
	)
	f := newFixture(t, 1)
	f.publishAt(total, 100, nil)
	var (
		release  = make(chan struct{})
		once     sync.Once
		handled  atomic.Int64
		attempts atomic.Int64
	)
	h := func(_ context.Context, s Step, _ Meta) error {
		if s.Key == "key-000" && s.Seq == 1 {
			select {
			case <-release:
			default:
				attempts.Add(1)
				return errors.New("downstream of key-000 is down")
			}
		}
		handled.Add(1)
		return nil
	}
	c := f.consumer("held", h, MaxBufferedBytes(maxBytes), Retry(1000, 20*time.Millisecond, 50*time.Millisecond),
		CatchUpThreshold(0, 0))
	wait := runConsumer(t, c)
	bound := maxBytes/2/trackEntrySize + 1
	peak := 0
	var stalledAt int64
	for deadline := time.Now().Add(30 * time.Second); stalledAt == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no stall: %d handled of %d with key-000 failing", handled.Load(), total)
		}
		before := handled.Load()
		for range 10 {
			time.Sleep(20 * time.Millisecond)
			c.mu.Lock()
			peak = max(peak, c.tracked)
			c.mu.Unlock()
		}
		if n := handled.Load(); n == before && n > 0 && attempts.Load() > 1 {
			stalledAt = n
		}
	}
	once.Do(func() { close(release) })
	waitFor(t, 30*time.Second, "every record", func() bool { return handled.Load() == total })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stalled at %d handled, tracked peak %d, bound %d", stalledAt, peak, bound)
	if peak > bound {
		t.Fatalf("trackers held %d records, want at most %d (MaxBufferedBytes/2 at %d bytes each)", peak, bound, trackEntrySize)
	}
	if stalledAt >= total-1 {
		t.Fatalf("stalled only at %d of %d: the bound never applied", stalledAt, total)
	}
}
