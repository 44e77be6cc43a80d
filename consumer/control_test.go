package consumer

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

type ctxKey struct{}

// TestMiddleware protects Use: middleware runs outermost first around every
// attempt, sees the record's Meta, passes a ctx to the handler, and its
// error or panic is a failed attempt that is retried like a handler's.
func TestMiddleware(t *testing.T) {
	f := newFixture(t, 2)
	total := f.publish(10, 3)
	var fails, outerless, typeless atomic.Int32
	outer := func(ctx context.Context, m Meta, next func(context.Context) error) error {
		if m.Type != "ordo.test.Step" {
			typeless.Add(1)
		}
		if m.Offset == 0 && m.Partition == 0 && m.Attempt == 1 {
			fails.Add(1)
			return errors.New("outer refuses the first attempt")
		}
		return next(context.WithValue(ctx, ctxKey{}, "tenant-a"))
	}
	inner := func(ctx context.Context, m Meta, next func(context.Context) error) error {
		if ctx.Value(ctxKey{}) != "tenant-a" { // the outer one runs first
			outerless.Add(1)
		}
		if m.Offset == 1 && m.Partition == 0 && m.Attempt == 1 {
			fails.Add(1)
			panic("inner panics once")
		}
		return next(ctx)
	}
	rec := newRecorder(nil)
	var noTenant atomic.Int32
	h := func(ctx context.Context, s Step, m Meta) error {
		if ctx.Value(ctxKey{}) != "tenant-a" {
			noTenant.Add(1)
		}
		return rec.handle(ctx, s, m)
	}
	c := f.consumer("mw", h, Use(outer, inner), Retry(3, time.Millisecond, time.Millisecond))
	wait := runConsumer(t, c)
	waitFor(t, 30*time.Second, "every record handled", func() bool { return rec.distinct() == total })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if noTenant.Load() != 0 {
		t.Fatalf("%d handler calls without the middleware's ctx value", noTenant.Load())
	}
	if fails.Load() != 2 || c.Stats().Retries < 2 {
		t.Fatalf("middleware failures %d, retries %d: want 2 failed attempts retried", fails.Load(), c.Stats().Retries)
	}
	if outerless.Load() != 0 || typeless.Load() != 0 {
		t.Fatalf("inner ran %d times without the outer's ctx; %d Metas without the type", outerless.Load(), typeless.Load())
	}
	if _, err := New(Brokers("127.0.0.1:9092"), Group("g"), Topics("t"), Registry(f.reg),
		On(f.codec, h), Use(nil)); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Use(nil): %v, want ErrInvalidConfig", err)
	}
}

// TestPauseResume protects Pause: a paused partition's records are not
// started (fetched or not) while other partitions flow, the pause is
// visible in Lag, and Resume hands them out again.
func TestPauseResume(t *testing.T) {
	f := newFixture(t, 3)
	var assigned, revoked atomic.Int32
	rec := newRecorder(nil)
	var (
		mu     sync.Mutex
		byPart = map[int32]int{}
	)
	h := func(ctx context.Context, s Step, m Meta) error {
		mu.Lock()
		byPart[m.Partition]++
		mu.Unlock()
		return rec.handle(ctx, s, m)
	}
	c := f.consumer("pause", h,
		OnAssigned(func(_ context.Context, m map[string][]int32) { assigned.Add(int32(len(m[f.topic]))) }),
		OnRevoked(func(_ context.Context, m map[string][]int32) { revoked.Add(int32(len(m[f.topic]))) }))
	if err := c.Ready(0); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Ready before Run: %v, want ErrNotReady", err)
	}
	wait := runConsumer(t, c)
	waitFor(t, 30*time.Second, "an assignment", func() bool { return len(c.Assignment()[f.topic]) == 3 })
	// kgo joins the group when the client is made, so the assignment can
	// come before Run has started: Ready says "not running" until it has.
	waitFor(t, 10*time.Second, "Ready with all partitions assigned", func() bool { return c.Ready(0) == nil })
	c.Pause(f.topic, 0)
	total := f.publish(60, 3)
	counts := f.partitionCounts()
	waitFor(t, 30*time.Second, "the other partitions done", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return byPart[1] == counts[1] && byPart[2] == counts[2]
	})
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	during := byPart[0]
	mu.Unlock()
	if during != 0 || counts[0] == 0 {
		t.Fatalf("%d of partition 0's %d records handled while it was paused", during, counts[0])
	}
	lag := c.Lag()
	if i := slices.IndexFunc(lag, func(pl PartitionLag) bool { return pl.Partition == 0 }); i < 0 || !lag[i].Paused {
		t.Fatalf("Lag does not show partition 0 paused: %+v", lag)
	}
	c.Resume(f.topic)
	waitFor(t, 30*time.Second, "every record handled", func() bool { return rec.distinct() == total })
	for _, pl := range c.Lag() {
		if pl.Paused || pl.Records != 0 {
			t.Fatalf("after Resume: %+v", pl)
		}
	}
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if assigned.Load() != 3 {
		t.Fatalf("OnAssigned saw %d partitions, want 3", assigned.Load())
	}
	if rec.overlaps != 0 {
		t.Fatalf("%d overlaps", rec.overlaps)
	}
	t.Logf("OnRevoked saw %d partitions at close", revoked.Load())
}

// partitionCounts returns how many records each partition of the topic
// holds (from offset 0).
func (f *fixture) partitionCounts() map[int32]int {
	f.t.Helper()
	ends, err := f.adm.ListEndOffsets(context.Background(), f.topic)
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[int32]int{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = int(o.Offset) })
	return out
}

// TestReadyCaughtUp protects Ready's maxAge: a consumer whose oldest
// unfinished record is older than maxAge is not ready, and is once it has
// caught up.
func TestReadyCaughtUp(t *testing.T) {
	f := newFixture(t, 1)
	release := make(chan struct{})
	rec := newRecorder(nil)
	c := f.consumer("ready", func(ctx context.Context, s Step, m Meta) error {
		<-release
		return rec.handle(ctx, s, m)
	})
	wait := runConsumer(t, c)
	total := f.publish(3, 2)
	waitFor(t, 30*time.Second, "records fetched", func() bool { return c.Stats().Fetched == int64(total) })
	time.Sleep(50 * time.Millisecond)
	err := c.Ready(20 * time.Millisecond)
	if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "behind") {
		t.Fatalf("Ready(20ms) with a held record: %v, want not ready, behind", err)
	}
	if err := c.Ready(0); err != nil {
		t.Fatalf("Ready(0) ignores age: %v", err)
	}
	close(release)
	waitFor(t, 30*time.Second, "every record handled", func() bool { return rec.distinct() == total })
	if err := c.Ready(20 * time.Millisecond); err != nil {
		t.Fatalf("Ready after catching up: %v", err)
	}
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ready(0); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Ready after Close: %v, want ErrNotReady", err)
	}
}
