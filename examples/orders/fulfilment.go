package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/schema"
)

// fulfilment is the consuming service. It keeps each order's lifecycle stage
// and counts every event that arrives out of turn for its order. Events
// written by earlier runs (another producer ID, on a reused topic) are
// consumed too, and counted apart.
type fulfilment struct {
	consumer *consumer.Consumer
	runErr   chan error

	runID string // the producer ID of this run's events

	mu         sync.Mutex
	stage      map[string]int
	earlier    int
	consumed   int
	violations int
	progress   chan struct{}
}

func startFulfilment(ctx context.Context, cfg config, reg *schema.Registry, c codecs, log *slog.Logger) (*fulfilment, error) {
	f := &fulfilment{runID: cfg.runID, stage: make(map[string]int), runErr: make(chan error, 1), progress: make(chan struct{}, 1)}
	latency := func() {
		if cfg.latency > 0 {
			time.Sleep(rand.N(cfg.latency))
		}
	}
	cons, err := consumer.New(
		consumer.Brokers(cfg.brokers...),
		consumer.Group(fmt.Sprintf("fulfilment-%d", time.Now().UnixNano())),
		consumer.Topics(cfg.topic),
		consumer.Registry(reg),
		consumer.Concurrency(cfg.lanes),
		consumer.WithLogger(log),
		consumer.On(c.created, func(ctx context.Context, ev OrderCreated, m consumer.Meta) error {
			latency()
			f.advance(m, ev.OrderID, 0)
			return nil
		}),
		consumer.On(c.paid, func(ctx context.Context, ev OrderPaid, m consumer.Meta) error {
			latency()
			f.advance(m, ev.OrderID, 1)
			return nil
		}),
		consumer.On(c.shipped, func(ctx context.Context, ev OrderShipped, m consumer.Meta) error {
			latency()
			f.advance(m, ev.OrderID, 2)
			return nil
		}),
	)
	if err != nil {
		return nil, err
	}
	f.consumer = cons
	go func() { f.runErr <- cons.Run(ctx) }()
	return f, nil
}

// advance records that an order reached stage from stage-1.
func (f *fulfilment) advance(m consumer.Meta, order string, stage int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m.Producer != f.runID {
		f.earlier++
		return
	}
	if f.stage[order] != stage {
		f.violations++
	}
	f.stage[order] = stage + 1
	f.consumed++
	select {
	case f.progress <- struct{}{}:
	default:
	}
}

func (f *fulfilment) result() (consumed, earlier, violations int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.consumed, f.earlier, f.violations
}

// waitFor waits until want events are consumed.
func (f *fulfilment) waitFor(ctx context.Context, want int, limit time.Duration) error {
	timeout := time.After(limit)
	for {
		if got, _, _ := f.result(); got >= want {
			break
		}
		select {
		case <-f.progress:
		case err := <-f.runErr:
			return fmt.Errorf("consumer stopped: %w", err)
		case <-timeout:
			got, _, _ := f.result()
			return fmt.Errorf("consumed %d of %d events within %v", got, want, limit)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// stop shuts the consumer down gracefully.
func (f *fulfilment) stop() error {
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.consumer.Shutdown(sctx); err != nil {
		return err
	}
	return <-f.runErr
}
