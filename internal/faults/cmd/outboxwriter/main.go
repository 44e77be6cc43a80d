// Command outboxwriter is the fault suite's outbox writer: a service
// written as a user would write it, that commits an order row (its key's
// latest seq) and its event ([tick.Tick]) in one PostgreSQL transaction
// through outbox.Writer and the pgoutbox store, at a steady rate, and
// journals each committed event (key, seq, event ID) after COMMIT
// returned. Relays (cmd/relay) publish the events.
//
// Each key's transactions are committed one after the other by one
// goroutine, so a key's commit order is its seq order. It writes for
// -duration and exits; SIGTERM or SIGINT ends it early.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordo-go/ordo/internal/faults/journal"
	"github.com/ordo-go/ordo/internal/faults/tick"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/producer/outbox"
	"github.com/ordo-go/ordo/producer/outbox/pgoutbox"
	"github.com/ordo-go/ordo/schema"
)

type config struct {
	brokers, registry, topic, journal string
	postgres, table                   string
	keys, writers                     int
	rate                              float64
	duration                          time.Duration
	seed                              uint64
}

func main() {
	var cfg config
	flag.StringVar(&cfg.brokers, "brokers", "", "comma-separated seed brokers")
	flag.StringVar(&cfg.registry, "registry", "", "schema registry URL")
	flag.StringVar(&cfg.topic, "topic", "", "topic the events are for")
	flag.StringVar(&cfg.journal, "journal", "", "journal file (appended to)")
	flag.StringVar(&cfg.postgres, "postgres", "", "PostgreSQL URL")
	flag.StringVar(&cfg.table, "table", pgoutbox.DefaultTable, "outbox table (the orders table is <table>_orders)")
	flag.IntVar(&cfg.keys, "keys", 64, "number of distinct keys")
	flag.IntVar(&cfg.writers, "writers", 4, "concurrent transactions (each key belongs to one)")
	flag.Float64Var(&cfg.rate, "rate", 150, "transactions per second")
	flag.DurationVar(&cfg.duration, "duration", 20*time.Second, "how long to write")
	flag.Uint64Var(&cfg.seed, "seed", 1, "seed of the key choice")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "outboxwriter:", err)
		os.Exit(1)
	}
}

type service struct {
	pool   *pgxpool.Pool
	w      *outbox.Writer[pgx.Tx, tick.Tick]
	orders string
	jw     *journal.Writer
}

func run(ctx context.Context, cfg config) error {
	if cfg.keys < 1 || cfg.writers < 1 || cfg.rate <= 0 {
		return fmt.Errorf("-keys, -writers and -rate must be positive")
	}
	jw, err := journal.Create(cfg.journal, false)
	if err != nil {
		return err
	}
	defer jw.Close()
	reg, err := schema.NewRegistry([]string{cfg.registry})
	if err != nil {
		return err
	}
	codec, err := schema.NewCodec[tick.Tick](tick.Avsc)
	if err != nil {
		return err
	}
	// The producer only seals here (schema, partition): relays publish.
	p, err := producer.New(producer.Brokers(strings.Split(cfg.brokers, ",")...), producer.Registry(reg))
	if err != nil {
		return err
	}
	defer p.Close()
	pub, err := producer.NewPublisher(ctx, p, cfg.topic, codec)
	if err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, cfg.postgres)
	if err != nil {
		return err
	}
	defer pool.Close()
	store, err := pgoutbox.New(cfg.postgres, pgoutbox.Table(cfg.table))
	if err != nil {
		return err
	}
	if err := store.Init(ctx, pool); err != nil {
		return err
	}
	s := &service{pool: pool, orders: cfg.table + "_orders", jw: jw}
	if _, err := pool.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+s.orders+" (key text PRIMARY KEY, seq bigint NOT NULL, event_id text NOT NULL)"); err != nil {
		return err
	}
	if s.w, err = outbox.NewWriter[pgx.Tx](pub, store); err != nil {
		return err
	}
	return s.write(ctx, cfg)
}

// write dispatches keys at cfg.rate to the writers, key k to writer k %
// writers, until cfg.duration has passed or ctx ends.
func (s *service) write(ctx context.Context, cfg config) error {
	work := make([]chan tick.Tick, cfg.writers)
	errs := make(chan error, cfg.writers)
	var wg sync.WaitGroup
	for i := range work {
		work[i] = make(chan tick.Tick, 64)
		wg.Go(func() {
			for ev := range work[i] {
				if err := s.commit(ctx, ev); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	rng := rand.New(rand.NewPCG(cfg.seed, 0x0b0c))
	seqs := make([]int64, cfg.keys)
	interval := time.Duration(float64(time.Second) / cfg.rate)
	start := time.Now()
	var err error
loop:
	for n := 0; ; n++ {
		next := start.Add(time.Duration(n) * interval)
		if next.Sub(start) >= cfg.duration {
			break
		}
		select {
		case <-ctx.Done():
			break loop
		case err = <-errs:
			break loop
		case <-time.After(time.Until(next)):
		}
		k := rng.IntN(cfg.keys)
		seqs[k]++
		work[k%cfg.writers] <- tick.Tick{Key: fmt.Sprintf("key-%03d", k), Seq: seqs[k], Pad: "order"}
	}
	for _, w := range work {
		close(w)
	}
	wg.Wait()
	close(errs)
	if err == nil {
		err = <-errs
	}
	return err
}

// commit writes the order's state and its event in one transaction and
// journals the event once COMMIT returned.
func (s *service) commit(ctx context.Context, ev tick.Tick) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	id, err := s.w.Add(ctx, tx, ev)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+s.orders+" (key, seq, event_id) VALUES ($1, $2, $3) "+
		"ON CONFLICT (key) DO UPDATE SET seq = EXCLUDED.seq, event_id = EXCLUDED.event_id", ev.Key, ev.Seq, id); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit %s#%d: %w", ev.Key, ev.Seq, err)
	}
	return s.jw.Write(journal.Event{Kind: journal.Committed, Key: ev.Key, Seq: ev.Seq, Text: id, Time: time.Now().UnixNano()})
}
