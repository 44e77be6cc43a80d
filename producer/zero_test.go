package producer

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/schema"
)

// TestNilAndZeroInputs protects the promise that no constructor, option
// or method panics on a nil or zero input: each returns an error wrapping
// ErrInvalidConfig instead (or, for Close, does nothing).
func TestNilAndZeroInputs(t *testing.T) {
	reg, err := schema.NewRegistry([]string{"http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	ok := []Option{Brokers("127.0.0.1:1"), Registry(reg)}
	cc := codec[Created](t, createdAvsc)
	mc := codec[Metric](t, metricAvsc)
	ctx := context.Background()
	var nilProducer *Producer
	var nilPub *Publisher[Created]
	var nilUnordered *UnorderedPublisher[Metric]
	noop := func(Result, error) {}
	tests := []struct {
		name string
		call func() error
	}{
		{"New(nil)", func() error { _, err := New(nil); return err }},
		{"New(nil, nil)", func() error { _, err := New(nil, nil); return err }},
		{"nil kgo option", func() error { _, err := New(append(ok, KgoOpts(nil))...); return err }},
		{"zero logger", func() error { _, err := New(append(ok, WithLogger(new(slog.Logger)))...); return err }},
		{"NewPublisher nil producer", func() error { _, err := NewPublisher(ctx, nil, "t", cc); return err }},
		{"NewPublisher zero producer", func() error { _, err := NewPublisher(ctx, new(Producer), "t", cc); return err }},
		{"NewPublisher nil codec", func() error { _, err := NewPublisher[Created](ctx, new(Producer), "t", nil); return err }},
		{"NewPublisher nil ctx", func() error {
			//lint:ignore SA1012 a nil ctx is the input under test
			_, err := NewPublisher(nil, new(Producer), "t", cc)
			return err
		}},
		{"NewUnorderedPublisher nil producer", func() error { _, err := NewUnorderedPublisher(ctx, nil, "t", mc); return err }},
		{"NewUnorderedPublisher nil codec", func() error {
			_, err := NewUnorderedPublisher[Metric](ctx, nilProducer, "t", nil)
			return err
		}},
		{"nil producer Flush", func() error { return nilProducer.Flush(ctx) }},
		{"nil producer Shutdown", func() error { return nilProducer.Shutdown(ctx) }},
		{"zero producer Flush", func() error { return new(Producer).Flush(ctx) }},
		{"zero producer Shutdown", func() error { return new(Producer).Shutdown(ctx) }},
		{"nil publisher Publish", func() error { _, err := nilPub.Publish(ctx, Created{"k", 1}); return err }},
		{"nil publisher PublishAsync", func() error { return nilPub.PublishAsync(ctx, Created{"k", 1}, noop) }},
		{"nil publisher TryPublishAsync", func() error { return nilPub.TryPublishAsync(ctx, Created{"k", 1}, noop) }},
		{"nil publisher PublishAll", func() error { _, err := nilPub.PublishAll(ctx, Created{"k", 1}); return err }},
		{"zero publisher Publish", func() error { _, err := new(Publisher[Created]).Publish(ctx, Created{"k", 1}); return err }},
		{"zero publisher PublishAll", func() error {
			_, err := new(Publisher[Created]).PublishAll(ctx, Created{"k", 1})
			return err
		}},
		{"nil unordered Publish", func() error { _, err := nilUnordered.Publish(ctx, Metric{}); return err }},
		{"nil unordered PublishAsync", func() error { return nilUnordered.PublishAsync(ctx, Metric{}, noop) }},
		{"nil unordered TryPublishAsync", func() error { return nilUnordered.TryPublishAsync(ctx, Metric{}, noop) }},
		{"nil unordered PublishAll", func() error { _, err := nilUnordered.PublishAll(ctx, Metric{}); return err }},
		{"zero unordered Publish", func() error {
			_, err := new(UnorderedPublisher[Metric]).Publish(ctx, Metric{})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("panic: %v", r)
				}
			}()
			if err := tt.call(); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("got %v, want ErrInvalidConfig", err)
			}
		})
	}
	t.Run("no panics elsewhere", func(t *testing.T) {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("panic: %v", r)
			}
		}()
		nilProducer.Close()
		new(Producer).Close()
		_, _ = nilProducer.Name(), nilProducer.InstanceID()
		_, _ = nilPub.Topic(), nilPub.SchemaID()
		_, _ = nilUnordered.Topic(), nilUnordered.SchemaID()
	})
}

// TestNewReportsEveryProblem protects New's report: every problem found
// is in the one error it returns, each wrapping ErrInvalidConfig.
func TestNewReportsEveryProblem(t *testing.T) {
	_, err := New(nil, Brokers("nohost"), MaxBufferedRecords(0), WithLogger(nil), KgoOpts(kgo.ClientID("x"), nil))
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("got %v, want ErrInvalidConfig", err)
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("%T is not a join", err)
	}
	for _, want := range []string{"nil Option", "nohost", "MaxBufferedRecords", "WithLogger", "KgoOpts", "no registry"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	for i, e := range joined.Unwrap() {
		if !errors.Is(e, ErrInvalidConfig) {
			t.Errorf("problem %d does not wrap ErrInvalidConfig: %v", i, e)
		}
	}
}
