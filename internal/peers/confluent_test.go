package peers

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/avrov2"
)

// confluent-kafka-go wraps librdkafka through cgo; its Avro serde
// (avrov2) is built on hamba/avro/v2, as ordo's codec is, and talks to
// the registry for the schema's ID.

// confluentConfig is the client configuration both confluent sides share.
// log_level 3 keeps librdkafka's stderr to errors.
func confluentConfig(e *env) kafka.ConfigMap {
	return kafka.ConfigMap{
		"bootstrap.servers": strings.Join(e.cluster.Brokers(), ","),
		"log_level":         3,
	}
}

func confluentRegistry(tb testing.TB, e *env) schemaregistry.Client {
	tb.Helper()
	sr, err := schemaregistry.NewClient(schemaregistry.NewConfig(e.cluster.RegistryURL()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sr.Close() })
	return sr
}

// confluentPublish publishes records 0..n-1 through kafka.Producer, each
// value made by the avrov2 serializer (auto-registering the schema on the
// first record, as its defaults do), and returns when all are delivered.
// Configured as ordo is for safety (idempotent, acks all, murmur2 keys);
// delivery reports carry no copy of key and value back (a documented
// knob in the peer's favour).
func confluentPublish(tb testing.TB, e *env, topic string, n int, m *meter) {
	tb.Helper()
	ser, err := avrov2.NewSerializer(confluentRegistry(tb, e), serde.ValueSerde, avrov2.NewSerializerConfig())
	if err != nil {
		tb.Fatal(err)
	}
	cfg := confluentConfig(e)
	for k, v := range map[string]kafka.ConfigValue{
		"enable.idempotence":        true,
		"acks":                      "all",
		"partitioner":               "murmur2_random",
		"go.delivery.report.fields": "none",
	} {
		cfg[k] = v
	}
	p, err := kafka.NewProducer(&cfg)
	if err != nil {
		tb.Fatal(err)
	}
	delivered := make(chan error, 1)
	var acked atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() { confluentDeliveries(p.Events(), int64(n), &acked, delivered) })
	defer func() { p.Close(); wg.Wait() }()
	m.begin()
	for i := range n {
		rec := record(i)
		v, err := ser.Serialize(topic, &rec)
		if err != nil {
			tb.Fatal(err)
		}
		msg := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
			Key: []byte(rec.Key), Value: v}
		for {
			err := p.Produce(msg, nil)
			var kerr kafka.Error
			if errors.As(err, &kerr) && kerr.Code() == kafka.ErrQueueFull {
				p.Flush(1) // librdkafka's buffer is full: let deliveries drain
				continue
			}
			if err != nil {
				tb.Fatal(err)
			}
			break
		}
	}
	if err := <-delivered; err != nil {
		tb.Fatal(err)
	}
	m.finish()
}

// confluentDeliveries reads the producer's events until n records are
// delivered, then reports nil; the first failed delivery or fatal error is
// reported instead. It keeps draining until the channel closes.
func confluentDeliveries(events chan kafka.Event, n int64, acked *atomic.Int64, out chan<- error) {
	report := func(err error) {
		select {
		case out <- err:
		default:
		}
	}
	for ev := range events {
		switch ev := ev.(type) {
		case *kafka.Message:
			if ev.TopicPartition.Error != nil {
				report(fmt.Errorf("confluent: delivery: %w", ev.TopicPartition.Error))
			} else if acked.Add(1) == n {
				report(nil)
			}
		case kafka.Error:
			if ev.IsFatal() {
				report(fmt.Errorf("confluent: %w", ev))
			}
		}
	}
}

// confluentConsume reads topic from the start in group with a
// kafka.Consumer (auto commit, its defaults), polling one event at a time
// and decoding each value with the avrov2 deserializer.
func confluentConsume(tb testing.TB, e *env, topic, group string, m *meter) {
	tb.Helper()
	des, err := avrov2.NewDeserializer(confluentRegistry(tb, e), serde.ValueSerde, avrov2.NewDeserializerConfig())
	if err != nil {
		tb.Fatal(err)
	}
	cfg := confluentConfig(e)
	cfg["group.id"] = group
	cfg["auto.offset.reset"] = "earliest"
	m.begin()
	c, err := kafka.NewConsumer(&cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.Subscribe(topic, nil); err != nil {
		tb.Fatal(err)
	}
	stop := make(chan struct{})
	failed := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() { failed <- confluentPoll(c, des, topic, m, stop) })
	defer func() {
		close(stop)
		wg.Wait()
		c.Close()
	}()
	m.wait(tb, failed)
}

func confluentPoll(c *kafka.Consumer, des *avrov2.Deserializer, topic string, m *meter, stop <-chan struct{}) error {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		switch ev := c.Poll(100).(type) {
		case *kafka.Message:
			var p Payload
			if err := des.DeserializeInto(topic, ev.Value, &p); err != nil {
				return fmt.Errorf("confluent: deserialize %v: %w", ev.TopicPartition, err)
			}
			m.seen(&p)
		case kafka.Error:
			if ev.IsFatal() {
				return fmt.Errorf("confluent: %w", ev)
			}
		}
	}
}
