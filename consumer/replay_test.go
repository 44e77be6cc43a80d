package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// publishAt writes n steps round-robin over keys (continuing each key's
// sequence), the i-th stamped ts(i), in batches, and waits for them.
func (f *fixture) publishAt(n, keys int, ts func(i int) time.Time) {
	f.t.Helper()
	if f.seqs == nil {
		f.seqs = make(map[int]int64)
	}
	const batch = 2000
	for done := 0; done < n; {
		m := min(batch, n-done)
		recs := make([]*kgo.Record, m)
		for i := range recs {
			k := (done + i) % keys
			f.seqs[k]++
			recs[i] = f.record(Step{Key: fmt.Sprintf("key-%03d", k), Seq: f.seqs[k]})
			if ts != nil {
				recs[i].Timestamp = ts(done + i)
			}
		}
		if err := f.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			f.t.Fatal(err)
		}
		done += m
	}
}

// replayed waits until c has no catch-up active and at least n ended.
func replayed(t *testing.T, c *Consumer, n int64, within time.Duration) ReplayStats {
	t.Helper()
	var s ReplayStats
	waitFor(t, within, "the catch-ups to end", func() bool {
		s = c.ReplayStats()
		return s.Active == 0 && s.CatchUps >= n
	})
	return s
}

// TestCatchUpAccounting protects detection and accounting: a backlog over
// the threshold starts one catch-up per partition, logged with its
// backlog, and each ends with every record accounted for, logged with the
// counts; a backlog under the threshold starts none.
func TestCatchUpAccounting(t *testing.T) {
	f := newFixture(t, 4)
	f.publishAt(3000, 40, nil)
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	rec := newRecorder(nil)
	c := f.consumer("catchup", rec.handle, WithLogger(log), CatchUpThreshold(100, 0), ProgressInterval(50*time.Millisecond))
	wait := runConsumer(t, c)
	s := replayed(t, c, 4, 20*time.Second)
	if s.Backlog != 3000 || s.Handled != 3000 || s.Accounted() != s.Backlog || s.Expired+s.Floor+s.Gaps+s.HandedOver != 0 {
		t.Fatalf("stats %+v, want a backlog of 3000 all handled", s)
	}
	// Under the threshold: no new catch-up.
	f.publishAt(20, 4, nil)
	waitFor(t, 10*time.Second, "the new records", func() bool { return rec.distinct() == 3020 })
	time.Sleep(3 * replayTick)
	if s := c.ReplayStats(); s.CatchUps != 4 || s.Active != 0 {
		t.Fatalf("after a small publish: %+v", s)
	}
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if n := strings.Count(out, "catch-up started"); n != 4 {
		t.Fatalf("%d start lines, want 4:\n%s", n, out)
	}
	if n := strings.Count(out, "catch-up ended"); n != 4 || strings.Count(out, "adds_up=true") != 4 {
		t.Fatalf("%d end lines, want 4 that add up:\n%s", n, out)
	}
	line := grepLine(out, "catch-up started")
	for _, want := range []string{"backlog=", "age=", "from=0"} {
		if !strings.Contains(line, want) {
			t.Errorf("start line lacks %s: %s", want, line)
		}
	}
}

// TestReplayOptions protects the replay options' validation: bad values
// are refused by New with every problem reported, and ExpireDeadLetter is
// refused while the consumer has no dead-letter topic.
func TestReplayOptions(t *testing.T) {
	f := newFixture(t, 1)
	base := []Option{Brokers(f.cluster.Brokers()...), Group("g"), Topics(f.topic), Registry(f.reg),
		On(f.codec, func(context.Context, Step, Meta) error { return nil })}
	bad := map[string]Option{
		"negative threshold": CatchUpThreshold(-1, 0),
		"zero rate":          RateLimit(0, 0, Always),
		"negative burst":     RateLimit(10, -1, Always),
		"bad scope":          RateLimit(10, 0, RateScope(7)),
		"negative warmup":    SlowStart(-time.Second),
		"zero max age":       MaxAge(0, ExpireSkip),
		"bad expire":         MaxAge(time.Second, ExpirePolicy(9)),
		"zero floor":         ReplayFloor(time.Time{}),
		"zero progress":      ProgressInterval(0),
		"dead letter":        MaxAge(time.Second, ExpireDeadLetter),
	}
	for name, o := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := New(append(base, o)...)
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("New: %v, want ErrInvalidConfig", err)
			}
			if name == "dead letter" && !errors.Is(err, errNoDeadLetter) {
				t.Fatalf("New: %v, want the dead-letter reason", err)
			}
		})
	}
	c, err := New(append(base, RateLimit(100, 0, DuringCatchUp), SlowStart(time.Second), MaxAge(time.Hour, ExpireSkip),
		ReplayFloor(time.Now()), CatchUpThreshold(0, 0))...)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// handledTimes is a handler that records when each record was handled.
type handledTimes struct {
	mu    sync.Mutex
	times []time.Time
}

func (h *handledTimes) handle(context.Context, Step, Meta) error {
	now := time.Now()
	h.mu.Lock()
	h.times = append(h.times, now)
	h.mu.Unlock()
	return nil
}

func (h *handledTimes) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.times)
}

// rateIn is the rate of handling in [from, from+d) after the first record.
func (h *handledTimes) rateIn(from, d time.Duration) float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.times) == 0 {
		return 0
	}
	t0 := h.times[0]
	n := 0
	for _, ts := range h.times {
		if at := ts.Sub(t0); at >= from && at < from+d {
			n++
		}
	}
	return float64(n) / d.Seconds()
}

// TestRateLimit protects the rate cap: over a steady window (the first
// second excluded) a backlog is handled at the limit, within 5%, at
// several limits. Above the limit is a failure whatever the machine's
// load; below it, too, as the cheap handler and the embedded cluster
// leave ample headroom at these rates.
func TestRateLimit(t *testing.T) {
	for _, limit := range []float64{200, 500, 1000} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			f := newFixture(t, 4)
			window := 2500 * time.Millisecond
			n := int(limit*(1+window.Seconds())) + int(limit) // the window ends well inside the backlog
			f.publishAt(n, 50, nil)
			var h handledTimes
			c := f.consumer("rate", h.handle, Concurrency(8), CatchUpThreshold(100, 0), RateLimit(limit, 0, DuringCatchUp))
			wait := runConsumer(t, c)
			waitFor(t, 30*time.Second, "the window to pass", func() bool {
				h.mu.Lock()
				defer h.mu.Unlock()
				return len(h.times) > 0 && time.Since(h.times[0]) > time.Second+window
			})
			got := h.rateIn(time.Second, window)
			c.Close()
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			t.Logf("limit %v/s: measured %.1f/s", limit, got)
			if got > limit*1.05 || got < limit*0.95 {
				t.Fatalf("measured %.1f/s, want %v/s ±5%%", got, limit)
			}
		})
	}
}

// TestRateLimitScope protects the scope: DuringCatchUp stops limiting when
// the catch-up ends, Always keeps limiting.
func TestRateLimitScope(t *testing.T) {
	for _, scope := range []RateScope{DuringCatchUp, Always} {
		t.Run(fmt.Sprint(scope), func(t *testing.T) {
			f := newFixture(t, 1)
			f.publishAt(150, 10, nil)
			var h handledTimes
			c := f.consumer("scope", h.handle, CatchUpThreshold(100, 0), RateLimit(100, 1, scope))
			wait := runConsumer(t, c)
			replayed(t, c, 1, 20*time.Second)
			before := h.count()
			start := time.Now()
			f.publishAt(300, 10, nil) // measured on assignment only: no new catch-up
			waitFor(t, 20*time.Second, "the new records", func() bool { return h.count() == before+300 })
			took := time.Since(start)
			c.Close()
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			limited := took >= 2500*time.Millisecond // 300 records at 100/s take 3s
			if limited != (scope == Always) {
				t.Fatalf("scope %v: 300 records after the catch-up took %v", scope, took)
			}
		})
	}
}

// TestSlowStart protects the ramp: with SlowStart(w) the lanes handling
// records at once never exceed 1 + (N-1)·t/w (a tick of slack), and all N
// take work once the warm-up is over.
func TestSlowStart(t *testing.T) {
	const lanes, warmup = 8, 2 * time.Second
	f := newFixture(t, 4)
	f.publishAt(4000, 200, nil)
	rec := newRecorder(func() time.Duration { return 20 * time.Millisecond })
	c := f.consumer("slow", rec.handle, Concurrency(lanes), SlowStart(warmup))
	if got := c.allowedLanes(); got != 1 {
		t.Fatalf("before Run: %d lanes allowed, want 1", got)
	}
	start := time.Now()
	wait := runConsumer(t, c)
	reached := false
	for time.Since(start) < warmup+time.Second {
		time.Sleep(10 * time.Millisecond)
		rec.mu.Lock()
		cur := rec.cur
		rec.mu.Unlock()
		e := time.Since(start) + replayTick
		bound := min(lanes, 1+int(int64(lanes-1)*int64(e)/int64(warmup)))
		if cur > bound {
			t.Errorf("at %v: %d handlers at once, want at most %d", time.Since(start).Round(time.Millisecond), cur, bound)
		}
		reached = reached || cur == lanes
	}
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if !reached {
		t.Fatalf("never %d handlers at once after the warm-up", lanes)
	}
	if got := c.allowedLanes(); got != lanes {
		t.Fatalf("after the warm-up: %d lanes allowed, want %d", got, lanes)
	}
}
