// Command dlq is the operator's tool for ordo's dead-letter topics: list
// what is there, show records with their values decoded, and redrive them
// to their original topics.
//
//	go run ./examples/dlq list    -brokers 127.0.0.1:9092 -topic orders.dlt
//	go run ./examples/dlq show    -brokers 127.0.0.1:9092 -registry http://127.0.0.1:8081 -topic orders.dlt -reason permanent -limit 10
//	go run ./examples/dlq redrive -brokers 127.0.0.1:9092 -topic orders.dlt -group redrive-2026-11 -original-topic orders -rate 100 -dry-run
//
// Brokers and registry also come from ORDO_BROKERS (comma-separated) and
// ORDO_REGISTRY. dlq needs a cluster: without brokers it says so and
// exits, unless -demo is given, which starts an embedded cluster and
// registry in the process, dead-letters a few sample records into
// "orders.dlt" and runs the command against them:
//
//	go run ./examples/dlq list -demo
//	go run ./examples/dlq show -demo -key order-2
//	go run ./examples/dlq redrive -demo -dry-run
//
// list prints counts by original topic, reason and event type, with the
// oldest and newest dead-letter time. show prints one JSON object per
// record: its place, its parsed dead-letter headers, every header, and the
// value decoded to JSON through the registry (or raw, with the reason).
// redrive republishes the selected records to their original topics with
// their original key, value and headers, in each key's order, lifting the
// key's quarantine in the consumer once its chain is redriven; it records
// its progress in -group, so an interrupted redrive resumes where it
// stopped. Records redriven -max-redrives times that failed again are not
// redriven (the loop guard). Filters: -original-topic, -key, -reason
// (comma-separated lists), -from and -to (RFC 3339, the dead-letter time).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/ordo-go/ordo/consumer/dlq"
)

const usage = `usage: dlq list|show|redrive [flags]   (dlq <command> -h for the flags)`

type config struct {
	command     string
	brokers     []string
	registry    string
	topic       string
	group       string
	filter      dlq.Filter
	limit       int
	rate        float64
	dryRun      bool
	maxRedrives int
	demo        bool
}

func main() {
	cfg, err := parseArgs(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dlq:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dlq:", err)
		os.Exit(1)
	}
}

func parseArgs(args []string, errOut io.Writer) (config, error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return config{}, errors.New(usage)
	}
	cfg := config{command: args[0]}
	switch cfg.command {
	case "list", "show", "redrive":
	default:
		return cfg, fmt.Errorf("unknown command %q\n%s", cfg.command, usage)
	}
	fs := flag.NewFlagSet("dlq "+cfg.command, flag.ContinueOnError)
	fs.SetOutput(errOut)
	brokers := fs.String("brokers", os.Getenv("ORDO_BROKERS"), "comma-separated Kafka brokers (env ORDO_BROKERS)")
	fs.StringVar(&cfg.registry, "registry", os.Getenv("ORDO_REGISTRY"), "schema registry URL, to decode values in show (env ORDO_REGISTRY)")
	fs.StringVar(&cfg.topic, "topic", "", `dead-letter topic (with -demo: "orders.dlt")`)
	fs.StringVar(&cfg.group, "group", "", "redrive: consumer group recording progress (required; reuse it to resume)")
	topics := fs.String("original-topic", "", "only records from these original topics (comma-separated)")
	keys := fs.String("key", "", "only records with these keys (comma-separated)")
	reasons := fs.String("reason", "", "only records with these reasons (comma-separated): "+reasonList())
	from := fs.String("from", "", "only records dead-lettered at or after this time (RFC 3339)")
	to := fs.String("to", "", "only records dead-lettered before this time (RFC 3339)")
	fs.IntVar(&cfg.limit, "limit", 20, "show: at most this many records (0: all)")
	fs.Float64Var(&cfg.rate, "rate", 0, "redrive: at most this many records per second (0: no cap)")
	fs.BoolVar(&cfg.dryRun, "dry-run", false, "redrive: report what would be redriven, write and commit nothing")
	fs.IntVar(&cfg.maxRedrives, "max-redrives", dlq.DefaultMaxRedrives, "redrive: loop guard, do not redrive records redriven this many times")
	fs.BoolVar(&cfg.demo, "demo", false, "run on an embedded cluster seeded with sample dead letters")
	if err := fs.Parse(args[1:]); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg.brokers = split(*brokers)
	var errs []error
	cfg.filter, errs = parseFilter(*topics, *keys, *reasons, *from, *to)
	errs = append(errs, cfg.check()...)
	return cfg, errors.Join(errs...)
}

func (c *config) check() []error {
	var errs []error
	switch {
	case c.demo && len(c.brokers) > 0:
		errs = append(errs, errors.New("-demo runs on its own embedded cluster: drop -brokers"))
	case c.demo:
		if c.topic == "" {
			c.topic = demoDLT
		}
		if c.group == "" {
			c.group = "dlq-demo"
		}
	case len(c.brokers) == 0:
		errs = append(errs, errors.New("dlq needs a Kafka cluster: pass -brokers host:port (or set ORDO_BROKERS), or -demo to try it on an embedded one"))
	}
	if c.topic == "" {
		errs = append(errs, errors.New("-topic (the dead-letter topic) is required"))
	}
	if c.command == "redrive" && c.group == "" {
		errs = append(errs, errors.New("redrive needs -group to record its progress (reuse it to resume)"))
	}
	if c.rate < 0 || c.maxRedrives < 1 || c.limit < 0 {
		errs = append(errs, errors.New("-rate and -limit must not be negative, -max-redrives must be at least 1"))
	}
	return errs
}

func parseFilter(topics, keys, reasons, from, to string) (dlq.Filter, []error) {
	f := dlq.Filter{Topics: split(topics)}
	for _, k := range split(keys) {
		f.Keys = append(f.Keys, []byte(k))
	}
	var errs []error
	for _, r := range split(reasons) {
		if !dlq.Reason(r).Known() {
			errs = append(errs, fmt.Errorf("unknown reason %q (one of %s)", r, reasonList()))
		}
		f.Reasons = append(f.Reasons, dlq.Reason(r))
	}
	for _, t := range []struct {
		flag, v string
		dst     *time.Time
	}{{"-from", from, &f.From}, {"-to", to, &f.To}} {
		if t.v == "" {
			continue
		}
		ts, err := time.Parse(time.RFC3339, t.v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.flag, err))
		}
		*t.dst = ts
	}
	return f, errs
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func reasonList() string {
	rs := make([]string, len(dlq.Reasons))
	for i, r := range dlq.Reasons {
		rs[i] = string(r)
	}
	return strings.Join(rs, ", ")
}
