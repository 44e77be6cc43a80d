package peers

import (
	"context"
	"flag"
	"sync"
	"testing"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	wkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Watermill has no Avro of its own: a Watermill user encodes the payload
// with the codec they would write anyway, here ordo's schema.Codec
// (hamba/avro/v2 and the Confluent framing), and decodes it the same way.

// keyMeta is the metadata entry the partitioning marshaler keys by.
const keyMeta = "partition_key"

// watermillPublishers is how many goroutines publish at once.
// watermill-kafka's Publisher is a Sarama SyncProducer that sends one
// message and waits for its acknowledgement, so one goroutine gets one
// record per round trip; concurrent callers are what lets Sarama batch.
// The default is near Watermill's best on two cores (16 publishers reach
// about a quarter of it, 5000 no more than 1000), in the peer's favour,
// and comparable with the 10,000 records ordo's producer buffers. Each
// goroutine owns the keys congruent to it, so a key's records are still
// published in order; the count must divide the 10,000 keys.
var watermillPublishers = flag.Int("watermill.publishers", 1000,
	"goroutines publishing at once through watermill-kafka (a divisor of 10000)")

// watermillPublish publishes records 0..n-1 through watermill-kafka's
// Publisher (Watermill's default Sarama configuration, acks raised to all
// as ordo's), keyed by the record's key, and returns when all are
// acknowledged.
func watermillPublish(tb testing.TB, e *env, topic string, n int, m *meter) {
	tb.Helper()
	workers := *watermillPublishers
	if workers <= 0 || numKeys%workers != 0 {
		tb.Fatalf("-watermill.publishers %d does not divide %d keys", workers, numKeys)
	}
	id := e.register(tb, topic)
	cfg := wkafka.DefaultSaramaSyncPublisherConfig()
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	pub, err := wkafka.NewPublisher(wkafka.PublisherConfig{
		Brokers: e.cluster.Brokers(),
		Marshaler: wkafka.NewWithPartitioningMarshaler(func(_ string, msg *message.Message) (string, error) {
			return msg.Metadata.Get(keyMeta), nil
		}),
		OverwriteSaramaConfig: cfg,
	}, watermill.NopLogger{})
	if err != nil {
		tb.Fatal(err)
	}
	defer pub.Close()
	m.begin()
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				rec := record(i)
				v, err := e.codec.AppendFramed(nil, id, &rec)
				if err != nil {
					errs <- err
					return
				}
				msg := message.NewMessage(watermill.NewUUID(), v)
				msg.Metadata.Set(keyMeta, rec.Key)
				if err := pub.Publish(topic, msg); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	m.finish()
	close(errs)
	if err := <-errs; err != nil {
		tb.Fatal(err)
	}
}

// watermillConsume reads topic from the start in group through
// watermill-kafka's Subscriber (Watermill's default Sarama configuration,
// starting at the oldest offset), each message unframed, decoded and
// acknowledged. The Subscriber hands a partition's next message only once
// the previous one is acknowledged, so one reader per partition serves
// them, as Watermill's router would.
func watermillConsume(tb testing.TB, e *env, topic, group string, m *meter) {
	tb.Helper()
	id := e.register(tb, topic)
	cfg := wkafka.DefaultSaramaSubscriberConfig()
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	m.begin()
	sub, err := wkafka.NewSubscriber(wkafka.SubscriberConfig{
		Brokers:               e.cluster.Brokers(),
		Unmarshaler:           wkafka.DefaultMarshaler{},
		OverwriteSaramaConfig: cfg,
		ConsumerGroup:         group,
	}, watermill.NopLogger{})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	failed := make(chan error, numPartitions)
	var wg sync.WaitGroup
	for range numPartitions {
		wg.Go(func() {
			for msg := range msgs {
				p, err := decodeFramed(e.codec, id, msg.Payload)
				if err != nil {
					failed <- err
					msg.Nack()
					return
				}
				m.seen(&p)
				msg.Ack()
			}
		})
	}
	defer func() {
		cancel()
		sub.Close()
		wg.Wait()
	}()
	m.wait(tb, failed)
}
