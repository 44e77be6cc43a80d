// Command orders is ordo's main example: an order service publishes the
// lifecycle events of a few thousand orders (created, paid, shipped), keyed
// by order ID on one topic, and a fulfilment consumer handles them with more
// lanes than the topic has partitions and a handler of random latency.
//
// It also shows what happens when a record cannot be handled. The handler
// fails transiently now and then (retried with backoff); three poison
// records are written ahead of real orders' later events (one not Avro, two
// of a type fulfilment has no handler for), and one order's payment is
// rejected permanently. They are dead-lettered to "<topic>.dlt" with their
// reasons, and their orders are quarantined: the later events follow them
// there, in order. The fix (a second instance in the group, with the
// missing handler and the payment accepted) takes over, and the dead
// letters are redriven with consumer/dlq, all but the unreadable record's
// chain, which stays in the dead-letter topic.
//
// The summary counts retries, dead letters by reason, quarantined keys,
// redriven records and lost events (published, yet neither handled nor in
// the dead-letter topic), and ends with how many events were handled out
// of order for their order. The exit code is 1 if any event is lost or out
// of order (2 for bad flags, 0 for -h).
//
// With no flags it runs on an embedded Kafka (kfake) and schema registry
// (srfake) inside the process:
//
//	go run ./examples/orders
//
// Against a real cluster and a Confluent-compatible registry:
//
//	go run ./examples/orders -brokers 127.0.0.1:9092 -registry http://127.0.0.1:8081
//
// or set ORDO_BROKERS (comma-separated) and ORDO_REGISTRY. Each run on a real
// cluster creates a topic of its own (and its dead-letter topic) and waits
// until its partitions answer; -topic names one to create or reuse (a run
// handles, dead-letters and redrives its own events only: its group starts
// where the topic ended when the run started, and its redrive where the
// dead-letter topic did).
//
// To see the telemetry: -trace prints the trace trees of the first orders'
// events (publish, process, every handler attempt), and -metrics-addr serves
// the metrics (lag, throughput, durations) for Prometheus:
//
//	go run ./examples/orders -trace
//	go run ./examples/orders -metrics-addr 127.0.0.1:9464 -hold 1m
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
	"net"
	"os"
	"os/signal"
	"strings"
	"time"
)

type config struct {
	brokers     []string
	registry    string
	topic       string
	partitions  int
	orders      int
	lanes       int
	latency     time.Duration
	verbose     bool
	trace       bool
	traceJSON   bool
	metricsAddr string
	hold        time.Duration
	runID       string // names this run's producer (and its topic on a real cluster)
	dlt         string // the dead-letter topic: topic + ".dlt"
	loseEvent   string // tests only: the order whose OrderShipped the handler "loses"
}

func main() {
	os.Exit(mainCode(os.Args[1:], os.Stdout, os.Stderr))
}

// mainCode runs the example and returns its exit code: 0 when every event
// was consumed in order (or for -h), 1 when not, 2 for bad flags.
func mainCode(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0 // the usage was asked for and printed
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	return runCode(cfg, stdout, stderr)
}

// runCode runs the example as parsed and returns its exit code.
func runCode(cfg config, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, stdout); err != nil {
		fmt.Fprintln(stderr, "orders:", err)
		return 1
	}
	return 0
}

// parseFlags parses args; usage and flag errors are written to w.
func parseFlags(args []string, w io.Writer) (config, error) {
	fs := flag.NewFlagSet("orders", flag.ContinueOnError)
	fs.SetOutput(w)
	cfg := config{runID: newRunID()}
	brokers := fs.String("brokers", os.Getenv("ORDO_BROKERS"), "comma-separated Kafka brokers (default: embedded cluster; env ORDO_BROKERS)")
	fs.StringVar(&cfg.registry, "registry", os.Getenv("ORDO_REGISTRY"), "schema registry URL (default: embedded registry; env ORDO_REGISTRY)")
	fs.StringVar(&cfg.topic, "topic", "", `topic, created if missing (default "orders" embedded, a fresh "orders-<time>-<random>" on a real cluster)`)
	fs.IntVar(&cfg.partitions, "partitions", 6, "partitions of the topic if it is created")
	fs.IntVar(&cfg.orders, "orders", 3000, "number of orders")
	fs.IntVar(&cfg.lanes, "lanes", 64, "consumer lanes (records of different keys handled at once)")
	fs.DurationVar(&cfg.latency, "latency", 2*time.Millisecond, "maximum random handler latency")
	fs.BoolVar(&cfg.verbose, "v", false, "log what the SDK does")
	fs.BoolVar(&cfg.trace, "trace", false, "trace the first orders' events and print the span trees")
	fs.BoolVar(&cfg.traceJSON, "trace-json", false, "like -trace, printing the spans with the OpenTelemetry stdout exporter")
	fs.StringVar(&cfg.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on this loopback address, e.g. 127.0.0.1:9464")
	fs.DurationVar(&cfg.hold, "hold", 0, "with -metrics-addr, keep serving this long after the summary (Ctrl-C ends it)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if *brokers != "" {
		cfg.brokers = strings.Split(*brokers, ",")
	}
	if (len(cfg.brokers) == 0) != (cfg.registry == "") {
		return cfg, errors.New("give both -brokers and -registry, or neither for the embedded cluster")
	}
	if cfg.metricsAddr != "" && !loopback(cfg.metricsAddr) {
		return cfg, errors.New("-metrics-addr must be a loopback address (127.0.0.1:port)")
	}
	if cfg.orders < 1 || cfg.lanes < 1 || cfg.partitions < 1 {
		return cfg, errors.New("-orders, -lanes and -partitions must be positive")
	}
	return cfg, nil
}

// newRunID returns a random name for one run: two runs started in the same
// second get different topics and producer IDs.
func newRunID() string {
	var b [4]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

func (c config) logger(w io.Writer) *slog.Logger {
	if !c.verbose {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(w, nil))
}
