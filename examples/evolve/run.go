package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/consumer/consumertest"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/schema"
)

// story is one run: its configuration, the shared registry client and
// codecs, and the account.
type story struct {
	cfg     config
	reg     *schema.Registry
	c       codecs
	log     *slog.Logger
	t       *tally
	group   string
	subject string // the topic's value subject (TopicName strategy)
	refused []refusal
}

// refusal is what became of a breaking change.
type refusal struct {
	what       string
	err        error // the gate's; nil if it was registered
	registryOK bool  // the registry's own check said compatible
}

// run tells the story and prints the summary; it returns an error when
// the story did not hold (a loss, a decode failure, a breaking change
// registered).
func run(ctx context.Context, cfg config, out io.Writer) error {
	where, cleanup, err := setup(ctx, &cfg)
	if err != nil {
		return err
	}
	defer cleanup()
	fmt.Fprintf(out, "ordo evolve example on %s\n", where)
	s := &story{cfg: cfg, log: cfg.logger(out), t: newTally(),
		group: "inventory-" + cfg.runID, subject: cfg.topic + "-value"}
	if s.reg, err = schema.NewRegistry([]string{cfg.registry}); err != nil {
		return err
	}
	if s.c, err = newCodecs(); err != nil {
		return err
	}
	if err := s.deploy(ctx, out); err != nil {
		return err
	}
	if err := s.breakingChanges(ctx); err != nil {
		return err
	}
	return s.summary(ctx, out)
}

// deploy runs the two phases: v1 everywhere, then v2 on half.
func (s *story) deploy(ctx context.Context, out io.Writer) error {
	a, err := s.startConsumer(ctx, 1)
	if err != nil {
		return err
	}
	defer a.stop()
	b, err := s.startConsumer(ctx, 1)
	if err != nil {
		return err
	}
	pa, err := s.producer("a")
	if err != nil {
		return err
	}
	defer pa.Close()
	pb, err := s.producer("b")
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "phase 1: v1 everywhere: producers a and b, consumer instances a and b in one group")
	err = s.publishBoth(ctx, pa, pb, 1, func(ctx context.Context, p *producer.Producer, name string, phase int) error {
		return publish(ctx, s, p, name, phase, s.c.v1, 1, v1Order)
	})
	if err == nil {
		err = s.waitHandled(ctx)
	}
	pb.Close()
	if err != nil {
		b.stop()
		return err
	}

	// The deploy reaches half of the fleet: instance b and producer b.
	if err := b.stop(); err != nil {
		return err
	}
	if b, err = s.startConsumer(ctx, 2); err != nil {
		return err
	}
	defer b.stop()
	if pb, err = s.producer("b"); err != nil {
		return err
	}
	defer pb.Close()
	if err := waitSplit(ctx, s.cfg.topic, a, b); err != nil {
		return err
	}
	fmt.Fprintf(out, "phase 2: v2 (tags, default []) deployed to half: producer b and consumer instance b; a stays on v1\n")
	err = s.publishBoth(ctx, pa, pb, 2, func(ctx context.Context, p *producer.Producer, name string, phase int) error {
		if name == "a" {
			return publish(ctx, s, p, name, phase, s.c.v1, 1, v1Order)
		}
		return publish(ctx, s, p, name, phase, s.c.v2, 2, v2Order)
	})
	if err != nil {
		return err
	}
	return s.waitHandled(ctx)
}

// publishBoth runs fn for producers a and b at once.
func (s *story) publishBoth(ctx context.Context, pa, pb *producer.Producer, phase int,
	fn func(ctx context.Context, p *producer.Producer, name string, phase int) error) error {
	errB := make(chan error, 1)
	go func() { errB <- fn(ctx, pb, "b", phase) }()
	return errors.Join(fn(ctx, pa, "a", phase), <-errB)
}

// publish publishes s.cfg.orders orders of version version with a fresh
// publisher (which registers the version's schema, gated).
func publish[T interface{ PartitionKey() string }](ctx context.Context, s *story, p *producer.Producer, name string, phase int,
	codec *schema.Codec[T], version int, newOrder func(id string, i int) (T, OrderV2)) error {
	pub, err := producer.NewPublisher(ctx, p, s.cfg.topic, codec)
	if err != nil {
		return err
	}
	evs := make([]T, s.cfg.orders)
	want := make([]OrderV2, s.cfg.orders)
	for i := range evs {
		evs[i], want[i] = newOrder(fmt.Sprintf("%s-%d-%05d", name, phase, i), i)
	}
	s.t.expect(s.producerID(name), version, want)
	_, err = pub.PublishAll(ctx, evs...)
	return err
}

func v1Order(id string, i int) (OrderV1, OrderV2) {
	o := OrderV1{OrderID: id, Cents: 100 + int64(i)}
	return o, OrderV2{OrderID: o.OrderID, Cents: o.Cents}
}

func v2Order(id string, i int) (OrderV2, OrderV2) {
	o := OrderV2{OrderID: id, Cents: 100 + int64(i), Tags: []string{"gift"}}
	if i%2 == 1 {
		o.Tags = []string{"express", "fragile"}
	}
	return o, o
}

func (s *story) producerID(name string) string { return s.cfg.runID + "-" + name }

// producer starts producer name (a or b); its instance ID tells this run's
// records from earlier runs' on a reused topic.
func (s *story) producer(name string) (*producer.Producer, error) {
	return producer.New(producer.Brokers(s.cfg.brokers...), producer.Registry(s.reg),
		producer.WithLogger(s.log), producer.Name(s.producerID(name)))
}

// instance is a running consumer instance of the group.
type instance struct {
	c    *consumer.Consumer
	done chan error
}

// startConsumer starts an instance of the group that reads the events as
// reader (1 or 2) declares them. A record it cannot decode is passed over
// (Skip) and counted as a decode failure.
func (s *story) startConsumer(ctx context.Context, reader int) (*instance, error) {
	opts := []consumer.Option{
		consumer.Brokers(s.cfg.brokers...), consumer.Group(s.group), consumer.Topics(s.cfg.topic),
		consumer.Registry(s.reg), consumer.WithLogger(s.log), consumer.Concurrency(16),
		consumer.OnFailure(consumer.Skip),
		consumer.ErrorHook(func(_ context.Context, err *consumer.RecordError) { s.t.failed(err) }),
	}
	if reader == 1 {
		opts = append(opts, consumer.On(s.c.v1, func(_ context.Context, o OrderV1, m consumer.Meta) error {
			if o.OrderID == s.cfg.loseOrder {
				return nil // the tests' lost order
			}
			s.t.read(1, m, OrderV2{OrderID: o.OrderID, Cents: o.Cents})
			return nil
		}))
	} else {
		opts = append(opts, consumer.On(s.c.v2, func(_ context.Context, o OrderV2, m consumer.Meta) error {
			s.t.read(2, m, o)
			return nil
		}))
	}
	c, err := consumer.New(opts...)
	if err != nil {
		return nil, err
	}
	in := &instance{c: c, done: make(chan error, 1)}
	go func() { in.done <- c.Run(ctx) }()
	return in, nil
}

// stop shuts the instance down (its finished offsets committed); a second
// call returns nil.
func (in *instance) stop() error {
	if in.done == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := in.c.Shutdown(ctx)
	if rerr := <-in.done; err == nil && !errors.Is(rerr, context.Canceled) {
		err = rerr
	}
	in.done = nil
	return err
}

// waitSplit waits until both instances hold partitions of topic, so that
// each reads records of both producers.
func waitSplit(ctx context.Context, topic string, a, b *instance) error {
	return poll(ctx, 30*time.Second, func() (bool, string) {
		na, nb := len(a.c.Assignment()[topic]), len(b.c.Assignment()[topic])
		return na > 0 && nb > 0, fmt.Sprintf("the group did not split the partitions: %d and %d", na, nb)
	})
}

// waitHandled waits until every order published so far was handled, for
// at most s.cfg.wait: then the story goes on, and the summary counts the
// orders never handled as lost.
func (s *story) waitHandled(ctx context.Context) error {
	err := poll(ctx, s.cfg.wait, func() (bool, string) {
		h, p := s.t.progress()
		return h >= p, ""
	})
	if ctx.Err() != nil {
		return err
	}
	return nil
}

// poll calls done every 10 ms until it reports true, for at most limit.
func poll(ctx context.Context, limit time.Duration, done func() (bool, string)) error {
	deadline := time.After(limit)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, why := done()
		if ok {
			return nil
		}
		select {
		case <-tick.C:
		case <-deadline:
			return fmt.Errorf("after %v: %s", limit, why)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// breakingChanges tries to publish the two breaking changes: ordo's gate
// refuses each before it is registered. The registry's own verdict is
// asked too, to show what the gate adds (srfake answers "compatible" to
// anything; a real registry at BACKWARD refuses as well).
func (s *story) breakingChanges(ctx context.Context) error {
	p, err := s.producer("c")
	if err != nil {
		return err
	}
	defer p.Close()
	_, errRequired := producer.NewPublisher(ctx, p, s.cfg.topic, s.c.required)
	_, errRetyped := producer.NewPublisher(ctx, p, s.cfg.topic, s.c.retyped)
	for _, r := range []refusal{
		{what: "a new field without a default (warehouse: string)", err: errRequired},
		{what: "a type change (cents: long to string)", err: errRetyped},
	} {
		if r.err != nil && !errors.Is(r.err, schema.ErrIncompatible) {
			return r.err // not the gate: the registry could not be asked
		}
		s.refused = append(s.refused, r)
	}
	srcl, err := sr.NewClient(sr.URLs(s.cfg.registry))
	if err != nil {
		return err
	}
	for i, text := range []string{breakingRequired, breakingRetyped} {
		res, err := srcl.CheckCompatibility(ctx, s.subject, -1, sr.Schema{Schema: text})
		if err != nil {
			return fmt.Errorf("ask the registry: %w", err)
		}
		s.refused[i].registryOK = res.Is
	}
	return nil
}

// summary prints the account and returns an error if the story did not
// hold.
func (s *story) summary(ctx context.Context, out io.Writer) error {
	t := s.t
	lost := t.lost()
	t.mu.Lock()
	defer t.mu.Unlock()
	v1, v2 := t.reads[1][1]+t.reads[2][1], t.reads[1][2]+t.reads[2][2]
	fmt.Fprintln(out, "phase 3: breaking changes, refused by ordo's gate before they were registered:")
	var problems []string
	for _, r := range s.refused {
		if r.err == nil {
			problems = append(problems, r.what+" was registered")
			fmt.Fprintf(out, "  %s: REGISTERED\n", r.what)
			continue
		}
		verdict := "incompatible"
		if r.registryOK {
			verdict = "compatible"
		}
		fmt.Fprintf(out, "  %s:\n    %v\n    (the registry's own check answered: %s)\n", r.what, r.err, verdict)
	}
	versions, err := s.reg.Versions(ctx, s.subject)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "subject %q holds %d versions (v1 and v2; the breaking changes were not registered)\n", s.subject, len(versions))
	fmt.Fprintf(out, "published %d orders: %d with v1, %d with v2\n", len(t.published), v1+len(lostOf(lost, t.writer, 1)), v2+len(lostOf(lost, t.writer, 2)))
	fmt.Fprintf(out, "v1 readers (a, and b before its deploy) read %d v1 records and %d v2 records (tags skipped)\n", t.reads[1][1], t.reads[1][2])
	fmt.Fprintf(out, "v2 reader (b after its deploy) read %d v1 records (tags defaulted to [] in %d) and %d v2 records\n", t.reads[2][1], t.defaulted, t.reads[2][2])
	if t.earlier > 0 {
		fmt.Fprintf(out, "  (and %d records of earlier runs on the topic, not counted)\n", t.earlier)
	}
	fmt.Fprintf(out, "lost %d (of %d orders published by this run)\n", len(lost), len(t.published))
	fmt.Fprintf(out, "decode failures %d\n", len(t.failures))
	for i, f := range t.failures {
		if i == 5 {
			fmt.Fprintf(out, "  … and %d more\n", len(t.failures)-5)
			break
		}
		fmt.Fprintf(out, "  %s\n", f)
	}
	if len(lost) > 0 {
		problems = append(problems, fmt.Sprintf("%d orders lost, e.g. %s", len(lost), lost[0]))
	}
	if len(t.failures) > 0 {
		problems = append(problems, fmt.Sprintf("%d decode failures", len(t.failures)))
	}
	if t.reads[1][2] == 0 || t.reads[2][1] == 0 {
		problems = append(problems, "a reader did not read records of the other version")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// lostOf returns the lost orders that were published with version.
func lostOf(lost []string, writer map[string]int, version int) []string {
	var out []string
	for _, id := range lost {
		if writer[id] == version {
			out = append(out, id)
		}
	}
	return out
}

// setup starts the embedded cluster when no brokers are given (with the
// public test kit, consumertest.New), and creates the topic.
func setup(ctx context.Context, cfg *config) (string, func(), error) {
	cleanup := func() {}
	where := "Kafka at " + strings.Join(cfg.brokers, ",") + ", registry at " + cfg.registry
	if len(cfg.brokers) == 0 {
		env, err := consumertest.New()
		if err != nil {
			return "", nil, err
		}
		cfg.brokers, cfg.registry = env.Brokers(), env.RegistryURL()
		cleanup = func() { env.Close() }
		where = "the embedded cluster (kfake) and registry (srfake)"
		if cfg.topic == "" {
			cfg.topic = "orders"
		}
	} else if cfg.topic == "" {
		cfg.topic = fmt.Sprintf("evolve-%d-%s", time.Now().Unix(), cfg.runID)
	}
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := ensureTopic(tctx, cfg.brokers, cfg.topic, cfg.partitions); err != nil {
		cleanup()
		return "", nil, err
	}
	return where, cleanup, nil
}

// ensureTopic creates topic unless it exists, and waits until its
// partitions answer ListOffsets (on a real broker a topic just created is
// not ready when CreateTopics returns; see examples/orders' topic.go).
func ensureTopic(ctx context.Context, brokers []string, topic string, partitions int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, int32(partitions), -1, nil, topic); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %q: %w", topic, err)
	}
	return poll(ctx, time.Minute, func() (bool, string) {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		return err == nil && len(ends[topic]) > 0, fmt.Sprintf("topic %q not ready: %v", topic, err)
	})
}
