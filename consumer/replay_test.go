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

	"github.com/ordo-go/ordo/consumer/dlq"

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
// second excluded) a backlog is handled at no more than the limit (+5%),
// at several limits, whatever the machine's load. Below the limit it
// asks only for half of it: a busy 2-core machine measured 87-89% of
// the cap here (timers fire late, and a token bucket with no burst
// loses the time), so how closely the cap is held is measured by
// BenchmarkCatchUp, not asserted by a timed test.
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
			if got > limit*1.05 || got < limit*0.5 {
				t.Fatalf("measured %.1f/s, want at most %v/s +5%% and at least half of it", got, limit)
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
	if got := c.gate.allowedLanes(); got != 1 {
		t.Fatalf("before Run: %d lanes allowed, want 1", got)
	}
	start := time.Now()
	wait := runConsumer(t, c)
	// The ramp's ceiling is checked through the warm-up; reaching all
	// lanes after it may take a busy machine several seconds more.
	reached := false
	for time.Since(start) < warmup+10*time.Second && !reached {
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
	if got := c.gate.allowedLanes(); got != lanes {
		t.Fatalf("after the warm-up: %d lanes allowed, want %d", got, lanes)
	}
}

// oldThenNew stamps the first old records two hours back and the rest now.
func oldThenNew(old int) func(int) time.Time {
	past, now := time.Now().Add(-2*time.Hour), time.Now()
	return func(i int) time.Time {
		if i < old {
			return past.Add(time.Duration(i) * time.Millisecond)
		}
		return now
	}
}

// stepsSeen is a handler that fails the test if it sees a record older
// than limit, and counts the records it handled.
func stepsSeen(t *testing.T, limit time.Duration, n *int64, mu *sync.Mutex) Handler[Step] {
	return func(_ context.Context, _ Step, m Meta) error {
		if time.Since(m.Timestamp) > limit {
			t.Errorf("handled a record %v old at offset %d", time.Since(m.Timestamp).Round(time.Second), m.Offset)
		}
		mu.Lock()
		*n++
		mu.Unlock()
		return nil
	}
}

// TestAgeWindow protects MaxAge with ExpireSkip: records older than the
// window are never handled, are counted exactly, logged, committed, and
// the accounting adds up.
func TestAgeWindow(t *testing.T) {
	f := newFixture(t, 2)
	f.publishAt(1000, 20, oldThenNew(400))
	var logs syncBuffer
	var mu sync.Mutex
	var n int64
	c := f.consumer("age", stepsSeen(t, time.Hour, &n, &mu), CatchUpThreshold(100, 0), MaxAge(time.Hour, ExpireSkip),
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	wait := runConsumer(t, c)
	s := replayed(t, c, 2, 20*time.Second)
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if s.Backlog != 1000 || s.Expired != 400 || s.Handled != 600 || s.Accounted() != 1000 || n != 600 {
		t.Fatalf("stats %+v, handler saw %d; want 400 expired and 600 handled", s, n)
	}
	if !strings.Contains(logs.String(), "older than the age window") {
		t.Fatalf("no expired line in:\n%s", logs.String())
	}
	var committed int64
	for _, o := range f.committed("age") {
		committed += o
	}
	if committed != 1000 {
		t.Fatalf("committed %d, want 1000", committed)
	}
}

// TestReplayFloor protects ReplayFloor: a partition whose records are
// older than the floor starts at the first record at or after it, the
// offsets passed over are counted exactly and committed, and none of them
// reaches the handler; with every record older, all are passed over.
func TestReplayFloor(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, all int
	}{{"some", 500, 1200}, {"all", 300, 300}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 2)
			f.publishAt(tc.all, 20, oldThenNew(tc.old))
			var mu sync.Mutex
			var n int64
			c := f.consumer("floor", stepsSeen(t, time.Hour, &n, &mu), CatchUpThreshold(100, 0), ReplayFloor(time.Now().Add(-time.Hour)))
			wait := runConsumer(t, c)
			s := replayed(t, c, 2, 20*time.Second)
			want := int64(tc.all - tc.old)
			waitFor(t, 10*time.Second, "the commits", func() bool {
				var sum int64
				for _, o := range f.committed("floor") {
					sum += o
				}
				return sum == int64(tc.all)
			})
			c.Close()
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			if s.Floor != int64(tc.old) || s.Handled != want || s.Accounted() != int64(tc.all) || s.Backlog != int64(tc.all) || n != want {
				t.Fatalf("stats %+v, handler saw %d; want %d passed over and %d handled", s, n, tc.old, want)
			}
		})
	}
}

// TestCatchUpRebalance protects the accounting and per-key order across a
// rebalance during catch-up: the first member hands the moved partitions'
// unfinished backlog over, the second measures exactly that as its own
// backlog, the handled counts add up to the records published, no key
// runs twice at once and none is handled ahead of an unhandled record.
func TestCatchUpRebalance(t *testing.T) {
	const total = 3000
	f := newFixture(t, 4)
	f.publishAt(total, 60, nil)
	rec := newRecorder(nil)
	var (
		mu    sync.Mutex
		order = make(map[string]int64)
		gaps  []string
	)
	h := func(ctx context.Context, s Step, m Meta) error {
		if err := rec.handle(ctx, s, m); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if s.Seq > order[s.Key]+1 {
			gaps = append(gaps, s.Key)
		}
		order[s.Key] = max(order[s.Key], s.Seq)
		return nil
	}
	opts := []Option{Concurrency(8), CatchUpThreshold(100, 0), RateLimit(600, 0, DuringCatchUp)}
	a := f.consumer("rebalance-replay", h, opts...)
	waitA := runConsumer(t, a)
	waitFor(t, 10*time.Second, "a's catch-up", func() bool { return rec.distinct() > 600 })
	b := f.consumer("rebalance-replay", h, opts...)
	waitB := runConsumer(t, b)
	waitFor(t, 60*time.Second, "every record", func() bool { return rec.distinct() == total })
	sa := replayed(t, a, 1, 20*time.Second)
	sb := replayed(t, b, 1, 20*time.Second)
	for _, c := range []*Consumer{a, b} {
		c.Close()
	}
	for _, w := range []func() error{waitA, waitB} {
		if err := w(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("a: %+v", sa)
	t.Logf("b: %+v", sb)
	if sa.Backlog != total || sa.Accounted() != sa.Backlog || sb.Accounted() != sb.Backlog {
		t.Fatalf("accounting does not add up: a %+v, b %+v", sa, sb)
	}
	// Each member's own accounting adds up (above) and nothing is lost
	// (every record handled). Across the two, a's hand-over and b's
	// backlog differ by the records a finished during the revoke's drain
	// (counted handed over by a, committed before b read): under load
	// that was up to 14 of 3000, so the cross-check allows it.
	if sa.HandedOver == 0 || sb.Backlog > sa.HandedOver || sa.HandedOver-sb.Backlog > total/50 ||
		sa.Handled+sb.Handled+(sa.HandedOver-sb.Backlog) < total {
		t.Fatalf("a handed over %d, b's backlog %d; handled %d+%d, want %d", sa.HandedOver, sb.Backlog, sa.Handled, sb.Handled, total)
	}
	if rec.overlaps != 0 || len(gaps) > 0 {
		t.Fatalf("%d overlaps, keys handled ahead: %v", rec.overlaps, gaps[:min(len(gaps), 5)])
	}
}

// TestBufferedCapDuringCatchUp protects memory during a slow catch-up:
// with a rate cap far below the fetch rate the records fetched and not
// finished never pass MaxBuffered, however large the backlog.
func TestBufferedCapDuringCatchUp(t *testing.T) {
	const limit = 150
	f := newFixture(t, 4)
	f.publishAt(3000, 100, nil)
	var h handledTimes
	c := f.consumer("cap", h.handle, MaxBuffered(limit), CatchUpThreshold(100, 0), RateLimit(1000, 0, DuringCatchUp))
	wait := runConsumer(t, c)
	peak := 0
	for h.count() < 2000 {
		time.Sleep(5 * time.Millisecond)
		c.sched.mu.Lock()
		peak = max(peak, c.sched.buffered)
		c.sched.mu.Unlock()
	}
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if peak > limit || peak < limit/2 {
		t.Fatalf("peak buffered %d, want the cap %d reached and held", peak, limit)
	}
}

// TestRateCapNoAllocs protects the success path from allocating: taking a
// token and spending it costs no allocation.
func TestRateCapNoAllocs(t *testing.T) {
	f := newFixture(t, 1)
	c := f.consumer("allocs", func(context.Context, Step, Meta) error { return nil },
		RateLimit(1e9, 1_000_000, Always), MaxAge(time.Hour, ExpireSkip))
	defer c.Close()
	lt := c.gate.newLaneToken()
	it := &item{rec: &kgo.Record{Timestamp: time.Now()}}
	c.sched.mu.Lock()
	defer c.sched.mu.Unlock()
	allocs := testing.AllocsPerRun(1000, func() {
		if c.gate.waitTokenLocked(lt, &c.sched.mu, c.sched.ending.Done()) {
			t.Fatal("waited for a token at 1e9/s")
		}
		c.gate.takenLocked(lt, it)
	})
	if allocs != 0 || lt.paid {
		t.Fatalf("%v allocations per token (paid %v), want 0", allocs, lt.paid)
	}
}

// TestAgeWindowDeadLetter protects MaxAge with ExpireDeadLetter: records
// out of the window go to the dead-letter topic with reason "expired"
// (acknowledged before their offsets are committed), are counted as
// expired by the catch-up, and the rest are handled.
func TestAgeWindowDeadLetter(t *testing.T) {
	f := newFixture(t, 2)
	f.createTopic(dlt, 2)
	f.publishAt(1000, 20, oldThenNew(400))
	var mu sync.Mutex
	var n int64
	c := f.consumer("age-dlt", stepsSeen(t, time.Hour, &n, &mu), CatchUpThreshold(100, 0),
		MaxAge(time.Hour, ExpireDeadLetter), DeadLetterTopic(dlt), ContinueAfterDeadLetter())
	wait := runConsumer(t, c)
	s := replayed(t, c, 2, 20*time.Second)
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if s.Backlog != 1000 || s.Expired != 400 || s.Handled != 600 || s.Accounted() != 1000 || n != 600 {
		t.Fatalf("stats %+v, handler saw %d; want 400 expired and 600 handled", s, n)
	}
	for i, r := range f.readTopic(dlt, 400) {
		info, err := dlq.Parse(r)
		if err != nil || info.Reason != dlq.Expired || info.Stage != dlq.Stage(StageReplay) {
			t.Fatalf("dead letter %d: %+v, %v; want reason expired at stage replay", i, info, err)
		}
	}
	if got := c.Stats().DeadLettered; got != 400 {
		t.Fatalf("%d dead-lettered, want 400", got)
	}
}
