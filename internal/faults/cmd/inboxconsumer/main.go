// Command inboxconsumer is the fault suite's idempotent consumer: an ordo
// consumer whose handler, wrapped by inbox.Handle on the pginbox store,
// inserts one side-effect row per event into a PostgreSQL table that has
// no unique constraint, in the transaction of the record's done mark. The
// checker counts the rows per event ID: a redelivery that got past the
// inbox would show as a second row.
//
// It journals its rebalances, a Handled line for each call of the inner
// handler (before its transaction commits: for the runner's progress
// waits only) and an InboxDuplicate line for each delivery the inbox
// skipped. SIGTERM or SIGINT stops it gracefully.
//
// -bypass breaks it on purpose: the handler writes its side effect
// through a pool of its own, outside the mark's transaction, so a kill
// between the effect and the mark's commit doubles the effect on
// redelivery; the checker must catch it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/consumer/inbox"
	"github.com/ordo-go/ordo/consumer/inbox/pginbox"
	"github.com/ordo-go/ordo/internal/faults/journal"
	"github.com/ordo-go/ordo/internal/faults/tick"
	"github.com/ordo-go/ordo/schema"
)

type config struct {
	brokers, registry, topic, group string
	journal, inc, postgres, effects string
	work                            time.Duration
	concurrency                     int
	session                         time.Duration
	bypass                          bool
}

func main() {
	var cfg config
	flag.StringVar(&cfg.brokers, "brokers", "", "comma-separated seed brokers")
	flag.StringVar(&cfg.registry, "registry", "", "schema registry URL")
	flag.StringVar(&cfg.topic, "topic", "", "topic to consume")
	flag.StringVar(&cfg.group, "group", "", "consumer group")
	flag.StringVar(&cfg.journal, "journal", "", "journal file (appended to)")
	flag.StringVar(&cfg.inc, "inc", "", "incarnation ID written on every line")
	flag.StringVar(&cfg.postgres, "postgres", "", "PostgreSQL URL")
	flag.StringVar(&cfg.effects, "effects", "effects", "side-effect table")
	flag.DurationVar(&cfg.work, "work", 2*time.Millisecond, "longest simulated handler work, inside the transaction")
	flag.IntVar(&cfg.concurrency, "concurrency", 16, "consumer lanes")
	flag.DurationVar(&cfg.session, "session-timeout", 6*time.Second, "group session timeout")
	flag.BoolVar(&cfg.bypass, "bypass", false, "BROKEN ON PURPOSE: write the side effect outside the mark's transaction")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "inboxconsumer:", err)
		os.Exit(1)
	}
}

// Schema is the side-effect table: deliberately no unique constraint on
// event_id, so that a doubled effect is a second row, not an error.
const Schema = `CREATE TABLE IF NOT EXISTS %s (
	id        bigserial PRIMARY KEY,
	event_id  text NOT NULL,
	partition integer NOT NULL,
	off       bigint NOT NULL,
	key       text NOT NULL,
	seq       bigint NOT NULL,
	inc       text NOT NULL
)`

func run(ctx context.Context, cfg config) error {
	jw, err := journal.Create(cfg.journal, false)
	if err != nil {
		return err
	}
	defer jw.Close()
	if err := jw.Write(journal.Event{Kind: journal.Start, Inc: cfg.inc, Time: time.Now().UnixNano()}); err != nil {
		return err
	}
	pool, err := newPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	// -bypass writes effects through a pool of their own: on the marks'
	// pool, every lane would hold a connection for its mark's transaction
	// while it waits for a second one.
	effects := pool
	if cfg.bypass {
		if effects, err = newPool(ctx, cfg); err != nil {
			return err
		}
		defer effects.Close()
	}
	store, err := pginbox.New(pool)
	if err != nil {
		return err
	}
	if err := store.Init(ctx, pool); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, fmt.Sprintf(Schema, cfg.effects)); err != nil {
		return err
	}
	in, err := inbox.New(store, inbox.Scope("faults"))
	if err != nil {
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
	h := &handler{cfg: cfg, jw: jw, effects: effects}
	inner := inbox.Handle(in, h.effect)
	c, err := consumer.New(
		consumer.Brokers(strings.Split(cfg.brokers, ",")...),
		consumer.Registry(reg),
		consumer.Group(cfg.group),
		consumer.Topics(cfg.topic),
		consumer.Concurrency(cfg.concurrency),
		consumer.GroupProtocol(consumer.ClassicProtocol),
		consumer.SessionTimeout(cfg.session),
		consumer.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))),
		consumer.OnAssigned(h.rebalance(journal.Assigned)),
		consumer.OnRevoked(h.rebalance(journal.Revoked)),
		consumer.On(codec, h.deliver(inner)),
	)
	if err != nil {
		return err
	}
	return c.Run(ctx)
}

// newPool returns a pool with a connection for each lane (pgxpool's
// default is 4), so lanes do not queue for connections.
func newPool(ctx context.Context, cfg config) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.postgres)
	if err != nil {
		return nil, err
	}
	pc.MaxConns = int32(cfg.concurrency)
	return pgxpool.NewWithConfig(ctx, pc)
}

type handler struct {
	cfg     config
	jw      *journal.Writer
	effects *pgxpool.Pool // -bypass: the side effects' own connections
}

// called is the context key of the flag the inner handler sets, so that
// deliver can tell a skipped duplicate from a handled record.
type called struct{}

// deliver wraps the inbox's handler: a delivery that returned without
// calling the inner handler was a duplicate.
func (h *handler) deliver(inner consumer.Handler[tick.Tick]) consumer.Handler[tick.Tick] {
	return func(ctx context.Context, ev tick.Tick, m consumer.Meta) error {
		flag := new(bool)
		if err := inner(context.WithValue(ctx, called{}, flag), ev, m); err != nil {
			return err
		}
		if !*flag {
			return h.jw.Write(journal.Event{Kind: journal.InboxDuplicate, Inc: h.cfg.inc, Partition: m.Partition,
				Offset: m.Offset, Key: ev.Key, Seq: ev.Seq, Time: time.Now().UnixNano()})
		}
		return nil
	}
}

// effect is the side effect, in the mark's transaction.
func (h *handler) effect(ctx context.Context, tx pgx.Tx, ev tick.Tick, m consumer.Meta) error {
	*ctx.Value(called{}).(*bool) = true
	t0 := time.Now().UnixNano()
	var db interface {
		Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	} = tx
	if h.cfg.bypass {
		db = h.effects
	}
	if _, err := db.Exec(ctx, "INSERT INTO "+h.cfg.effects+" (event_id, partition, off, key, seq, inc) VALUES ($1, $2, $3, $4, $5, $6)",
		inbox.Key(m), m.Partition, m.Offset, ev.Key, ev.Seq, h.cfg.inc); err != nil {
		return err
	}
	if h.cfg.work > 0 { // after the write: a kill now rolls it back, unless -bypass
		time.Sleep(rand.N(h.cfg.work))
	}
	return h.jw.Write(journal.Event{Kind: journal.Handled, Inc: h.cfg.inc, Partition: m.Partition, Offset: m.Offset,
		Key: ev.Key, Seq: ev.Seq, Start: t0, End: time.Now().UnixNano()})
}

// rebalance returns a hook that journals a rebalance of kind.
func (h *handler) rebalance(kind string) func(context.Context, map[string][]int32) {
	return func(_ context.Context, ps map[string][]int32) {
		e := journal.Event{Kind: kind, Inc: h.cfg.inc, Time: time.Now().UnixNano(), Partitions: ps[h.cfg.topic]}
		if e.Partitions == nil {
			e.Partitions = []int32{}
		}
		if err := h.jw.Write(e); err != nil {
			fmt.Fprintln(os.Stderr, "inboxconsumer:", err)
		}
	}
}
