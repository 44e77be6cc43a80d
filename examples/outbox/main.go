// Command outbox tells the story of an event that starts and ends in a
// database. An "orders" service writes an order row and its OrderPlaced
// event in one transaction (outbox.Writer); a relay (outbox.Relay)
// publishes the committed events; a "billing" service books one charge
// per order, its charge and the record's done mark in one transaction
// (inbox.Handle).
//
// It shows, in order:
//
//   - an order row and its event are committed together: a rolled-back
//     order leaves neither;
//   - a crash between the commit and the publish loses nothing: the
//     orders are committed while no relay runs (as if the service died
//     right after COMMIT), and a relay started afterwards publishes them
//     all;
//   - a redelivery is skipped as a duplicate and counted: a new billing
//     instance replays the topic from the start sharing the inbox, and a
//     relay that dies between the broker's acknowledgement and its mark
//     has its events published twice, with the same event IDs;
//
// and ends with a summary: orders committed, records on the topic, orders
// charged, duplicates skipped, lost (committed, never charged) and
// doubled (charged twice). The exit code is 1 if an order is lost or
// doubled or an event escaped a rolled-back transaction (2 for bad
// flags, 0 for -h).
//
// With no flags it runs on an embedded Kafka (kfake) and schema registry
// (srfake) inside the process (the public test kit,
// consumer/consumertest), with ordo's in-memory outbox and inbox stores:
//
//	go run ./examples/outbox
//
// With -postgres, the orders, the outbox (pgoutbox), the charges and the
// inbox marks (pginbox) are tables of that PostgreSQL database, created
// for the run (suffixed with its ID) and dropped at the end:
//
//	go run ./examples/outbox -postgres postgres://user@127.0.0.1:5432/db
//
// Against a real cluster and a Confluent-compatible registry (each run
// creates a topic of its own, outbox-<run ID>, with 3 partitions):
//
//	go run ./examples/outbox -brokers 127.0.0.1:9092 -registry http://127.0.0.1:8081
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
	"os"
	"os/signal"
	"strings"
)

type config struct {
	brokers  []string
	registry string
	postgres string
	orders   int // committed while no relay runs
	more     int // published twice by a relay that dies before its mark
	runID    string
	direct   bool // tests only: billing without the inbox, so duplicates are charged
}

func main() {
	os.Exit(mainCode(os.Args[1:], os.Stdout, os.Stderr))
}

// mainCode runs the story and returns its exit code: 0 when it held, 1
// when not, 2 for bad flags (0 for -h).
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
		fmt.Fprintln(stderr, "outbox:", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, w io.Writer) (config, error) {
	fs := flag.NewFlagSet("outbox", flag.ContinueOnError)
	fs.SetOutput(w)
	var b [4]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	cfg := config{runID: hex.EncodeToString(b[:])}
	brokers := fs.String("brokers", os.Getenv("ORDO_BROKERS"), "comma-separated Kafka brokers (default: embedded cluster; env ORDO_BROKERS)")
	fs.StringVar(&cfg.registry, "registry", os.Getenv("ORDO_REGISTRY"), "schema registry URL (default: embedded registry; env ORDO_REGISTRY)")
	fs.StringVar(&cfg.postgres, "postgres", "", "PostgreSQL URL (default: ordo's in-memory outbox and inbox stores)")
	fs.IntVar(&cfg.orders, "orders", 20, "orders committed while no relay runs")
	fs.IntVar(&cfg.more, "more", 5, "orders a relay publishes and dies before marking")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if *brokers != "" {
		cfg.brokers = strings.Split(*brokers, ",")
	}
	if (len(cfg.brokers) == 0) != (cfg.registry == "") {
		return cfg, errors.New("give both -brokers and -registry, or neither for the embedded cluster")
	}
	if cfg.orders < 1 || cfg.more < 1 {
		return cfg, errors.New("-orders and -more must be positive")
	}
	return cfg, nil
}
