package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/schema"
)

// publishOrders is the order service: it moves every order through its
// lifecycle, picking the next order at random so that the events of
// different orders interleave as they would in production, and publishes
// asynchronously. Before the OrderPaid of each order in plan.before it
// waits for what it published so far and has inj write that order's
// poison record, so the poison lands between the order's OrderCreated and
// OrderPaid. Every acknowledged event is entered in led. It returns the
// number of events published.
func publishOrders(ctx context.Context, cfg config, reg *schema.Registry, c codecs, log *slog.Logger,
	plan poisonPlan, inj *injector, led *ledger) (int, error) {
	p, err := producer.New(
		producer.Brokers(cfg.brokers...),
		producer.Registry(reg),
		producer.Subjects(schema.TopicRecordName), // three event types share the topic
		producer.WithLogger(log),
		producer.Name(cfg.runID), // the consumer tells this run's events from earlier runs' by it
	)
	if err != nil {
		return 0, err
	}
	defer p.Close()
	created, err := producer.NewPublisher(ctx, p, cfg.topic, c.created)
	if err != nil {
		return 0, err
	}
	paid, err := producer.NewPublisher(ctx, p, cfg.topic, c.paid)
	if err != nil {
		return 0, err
	}
	shipped, err := producer.NewPublisher(ctx, p, cfg.topic, c.shipped)
	if err != nil {
		return 0, err
	}

	var (
		mu      sync.Mutex
		failure error
		n       int
	)
	done := func(res producer.Result, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failure = errors.Join(failure, err)
			return
		}
		led.publish(res.EventID)
		n++
	}
	rng := rand.New(rand.NewPCG(42, 7))
	stage := make([]int, cfg.orders)
	open := make([]int, cfg.orders) // orders not yet shipped
	for i := range open {
		open[i] = i
	}
	methods := []string{"CARD", "TRANSFER", "VOUCHER"}
	for len(open) > 0 {
		j := rng.IntN(len(open))
		i := open[j]
		id := fmt.Sprintf("order-%05d", i)
		ctx, span := traceOrder(ctx, i, id, stage[i])
		switch stage[i] {
		case 0:
			cents := int64(100 + rng.IntN(10_000))
			err = created.PublishAsync(ctx, OrderCreated{OrderID: id, Customer: fmt.Sprintf("customer-%d", i%97),
				Items: []Item{{SKU: "sku-1", Quantity: 1, Cents: cents}}, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}, done)
		case 1:
			if kind, ok := plan.before[i]; ok {
				// The order's OrderCreated must be in the log first.
				if err = p.Flush(ctx); err == nil {
					err = inj.inject(ctx, id, kind)
				}
				if err != nil {
					span.End()
					return 0, err
				}
			}
			err = paid.PublishAsync(ctx, OrderPaid{OrderID: id, Cents: int64(rng.IntN(10_000)), Method: methods[i%3]}, done)
		case 2:
			tracking := fmt.Sprintf("TRK%08d", i)
			err = shipped.PublishAsync(ctx, OrderShipped{OrderID: id, Carrier: "acme", Tracking: &tracking}, done)
			open[j] = open[len(open)-1]
			open = open[:len(open)-1]
		}
		span.End()
		if err != nil {
			return 0, err
		}
		stage[i]++
	}
	if err := p.Flush(ctx); err != nil {
		return 0, err
	}
	mu.Lock()
	defer mu.Unlock()
	return n, failure
}

var stageNames = [...]string{"created", "paid", "shipped"}

// traceOrder opens the root span of a traced order's event (see -trace);
// for other orders it returns a span that records nothing.
func traceOrder(ctx context.Context, i int, id string, stage int) (context.Context, trace.Span) {
	if i >= tracedOrders {
		return ctx, trace.SpanFromContext(ctx)
	}
	return otel.Tracer("example.orders").Start(ctx, rootPrefix+id+" "+stageNames[stage])
}
