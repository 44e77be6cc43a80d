// Package peers measures ordo against the SDKs a service would pick instead
// of it, on the same in-process broker and the same records: the
// confluent-kafka-go client (librdkafka, through cgo) with its Avro serde,
// and Watermill with watermill-kafka (Sarama underneath).
//
// It is a module of its own so that ordo's go.mod never requires the
// peers; DESIGN.md's budget is that ordo stays at least 3× both, on
// publish and on consume.
//
// # What is compared
//
// Every side works on the same records: a ~100-byte Avro body (key, seq
// and a 64-byte string) over 10,000 keys, framed in the Confluent wire
// format, on a topic of 6 partitions of a one-broker kfake cluster with an
// srfake registry, both in the process (internal/embedded).
//
//   - Publish: ordo's producer.Publisher.PublishAsync; confluent-kafka-go's
//     kafka.Producer fed by its avrov2 serializer (auto-registering the
//     schema in srfake); watermill-kafka's Publisher fed by ordo's
//     schema.Codec (hamba/avro/v2, the codec a Watermill user would write).
//     Each run publishes N records and ends when the broker has
//     acknowledged all of them.
//   - Consume: a topic pre-filled by ordo's producer with N records (with
//     ordo's headers) is read from the start, in a group of its own, by
//     ordo's consumer with a typed handler; by a confluent-kafka-go
//     consumer polling and decoding with its avrov2 deserializer; by
//     watermill-kafka's Subscriber, each message unframed, decoded with the
//     codec and acknowledged. Two rates: steady-rec/s from the record at
//     N/4 to the last (the group join and the first fetches left out) and
//     join-rec/s from the start of the consumer.
//
// Every side keeps ordo's guarantees where its client can (acks from all
// replicas; the confluent producer idempotent and placing keys with
// murmur2) and all three join their groups with the classic protocol,
// ordo's default. Beyond that each peer is set up in its own favour, so
// that a ratio is a lower bound on ordo's lead:
//
//   - confluent-kafka-go's serializer gets the schema from a Schema method
//     on the event rather than by reflection on every record, and its
//     delivery reports carry no copies of key and value;
//   - watermill-kafka publishes from 1000 goroutines (-watermill.publishers;
//     its Publisher waits for each message's acknowledgement, and 16
//     goroutines reach about a quarter of that rate), and consumes through
//     Subscribe with one reader per partition, without the router and its
//     middleware;
//   - a run's clock stops at the last record decoded or acknowledged, not
//     after the client closes (librdkafka's close waits out a fetch parked
//     at the broker).
//
// # Running
//
// .ci/bench-peers.sh [rounds] [records] builds the benchmarks once and runs
// each side in its own process, interleaved with rotating order, and
// prints each ratio ordo/peer as median and range. TestRoundTrip, part of
// the hermetic suite, makes every side's benchmark path carry a few
// records through the embedded broker, so the benchmark code cannot rot.
package peers
