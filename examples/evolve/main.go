// Command evolve tells the story of a schema change across a deploy: an
// order service and its inventory consumers run v1 of the OrderPlaced
// event, two producers and two consumer instances in one group. Then v2,
// which adds a field with a default (tags: array<string>, default []),
// is deployed to half of them: one consumer instance is restarted with
// the v2 type and a v2 producer starts, while the others keep running v1.
// Old and new records are then read both ways: the v1 instance reads v2
// records (it skips tags), the v2 instance reads v1 records (tags is the
// default, []). Last, two breaking changes (a field without a default,
// and cents turned from long into string) are refused by ordo's
// compatibility gate before they are registered, even where the registry
// itself would take them: the embedded registry (srfake) checks nothing
// and answers "compatible" to everything, which the summary shows.
//
// evolve_test.go shows the check that keeps a breaking change out of a
// service in the first place: schematest.AssertCompatibleWithFiles fails
// the service's go test when the new schema breaks the files of the
// earlier versions.
//
// The summary counts the orders published by each version, the records
// each reader read by writer version, lost orders (published by this run,
// never handled) and decode failures (a record that could not be decoded,
// or decoded to other values than were published), and quotes the gate's
// refusals. The exit code is 1 if an order is lost, a record failed to
// decode, a reader did not read both versions, or a breaking change was
// registered (2 for bad flags, 0 for -h).
//
// With no flags it runs on an embedded Kafka (kfake) and schema registry
// (srfake) inside the process, started with the public test kit
// (consumer/consumertest):
//
//	go run ./examples/evolve
//
// Against a real cluster and a Confluent-compatible registry (each run
// creates a topic, and so a subject, of its own; -topic names one to
// create or reuse):
//
//	go run ./examples/evolve -brokers 127.0.0.1:9092 -registry http://127.0.0.1:8081
//
// or set ORDO_BROKERS (comma-separated) and ORDO_REGISTRY.
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
	orders     int // per producer and phase
	verbose    bool
	runID      string        // names this run's producers, group and (on a real cluster) topic
	wait       time.Duration // how long a phase waits for its orders to be handled
	loseOrder  string        // tests only: an order the v1 handler acknowledges without recording
}

func main() {
	os.Exit(mainCode(os.Args[1:], os.Stdout, os.Stderr))
}

// mainCode runs the example and returns its exit code: 0 when the story
// held, 1 when not, 2 for bad flags (0 for -h).
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
		fmt.Fprintln(stderr, "evolve:", err)
		return 1
	}
	return 0
}

// parseFlags parses args; usage and flag errors are written to w.
func parseFlags(args []string, w io.Writer) (config, error) {
	fs := flag.NewFlagSet("evolve", flag.ContinueOnError)
	fs.SetOutput(w)
	cfg := config{runID: newRunID(), wait: time.Minute}
	brokers := fs.String("brokers", os.Getenv("ORDO_BROKERS"), "comma-separated Kafka brokers (default: embedded cluster; env ORDO_BROKERS)")
	fs.StringVar(&cfg.registry, "registry", os.Getenv("ORDO_REGISTRY"), "schema registry URL (default: embedded registry; env ORDO_REGISTRY)")
	fs.StringVar(&cfg.topic, "topic", "", `topic, created if missing (default "orders" embedded, a fresh "evolve-<time>-<random>" on a real cluster)`)
	fs.IntVar(&cfg.partitions, "partitions", 4, "partitions of the topic if it is created (at least 2: one per consumer instance)")
	fs.IntVar(&cfg.orders, "orders", 500, "orders each producer publishes in each phase")
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
	if cfg.orders < 1 || cfg.partitions < 2 {
		return cfg, errors.New("-orders must be positive and -partitions at least 2")
	}
	return cfg, nil
}

// newRunID returns a random name for one run.
func newRunID() string {
	var b [4]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

func (c config) logger(w io.Writer) *slog.Logger {
	if !c.verbose {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(w, nil))
}
