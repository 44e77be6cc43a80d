package consumer

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLogVolumeBounded protects operators from a per-record log storm: a
// condition that repeats for every record (a retry scheduled, a record
// dead-lettered) logs logLimitBurst lines per logLimitEvery per error
// class or reason, and the next line counts the ones dropped
// (more_like_it). Before, 300 failing records wrote 300 dead-letter lines
// and a line per retry attempt; one catch-up with expiry wrote 58,625.
func TestLogVolumeBounded(t *testing.T) {
	f := newFixture(t, 3)
	dlt := f.topic + ".dlt"
	f.createTopic(dlt, 3)
	var logs syncBuffer
	var mu sync.Mutex
	tries := map[string]int{}
	h := func(_ context.Context, s Step, _ Meta) error {
		mu.Lock()
		tries[s.Key]++
		first := tries[s.Key] == 1
		mu.Unlock()
		if first {
			return errors.New("dependency down")
		}
		return Permanent(errors.New("refused"))
	}
	// Every key's first attempt fails alike: to the breaker that is the
	// world down (it would hold the records and probe); this test is
	// about the per-record lines, so the breaker is off.
	c := f.consumer("logs", h, DeadLetterTopic(dlt), Retry(3, time.Millisecond, time.Millisecond),
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))), NoBreaker())
	start := time.Now()
	wait := runConsumer(t, c)
	total := f.publish(300, 1)
	waitFor(t, 60*time.Second, "every record dead-lettered", func() bool { return c.Stats().DeadLettered == int64(total) })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	windows := int(time.Since(start)/logLimitEvery) + 1
	for _, line := range []string{"record dead-lettered", "handler failed, will retry"} {
		n := strings.Count(logs.String(), line)
		t.Logf("%q: %d lines for %d records in %v", line, n, total, time.Since(start).Round(time.Millisecond))
		if n == 0 || n > logLimitBurst*windows {
			t.Errorf("%q logged %d times for %d records, want 1 to %d", line, n, total, logLimitBurst*windows)
		}
	}
}
