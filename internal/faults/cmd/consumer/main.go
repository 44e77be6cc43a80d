// Command consumer is the fault suite's consumer worker: an ordo consumer
// written as a user would write it, that journals every record its handler
// finishes before the handler returns, so that the checker can tell exactly
// what it handled when it is SIGKILLed at a random point.
//
// SIGTERM or SIGINT stops it gracefully (drain, commit, leave the group).
// With -unsafe the handler returns first and journals up to 3 s later: the
// consumer then commits offsets of records it has not "durably" handled, a
// deliberately broken consumer that the checker must catch losing records.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

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
	logger := slog.New(&rebalanceLog{next: slog.NewTextHandler(os.Stderr, nil), jw: jw, inc: cfg.inc})
	c, err := consumer.New(
		consumer.Brokers(strings.Split(cfg.brokers, ",")...),
		consumer.Registry(reg),
		consumer.Group(cfg.group),
		consumer.Topics(cfg.topic),
		consumer.Concurrency(cfg.concurrency),
		consumer.On(codec, h.handle),
		consumer.WithLogger(logger),
		consumer.ErrorHook(h.recordError),
		// A SIGKILLed member never leaves the group: its partitions wait
		// for the session timeout, so the suite shortens it (6 s is the
		// broker's minimum by default).
		consumer.KgoOpts(kgo.SessionTimeout(cfg.session), kgo.HeartbeatInterval(cfg.session/6)),
	)
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
	return err
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

// recordError journals a record ordo could not handle; under the default
// Halt policy the consumer then stops, and the checker reports the record
// as unhandled.
func (h *handler) recordError(ctx context.Context, e *consumer.RecordError) {
	h.jw.Write(journal.Event{Kind: journal.RecordError, Inc: h.cfg.inc, Partition: e.Partition,
		Offset: e.Offset, Key: string(e.Key), Time: time.Now().UnixNano(), Text: e.Error()})
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

// rebalanceLog passes every log record on and journals the consumer's
// "partitions assigned / revoked / lost" lines: ordo has no public rebalance
// hook, and kgo's callbacks given through KgoOpts would replace ordo's own.
type rebalanceLog struct {
	next slog.Handler
	jw   *journal.Writer
	inc  string
}

var partitionList = regexp.MustCompile(`\[([0-9 ]*)\]`)

// Enabled admits what the next handler wants and every Info line, where
// ordo reports rebalances.
func (l *rebalanceLog) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= slog.LevelInfo || l.next.Enabled(ctx, lv)
}

func (l *rebalanceLog) Handle(ctx context.Context, r slog.Record) error {
	kind := ""
	switch r.Message {
	case "partitions assigned":
		kind = journal.Assigned
	case "partitions revoked":
		kind = journal.Revoked
	case "partitions lost":
		kind = journal.Lost
	}
	if kind != "" {
		e := journal.Event{Kind: kind, Inc: l.inc, Time: r.Time.UnixNano()}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "partitions" {
				e.Partitions, e.Text = parsePartitions(a.Value.String()), a.Value.String()
			}
			return true
		})
		if err := l.jw.Write(e); err != nil {
			return err
		}
	}
	if !l.next.Enabled(ctx, r.Level) {
		return nil
	}
	return l.next.Handle(ctx, r)
}

// parsePartitions reads "map[topic:[0 1 2]]"; nil (all partitions) if it
// finds none, so an unreadable line errs on the side of a reassignment.
func parsePartitions(s string) []int32 {
	var out []int32
	for _, m := range partitionList.FindAllStringSubmatch(s, -1) {
		for _, f := range strings.Fields(m[1]) {
			n, err := strconv.ParseInt(f, 10, 32)
			if err != nil {
				return nil
			}
			out = append(out, int32(n))
		}
	}
	return out
}

func (l *rebalanceLog) WithAttrs(as []slog.Attr) slog.Handler {
	return &rebalanceLog{next: l.next.WithAttrs(as), jw: l.jw, inc: l.inc}
}

func (l *rebalanceLog) WithGroup(name string) slog.Handler {
	return &rebalanceLog{next: l.next.WithGroup(name), jw: l.jw, inc: l.inc}
}
