package consumertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/internal/embedded"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/schema"
)

// Env is a running embedded cluster and registry.
type Env struct {
	cluster *embedded.Cluster
	reg     *schema.Registry
}

// Option configures [Start].
type Option interface{ apply(*embedded.Config) }

type optionFunc func(*embedded.Config)

func (f optionFunc) apply(c *embedded.Config) { f(c) }

// Topic creates topic name with the given number of partitions at start.
func Topic(name string, partitions int32) Option {
	return optionFunc(func(c *embedded.Config) {
		if c.Topics == nil {
			c.Topics = make(map[string]int32)
		}
		c.Topics[name] = partitions
	})
}

// Persist keeps the cluster's log and the registry's schemas in dir, so a
// second Start with the same dir (in the same test, after the first Env
// was closed) finds the backlog it left. Default: in memory.
func Persist(dir string) Option { return optionFunc(func(c *embedded.Config) { c.DataDir = dir }) }

// Brokers sets the number of brokers. Default: 3.
func Brokers(n int) Option { return optionFunc(func(c *embedded.Config) { c.Brokers = n }) }

// Start starts the environment and stops it when the test ends. It fails
// the test if the environment cannot start.
func Start(t testing.TB, opts ...Option) *Env {
	t.Helper()
	e, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("consumertest: close: %v", err)
		}
	})
	return e
}

// New starts the environment outside a test (an example, a demo); the
// caller stops it with [Env.Close]. Nil options are ignored.
func New(opts ...Option) (*Env, error) {
	var cfg embedded.Config
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	cl, err := embedded.Start(cfg)
	if err != nil {
		return nil, fmt.Errorf("consumertest: %w", err)
	}
	reg, err := schema.NewRegistry([]string{cl.RegistryURL()})
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("consumertest: %w", err)
	}
	return &Env{cluster: cl, reg: reg}, nil
}

// Close stops the environment (before the test ends, for a test that
// starts it again on the same [Persist] directory). It is idempotent.
func (e *Env) Close() error { return e.cluster.Close() }

// Brokers returns the seed broker addresses (127.0.0.1:port).
func (e *Env) Brokers() []string { return e.cluster.Brokers() }

// RegistryURL returns the registry's base URL.
func (e *Env) RegistryURL() string { return e.cluster.RegistryURL() }

// Registry returns a registry client of the environment, shared by the
// producers and consumers the Env sets up.
func (e *Env) Registry() *schema.Registry { return e.reg }

// CreateTopic creates topic name with the given number of partitions; an
// existing topic is left as it is. It fails the test on any other error.
func (e *Env) CreateTopic(t testing.TB, name string, partitions int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.Brokers()...))
	if err != nil {
		t.Fatalf("consumertest: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("consumertest: create topic %q: %v", name, err)
	}
}

// Producer returns a producer for the environment, closed when the test
// ends. opts are applied after the environment's brokers and registry.
func (e *Env) Producer(t testing.TB, opts ...producer.Option) *producer.Producer {
	t.Helper()
	p, err := producer.New(append([]producer.Option{
		producer.Brokers(e.Brokers()...), producer.Registry(e.reg),
	}, opts...)...)
	if err != nil {
		t.Fatalf("consumertest: producer: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// ConsumerOptions returns the options that point a consumer at the
// environment: its brokers and registry, group and topics. Append handlers
// and any other options.
func (e *Env) ConsumerOptions(group string, topics ...string) []consumer.Option {
	return []consumer.Option{
		consumer.Brokers(e.Brokers()...),
		consumer.Registry(e.reg),
		consumer.Group(group),
		consumer.Topics(topics...),
	}
}

// Run runs c until the test ends, then shuts it down gracefully. A Run
// that returns an error before that fails the test.
func (e *Env) Run(t testing.TB, c *consumer.Consumer) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Shutdown(ctx); err != nil && !errors.Is(err, consumer.ErrClosed) {
			t.Errorf("consumertest: shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("consumertest: run: %v", err)
		}
	})
}

// Recorder records the events a handler was given, so a test can wait for
// them. It is safe for concurrent use.
type Recorder[T any] struct {
	mu     sync.Mutex
	events []T
	metas  []consumer.Meta
	more   chan struct{} // closed and replaced on every event
}

// NewRecorder returns an empty recorder.
func NewRecorder[T any]() *Recorder[T] { return &Recorder[T]{more: make(chan struct{})} }

// Wrap returns a handler that calls h (if not nil) and records the event
// when h returns nil, so only handled events count.
func (r *Recorder[T]) Wrap(h consumer.Handler[T]) consumer.Handler[T] {
	return func(ctx context.Context, ev T, m consumer.Meta) error {
		if h != nil {
			if err := h(ctx, ev, m); err != nil {
				return err
			}
		}
		r.mu.Lock()
		r.events = append(r.events, ev)
		r.metas = append(r.metas, m)
		close(r.more)
		r.more = make(chan struct{})
		r.mu.Unlock()
		return nil
	}
}

// Events returns a copy of the events handled so far, in the order their
// handlers returned.
func (r *Recorder[T]) Events() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.events...)
}

// Metas returns a copy of the events' metadata, in the same order.
func (r *Recorder[T]) Metas() []consumer.Meta {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]consumer.Meta(nil), r.metas...)
}

// WaitFor waits until at least n events were handled and returns them, or
// returns an error when ctx ends first.
func (r *Recorder[T]) WaitFor(ctx context.Context, n int) ([]T, error) {
	for {
		r.mu.Lock()
		if len(r.events) >= n {
			out := append([]T(nil), r.events...)
			r.mu.Unlock()
			return out, nil
		}
		have, more := len(r.events), r.more
		r.mu.Unlock()
		select {
		case <-more:
		case <-ctx.Done():
			return nil, fmt.Errorf("consumertest: %d of %d events handled: %w", have, n, ctx.Err())
		}
	}
}

// Wait is WaitFor with a timeout that fails the test.
func (r *Recorder[T]) Wait(t testing.TB, n int, timeout time.Duration) []T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := r.WaitFor(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
