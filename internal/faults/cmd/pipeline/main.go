// Command pipeline is the fault suite's exactly-once consume → publish
// worker: an ordo consumer made with consumer.Transactional whose handler
// derives -fanout events from each tick.Tick it consumes and emits them
// (consumer.Emit) to the -out topic. Each output carries its input's key
// and seq, and names its input in its pad ("partition/offset/index"), so
// the checker can match every output read read_committed to its input.
//
// The transactional ID (-txn-id) is the member slot's, the same for every
// incarnation of the slot, as a pod's name would be: a restarted
// incarnation fences its killed predecessor's transaction at once.
//
// It journals a Handled line for each handling before the handler
// returns (for the runner's progress waits, and for the checker's count
// of redelivered inputs), and its rebalances. SIGTERM or SIGINT stops it
// gracefully.
//
// -dlt names a dead-letter topic and -poison n fails about one input in n
// permanently (tick.Tick.Poison): those are dead-lettered, with no
// outputs, and their keys quarantined (the transaction commits past a
// dead letter only once the quarantine store holds its key).
//
// -plain breaks it on purpose: no transaction; the handler publishes its
// outputs itself, acknowledged before it returns (at least once), so a
// kill after the publish and before the offset commit doubles them; the
// checker must catch it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/internal/faults/journal"
	"github.com/ordo-go/ordo/internal/faults/tick"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/schema"
)

type config struct {
	brokers, registry, topic, group string
	out, txnID, journal, inc        string
	fanout, concurrency             int
	dlt                             string
	poisonEvery                     uint64
	work, session                   time.Duration
	plain                           bool
}

func main() {
	var cfg config
	flag.StringVar(&cfg.brokers, "brokers", "", "comma-separated seed brokers")
	flag.StringVar(&cfg.registry, "registry", "", "schema registry URL")
	flag.StringVar(&cfg.topic, "topic", "", "topic to consume")
	flag.StringVar(&cfg.group, "group", "", "consumer group")
	flag.StringVar(&cfg.out, "out", "", "topic of the derived events")
	flag.StringVar(&cfg.txnID, "txn-id", "", "transactional ID: the member slot's, stable across its incarnations")
	flag.StringVar(&cfg.journal, "journal", "", "journal file (appended to)")
	flag.StringVar(&cfg.inc, "inc", "", "incarnation ID written on every line")
	flag.IntVar(&cfg.fanout, "fanout", 2, "derived events per input")
	flag.IntVar(&cfg.concurrency, "concurrency", 16, "consumer lanes")
	flag.DurationVar(&cfg.work, "work", 2*time.Millisecond, "longest simulated handler work")
	flag.DurationVar(&cfg.session, "session-timeout", 6*time.Second, "group session timeout")
	flag.StringVar(&cfg.dlt, "dlt", "", "dead-letter topic (default: none, the Halt policy)")
	flag.Uint64Var(&cfg.poisonEvery, "poison", 0, "fail permanently about one input in this many (tick.Poison); 0: none")
	flag.BoolVar(&cfg.plain, "plain", false, "BROKEN ON PURPOSE: publish the outputs from the handler, outside any transaction")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "pipeline:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	jw, err := journal.Create(cfg.journal, false)
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
	brokers := strings.Split(cfg.brokers, ",")
	// The publisher seals the outputs (or, with -plain, publishes them):
	// its schema is registered and gated here, once.
	p, err := producer.New(producer.Brokers(brokers...), producer.Registry(reg), producer.Name(cfg.inc))
	if err != nil {
		return err
	}
	defer p.Close()
	pub, err := newPublisher(ctx, p, cfg.out, codec)
	if err != nil {
		return err
	}
	h := &handler{cfg: cfg, jw: jw, pub: pub}
	opts := []consumer.Option{
		consumer.Brokers(brokers...),
		consumer.Registry(reg),
		consumer.Group(cfg.group),
		consumer.Topics(cfg.topic),
		consumer.Concurrency(cfg.concurrency),
		consumer.GroupProtocol(consumer.ClassicProtocol),
		consumer.SessionTimeout(cfg.session),
		consumer.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))),
		consumer.OnAssigned(h.rebalance(journal.Assigned)),
		consumer.OnRevoked(h.rebalance(journal.Revoked)),
		consumer.On(codec, h.handle),
	}
	if !cfg.plain {
		opts = append(opts, consumer.Transactional(cfg.txnID))
	}
	if cfg.dlt != "" {
		opts = append(opts, consumer.DeadLetterTopic(cfg.dlt))
	}
	c, err := consumer.New(opts...)
	if err != nil {
		return err
	}
	return c.Run(ctx)
}

// newPublisher makes the outputs' publisher, asking again for up to 30 s
// while the output topic is unknown: the runner has just created it, and
// a broker may not know it yet.
func newPublisher(ctx context.Context, p *producer.Producer, topic string, codec *schema.Codec[tick.Tick]) (*producer.Publisher[tick.Tick], error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		pub, err := producer.NewPublisher(ctx, p, topic, codec)
		if !errors.Is(err, producer.ErrUnknownTopic) || time.Now().After(deadline) {
			return pub, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

type handler struct {
	cfg config
	jw  *journal.Writer
	pub *producer.Publisher[tick.Tick]
}

// handle derives the input's outputs and emits them (or, with -plain,
// publishes them), then journals the handling before it returns.
func (h *handler) handle(ctx context.Context, ev tick.Tick, m consumer.Meta) error {
	t0 := time.Now().UnixNano()
	if h.cfg.poisonEvery > 0 && ev.Poison(h.cfg.poisonEvery) {
		return consumer.Permanent(fmt.Errorf("poison %s#%d", ev.Key, ev.Seq))
	}
	if h.cfg.work > 0 {
		time.Sleep(rand.N(h.cfg.work))
	}
	for i := range h.cfg.fanout {
		out := tick.Tick{Key: ev.Key, Seq: ev.Seq, Pad: fmt.Sprintf("%d/%d/%d", m.Partition, m.Offset, i)}
		if h.cfg.plain {
			if _, err := h.pub.Publish(ctx, out); err != nil {
				return err
			}
			continue
		}
		sealed, err := h.pub.Seal(ctx, out)
		if err != nil {
			return err
		}
		if err := consumer.Emit(ctx, sealed); err != nil {
			return err
		}
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
			fmt.Fprintln(os.Stderr, "pipeline:", err)
		}
	}
}
