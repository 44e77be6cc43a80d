package inbox_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/goleak"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/consumer/inbox"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recSpan records what the inbox tells a span.
type recSpan struct {
	noop.Span
	mu     sync.Mutex
	attrs  []attribute.KeyValue
	events []string
}

func (s *recSpan) IsRecording() bool { return true }
func (s *recSpan) SetAttributes(kv ...attribute.KeyValue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attrs = append(s.attrs, kv...)
}
func (s *recSpan) AddEvent(name string, _ ...trace.EventOption) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, name)
}

func meta(id string, offset int64) consumer.Meta {
	m := consumer.Meta{Topic: "orders", Partition: 2, Offset: offset, Attempt: 1}
	if id != "" {
		m.Headers = []kgo.RecordHeader{{Key: "ordo-id", Value: []byte(id)}}
	}
	return m
}

// TestRedeliverySkipped protects the inbox's promise: a record whose
// mark is committed is not handled again, is counted, and its span says
// it was a duplicate; records without an event ID are recognised by
// topic, partition and offset.
func TestRedeliverySkipped(t *testing.T) {
	store := inbox.NewMemory()
	in, err := inbox.New(store)
	if err != nil {
		t.Fatal(err)
	}
	var applied atomic.Int64
	h := inbox.Handle(in, func(_ context.Context, tx *inbox.MemTx, _ string, _ consumer.Meta) error {
		tx.OnCommit(func() { applied.Add(1) })
		return nil
	})
	span := new(recSpan)
	ctx := trace.ContextWithSpan(context.Background(), span)
	for _, m := range []consumer.Meta{meta("e-1", 5), meta("e-1", 9), meta("", 7), meta("", 7), meta("", 8)} {
		if err := h(ctx, "ev", m); err != nil {
			t.Fatal(err)
		}
	}
	if applied.Load() != 3 || in.Duplicates() != 2 || store.Len() != 3 {
		t.Fatalf("applied %d, duplicates %d, marks %d; want 3, 2, 3", applied.Load(), in.Duplicates(), store.Len())
	}
	if len(span.events) != 2 || span.events[0] != "ordo.inbox.duplicate" ||
		span.attrs[0] != attribute.Bool("ordo.inbox.duplicate", true) {
		t.Fatalf("span events %v attributes %v, want two ordo.inbox.duplicate", span.events, span.attrs)
	}
}

// TestFailedAttemptRollsBackMark protects the composition with retries:
// an attempt that fails leaves neither its side effects nor the mark, so
// the retry runs the handler again and its effects count once.
func TestFailedAttemptRollsBackMark(t *testing.T) {
	store := inbox.NewMemory()
	in, err := inbox.New(store)
	if err != nil {
		t.Fatal(err)
	}
	var applied, calls atomic.Int64
	boom := errors.New("boom")
	h := inbox.Handle(in, func(_ context.Context, tx *inbox.MemTx, _ string, _ consumer.Meta) error {
		tx.OnCommit(func() { applied.Add(1) })
		if calls.Add(1) == 1 {
			return boom
		}
		return nil
	})
	ctx := context.Background()
	if err := h(ctx, "ev", meta("e-1", 1)); !errors.Is(err, boom) {
		t.Fatalf("first attempt: %v, want boom", err)
	}
	if applied.Load() != 0 || store.Len() != 0 {
		t.Fatalf("failed attempt left %d effects and %d marks", applied.Load(), store.Len())
	}
	for range 2 {
		if err := h(ctx, "ev", meta("e-1", 1)); err != nil {
			t.Fatal(err)
		}
	}
	if applied.Load() != 1 || calls.Load() != 2 || in.Duplicates() != 1 {
		t.Fatalf("applied %d, handler calls %d, duplicates %d; want 1, 2, 1", applied.Load(), calls.Load(), in.Duplicates())
	}
}

// TestConcurrentDeliveriesWait protects the case of a record handled by
// two consumers at once (a rebalance overlap): the second waits for the
// first's outcome and is a duplicate, not a second side effect.
func TestConcurrentDeliveriesWait(t *testing.T) {
	store := inbox.NewMemory()
	in, err := inbox.New(store)
	if err != nil {
		t.Fatal(err)
	}
	var applied atomic.Int64
	release := make(chan struct{})
	h := inbox.Handle(in, func(_ context.Context, tx *inbox.MemTx, _ string, _ consumer.Meta) error {
		<-release
		tx.OnCommit(func() { applied.Add(1) })
		return nil
	})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if err := h(context.Background(), "ev", meta("e-1", 1)); err != nil {
				t.Error(err)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if applied.Load() != 1 || in.Duplicates() != 1 {
		t.Fatalf("applied %d, duplicates %d; want 1, 1", applied.Load(), in.Duplicates())
	}
}

// TestRetention protects bounded marks: Purge deletes the marks older
// than the retention and keeps the rest, and the janitor's interval is a
// tenth of the retention between a minute and an hour (the documented
// bound on a mark's life: retention plus that interval).
func TestRetention(t *testing.T) {
	store := inbox.NewMemory()
	in, err := inbox.New(store, inbox.Retention(50*time.Millisecond), inbox.Scope("billing"))
	if err != nil {
		t.Fatal(err)
	}
	h := inbox.Handle(in, func(context.Context, *inbox.MemTx, string, consumer.Meta) error { return nil })
	ctx := context.Background()
	if err := h(ctx, "ev", meta("old", 1)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := h(ctx, "ev", meta("new", 2)); err != nil {
		t.Fatal(err)
	}
	if n, err := in.Purge(ctx); err != nil || n != 1 || store.Len() != 1 {
		t.Fatalf("Purge = %d, %v, %d marks left; want 1, nil, 1", n, err, store.Len())
	}
	for _, tc := range []struct{ retention, want time.Duration }{
		{time.Second, time.Minute}, {5 * time.Hour, 30 * time.Minute}, {7 * 24 * time.Hour, time.Hour},
	} {
		in, err := inbox.New(store, inbox.Retention(tc.retention))
		if err != nil {
			t.Fatal(err)
		}
		if got := in.JanitorInterval(); got != tc.want {
			t.Errorf("JanitorInterval with retention %v = %v, want %v", tc.retention, got, tc.want)
		}
	}
	jctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- in.RunJanitor(jctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunJanitor: %v", err)
	}
}

func TestNewRefuses(t *testing.T) {
	for _, opts := range [][]inbox.Option{{inbox.Scope("")}, {inbox.Retention(0)}, {nil}} {
		if _, err := inbox.New(inbox.NewMemory(), opts...); !errors.Is(err, inbox.ErrInvalidConfig) {
			t.Errorf("New(%v) = %v, want ErrInvalidConfig", opts, err)
		}
	}
	if _, err := inbox.New[*inbox.MemTx](nil); !errors.Is(err, inbox.ErrInvalidConfig) {
		t.Errorf("New(nil store) = %v, want ErrInvalidConfig", err)
	}
}
