package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ordo-go/ordo/consumer/dlq"

	"github.com/ordo-go/ordo/consumer/consumertest"
	"github.com/ordo-go/ordo/schema"
)

// summary is what a run reports.
type summary struct {
	published     int
	inj           *injector
	rejected      string // the order whose payment was rejected until the fix; "" if none
	acct          account
	retried       int64
	dl            deadLetters
	redrive       dlq.RedriveReport
	seqViolations int64 // per-key sequence gaps/regressions seen by the SDK
	publishTime   time.Duration
	total         time.Duration
}

// run tells the story: publish the orders with poison in front of some of
// their later events; the first fulfilment instance handles what it can,
// retries blips and dead-letters the rest, quarantining their orders; the
// second instance (the fix) takes over the group, the dead letters are
// redriven to it, and the ledger accounts for every event.
func run(ctx context.Context, cfg config, out io.Writer) error {
	start := time.Now()
	where, cleanup, err := setup(ctx, &cfg)
	if err != nil {
		return err
	}
	defer cleanup()
	fmt.Fprintf(out, "ordo orders example on %s\n", where)
	flushTelemetry, err := observability(cfg, out)
	if err != nil {
		return err
	}
	s, f2, err := story(ctx, cfg, out)
	if f2 != nil {
		defer f2.consumer.Close()
	}
	if err != nil {
		return err
	}
	s.total = time.Since(start)
	s.print(out, cfg)
	if cfg.metricsAddr != "" && cfg.hold > 0 { // the consumer keeps reporting lag meanwhile
		fmt.Fprintf(out, "holding the metrics endpoint for %v\n", cfg.hold)
		select {
		case <-time.After(cfg.hold):
		case <-ctx.Done(): // Ctrl-C ends the hold, not the run
		}
	}
	if err := f2.stop(); err != nil && !(errors.Is(err, context.Canceled) && ctx.Err() != nil) {
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := flushTelemetry(sctx); err != nil {
		return err
	}
	if s.acct.lost > 0 {
		return fmt.Errorf("%d events lost, e.g. %s", s.acct.lost, strings.Join(s.acct.lostIDs, ", "))
	}
	if s.acct.violations > 0 || s.seqViolations > 0 {
		return errors.New("events were handled out of order")
	}
	return nil
}

// story runs both acts and the account, and returns the summary and the
// second fulfilment instance, still running, for the caller to stop.
func story(ctx context.Context, cfg config, out io.Writer) (summary, *fulfilment, error) {
	reg, err := schema.NewRegistry([]string{cfg.registry})
	if err != nil {
		return summary{}, nil, err
	}
	codecs, err := newCodecs()
	if err != nil {
		return summary{}, nil, err
	}
	log := cfg.logger(out)
	led := newLedger(cfg.runID)
	led.lose = cfg.loseEvent
	plan := planPoison(cfg.orders)
	s := summary{rejected: orderID(plan.rejected)}
	group := fmt.Sprintf("fulfilment-%d", time.Now().UnixNano())
	// The run accounts for its own events on a reused topic: its group
	// starts where the topic ends now, and its redrive where the
	// dead-letter topic ends now, so neither reads an earlier run's records.
	from, err := startHere(ctx, cfg.brokers, group, cfg.topic)
	if err != nil {
		return s, nil, err
	}
	if _, err := startHere(ctx, cfg.brokers, redriveGroup(group), cfg.dlt); err != nil {
		return s, nil, err
	}

	// Act 1: the deployed code meets blips and poison.
	f1, err := startFulfilment(ctx, cfg, fulfilmentConfig{group: group, rejected: s.rejected}, reg, codecs, led, log)
	if err != nil {
		return s, nil, err
	}
	defer f1.consumer.Close()
	if s.inj, err = newInjector(ctx, cfg, reg, codecs, led); err != nil {
		return s, nil, err
	}
	defer s.inj.close()
	pubStart := time.Now()
	if s.published, err = publishOrders(ctx, cfg, reg, codecs, log, plan, s.inj, led); err != nil {
		return s, nil, err
	}
	s.publishTime = time.Since(pubStart)
	n, err := recordsSince(ctx, cfg.brokers, cfg.topic, from)
	if err != nil {
		return s, nil, err
	}
	if err := f1.waitFinished(ctx, n, time.Minute); err != nil {
		return s, nil, err
	}
	s.retried, s.seqViolations = f1.consumer.Stats().Retries, f1.consumer.Stats().OrderViolations
	if err := f1.stop(); err != nil { // commits the quarantined keys with the offsets
		return s, nil, err
	}

	// Act 2: the fix is deployed in the same group, and the operator
	// redrives the dead letters to it.
	f2, err := startFulfilment(ctx, cfg, fulfilmentConfig{group: group, fixed: true}, reg, codecs, led, log)
	if err != nil {
		return s, nil, err
	}
	if s.redrive, err = redrive(ctx, cfg, group, log); err != nil {
		return s, f2, err
	}
	if err := f2.waitFinished(ctx, int64(s.redrive.Redriven), time.Minute); err != nil {
		return s, f2, err
	}
	st := f2.consumer.Stats()
	s.retried += st.Retries
	s.seqViolations += st.OrderViolations

	// The account: every event is handled, or held in the dead-letter topic.
	if s.dl, err = readDeadLetters(ctx, cfg, group); err != nil {
		return s, f2, err
	}
	s.acct = led.account(s.dl.ids)
	return s, f2, nil
}

func orderID(i int) string {
	if i < 0 {
		return ""
	}
	return fmt.Sprintf("order-%05d", i)
}

// print writes the summary; its last line is the number of order
// violations, the figure the example exists to show.
func (s summary) print(w io.Writer, cfg config) {
	fmt.Fprintf(w, "published %d events (%d orders x 3) to %q (%d partitions) in %v\n",
		s.published, cfg.orders, cfg.topic, cfg.partitions, s.publishTime.Round(time.Millisecond))
	if bad, audited := s.inj.byKind[poisonBadBytes], s.inj.byKind[poisonAudited]; len(bad)+len(audited) > 0 {
		fmt.Fprintf(w, "injected %d poison records ahead of their orders' later events: %d not Avro %v, %d OrderAudited, a type fulfilment has no handler for %v\n",
			len(bad)+len(audited), len(bad), bad, len(audited), audited)
	}
	if s.rejected != "" {
		fmt.Fprintf(w, "rejected the payment of %s (a permanent error, until the fix)\n", s.rejected)
	}
	fmt.Fprintf(w, "consumed %d events with %d lanes, handler latency up to %v\n", s.acct.handled, cfg.lanes, cfg.latency)
	if s.acct.duplicates > 0 {
		fmt.Fprintf(w, "  (and %d duplicates, redelivered after a restart or rebalance, counted once)\n", s.acct.duplicates)
	}
	if s.acct.earlier > 0 {
		fmt.Fprintf(w, "  (and %d events of earlier runs on the topic, not counted)\n", s.acct.earlier)
	}
	fmt.Fprintf(w, "retried %d (handler attempts failed transiently, %.0f%% of them, then succeeded)\n", s.retried, transientRate*100)
	fmt.Fprintf(w, "dead-lettered %d (%s) to %q\n", s.dl.written, s.dl.reasons(), cfg.dlt)
	fmt.Fprintf(w, "quarantined keys %d (their later events followed them into %q)\n", s.dl.keys, cfg.dlt)
	fmt.Fprintln(w, "fixed: a second fulfilment instance, with a handler for OrderAudited and the payment accepted")
	fmt.Fprintf(w, "redriven %d of the %d dead letters this run wrote (%s)\n", s.redrive.Redriven, s.redrive.Scanned, redriveNotes(s.redrive))
	fmt.Fprintf(w, "lost %d (of %d events: %d handled, %d held in %q)\n", s.acct.lost, s.acct.events, s.acct.handled, s.acct.held, cfg.dlt)
	fmt.Fprintf(w, "duration %v\n", s.total.Round(time.Millisecond))
	fmt.Fprintf(w, "order violations %d (lifecycle seen by the handler), %d (per-key sequence checks)\n", s.acct.violations, s.seqViolations)
}

// setup starts the embedded cluster when no brokers are given, and makes
// sure the topic exists and answers. It returns a description of where the
// run happens.
func setup(ctx context.Context, cfg *config) (string, func(), error) {
	cleanup := func() {}
	where := "Kafka at " + fmt.Sprint(cfg.brokers) + ", registry at " + cfg.registry
	if len(cfg.brokers) == 0 {
		if cfg.topic == "" {
			cfg.topic = "orders"
		}
		c, err := consumertest.New(consumertest.Brokers(3))
		if err != nil {
			return "", nil, err
		}
		cfg.brokers, cfg.registry = c.Brokers(), c.RegistryURL()
		cleanup = func() { c.Close() }
		where = "the embedded cluster (kfake, 3 brokers) and registry (srfake)"
	} else if cfg.topic == "" {
		cfg.topic = fmt.Sprintf("orders-%d-%s", time.Now().Unix(), cfg.runID)
	}
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	n, err := ensureTopic(tctx, cfg.brokers, cfg.topic, cfg.partitions)
	if err != nil {
		cleanup()
		return "", nil, err
	}
	cfg.partitions = n // an existing topic keeps its count
	cfg.dlt = cfg.topic + ".dlt"
	if _, err := ensureTopic(tctx, cfg.brokers, cfg.dlt, cfg.partitions); err != nil {
		cleanup()
		return "", nil, err
	}
	return where, cleanup, nil
}
