package producer

import (
	"context"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/ordo-go/ordo/schema"
)

// TestNewInvalidConfig protects New's validation: every bad option is an
// error wrapping ErrInvalidConfig, never a panic or a half-built producer.
func TestNewInvalidConfig(t *testing.T) {
	reg, err := schema.NewRegistry([]string{"http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	ok := []Option{Brokers("127.0.0.1:1"), Registry(reg)}
	tests := []struct {
		name string
		opts []Option
	}{
		{"no options", nil},
		{"no brokers", []Option{Registry(reg)}},
		{"no registry", []Option{Brokers("127.0.0.1:1")}},
		{"nil option", append(ok, nil)},
		{"zero buffer", append(ok, MaxBufferedRecords(0))},
		{"zero buffer bytes", append(ok, MaxBufferedBytes(0))},
		{"negative linger", append(ok, Linger(-time.Second))},
		{"linger over a minute", append(ok, Linger(time.Hour))},
		{"unknown strategy", append(ok, Subjects(schema.SubjectStrategy(42)))},
		{"unknown policy", append(ok, OnPartitionCountChange(CountChangePolicy(7)))},
		{"empty name", append(ok, Name(""))},
		{"nil logger", append(ok, WithLogger(nil))},
		{"nil tls", append(ok, TLS(nil))},
		{"nil sasl", append(ok, SASL(nil))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.opts...)
			if !errors.Is(err, ErrInvalidConfig) || p != nil {
				t.Fatalf("New: %v, %v; want ErrInvalidConfig", p, err)
			}
		})
	}
	t.Run("valid", func(t *testing.T) {
		p, err := New(append(ok, TLS(&tls.Config{}), Name("x"))...)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if p.Name() != "x" {
			t.Fatalf("Name %q", p.Name())
		}
	})
}

// TestNewPublisherInvalid protects the publisher constructors' checks.
func TestNewPublisherInvalid(t *testing.T) {
	e := startEnv(t, map[string]int32{"orders": 1})
	p := e.producer(t)
	ctx := context.Background()
	cc := codec[Created](t, createdAvsc)
	tests := []struct {
		name string
		call func() error
	}{
		{"nil producer", func() error { _, err := NewPublisher(ctx, nil, "orders", cc); return err }},
		{"nil codec", func() error { _, err := NewPublisher[Created](ctx, p, "orders", nil); return err }},
		{"empty topic", func() error { _, err := NewPublisher(ctx, p, "", cc); return err }},
		{"unordered empty topic", func() error {
			_, err := NewUnorderedPublisher(ctx, p, "", codec[Metric](t, metricAvsc))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("got %v, want ErrInvalidConfig", err)
			}
		})
	}
	t.Run("nil done", func(t *testing.T) {
		pub, err := NewPublisher(ctx, p, "orders", cc)
		if err != nil {
			t.Fatal(err)
		}
		if err := pub.PublishAsync(ctx, Created{"k", 1}, nil); err == nil {
			t.Fatal("nil done accepted")
		}
	})
}

// TestClosed protects Close: records held by the client fail with
// ErrClosed before Close returns, blocked publishers wake with ErrClosed,
// every later call returns ErrClosed, and Close is idempotent.
func TestClosed(t *testing.T) {
	e := startEnv(t, map[string]int32{"orders": 1})
	p := e.producer(t, MaxBufferedRecords(1))
	ctx := context.Background()
	pub, err := NewPublisher(ctx, p, "orders", codec[Created](t, createdAvsc))
	if err != nil {
		t.Fatal(err)
	}
	holdProduce(t, e)
	held := make(chan error, 1)
	if err := pub.PublishAsync(ctx, Created{"k", 1}, func(_ Result, err error) { held <- err }); err != nil {
		t.Fatal(err)
	}
	blocked := make(chan error, 1)
	go func() { _, err := pub.Publish(ctx, Created{"k", 2}); blocked <- err }()
	time.Sleep(50 * time.Millisecond) // let it block on the full buffer

	p.Close()
	select {
	case err := <-held:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("held record: %v, want ErrClosed", err)
		}
	default:
		t.Fatal("Close returned before the held record's done ran")
	}
	if err := <-blocked; !errors.Is(err, ErrClosed) {
		t.Fatalf("blocked Publish: %v, want ErrClosed", err)
	}
	p.Close() // idempotent

	never := func(Result, error) { t.Error("done called after Close") }
	calls := []struct {
		name string
		call func() error
	}{
		{"Publish", func() error { _, err := pub.Publish(ctx, Created{"k", 3}); return err }},
		{"PublishAsync", func() error { return pub.PublishAsync(ctx, Created{"k", 3}, never) }},
		{"TryPublishAsync", func() error { return pub.TryPublishAsync(ctx, Created{"k", 3}, never) }},
		{"PublishAll", func() error { _, err := pub.PublishAll(ctx, Created{"k", 3}); return err }},
		{"NewPublisher", func() error { _, err := NewPublisher(ctx, p, "orders", codec[Paid](t, paidAvsc)); return err }},
		{"Flush", func() error { return p.Flush(ctx) }},
		{"Shutdown", func() error { return p.Shutdown(ctx) }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); !errors.Is(err, ErrClosed) {
				t.Fatalf("got %v, want ErrClosed", err)
			}
		})
	}
}

// TestShutdownDelivers protects Shutdown: records buffered behind a long
// linger are delivered, not failed.
func TestShutdownDelivers(t *testing.T) {
	e := startEnv(t, map[string]int32{"orders": 2})
	p := e.producer(t, Linger(time.Minute))
	ctx := context.Background()
	pub, err := NewPublisher(ctx, p, "orders", codec[Created](t, createdAvsc))
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	errs := make(chan error, n)
	for i := range n {
		if err := pub.PublishAsync(ctx, Created{"k", int64(i)}, func(_ Result, err error) { errs <- err }); err != nil {
			t.Fatal(err)
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("buffered record: %v", err)
		}
	}
	e.readAll(t, "orders", n)
}

// TestRegistryDown protects NewPublisher's promise to fail early: with the
// registry unreachable it returns an error (not a publisher that fails
// later), and the error is not a configuration error.
func TestRegistryDown(t *testing.T) {
	reg, err := schema.NewRegistry([]string{"http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Brokers("127.0.0.1:1"), Registry(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pub, err := NewPublisher(ctx, p, "orders", codec[Created](t, createdAvsc))
	if err == nil || pub != nil || errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("NewPublisher with registry down: %v, %v", pub, err)
	}
}

// TestCancelledContext protects the early refusal of a ctx that has
// already ended: nothing is sent even when the buffer has room.
func TestCancelledContext(t *testing.T) {
	e := startEnv(t, map[string]int32{"orders": 1})
	p := e.producer(t)
	pub, err := NewPublisher(context.Background(), p, "orders", codec[Created](t, createdAvsc))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := pub.Publish(ctx, Created{"k", 1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish: %v, want context.Canceled", err)
	}
	r, err := pub.Publish(context.Background(), Created{"k", 2})
	if err != nil || r.Offset != 0 || r.Seq != 1 {
		t.Fatalf("next Publish: %+v, %v; want offset 0 seq 1 (nothing sent before)", r, err)
	}
}
