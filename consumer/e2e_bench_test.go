package consumer

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/schema"
)

// PartitionKey makes Payload an ordered event for the end-to-end
// benchmark's publisher.
func (p Payload) PartitionKey() string { return p.Key }

// BenchmarkEndToEnd: records published and consumed in one process on one
// broker, from the first publish to the last record handled, with the
// consumer already in its group. raw is franz-go on both sides: a producer
// framing the Avro body and writing ordo's headers by hand (type, id,
// producer, per-key seq, partitions), and a poll loop reading the seq
// header, unframing and decoding each record. ordo is producer.Publisher's
// PublishAsync and a consumer with its defaults. Both publish the same
// ~100-byte events over 10,000 keys on 6 partitions. Run with
// -benchtime Nx: each iteration is one record; .ci/bench.sh reports the
// ratio of the e2e-rec/s metrics.
func BenchmarkEndToEnd(b *testing.B) {
	b.Run("raw", func(b *testing.B) { benchE2E(b, rawE2E) })
	b.Run("ordo", func(b *testing.B) { benchE2E(b, ordoE2E) })
}

// e2eSide starts a side's consumer, returning once it holds its
// partitions, and a function that publishes evs.
type e2eSide func(b *testing.B, f *benchFixture, seen func()) (publish func([]Payload), stop func())

func benchE2E(b *testing.B, side e2eSide) {
	f := newBenchFixture(b, 0)
	body := strings.Repeat("x", 64)
	evs := make([]Payload, b.N)
	for i := range evs {
		k := i % benchKeys
		evs[i] = Payload{Key: "key-" + strconv.Itoa(k), Seq: int64(i/benchKeys + 1), Body: body}
	}
	var n atomic.Int64
	done := make(chan struct{})
	publish, stop := side(b, f, func() {
		if n.Add(1) == int64(b.N) {
			close(done)
		}
	})
	defer stop()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	publish(evs)
	<-done
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "e2e-rec/s")
	b.StopTimer()
}

func rawE2E(b *testing.B, f *benchFixture, seen func()) (func([]Payload), func()) {
	assigned := make(chan struct{})
	var once sync.Once
	cons, err := kgo.NewClient(kgo.SeedBrokers(f.cluster.Brokers()...), kgo.ConsumerGroup("raw-e2e"),
		kgo.ConsumeTopics(f.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AutoCommitMarks(),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { once.Do(func() { close(assigned) }) }))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		var seqSum uint64
		for ctx.Err() == nil {
			fs := cons.PollFetches(ctx)
			fs.EachRecord(func(rec *kgo.Record) {
				for _, h := range rec.Headers {
					if h.Key == header.Seq {
						seqSum += parseSeq(h.Value)
					}
				}
				_, body, err := schema.Unframe(rec.Value)
				var p Payload
				if err == nil {
					err = f.codec.Decode(body, &p)
				}
				if err != nil {
					b.Error(err)
				}
				seen()
			})
			cons.MarkCommitRecords(fs.Records()...)
		}
	}()
	<-assigned
	prod, err := kgo.NewClient(kgo.SeedBrokers(f.cluster.Brokers()...), kgo.ProducerLinger(0),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		b.Fatal(err)
	}
	publish := func(evs []Payload) {
		typ, producerID := []byte(f.codec.Name()), []byte(uuid.NewString())
		parts := []byte(strconv.Itoa(benchPartitions))
		seqs := make(map[string]uint64)
		var wg sync.WaitGroup
		done := func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
			wg.Done()
		}
		for i := range evs {
			ev := &evs[i]
			v, err := f.codec.AppendFramed(nil, f.id, ev)
			if err != nil {
				b.Fatal(err)
			}
			seqs[ev.Key]++
			wg.Add(1)
			prod.Produce(context.Background(), &kgo.Record{Topic: f.topic, Key: []byte(ev.Key), Value: v, Headers: []kgo.RecordHeader{
				{Key: header.Type, Value: typ},
				{Key: header.ID, Value: []byte(uuid.Must(uuid.NewV7()).String())},
				{Key: header.Producer, Value: producerID},
				{Key: header.Partitions, Value: parts},
				{Key: header.Seq, Value: strconv.AppendUint(nil, seqs[ev.Key], 10)},
			}}, done)
		}
		wg.Wait()
	}
	return publish, func() {
		prod.Close()
		cancel()
		<-polled
		cons.Close()
	}
}

func ordoE2E(b *testing.B, f *benchFixture, seen func()) (func([]Payload), func()) {
	assigned := make(chan struct{})
	var once sync.Once
	c, err := New(Brokers(f.cluster.Brokers()...), Group("ordo-e2e"), Topics(f.topic), Registry(f.reg),
		WithLogger(quiet), OnAssigned(func(context.Context, map[string][]int32) { once.Do(func() { close(assigned) }) }),
		On(f.codec, func(_ context.Context, _ Payload, _ Meta) error {
			seen()
			return nil
		}))
	if err != nil {
		b.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- c.Run(context.Background()) }()
	<-assigned
	p, err := producer.New(producer.Brokers(f.cluster.Brokers()...), producer.Registry(f.reg), producer.WithLogger(quiet),
		producer.Subjects(schema.RecordName)) // the fixture registered Step under the topic's subject
	if err != nil {
		b.Fatal(err)
	}
	pub, err := producer.NewPublisher(context.Background(), p, f.topic, f.codec)
	if err != nil {
		b.Fatal(err)
	}
	publish := func(evs []Payload) {
		var wg sync.WaitGroup
		done := func(_ producer.Result, err error) {
			if err != nil {
				b.Error(err)
			}
			wg.Done()
		}
		for i := range evs {
			wg.Add(1)
			if err := pub.PublishAsync(context.Background(), evs[i], done); err != nil {
				b.Fatal(err)
			}
		}
		wg.Wait()
	}
	return publish, func() {
		p.Close()
		c.Close()
		if err := <-ran; err != nil {
			b.Error(err)
		}
	}
}
