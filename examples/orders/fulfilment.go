package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/schema"
)

// fulfilment is one instance of the consuming service. The first instance
// runs the code as it was deployed: its warehouse call fails now and then
// (transient, retried), its ledger rejects one order's payment (permanent,
// dead-lettered), and it has no handler for OrderAudited (dead-lettered).
// The second instance, started in the same group once the first has
// stopped, is the fix: it handles OrderAudited and the payment. Both write
// what they handle to the one ledger.
type fulfilment struct {
	consumer *consumer.Consumer
	runErr   chan error
}

// errWarehouse is the transient failure: the call would succeed if tried
// again.
var errWarehouse = errors.New("warehouse API: 503 Service Unavailable")

// transientRate is the chance that a handler attempt fails transiently.
const transientRate = 0.02

// fulfilmentConfig is what differs between the two instances.
type fulfilmentConfig struct {
	group    string
	fixed    bool   // the deploy with the fix: OrderAudited handled, payments accepted
	rejected string // the order whose payment the unfixed ledger rejects
}

func startFulfilment(ctx context.Context, cfg config, fc fulfilmentConfig, reg *schema.Registry, c codecs, led *ledger, log *slog.Logger) (*fulfilment, error) {
	work := func() error {
		if cfg.latency > 0 {
			time.Sleep(rand.N(cfg.latency))
		}
		if rand.Float64() < transientRate {
			return errWarehouse
		}
		return nil
	}
	opts := []consumer.Option{
		consumer.Brokers(cfg.brokers...),
		consumer.Group(fc.group),
		consumer.Topics(cfg.topic),
		consumer.Registry(reg),
		consumer.Concurrency(cfg.lanes),
		consumer.WithLogger(log),
		// Dead letters go to the run's dead-letter topic; the failure
		// policy is then DeadLetter, and a dead-lettered order's later
		// events follow it there (quarantine) until it is redriven.
		consumer.DeadLetterTopic(cfg.dlt),
		// Short backoff: the example's transient failures are blips.
		consumer.Retry(8, 5*time.Millisecond, 50*time.Millisecond),
		consumer.On(c.created, func(ctx context.Context, ev OrderCreated, m consumer.Meta) error {
			if err := work(); err != nil {
				return err
			}
			led.advance(m, ev.OrderID, 0)
			return nil
		}),
		consumer.On(c.paid, func(ctx context.Context, ev OrderPaid, m consumer.Meta) error {
			if err := work(); err != nil {
				return err
			}
			if !fc.fixed && ev.OrderID == fc.rejected && m.Producer == led.runID {
				// Retrying cannot help: it is the code, not a blip.
				return consumer.Permanent(fmt.Errorf("ledger: %s payment of %s rejected: method not configured", ev.Method, ev.OrderID))
			}
			led.advance(m, ev.OrderID, 1)
			return nil
		}),
		consumer.On(c.shipped, func(ctx context.Context, ev OrderShipped, m consumer.Meta) error {
			if err := work(); err != nil {
				return err
			}
			led.advance(m, ev.OrderID, 2)
			return nil
		}),
	}
	if fc.fixed {
		opts = append(opts, consumer.On(c.audited, func(ctx context.Context, ev OrderAudited, m consumer.Meta) error {
			led.audited(m, ev.OrderID)
			return nil
		}))
	}
	cons, err := consumer.New(opts...)
	if err != nil {
		return nil, err
	}
	f := &fulfilment{consumer: cons, runErr: make(chan error, 1)}
	go func() { f.runErr <- cons.Run(ctx) }()
	return f, nil
}

// finished is how many records the instance has finished: handled, or
// written to the dead-letter topic.
func (f *fulfilment) finished() int64 {
	s := f.consumer.Stats()
	return s.Handled + s.DeadLettered + s.Skipped
}

// waitFinished waits until the instance has finished want records.
func (f *fulfilment) waitFinished(ctx context.Context, want int64, limit time.Duration) error {
	timeout := time.After(limit)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for f.finished() < want {
		select {
		case <-tick.C:
		case err := <-f.runErr:
			f.runErr <- err // for stop
			return fmt.Errorf("consumer stopped: %w", err)
		case <-timeout:
			return fmt.Errorf("finished %d of %d records within %v", f.finished(), want, limit)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// stop shuts the consumer down gracefully: in-flight records finish, and
// the offsets are committed with the quarantined keys, which the next
// instance of the group reads back.
func (f *fulfilment) stop() error {
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.consumer.Shutdown(sctx); err != nil {
		return err
	}
	return <-f.runErr
}
