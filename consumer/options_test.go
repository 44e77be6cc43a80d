package consumer

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/schema"
)

// TestNoPanicOnNilOrZero protects New's contract: no option and no input
// to New panics; every problem comes back as one error wrapping
// ErrInvalidConfig. A nil handler used to be accepted and to panic at the
// first record; a nil codec panicked while the option was built.
func TestNoPanicOnNilOrZero(t *testing.T) {
	codec, err := schema.NewCodec[Step](stepSchema)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := schema.NewRegistry([]string{"http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	h := func(context.Context, Step, Meta) error { return nil }
	base := []Option{Brokers("127.0.0.1:1"), Group("g"), Topics("t"), Registry(reg)}
	tests := []struct {
		name string
		opt  func() Option
		want string
	}{
		{"nil codec", func() Option { return On[Step](nil, h) }, "nil codec"},
		{"nil handler", func() Option { return On(codec, nil) }, "nil handler"},
		{"nil option", func() Option { return nil }, "nil Option"},
		{"nil registry", func() Option { return Registry(nil) }, "nil registry"},
		{"nil logger", func() Option { return WithLogger(nil) }, "nil logger"},
		{"nil tracer provider", func() Option { return WithTracerProvider(nil) }, "nil provider"},
		{"nil meter provider", func() Option { return WithMeterProvider(nil) }, "nil provider"},
		{"nil propagator", func() Option { return WithPropagator(nil) }, "nil propagator"},
		{"nil error hook is none", func() Option { return ErrorHook(nil) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if v := recover(); v != nil {
					t.Fatalf("panic: %v", v)
				}
			}()
			opts := append(base[:len(base):len(base)], tt.opt())
			if tt.name != "nil codec" && tt.name != "nil handler" {
				opts = append(opts, On(codec, h))
			}
			c, err := New(opts...)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want ErrInvalidConfig naming %q", err, tt.want)
			}
		})
	}
}

// TestConfigReportsEveryProblem: New with nothing names everything
// missing at once, not only the first problem.
func TestConfigReportsEveryProblem(t *testing.T) {
	_, err := New(Concurrency(0), MaxBuffered(0))
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New = %v, want ErrInvalidConfig", err)
	}
	for _, want := range []string{"Brokers", "no group", "no topics", "no registry", "no handlers", "concurrency 0", "max buffered 0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

// TestFetchLimitsFollowMemoryBound: the memory bound the docs state is the
// real one: franz-go's fetch buffers are sized from MaxBufferedBytes
// (they were left at 50MiB per broker, unbounded in count).
func TestFetchLimitsFollowMemoryBound(t *testing.T) {
	codec, err := schema.NewCodec[Step](stepSchema)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := schema.NewRegistry([]string{"http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	h := func(context.Context, Step, Meta) error { return nil }
	for _, tt := range []struct {
		opts             []Option
		fetch, partition int32
	}{
		{nil, DefaultMaxBufferedBytes / 32, 1 << 20},
		{[]Option{MaxBufferedBytes(4 << 20)}, 128 << 10, 128 << 10},
	} {
		c, err := New(append([]Option{Brokers("127.0.0.1:1"), Group("g"), Topics("t"), Registry(reg), On(codec, h)}, tt.opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		fetch := c.cl.OptValue(kgo.FetchMaxBytes).(int32)
		part := c.cl.OptValue(kgo.FetchMaxPartitionBytes).(int32)
		conc := c.cl.OptValue(kgo.MaxConcurrentFetches).(int)
		c.Close()
		if fetch != tt.fetch || part != tt.partition || conc != 4 {
			t.Errorf("fetch max %d, partition max %d, concurrent %d; want %d, %d, 4", fetch, part, conc, tt.fetch, tt.partition)
		}
	}
	if _, err := New(MaxBufferedBytes(1000)); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("MaxBufferedBytes(1000): %v", err)
	}
}
