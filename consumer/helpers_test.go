package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/embedded"
	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/schema"
)

// Step is the test event: the seq-th step of an entity named by Key.
type Step struct {
	Key string `avro:"key"`
	Seq int64  `avro:"seq"`
}

const stepSchema = `{"type":"record","name":"Step","namespace":"ordo.test","fields":[
	{"name":"key","type":"string"},{"name":"seq","type":"long"}]}`

// fixture is an embedded cluster with one topic, a registry client, and a
// raw producer that writes framed Step records the way ordo's producer
// does (the consumer's tests do not depend on the producer package).
type fixture struct {
	t       testing.TB
	topic   string
	cluster *embedded.Cluster
	reg     *schema.Registry
	codec   *schema.Codec[Step]
	id      int
	cl      *kgo.Client
	adm     *kadm.Client
	seqs    map[int]int64 // last seq published per key index

	protocol Protocol // the group protocol of every consumer it makes
}

func newFixture(t testing.TB, partitions int32, kopts ...kfake.Opt) *fixture {
	t.Helper()
	topic := "steps"
	c, err := embedded.Start(embedded.Config{Brokers: 1, Topics: map[string]int32{topic: partitions},
		// KIP-848 members learn of assignment changes through heartbeats:
		// Kafka's 5 s interval would make each group test wait for them.
		Kfake: append([]kfake.Opt{kfake.BrokerConfigs(map[string]string{"group.consumer.heartbeat.interval.ms": "250"})}, kopts...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	reg, err := schema.NewRegistry([]string{c.RegistryURL()})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := schema.NewCodec[Step](stepSchema)
	if err != nil {
		t.Fatal(err)
	}
	id, err := reg.Register(context.Background(), topic+"-value", codec.Schema())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers()...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &fixture{t: t, topic: topic, cluster: c, reg: reg, codec: codec, id: id, cl: cl, adm: kadm.NewClient(cl)}
}

// publish writes perKey more steps for each of keys keys, interleaved at
// random across keys but in order within each key (continuing each key's
// sequence from earlier calls), and waits for all of them.
func (f *fixture) publish(keys, perKey int) int {
	f.t.Helper()
	if f.seqs == nil {
		f.seqs = make(map[int]int64)
	}
	left := make([]int, keys)
	for k := range left {
		left[k] = perKey
	}
	rng := rand.New(rand.NewPCG(uint64(keys), uint64(perKey)))
	var recs []*kgo.Record
	for n := 0; n < keys*perKey; {
		k := rng.IntN(keys)
		if left[k] == 0 {
			continue
		}
		left[k]--
		n++
		f.seqs[k]++
		recs = append(recs, f.record(Step{Key: fmt.Sprintf("key-%03d", k), Seq: f.seqs[k]}))
	}
	if err := f.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		f.t.Fatal(err)
	}
	return len(recs)
}

func (f *fixture) record(s Step) *kgo.Record {
	v, err := f.codec.AppendFramed(nil, f.id, &s)
	if err != nil {
		f.t.Fatal(err)
	}
	return &kgo.Record{Key: []byte(s.Key), Value: v, Headers: []kgo.RecordHeader{
		{Key: header.Type, Value: []byte(f.codec.Name())},
		{Key: header.Producer, Value: []byte("test-producer")},
		{Key: header.Seq, Value: []byte(strconv.FormatInt(s.Seq, 10))},
	}}
}

// codecFor binds the keyed variant of Step to the same schema.
func (f *fixture) codecFor() *schema.Codec[keyedStep] {
	f.t.Helper()
	c, err := schema.NewCodec[keyedStep](stepSchema)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// committed returns the group's committed offsets of the topic.
func (f *fixture) committed(group string) map[int32]int64 {
	f.t.Helper()
	resp, err := f.adm.FetchOffsets(context.Background(), group)
	out := make(map[int32]int64)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return out // the group has not committed yet
	}
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic == f.topic {
			out[o.Partition] = o.At
		}
	})
	return out
}

func (f *fixture) consumer(group string, h Handler[Step], opts ...Option) *Consumer {
	f.t.Helper()
	base := []Option{
		Brokers(f.cluster.Brokers()...), Group(group), Topics(f.topic), Registry(f.reg),
		On(f.codec, h), CommitInterval(100 * time.Millisecond),
		WithLogger(slog.New(slog.DiscardHandler)), GroupProtocol(f.protocol),
	}
	c, err := New(append(base, opts...)...)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// recorder is a handler that records what it saw and checks per-key
// exclusivity: two lanes must never run one key at once.
type recorder struct {
	mu       sync.Mutex
	seqs     map[string][]int64       // per key, in handling order
	finished map[int32]map[int64]bool // per partition, offsets whose handler returned nil
	handled  map[string]map[int64]int // per key and seq, times handled
	active   map[string]bool
	overlaps int
	cur, max int
	delay    func() time.Duration
}

func newRecorder(delay func() time.Duration) *recorder {
	return &recorder{
		seqs: make(map[string][]int64), finished: make(map[int32]map[int64]bool),
		handled: make(map[string]map[int64]int), active: make(map[string]bool), delay: delay,
	}
}

func (r *recorder) handle(ctx context.Context, s Step, m Meta) error {
	r.mu.Lock()
	if r.active[s.Key] {
		r.overlaps++
	}
	r.active[s.Key] = true
	r.cur++
	r.max = max(r.max, r.cur)
	r.mu.Unlock()
	if r.delay != nil {
		select {
		case <-time.After(r.delay()):
		case <-ctx.Done():
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active[s.Key] = false
	r.cur--
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.seqs[s.Key] = append(r.seqs[s.Key], s.Seq)
	if r.handled[s.Key] == nil {
		r.handled[s.Key] = make(map[int64]int)
	}
	r.handled[s.Key][s.Seq]++
	if r.finished[m.Partition] == nil {
		r.finished[m.Partition] = make(map[int64]bool)
	}
	r.finished[m.Partition][m.Offset] = true
	return nil
}

// distinct is the number of different records handled.
func (r *recorder) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, seqs := range r.handled {
		n += len(seqs)
	}
	return n
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runConsumer runs c in the background and returns a function that waits
// for Run's result.
func runConsumer(t testing.TB, c *Consumer) func() error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	return func() error {
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return")
			return nil
		}
	}
}

// forEachProtocol runs a group test under each group protocol: the
// promises (no loss, per-key order, bounded redelivery) hold under both.
func forEachProtocol(t *testing.T, test func(t *testing.T, p Protocol)) {
	for _, p := range []Protocol{ClassicProtocol, ConsumerProtocol} {
		t.Run(p.String(), func(t *testing.T) { test(t, p) })
	}
}
