package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ordo-go/ordo/internal/embedded"
	"github.com/ordo-go/ordo/schema"
)

// summary is what a run reports.
type summary struct {
	published, consumed int
	earlier             int   // events of earlier runs on the topic, not counted
	violations          int   // lifecycle order broken, as the handler saw it
	seqViolations       int64 // per-key sequence gaps/regressions seen by the SDK
	publishTime         time.Duration
	total               time.Duration
}

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

	reg, err := schema.NewRegistry([]string{cfg.registry})
	if err != nil {
		return err
	}
	codecs, err := newCodecs()
	if err != nil {
		return err
	}
	f, err := startFulfilment(ctx, cfg, reg, codecs, cfg.logger(out))
	if err != nil {
		return err
	}
	defer f.consumer.Close()

	pubStart := time.Now()
	published, err := publishOrders(ctx, cfg, reg, codecs, cfg.logger(out))
	if err != nil {
		return err
	}
	s := summary{published: published, publishTime: time.Since(pubStart)}
	if err := f.waitFor(ctx, published, time.Minute); err != nil {
		return err
	}
	s.total = time.Since(start)
	s.consumed, s.earlier, s.violations = f.result()
	s.seqViolations = f.consumer.Stats().OrderViolations
	s.print(out, cfg)
	if cfg.metricsAddr != "" && cfg.hold > 0 { // the consumer keeps reporting lag meanwhile
		fmt.Fprintf(out, "holding the metrics endpoint for %v\n", cfg.hold)
		select {
		case <-time.After(cfg.hold):
		case <-ctx.Done(): // Ctrl-C ends the hold, not the run
		}
	}
	if err := f.stop(); err != nil && !(errors.Is(err, context.Canceled) && ctx.Err() != nil) {
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := flushTelemetry(sctx); err != nil {
		return err
	}
	if s.violations > 0 || s.seqViolations > 0 || s.consumed != s.published {
		return errors.New("events were lost or handled out of order")
	}
	return nil
}

// print writes the summary; its last line is the number of order
// violations, the figure the example exists to show.
func (s summary) print(w io.Writer, cfg config) {
	fmt.Fprintf(w, "published        %d events (%d orders x 3) to %q (%d partitions) in %v\n",
		s.published, cfg.orders, cfg.topic, cfg.partitions, s.publishTime.Round(time.Millisecond))
	fmt.Fprintf(w, "consumed         %d events with %d lanes, handler latency up to %v\n", s.consumed, cfg.lanes, cfg.latency)
	if s.earlier > 0 {
		fmt.Fprintf(w, "                 (and %d events of earlier runs on the topic, not counted)\n", s.earlier)
	}
	fmt.Fprintf(w, "duration         %v\n", s.total.Round(time.Millisecond))
	fmt.Fprintf(w, "order violations %d (lifecycle seen by the handler), %d (per-key sequence checks)\n", s.violations, s.seqViolations)
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
		c, err := embedded.Start(embedded.Config{Brokers: 3})
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
	return where, cleanup, nil
}
