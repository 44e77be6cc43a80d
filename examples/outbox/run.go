package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/consumer/consumertest"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/producer/outbox"
	"github.com/ordo-go/ordo/schema"
)

// OrderPlaced is the orders service's event, keyed by order.
type OrderPlaced struct {
	OrderID string `avro:"order_id"`
	Cents   int64  `avro:"cents"`
}

// PartitionKey keeps an order's events in order.
func (o OrderPlaced) PartitionKey() string { return o.OrderID }

const placedAvsc = `{"type":"record","name":"OrderPlaced","namespace":"shop","fields":[
	{"name":"order_id","type":"string"},{"name":"cents","type":"long"}]}`

// db is where the two services keep their state: in memory (memDB) or in
// PostgreSQL (pgDB).
type db interface {
	// place commits (or rolls back) an order row and its event in one
	// transaction and returns the event's ID.
	place(ctx context.Context, o OrderPlaced, commit bool) (string, error)
	relayStore() outbox.Store
	// billing is the billing handler: one charge per order through the
	// inbox (direct: without it, tests only).
	billing(direct bool) consumer.Handler[OrderPlaced]
	duplicates() int64
	tally(ctx context.Context) (tally, error)
	close()
}

// tally is what the databases hold.
type tally struct {
	orders  map[string]bool // order rows
	charges map[string]int  // charges per order
	pending int             // outbox rows not yet marked sent
}

// story is one run: the cluster, the services' parts and what they did.
type story struct {
	cfg     config
	out     io.Writer
	env     *consumertest.Env // nil on a real cluster
	brokers []string
	reg     *schema.Registry
	topic   string
	p       *producer.Producer
	codec   *schema.Codec[OrderPlaced]
	db      db

	placed  []string  // committed order IDs
	rolled  string    // the rolled-back order
	relayed int64     // rows marked by the relays
	billing *instance // the billing service's instance
}

func run(ctx context.Context, cfg config, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	s := &story{cfg: cfg, out: out}
	if err := s.setup(ctx); err != nil {
		return err
	}
	defer s.close()
	for _, step := range []func(context.Context) error{s.commitWithoutRelay, s.relayAfterCrash, s.billOnce, s.replay, s.relayDiesBeforeMark} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return s.summary(ctx)
}

func (s *story) setup(ctx context.Context) (err error) {
	if err := s.cluster(ctx); err != nil {
		return err
	}
	if s.p, err = producer.New(producer.Brokers(s.brokers...), producer.Registry(s.reg)); err != nil {
		return err
	}
	if s.codec, err = schema.NewCodec[OrderPlaced](placedAvsc); err != nil {
		return err
	}
	pub, err := producer.NewPublisher(ctx, s.p, s.topic, s.codec)
	if err != nil {
		return err
	}
	if s.cfg.postgres == "" {
		s.db, err = newMemDB(pub)
		return err
	}
	s.db, err = newPGDB(ctx, s.cfg.postgres, s.cfg.runID, pub)
	return err
}

func (s *story) close() {
	if s.billing != nil {
		s.billing.halt() //nolint:errcheck // a step's error is the one to report
	}
	if s.db != nil {
		s.db.close()
	}
	if s.p != nil {
		s.p.Close()
	}
	if s.env != nil {
		s.env.Close()
	}
}

// cluster starts the embedded cluster, or connects to the real one and
// creates the run's topic there.
func (s *story) cluster(ctx context.Context) (err error) {
	if len(s.cfg.brokers) == 0 {
		s.topic = "orders"
		if s.env, err = consumertest.New(consumertest.Brokers(1), consumertest.Topic(s.topic, 3)); err != nil {
			return err
		}
		s.brokers, s.reg = s.env.Brokers(), s.env.Registry()
		return nil
	}
	s.brokers, s.topic = s.cfg.brokers, "outbox-"+s.cfg.runID
	if s.reg, err = schema.NewRegistry([]string{s.cfg.registry}); err != nil {
		return err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, -1, nil, s.topic); err != nil {
		return fmt.Errorf("create topic %q: %w", s.topic, err)
	}
	return nil
}

// commitWithoutRelay commits orders while no relay runs, as if the
// service died right after its COMMITs, and rolls one back.
func (s *story) commitWithoutRelay(ctx context.Context) error {
	for i := range s.cfg.orders {
		if err := s.order(ctx, i, true); err != nil {
			return err
		}
	}
	if err := s.order(ctx, s.cfg.orders, false); err != nil {
		return err
	}
	t, err := s.db.tally(ctx)
	if err != nil {
		return err
	}
	onTopic, err := s.onTopic(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "orders: %d orders committed, each with its OrderPlaced event in the same transaction; 1 rolled back (%d order rows)\n", len(s.placed), len(t.orders))
	fmt.Fprintf(s.out, "orders: the service stops right after its commits, before any relay publishes: %d events wait in the outbox, %d on the topic\n", t.pending, onTopic)
	return nil
}

func (s *story) order(ctx context.Context, i int, commit bool) error {
	o := OrderPlaced{OrderID: fmt.Sprintf("order-%03d", i), Cents: int64(1000 + 25*i)}
	if _, err := s.db.place(ctx, o, commit); err != nil {
		return fmt.Errorf("place %s: %w", o.OrderID, err)
	}
	if commit {
		s.placed = append(s.placed, o.OrderID)
	} else {
		s.rolled = o.OrderID
	}
	return nil
}

// relayAfterCrash starts a relay, as the restarted service would, and
// lets it empty the outbox.
func (s *story) relayAfterCrash(ctx context.Context) error {
	n, err := s.relay(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "relay: a new relay starts after the crash and publishes %d events; the outbox is empty: nothing lost\n", n)
	return nil
}

// relay runs a relay until the outbox is empty and returns how many rows
// it published.
func (s *story) relay(ctx context.Context) (int64, error) {
	r, err := outbox.NewRelay(s.p, s.db.relayStore(), outbox.Poll(20*time.Millisecond), outbox.WithLogger(quiet))
	if err != nil {
		return 0, err
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	err = waitFor(ctx, "the outbox to empty", func() (bool, error) {
		t, err := s.db.tally(ctx)
		return err == nil && t.pending == 0, err
	})
	stop()
	if rerr := <-done; err == nil {
		err = rerr
	}
	s.relayed += r.Stats().Published
	return r.Stats().Published, err
}

var quiet = slog.New(slog.DiscardHandler)

// waitFor polls done until it reports true, for up to a minute.
func waitFor(ctx context.Context, what string, done func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// onTopic counts the records of the topic.
func (s *story) onTopic(ctx context.Context) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, s.topic)
	if err == nil {
		err = ends.Error()
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n, err
}
