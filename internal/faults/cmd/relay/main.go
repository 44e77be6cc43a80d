// Command relay is the fault suite's outbox relay: an ordo producer and
// an outbox.Relay on the pgoutbox store, as a service replica runs them.
// Its producer's instance ID (the ordo-producer header of every record it
// writes) is its incarnation, so the checker knows which relay wrote each
// copy of an event. It journals its start, and at a graceful exit
// (SIGTERM or SIGINT: the batch in flight is published and marked) its
// counters.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
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
	relay, err := outbox.NewRelay(p, store, outbox.BatchSize(batch), outbox.WithLogger(log))
	if err != nil {
		return err
	}
	if err := relay.Run(ctx); err != nil {
		return err
	}
	st, _ := json.Marshal(relay.Stats())
	return jw.Write(journal.Event{Kind: journal.Note, Inc: inc, Time: time.Now().UnixNano(), Text: string(st)})
}
