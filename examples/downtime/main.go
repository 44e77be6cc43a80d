// Command downtime tells the story of a consumer that goes down and comes
// back: an order service publishes steadily; its consumer handles the
// orders live, then stops; the backlog grows while it is down (part of it
// grows older than the age window); the consumer comes back with a rate
// cap and a slow start, and catches up without a spike: expired orders are
// counted, not handled, and every record of the backlog is accounted for.
//
// While it catches up it shows a progress line (plain lines when stdout
// is not a terminal): the share of the backlog accounted for (never 100%
// while a partition is still in catch-up), the handled rate apart from
// the expired count, the ETA at the rate the backlog really shrinks, and
// a growth of the backlog when a partition enters late. At the end it
// prints
//
//	backlog N
//	handled N
//	expired N
//	dead-lettered N
//	accounted N of N
//	rate limit R/s
//	measured rate X/s     (the busiest second of the catch-up)
//	peak heap M MiB       (live heap of the process, embedded cluster included)
//
// and exits 1 if the accounting does not add up or the measured rate is
// more than 10% over the limit (2 for bad flags).
//
//	go run ./examples/downtime
//	go run ./examples/downtime -plot rate.png     (or .svg, .pdf)
//	go run ./examples/downtime -brokers 127.0.0.1:9092 -registry http://127.0.0.1:8081
//
// With no flags it runs on an embedded Kafka (kfake) and schema registry
// (srfake) inside the process; ORDO_BROKERS and ORDO_REGISTRY work as
// -brokers and -registry. -plot draws the story (gonum.org/v1/plot): three
// panels on one x-axis (seconds since the run's start), handled per
// second against the rate cap (drawn only while a catch-up is active),
// expired per second, and the backlog with the part of it older than the
// age window; the downtime and the slow start shaded, the moments the
// consumer is back, the catch-up starts and it is caught up marked.
//
// After the catch-up, the fulfilment service the handler calls is down
// for -outage (2s, at most half the age window): every order fails alike,
// the consumer's breaker opens (it is tuned to a 1 s window for this
// short story; the default is 30 s),
// probes with one order at a time, and closes when the service is back;
// nothing is lost or reordered, and the plot shades the breaker's band.
//
// The handler's latency (-latency, 10ms) bounds what one lane handles
// (100/s), so the slow start's ramp shows: the lanes open one by one
// over -warmup and the handled rate climbs to the cap.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"
)

type config struct {
	brokers    []string
	registry   string
	topic      string
	partitions int
	publish    float64       // orders/s the service publishes
	limit      float64       // the consumer's rate cap when it comes back
	up, down   time.Duration // how long the consumer runs before it goes down, and is down
	after      time.Duration // how long the service publishes after the catch-up
	outage     time.Duration // how long the fulfilment service is down after the catch-up (0: never)
	maxAge     time.Duration
	warmup     time.Duration
	lanes      int
	latency    time.Duration // of the handler's fulfilment call
	plot       string
	verbose    bool
	runID      string
}

func main() { os.Exit(mainCode(os.Args[1:], os.Stdout, os.Stderr)) }

// mainCode runs the example and returns its exit code.
func mainCode(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, stdout); err != nil {
		fmt.Fprintln(stderr, "downtime:", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, w io.Writer) (config, error) {
	fs := flag.NewFlagSet("downtime", flag.ContinueOnError)
	fs.SetOutput(w)
	var rid [4]byte
	rand.Read(rid[:])
	cfg := config{runID: hex.EncodeToString(rid[:])}
	brokers := fs.String("brokers", os.Getenv("ORDO_BROKERS"), "comma-separated Kafka brokers (default: embedded cluster; env ORDO_BROKERS)")
	fs.StringVar(&cfg.registry, "registry", os.Getenv("ORDO_REGISTRY"), "schema registry URL (default: embedded registry; env ORDO_REGISTRY)")
	fs.StringVar(&cfg.topic, "topic", "", `topic (default "orders" embedded, a fresh "downtime-<time>-<random>" on a real cluster)`)
	fs.IntVar(&cfg.partitions, "partitions", 6, "partitions of the topic")
	fs.Float64Var(&cfg.publish, "publish", 2000, "orders per second the service publishes")
	fs.Float64Var(&cfg.limit, "limit", 3000, "records per second the consumer may take while it catches up")
	fs.DurationVar(&cfg.up, "up", 2*time.Second, "how long the consumer runs before it goes down")
	fs.DurationVar(&cfg.down, "down", 6*time.Second, "how long the consumer is down")
	fs.DurationVar(&cfg.after, "after", 2*time.Second, "how long the service goes on publishing after the catch-up")
	fs.DurationVar(&cfg.outage, "outage", 2*time.Second, "how long the handler's fulfilment service is down after the catch-up: the breaker opens, probes and closes (0: no outage)")
	fs.DurationVar(&cfg.maxAge, "max-age", 4*time.Second, "age window: older records are expired, not handled")
	fs.DurationVar(&cfg.warmup, "warmup", 3*time.Second, "slow start: lanes open over this long")
	fs.IntVar(&cfg.lanes, "lanes", 48, "consumer lanes")
	fs.DurationVar(&cfg.latency, "latency", 10*time.Millisecond, "the handler's fulfilment call: one lane handles at most 1/latency orders/s")
	fs.StringVar(&cfg.plot, "plot", "", "draw the story (rates and backlog over time) to this file: .png, .svg or .pdf")
	fs.BoolVar(&cfg.verbose, "v", false, "log what the SDK does")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if *brokers != "" {
		cfg.brokers = strings.Split(*brokers, ",")
	}
	if (len(cfg.brokers) == 0) != (cfg.registry == "") {
		return cfg, errors.New("give both -brokers and -registry, or neither for the embedded cluster")
	}
	if cfg.publish <= 0 || cfg.limit <= cfg.publish {
		return cfg, errors.New("-publish must be positive and -limit above it, or the backlog never shrinks")
	}
	if 2*cfg.outage > cfg.maxAge {
		// Orders would pass the age window while the service is down
		// and their retries wait, and expire outside any catch-up.
		return cfg, errors.New("-outage must be at most half of -max-age")
	}
	if cfg.partitions < 1 || cfg.lanes < 1 || cfg.up <= 0 || cfg.down <= 0 || cfg.maxAge <= 0 || cfg.warmup < 0 || cfg.latency < 0 || cfg.after < 0 {
		return cfg, errors.New("-partitions, -lanes, -up, -down and -max-age must be positive")
	}
	return cfg, nil
}

func (c config) logger(w io.Writer) *slog.Logger {
	if !c.verbose {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(w, nil))
}
