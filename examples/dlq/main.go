// Command dlq is the operator's tool for dead-letter topics: list what is
// there, show records with their values decoded, and redrive them to their
// original topics. It reads ordo's dead letters and those Spring Kafka,
// Kafka Streams, Kafka Connect and share groups (Kafka 4.4) write.
//
//	go run ./examples/dlq list    -brokers 127.0.0.1:9092 -topic orders.dlt
//	go run ./examples/dlq show    -brokers 127.0.0.1:9092 -registry http://127.0.0.1:8081 -topic orders.dlt -reason permanent -limit 10
//	go run ./examples/dlq redrive -brokers 127.0.0.1:9092 -topic orders.dlt -group redrive-2026-11 -original-topic orders -rate 100 -dry-run
//
// Each command takes only its own flags (dlq <command> -h lists them).
// Every command takes -brokers, -topic and -demo; show and redrive take
// the filters -original-topic, -key, -reason (comma-separated lists),
// -from and -to (RFC 3339, the dead-letter time); show takes -registry,
// -limit and -format; redrive takes -group, -rate, -dry-run,
// -max-redrives and -include-unreadable.
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
// list prints counts by original topic, reason (or, for another tool's
// dead letters, the tool) and event type, with the oldest and newest
// dead-letter time. show prints one block per record for a person (its
// place, the original record's coordinates, the reason and error, every
// header, the value decoded through the registry, or raw with the reason
// it is not), or with -format json one JSON object per line for a
// script; by default text on a terminal and JSON otherwise. redrive
// republishes the selected records to their original topics with their
// original key, value and headers, in each key's order, lifting the key's
// quarantine in the consumer once its chain is redriven; it records its
// progress in -group, so an interrupted redrive resumes where it stopped.
// It leaves, and reports, records their consumer could not read (reasons
// unframe, unknown-schema, unusable-schema, decode: republished unchanged
// they fail again) unless -include-unreadable is given, and records
// redriven -max-redrives times that failed again (the loop guard).
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

const usage = `usage: dlq list|show|redrive [flags]   (dlq <command> -h for its flags)`

type config struct {
	command     string
	brokers     []string
	registry    string
	topic       string
	group       string
	filter      dlq.Filter
	limit       int
	format      string // show: "text", "json", or "auto" (text on a terminal)
	rate        float64
	dryRun      bool
	maxRedrives int
	unreadable  bool // redrive: -include-unreadable
	demo        bool
	split       func() // sets brokers from the flag, after parsing
}

func main() {
	cfg, err := parseArgs(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, errorLine(err))
		os.Exit(2)
	}
	if cfg.format == "auto" {
		cfg.format = formatFor(os.Stdout)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, errorLine(err))
		os.Exit(1)
	}
}

// errorLine is the line dlq prints for err: "dlq: " and the message, once.
// consumer/dlq's errors already start with it (the command is named for
// the package); the command's own do not.
func errorLine(err error) string {
	if msg := err.Error(); strings.HasPrefix(msg, "dlq: ") {
		return msg
	}
	return "dlq: " + err.Error()
}

// formatFor is show's default format: text for a person at a terminal,
// JSON lines for a pipe or a file.
func formatFor(f *os.File) string {
	if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		return "text"
	}
	return "json"
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
	fs, filters := cfg.flags(errOut)
	if err := fs.Parse(args[1:]); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg.split()
	var errs []error
	if filters != nil {
		cfg.filter, errs = parseFilter(filters)
	}
	errs = append(errs, cfg.check()...)
	return cfg, errors.Join(errs...)
}

// filterFlags are show's and redrive's selection, as given.
type filterFlags struct{ topics, keys, reasons, from, to string }

// flags is the flag set of cfg.command: the flags every command takes,
// and its own. filters is nil for a command that takes none (list).
func (cfg *config) flags(errOut io.Writer) (fs *flag.FlagSet, filters *filterFlags) {
	fs = flag.NewFlagSet("dlq "+cfg.command, flag.ContinueOnError)
	fs.SetOutput(errOut)
	brokers := os.Getenv("ORDO_BROKERS")
	fs.StringVar(&brokers, "brokers", brokers, "comma-separated Kafka brokers (env ORDO_BROKERS)")
	cfg.split = func() { cfg.brokers = split(brokers) }
	fs.StringVar(&cfg.topic, "topic", "", `dead-letter topic (with -demo: "orders.dlt")`)
	fs.BoolVar(&cfg.demo, "demo", false, "run on an embedded cluster seeded with sample dead letters")
	cfg.limit, cfg.maxRedrives = 20, dlq.DefaultMaxRedrives
	if cfg.command == "list" {
		return fs, nil
	}
	filters = new(filterFlags)
	fs.StringVar(&filters.topics, "original-topic", "", "only records from these original topics (comma-separated)")
	fs.StringVar(&filters.keys, "key", "", "only records with these keys (comma-separated)")
	fs.StringVar(&filters.reasons, "reason", "", "only records with these reasons (comma-separated): "+reasonList())
	fs.StringVar(&filters.from, "from", "", "only records dead-lettered at or after this time (RFC 3339)")
	fs.StringVar(&filters.to, "to", "", "only records dead-lettered before this time (RFC 3339)")
	if cfg.command == "show" {
		fs.StringVar(&cfg.registry, "registry", os.Getenv("ORDO_REGISTRY"), "schema registry URL, to decode values (env ORDO_REGISTRY)")
		fs.IntVar(&cfg.limit, "limit", 20, "at most this many records (0: all)")
		fs.StringVar(&cfg.format, "format", "auto", "text (one block per record), json (one object per line), or auto: text on a terminal, else json")
		return fs, filters
	}
	fs.StringVar(&cfg.group, "group", "", "consumer group recording progress (required; reuse it to resume)")
	fs.Float64Var(&cfg.rate, "rate", 0, "at most this many records per second (0: no cap)")
	fs.BoolVar(&cfg.dryRun, "dry-run", false, "report what would be redriven, write and commit nothing")
	fs.IntVar(&cfg.maxRedrives, "max-redrives", dlq.DefaultMaxRedrives, "loop guard: do not redrive records redriven this many times")
	fs.BoolVar(&cfg.unreadable, "include-unreadable", false,
		"also republish records their consumer could not read (unframe, unknown-schema, unusable-schema, decode), once the cause is fixed; by default they are left, as they would fail again")
	return fs, filters
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
	switch {
	case c.rate < 0:
		errs = append(errs, errors.New("-rate must not be negative"))
	case c.maxRedrives < 1:
		errs = append(errs, errors.New("-max-redrives must be at least 1"))
	case c.limit < 0:
		errs = append(errs, errors.New("-limit must not be negative"))
	}
	switch c.format {
	case "", "auto", "text", "json":
	default:
		errs = append(errs, fmt.Errorf("-format %q: want text, json or auto", c.format))
	}
	return errs
}

func parseFilter(ff *filterFlags) (dlq.Filter, []error) {
	f := dlq.Filter{Topics: split(ff.topics)}
	for _, k := range split(ff.keys) {
		f.Keys = append(f.Keys, []byte(k))
	}
	var errs []error
	for _, r := range split(ff.reasons) {
		if !dlq.Reason(r).Known() {
			errs = append(errs, fmt.Errorf("unknown reason %q (one of %s)", r, reasonList()))
		}
		f.Reasons = append(f.Reasons, dlq.Reason(r))
	}
	for _, t := range []struct {
		flag, v string
		dst     *time.Time
	}{{"-from", ff.from, &f.From}, {"-to", ff.to, &f.To}} {
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
