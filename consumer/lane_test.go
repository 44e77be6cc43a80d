package consumer

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSlowRecordHoldsOnlyItsKey protects "a slow key holds up only its
// own later records" under batching: lanes that have learned their
// handlers are fast claim many keys at once, and one record that is then
// slow must not hold the keys claimed after it. Other lanes take them
// over, so every record written after the slow one finishes long before
// it does. (Keys whose records the slow one's lane handled just before it
// wait for its batch to settle: lane.go's stealLocked says why.)
func TestSlowRecordHoldsOnlyItsKey(t *testing.T) {
	const slow = 500 * time.Millisecond
	f := newFixture(t, 1)
	f.publishAt(4000, 200, nil) // warm-up: the lanes learn their handlers are fast
	recs := 0
	for i := range 400 {
		if i == 0 {
			f.publishKey("slow", 1)
			recs++
		}
		f.publishKey(fmt.Sprintf("later-%03d", i%200), int64(i/200+1))
		recs++
	}
	var (
		mu        sync.Mutex
		slowStart time.Time
		slowEnd   time.Time
		lastOther time.Time
		handled   int
	)
	h := func(_ context.Context, s Step, _ Meta) error {
		if s.Key == "slow" {
			now := time.Now()
			mu.Lock()
			slowStart = now
			mu.Unlock()
			time.Sleep(slow)
		}
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		handled++
		if s.Key == "slow" {
			slowEnd = now
		} else if !slowStart.IsZero() && strings.HasPrefix(s.Key, "later-") {
			lastOther = now
		}
		return nil
	}
	c := f.consumer("slow-batch", h, Concurrency(4), CatchUpThreshold(0, 0))
	wait := runConsumer(t, c)
	waitFor(t, 30*time.Second, "every record", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return handled == 4000+recs
	})
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("slow record %v; the records after it done %v after it started", slowEnd.Sub(slowStart), lastOther.Sub(slowStart))
	if lastOther.Sub(slowStart) > slow/2 {
		t.Fatalf("the records written after the slow one finished %v after it started (it ran %v): they waited for it", lastOther.Sub(slowStart), slow)
	}
}

// publishKey writes one Step of key with sequence seq.
func (f *fixture) publishKey(key string, seq int64) {
	f.t.Helper()
	if err := f.cl.ProduceSync(context.Background(), f.record(Step{Key: key, Seq: seq})).FirstErr(); err != nil {
		f.t.Fatal(err)
	}
}
