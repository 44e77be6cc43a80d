// Command consumer is the fault suite's consumer worker: an ordo consumer
// written as a user would write it, that journals every record its handler
// finishes before the handler returns, so that the checker can tell exactly
// what it handled when it is SIGKILLed at a random point.
//
// SIGTERM or SIGINT stops it gracefully (drain, commit, leave the group).
// With -unsafe the handler returns first and journals up to 3 s later: the
// consumer then commits offsets of records it has not "durably" handled, a
// deliberately broken consumer that the checker must catch losing records.
//
// It journals its rebalances from ordo's OnAssigned and OnRevoked hooks.
// -protocol picks the group protocol (classic, or KIP-848's consumer
// protocol); either way -session-timeout (6 s) is the SessionTimeout,
// which under KIP-848 the consumer sets as the group's config (the
// harness's brokers allow it down to 6 s).
// -dlt names a dead-letter topic and -poison n fails about one event in n
// permanently (tick.Tick.Poison): those are dead-lettered, their keys
// quarantined, and journaled "dead-pending" from the ErrorHook.
// -catch-up and -rate-limit set the bounded replay; a graceful exit
// journals the consumer's ReplayStats. -down-file names a file the runner
// creates to take the handler's dependency down (every record fails
// transiently alike while it exists) and removes to bring it back.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/internal/faults/journal"
	"github.com/ordo-go/ordo/internal/faults/tick"
	"github.com/ordo-go/ordo/schema"
)

type config struct {
	brokers, registry, topic, group string
	journal, inc                    string
	work                            time.Duration
	concurrency                     int
	session                         time.Duration
	unsafe, fsync                   bool
	protocol                        string
	dlt                             string
	poisonEvery                     uint64
	catchUp                         int64
	rateLimit                       float64
	downFile                        string
}

func main() {
	var cfg config
	flag.StringVar(&cfg.brokers, "brokers", "", "comma-separated seed brokers")
	flag.StringVar(&cfg.registry, "registry", "", "schema registry URL")
	flag.StringVar(&cfg.topic, "topic", "", "topic to consume")
	flag.StringVar(&cfg.group, "group", "", "consumer group")
	flag.StringVar(&cfg.journal, "journal", "", "journal file (appended to)")
	flag.StringVar(&cfg.inc, "inc", "", "incarnation ID written on every line (default pid-startnanos)")
	flag.DurationVar(&cfg.work, "work", 2*time.Millisecond, "longest simulated handler work")
	flag.IntVar(&cfg.concurrency, "concurrency", 16, "consumer lanes")
	flag.DurationVar(&cfg.session, "session-timeout", 6*time.Second, "group session timeout")
	flag.BoolVar(&cfg.unsafe, "unsafe", false, "BROKEN ON PURPOSE: journal a handled record only after the handler returned")
	flag.BoolVar(&cfg.fsync, "fsync", false, "fsync every journal line")
	flag.StringVar(&cfg.protocol, "protocol", "classic", "group protocol: classic or consumer (KIP-848)")
	flag.StringVar(&cfg.dlt, "dlt", "", "dead-letter topic (default: none, the Halt policy)")
	flag.Uint64Var(&cfg.poisonEvery, "poison", 0, "fail permanently about one record in this many (tick.Poison); 0: none")
	flag.Int64Var(&cfg.catchUp, "catch-up", 0, "catch-up threshold in records (0: ordo's default)")
	flag.Float64Var(&cfg.rateLimit, "rate-limit", 0, "records/s during catch-up (0: no limit)")
	flag.StringVar(&cfg.downFile, "down-file", "", "while this file exists, the handler's dependency is down: every record fails transiently alike")
	flag.Parse()
	if cfg.inc == "" {
		cfg.inc = fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	jw, err := journal.Create(cfg.journal, cfg.fsync)
	if err != nil {
		return err
	}
	defer jw.Close()
	if err := jw.Write(journal.Event{Kind: journal.Start, Inc: cfg.inc, Time: time.Now().UnixNano()}); err != nil {
		return err
	}
	reg, err := schema.NewRegistry([]string{cfg.registry})
	if err != nil {
		return err
	}
	codec, err := schema.NewCodec[tick.Tick](tick.Avsc)
	if err != nil {
		return err
	}
	h := &handler{cfg: cfg, jw: jw}
	opts, err := options(cfg, h)
	if err != nil {
		return err
	}
	c, err := consumer.New(append(opts,
		consumer.Brokers(strings.Split(cfg.brokers, ",")...),
		consumer.Registry(reg),
		consumer.On(codec, h.handle),
	)...)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	if cfg.unsafe {
		wg.Go(func() { h.flushLater(ctx) })
	}
	err = c.Run(ctx)
	wg.Wait()
	h.flush()
	// The catch-up accounting at a graceful exit, for the checker to add
	// up (a killed incarnation writes none).
	if st, jerr := json.Marshal(c.ReplayStats()); jerr == nil {
		jw.Write(journal.Event{Kind: journal.Replay, Inc: cfg.inc, Time: time.Now().UnixNano(), Text: string(st)})
	}
	return err
}

// options turns the flags into the consumer's options, besides brokers,
// registry and handler.
func options(cfg config, h *handler) ([]consumer.Option, error) {
	opts := []consumer.Option{
		consumer.Group(cfg.group),
		consumer.Topics(cfg.topic),
		consumer.Concurrency(cfg.concurrency),
		consumer.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))),
		consumer.ErrorHook(h.recordError),
		consumer.OnAssigned(h.rebalance(journal.Assigned)),
		consumer.OnRevoked(h.rebalance(journal.Revoked)),
	}
	switch cfg.protocol {
	case "classic":
		// A SIGKILLed member never leaves the group: its partitions wait
		// for the session timeout, so the suite shortens it (6 s is the
		// broker's minimum by default).
		opts = append(opts, consumer.GroupProtocol(consumer.ClassicProtocol), consumer.SessionTimeout(cfg.session))
	case "consumer":
		// KIP-848: the consumer sets the group's session timeout.
		opts = append(opts, consumer.GroupProtocol(consumer.ConsumerProtocol), consumer.SessionTimeout(cfg.session))
	default:
		return nil, fmt.Errorf("-protocol %q: want classic or consumer", cfg.protocol)
	}
	if cfg.dlt != "" {
		opts = append(opts, consumer.DeadLetterTopic(cfg.dlt))
	}
	if cfg.catchUp > 0 {
		opts = append(opts, consumer.CatchUpThreshold(cfg.catchUp, 0), consumer.ProgressInterval(2*time.Second))
	}
	if cfg.rateLimit > 0 {
		opts = append(opts, consumer.RateLimit(cfg.rateLimit, 0, consumer.DuringCatchUp))
	}
	return opts, nil
}

type handler struct {
	cfg config
	jw  *journal.Writer

	mu      sync.Mutex
	pending []journal.Event // -unsafe only: handled but not yet journaled
}

// handle journals the record before it returns: once ordo may mark the
// offset, the line is in the journal.
func (h *handler) handle(ctx context.Context, ev tick.Tick, m consumer.Meta) error {
	t0 := time.Now().UnixNano()
	if h.cfg.poisonEvery > 0 && ev.Poison(h.cfg.poisonEvery) {
		// Poison: the record goes to the dead-letter topic (or, without
		// one, halts the consumer), never to the journal as handled.
		return consumer.Permanent(fmt.Errorf("poison %s#%d", ev.Key, ev.Seq))
	}
	if h.cfg.downFile != "" {
		if _, err := os.Stat(h.cfg.downFile); err == nil {
			// The dependency is down: a transient error, the same for
			// every key (the breaker's case), journaled nowhere.
			return fmt.Errorf("write %s#%d: dial tcp 127.0.0.1:5432: connect: connection refused", ev.Key, ev.Seq)
		}
	}
	if h.cfg.work > 0 {
		time.Sleep(rand.N(h.cfg.work))
	}
	e := journal.Event{
		Kind: journal.Handled, Inc: h.cfg.inc, Partition: m.Partition, Offset: m.Offset,
		Key: ev.Key, Seq: ev.Seq, Start: t0, End: time.Now().UnixNano(),
	}
	if h.cfg.unsafe {
		h.mu.Lock()
		h.pending = append(h.pending, e)
		h.mu.Unlock()
		return nil
	}
	return h.jw.Write(e)
}

// recordError journals a record ordo could not handle. With a dead-letter
// topic it is on its way there ("dead-pending": the hook runs before the
// write is acknowledged, so the checker counts it dead only if it finds it
// in the topic); without one, under the default Halt policy the consumer
// then stops, and the checker reports the record as unhandled.
func (h *handler) recordError(ctx context.Context, e *consumer.RecordError) {
	kind := journal.RecordError
	if h.cfg.dlt != "" {
		kind = journal.DeadPending
	}
	h.jw.Write(journal.Event{Kind: kind, Inc: h.cfg.inc, Partition: e.Partition,
		Offset: e.Offset, Key: string(e.Key), Time: time.Now().UnixNano(), Text: e.Error()})
}

// rebalance returns a hook that journals a rebalance of kind with the
// run's topic's partitions.
func (h *handler) rebalance(kind string) func(context.Context, map[string][]int32) {
	return func(_ context.Context, ps map[string][]int32) {
		e := journal.Event{Kind: kind, Inc: h.cfg.inc, Time: time.Now().UnixNano(), Partitions: ps[h.cfg.topic]}
		if e.Partitions == nil {
			e.Partitions = []int32{} // none of the topic, not "all"
		}
		if err := h.jw.Write(e); err != nil {
			fmt.Fprintln(os.Stderr, "consumer:", err)
		}
	}
}

func (h *handler) flushLater(ctx context.Context) {
	// Longer than the commit interval (1 s): a kill loses lines of records
	// whose offsets were already committed.
	t := time.NewTicker(3 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.flush()
		}
	}
}

func (h *handler) flush() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.pending {
		if err := h.jw.Write(e); err != nil {
			fmt.Fprintln(os.Stderr, "consumer:", err)
		}
	}
	h.pending = nil
}
