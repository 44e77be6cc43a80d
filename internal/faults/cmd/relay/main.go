// Command relay is the fault suite's outbox relay: an ordo producer and
// an outbox.Relay on the pgoutbox store, as a service replica runs them.
// Its producer's instance ID (the ordo-producer header of every record it
// writes) is its incarnation, so the checker knows which relay wrote each
// copy of an event. It journals its start, and at a graceful exit
// (SIGTERM or SIGINT: the batch in flight is published and marked) its
// counters.
//
// -slow-mark d delays every mark by up to d (a slow database), widening
// the window between the broker's acknowledgement and the mark where a
// kill costs duplicates. -unsafe breaks the relay on purpose: its store
// marks rows as it fetches them, and the relay publishes them 300 ms
// later, so a kill in between loses them; the checker must catch it.
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
	"syscall"
	"time"

	"github.com/ordo-go/ordo/internal/faults/journal"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/producer/outbox"
	"github.com/ordo-go/ordo/producer/outbox/pgoutbox"
	"github.com/ordo-go/ordo/schema"
)

func main() {
	brokers := flag.String("brokers", "", "comma-separated seed brokers")
	registry := flag.String("registry", "", "schema registry URL")
	postgres := flag.String("postgres", "", "PostgreSQL URL")
	table := flag.String("table", pgoutbox.DefaultTable, "outbox table")
	jpath := flag.String("journal", "", "journal file (appended to)")
	inc := flag.String("inc", "", "incarnation: the producer's instance ID")
	batch := flag.Int("batch", 100, "rows per batch")
	flag.DurationVar(&slowMark, "slow-mark", 0, "delay each mark by up to this long")
	flag.BoolVar(&unsafe, "unsafe", false, "BROKEN ON PURPOSE: mark rows when fetched, publish them 300 ms later")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, *brokers, *registry, *postgres, *table, *jpath, *inc, *batch); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, brokers, registry, postgres, table, jpath, inc string, batch int) error {
	jw, err := journal.Create(jpath, false)
	if err != nil {
		return err
	}
	defer jw.Close()
	if err := jw.Write(journal.Event{Kind: journal.Start, Inc: inc, Time: time.Now().UnixNano()}); err != nil {
		return err
	}
	reg, err := schema.NewRegistry([]string{registry})
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	p, err := producer.New(producer.Brokers(strings.Split(brokers, ",")...), producer.Registry(reg),
		producer.InstanceID(inc), producer.WithLogger(log))
	if err != nil {
		return err
	}
	defer p.Close()
	store, err := pgoutbox.New(postgres, pgoutbox.Table(table))
	if err != nil {
		return err
	}
	relay, err := outbox.NewRelay(p, faultyStore{store}, outbox.BatchSize(batch), outbox.WithLogger(log))
	if err != nil {
		return err
	}
	if err := relay.Run(ctx); err != nil {
		return err
	}
	st, _ := json.Marshal(relay.Stats())
	return jw.Write(journal.Event{Kind: journal.Note, Inc: inc, Time: time.Now().UnixNano(), Text: string(st)})
}

var (
	slowMark time.Duration
	unsafe   bool
)

// faultyStore wraps the store's sessions with the faults -slow-mark and
// -unsafe ask for; without them it changes nothing.
type faultyStore struct{ outbox.Store }

func (f faultyStore) Open(ctx context.Context) (outbox.Session, error) {
	s, err := f.Store.Open(ctx)
	if err != nil || (slowMark == 0 && !unsafe) {
		return s, err
	}
	return faultySession{s}, nil
}

type faultySession struct{ outbox.Session }

func (f faultySession) Fetch(ctx context.Context, max int) ([]outbox.Row, error) {
	rows, err := f.Session.Fetch(ctx, max)
	if err != nil || !unsafe || len(rows) == 0 {
		return rows, err
	}
	if err := f.Session.Mark(ctx, rows); err != nil {
		return nil, err
	}
	time.Sleep(300 * time.Millisecond)
	return rows, nil
}

func (f faultySession) Mark(ctx context.Context, rows []outbox.Row) error {
	if unsafe {
		return nil // marked when fetched
	}
	time.Sleep(rand.N(slowMark))
	return f.Session.Mark(ctx, rows)
}
