//go:build integration

package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/internal/kafkatest"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/schema"
)

// Step is one step of an entity's life: the seq-th event of its key.
type Step struct {
	Key  string `avro:"key"`
	Seq  int64  `avro:"seq"`
	Note string `avro:"note"`
}

func (s Step) PartitionKey() string { return s.Key }

func stepSchema(name string) string {
	return `{"type":"record","name":"` + name + `","namespace":"ordo.e2e","fields":[
		{"name":"key","type":"string"},{"name":"seq","type":"long"},{"name":"note","type":"string","default":""}]}`
}

// env is one test's broker, registry client and topic.
type env struct {
	t       *testing.T
	cluster *kafkatest.Cluster
	reg     *schema.Registry
	topic   string
}

// newEnv creates a topic named after the test, with the given partitions and
// replication factor, on c.
func newEnv(ctx context.Context, t *testing.T, c *kafkatest.Cluster, partitions int32, rf int16) *env {
	t.Helper()
	topic := fmt.Sprintf("e2e-%s-%d", strings.ReplaceAll(t.Name(), "/", "."), time.Now().UnixNano())
	if _, err := c.Admin(t).CreateTopic(ctx, partitions, rf, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	reg, err := schema.NewRegistry([]string{kafkatest.RegistryURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, cluster: c, reg: reg, topic: topic}
}

func (e *env) producer(opts ...producer.Option) *producer.Producer {
	e.t.Helper()
	p, err := producer.New(append([]producer.Option{producer.Brokers(e.cluster.Brokers()...), producer.Registry(e.reg)}, opts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(p.Close)
	return p
}

func (e *env) codec(name string) *schema.Codec[Step] {
	e.t.Helper()
	c, err := schema.NewCodec[Step](stepSchema(name))
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// publishSteps publishes perKey steps for each of keys keys, interleaved at
// random across keys and in order within each, starting each key at from+1.
// It returns the results.
func publishSteps(ctx context.Context, t *testing.T, pub *producer.Publisher[Step], keys, perKey int, from int64) []producer.Result {
	t.Helper()
	left := make([]int, keys)
	for i := range left {
		left[i] = perKey
	}
	next := make([]int64, keys)
	var evs []Step
	rng := rand.New(rand.NewPCG(uint64(keys), uint64(from)))
	for len(evs) < keys*perKey {
		k := rng.IntN(keys)
		if left[k] == 0 {
			continue
		}
		left[k]--
		next[k]++
		evs = append(evs, Step{Key: fmt.Sprintf("key-%03d", k), Seq: from + next[k]})
	}
	res, err := pub.PublishAll(ctx, evs...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// book is what handlers saw: per key, the seqs in handling order, and
// whether two handlers of one key ever overlapped or one ran ahead.
type book struct {
	mu       sync.Mutex
	seqs     map[string][]int64
	distinct map[string]map[int64]bool
	high     map[string]int64
	active   map[string]bool
	problems []string
}

func newBook() *book {
	return &book{seqs: map[string][]int64{}, distinct: map[string]map[int64]bool{}, high: map[string]int64{}, active: map[string]bool{}}
}

func (b *book) handle(delay time.Duration) consumer.Handler[Step] {
	return func(ctx context.Context, s Step, m consumer.Meta) error {
		b.mu.Lock()
		if b.active[s.Key] {
			b.problems = append(b.problems, fmt.Sprintf("key %s handled twice at once", s.Key))
		}
		b.active[s.Key] = true
		b.mu.Unlock()
		if delay > 0 {
			time.Sleep(rand.N(delay))
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		b.active[s.Key] = false
		if s.Seq > b.high[s.Key]+1 {
			b.problems = append(b.problems, fmt.Sprintf("key %s: seq %d handled before %d", s.Key, s.Seq, b.high[s.Key]+1))
		}
		b.high[s.Key] = max(b.high[s.Key], s.Seq)
		b.seqs[s.Key] = append(b.seqs[s.Key], s.Seq)
		if b.distinct[s.Key] == nil {
			b.distinct[s.Key] = map[int64]bool{}
		}
		b.distinct[s.Key][s.Seq] = true
		return nil
	}
}

func (b *book) count() (distinct, total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, d := range b.distinct {
		distinct += len(d)
		total += len(b.seqs[k])
	}
	return distinct, total
}

// check fails the test on any order problem, and on a key whose steps
// 1..want are not all handled.
func (b *book) check(t *testing.T, keys int, want int64) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.problems) > 0 {
		t.Fatalf("%d order problems, first: %s", len(b.problems), b.problems[0])
	}
	if len(b.distinct) != keys {
		t.Fatalf("%d keys handled, want %d", len(b.distinct), keys)
	}
	for k, d := range b.distinct {
		for s := int64(1); s <= want; s++ {
			if !d[s] {
				t.Fatalf("key %s: seq %d never handled (lost)", k, s)
			}
		}
	}
}

func (e *env) consumer(group string, opts ...consumer.Option) *consumer.Consumer {
	e.t.Helper()
	base := []consumer.Option{
		consumer.Brokers(e.cluster.Brokers()...), consumer.Group(group), consumer.Topics(e.topic),
		consumer.Registry(e.reg), consumer.CommitInterval(200 * time.Millisecond),
		consumer.WithLogger(slog.New(slog.DiscardHandler)),
	}
	c, err := consumer.New(append(base, opts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// run runs c until the test ends, and returns a function that closes it and
// returns Run's result.
func run(t *testing.T, c *consumer.Consumer) func() error {
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			c.Close()
			select {
			case err = <-done:
			case <-time.After(time.Minute):
				t.Error("Run did not return within a minute of Close")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
