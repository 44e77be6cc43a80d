package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/producer"
)

// instance is a running billing consumer.
type instance struct {
	delivered atomic.Int64 // records given to its handler, duplicates included
	stop      context.CancelFunc
	done      chan error
	halted    sync.Once
	err       error // Run's, once halted
}

// halt stops the instance and returns Run's error; it may be called again.
func (in *instance) halt() error {
	in.halted.Do(func() {
		in.stop()
		in.err = <-in.done
	})
	return in.err
}

// startBilling starts a billing instance in group.
func (s *story) startBilling(ctx context.Context, group string) (*instance, error) {
	in := &instance{done: make(chan error, 1)}
	h := s.db.billing(s.cfg.direct)
	c, err := consumer.New(
		consumer.Brokers(s.brokers...),
		consumer.Registry(s.reg),
		consumer.Group(group+"-"+s.cfg.runID),
		consumer.Topics(s.topic),
		consumer.WithLogger(quiet),
		consumer.On(s.codec, func(ctx context.Context, o OrderPlaced, m consumer.Meta) error {
			in.delivered.Add(1)
			return h(ctx, o, m)
		}),
	)
	if err != nil {
		return nil, err
	}
	cctx, stop := context.WithCancel(ctx)
	in.stop = stop
	go func() { in.done <- c.Run(cctx) }()
	return in, nil
}

// waitDelivered waits until in's handler has seen n records, and stops
// it if last.
func (in *instance) waitDelivered(ctx context.Context, n int64, last bool) error {
	err := waitFor(ctx, fmt.Sprintf("%d deliveries", n), func() (bool, error) { return in.delivered.Load() >= n, nil })
	if last || err != nil {
		err = errors.Join(err, in.halt())
	}
	return err
}

// billOnce starts the billing service: one charge per order.
func (s *story) billOnce(ctx context.Context) error {
	in, err := s.startBilling(ctx, "billing")
	if err != nil {
		return err
	}
	s.billing = in
	if err := in.waitDelivered(ctx, int64(len(s.placed)), false); err != nil {
		return err
	}
	t, err := s.db.tally(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "billing: %d orders charged, each charge in the transaction of its record's inbox mark\n", len(t.charges))
	return nil
}

// replay starts a second billing instance in a new group: it reads the
// topic from the start, sharing the first one's inbox.
func (s *story) replay(ctx context.Context) error {
	before := s.db.duplicates()
	in, err := s.startBilling(ctx, "billing-replay")
	if err != nil {
		return err
	}
	if err := in.waitDelivered(ctx, int64(len(s.placed)), true); err != nil {
		return err
	}
	fmt.Fprintf(s.out, "billing: a new instance replays the topic from the start, sharing the inbox: %d redeliveries skipped as duplicates\n",
		s.db.duplicates()-before)
	return nil
}

// relayDiesBeforeMark commits more orders and does by hand what a relay
// killed between the broker's acknowledgement and its mark did: it
// publishes the outbox's rows and gives its session up unmarked. The next
// relay publishes them again, with the same event IDs.
func (s *story) relayDiesBeforeMark(ctx context.Context) error {
	first := len(s.placed)
	for i := range s.cfg.more {
		if err := s.order(ctx, s.cfg.orders+1+i, true); err != nil {
			return err
		}
	}
	ids, err := s.publishUnmarked(ctx)
	if err != nil {
		return err
	}
	before := s.db.duplicates()
	n, err := s.relay(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "relay: %d more orders; a relay publishes their events and dies before marking them; the next relay publishes %d again (same event IDs: %s ...)\n",
		len(s.placed)-first, n, ids[0])
	if err := s.billing.waitDelivered(ctx, int64(len(s.placed)+len(ids)), true); err != nil {
		return err
	}
	fmt.Fprintf(s.out, "billing: %d relay duplicates skipped\n", s.db.duplicates()-before)
	return nil
}

// publishUnmarked publishes the outbox's rows through a session it then
// closes without marking them, and returns their event IDs.
func (s *story) publishUnmarked(ctx context.Context) ([]string, error) {
	sess, err := s.db.relayStore().Open(ctx)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	rows, err := sess.Fetch(ctx, 1000)
	if err != nil {
		return nil, err
	}
	errs := make(chan error, len(rows))
	var ids []string
	for i := range rows {
		ids = append(ids, rows[i].Event.EventID)
		if err := s.p.PublishSealed(ctx, &rows[i].Event, func(_ producer.Result, err error) { errs <- err }); err != nil {
			return nil, err
		}
	}
	for range rows {
		if err := <-errs; err != nil {
			return nil, err
		}
	}
	if len(ids) == 0 {
		return nil, errors.New("the outbox was empty")
	}
	return ids, nil // the session closes unmarked: the "crash"
}

// summary prints the counts and fails the run on a lost or doubled
// charge, or an event of the rolled-back order.
func (s *story) summary(ctx context.Context) error {
	t, err := s.db.tally(ctx)
	if err != nil {
		return err
	}
	onTopic, err := s.onTopic(ctx)
	if err != nil {
		return err
	}
	var lost, doubled []string
	for _, id := range s.placed {
		switch n := t.charges[id]; {
		case n == 0:
			lost = append(lost, id)
		case n > 1:
			doubled = append(doubled, id)
		}
	}
	escaped := t.orders[s.rolled] || t.charges[s.rolled] > 0
	fmt.Fprintf(s.out, "\nsummary (%s):\n", s.storeName())
	fmt.Fprintf(s.out, "  orders committed     %d (with their events; 1 rolled back, its event escaped: %v)\n", len(s.placed), escaped)
	fmt.Fprintf(s.out, "  events published     %d (records on the topic: %d, relay duplicates included)\n", s.relayed, onTopic)
	fmt.Fprintf(s.out, "  orders charged       %d\n", len(t.charges))
	fmt.Fprintf(s.out, "  duplicates skipped   %d\n", s.db.duplicates())
	fmt.Fprintf(s.out, "  lost                 %d\n", len(lost))
	fmt.Fprintf(s.out, "  charged twice        %d\n", len(doubled))
	if len(lost) > 0 || len(doubled) > 0 || escaped || t.pending > 0 {
		slices.Sort(doubled)
		return fmt.Errorf("lost %v, charged twice %v, rolled-back order escaped %v, outbox rows left %d", lost, doubled, escaped, t.pending)
	}
	return nil
}

func (s *story) storeName() string {
	if s.cfg.postgres != "" {
		return "PostgreSQL: pgoutbox, pginbox"
	}
	return "in-memory outbox and inbox stores"
}
