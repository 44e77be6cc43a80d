package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/embedded"
	"github.com/ordo-go/ordo/schema"
)

// summary is what a run reports.
type summary struct {
	published, consumed int
	violations          int   // lifecycle order broken, as the handler saw it
	seqViolations       int64 // per-key sequence gaps/regressions seen by the SDK
	publishTime         time.Duration
	total               time.Duration
}

func run(ctx context.Context, cfg config, out io.Writer) error {
	start := time.Now()
	where, cleanup, err := setup(&cfg)
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
	if cfg.metricsAddr != "" && cfg.hold > 0 { // the consumer keeps reporting lag meanwhile
		fmt.Fprintf(out, "holding the metrics endpoint for %v\n", cfg.hold)
		select {
		case <-time.After(cfg.hold):
		case <-ctx.Done():
		}
	}
	if err := f.stop(); err != nil {
		return err
	}
	s.consumed, s.violations = f.result()
	s.seqViolations = f.consumer.Stats().OrderViolations
	s.print(out, cfg)
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

func (s summary) print(w io.Writer, cfg config) {
	fmt.Fprintf(w, "published        %d events (%d orders x 3) to %q (%d partitions) in %v\n",
		s.published, cfg.orders, cfg.topic, cfg.partitions, s.publishTime.Round(time.Millisecond))
	fmt.Fprintf(w, "consumed         %d events with %d lanes, handler latency up to %v\n", s.consumed, cfg.lanes, cfg.latency)
	fmt.Fprintf(w, "order violations %d (lifecycle seen by the handler), %d (per-key sequence checks)\n", s.violations, s.seqViolations)
	fmt.Fprintf(w, "duration         %v\n", s.total.Round(time.Millisecond))
}

// setup starts the embedded cluster when no brokers are given, and makes
// sure the topic exists. It returns a description of where the run happens.
func setup(cfg *config) (string, func(), error) {
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
		cfg.topic = fmt.Sprintf("orders-%d", time.Now().Unix())
	}
	if err := ensureTopic(*cfg); err != nil {
		cleanup()
		return "", nil, err
	}
	return where, cleanup, nil
}

func ensureTopic(cfg config) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, int32(cfg.partitions), -1, nil, cfg.topic)
	if err != nil {
		return fmt.Errorf("create topic %q: %w", cfg.topic, err)
	}
	if resp.Err != nil && !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %q: %w", cfg.topic, resp.Err)
	}
	return nil
}
