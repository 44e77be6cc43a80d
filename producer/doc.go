// Package producer publishes typed, keyed events to Kafka: each event a Go
// value bound to an Avro schema, framed in the Confluent wire format, on the
// partition its key maps to, with headers that let consumers check order.
//
// # Producer and publishers
//
// [New] builds a [Producer]: one franz-go client plus the producer's shared
// state (buffer bound, per-key sequences, partition-count guard). A
// [Publisher] publishes one event type to one topic:
//
//	p, err := producer.New(producer.Brokers("127.0.0.1:9092"), producer.Registry(reg))
//	...
//	defer p.Close()
//	created, err := schema.NewCodec[OrderCreated](orderCreatedAvsc)
//	...
//	pub, err := producer.NewPublisher(ctx, p, "orders", created)
//	...
//	res, err := pub.Publish(ctx, OrderCreated{OrderID: "o-1", Amount: 42})
//
// [NewPublisher] registers the schema at once, so a type that cannot cross
// the wire or a breaking schema change fails there, not at the first
// publish.
//
// # Order
//
// An event type must implement partition.Keyed: [NewPublisher] does not
// compile for a type without PartitionKey, and an empty key is refused with
// partition.ErrNoKey. Keys are placed with murmur2, as the Java client and
// librdkafka place them. The client is idempotent and waits for all
// in-sync replicas (acks=all), so retries neither reorder nor duplicate a
// partition's records. Events that need no order opt out by name with
// [NewUnorderedPublisher].
//
// Adding partitions to a topic moves keys. The producer notices a changed
// count at its next metadata refresh (at most [DefaultMetadataMaxAge] later)
// and, by default, refuses keyed records for the topic with a
// *partition.CountChangedError until [Producer.AcceptPartitionCount]; see
// [OnPartitionCountChange].
//
// The count is durable in the topic itself, so the guard holds across
// restarts: every keyed record carries ordo-partitions, the decimal
// partition count it was placed under, and [NewPublisher] reads it from
// the topic's newest stamped records, reading back past records without
// the header (other producers, unkeyed events) up to 1,000 records per
// partition. A producer started after partitions were added finds a
// stamped count that differs from the topic's and refuses (or warns)
// exactly as one that saw the change while running. When no stamp is
// found that far back, the count cannot be known: the producer logs a
// warning and starts from the count now (see [OnPartitionCountChange]).
// Consumers read the same header to notice the change on their side.
//
// # Several event types on one topic
//
// An order's Created, Paid and Shipped events share its key and must stay
// in order, so they share a topic. Under the default subject strategy
// (schema.TopicName, one type per topic) a second type is refused by
// [NewPublisher] with schema.ErrIncompatible; use
// [Subjects](schema.RecordName) or [Subjects](schema.TopicRecordName).
//
// # Headers
//
// Every record carries ordo-type (the event's full Avro name), ordo-id (a
// UUIDv7) and ordo-producer (the [Name]); keyed records also carry
// ordo-seq, the decimal sequence of the event within its (topic, key) for
// this producer instance, shared by all its publishers, and
// ordo-partitions, the topic's partition count the record was placed
// under. A sequence is stamped and the record handed to the client under
// the key's lock, so sequence order is write order.
//
// Callers add headers of their own to an event (a correlation ID, a
// tenant) with [Header], and date it with [Timestamp]: options of
// [Publisher.Publish], [Publisher.PublishAsync] and
// [Publisher.TryPublishAsync], or per event in a [Message] for
// [Publisher.PublishBatch]. A header ordo writes (ordo-*, or one the trace
// propagator writes such as traceparent) is refused with
// [ErrReservedHeader], never silently dropped or shadowed.
//
// # Sync, async and back-pressure
//
// [Publisher.Publish] waits for Kafka's acknowledgement;
// [Publisher.PublishAsync] returns once the client holds the record and
// reports the outcome to a callback, exactly once; [Publisher.PublishAll]
// and [Publisher.PublishBatch] publish a batch and wait for all of it.
// The producer does not linger by default ([Linger]), so a synchronous
// Publish on a request path costs one round trip to the brokers, not a
// batching delay; under load, franz-go batches what accumulates while
// earlier requests are in flight. The producer holds at most
// [MaxBufferedRecords] unacknowledged records and [MaxBufferedBytes] of
// them (an event larger than that goes alone): beyond either, publishing
// blocks until space frees up, ctx ends or the producer closes, and
// [Publisher.TryPublishAsync] fails fast with [ErrBufferFull].
//
// A ctx bounds its caller's wait and nothing else: cancelling ctx stops
// waiting; the record may still be written. Once handed to the client an
// event is delivered or failed on its own terms, so one caller's deadline
// never fails another caller's event batched with it.
//
// # When Kafka cannot be reached
//
// Every event handed to the client is delivered or failed within the
// [DeliveryTimeout] ([DefaultDeliveryTimeout], as the Java client's
// delivery.timeout.ms): brokers down or gone, a broker that stops
// answering, a wrong password or a topic without leaders end in a
// [*PublishError] wrapping [ErrDeliveryTimeout], not an endless wait; a
// synchronous Publish returns it within DeliveryTimeout + [DeliverySlack].
// Such an event may or may not have been written, and publishing it
// again may write it twice (see [ErrDeliveryTimeout] for what the timeout
// costs). Long before that, the logger says why: franz-go's
// warnings and errors ("unable to open connection to broker", a failed
// SASL login) are passed to it ([KgoLogLevel] sets the level).
//
// # Shutting down
//
// [Producer.Shutdown] delivers what is buffered, then closes.
// [Producer.Close] fails what is buffered with [ErrClosed]. After either,
// every call returns [ErrClosed].
//
// # Telemetry
//
// The producer reports through the OpenTelemetry API; until a program
// installs an SDK (or passes providers with [WithTracerProvider],
// [WithMeterProvider] and [WithPropagator]) the global providers are
// no-ops and cost next to nothing.
//
// Every event published is a span named "send <topic>", kind producer, a
// child of the span in the ctx given to Publish, PublishAsync or
// PublishAll. It starts when the event is sent (waiting for buffer space
// included) and ends when Kafka acknowledges or fails it, before the
// caller hears of the outcome. It carries the messaging semantic
// conventions' attributes (messaging.system=kafka,
// messaging.destination.name, messaging.operation.name and .type "send",
// messaging.destination.partition.id, messaging.kafka.offset,
// messaging.message.id = ordo-id, messaging.kafka.message.key (its first
// 128 bytes) unless [RedactKeys]) and ordo.event.type; a failure sets status Error, records
// the error and sets error.type. Samplers see the span's name and kind:
// the attributes are set once a span is sampled, so that a span that is
// not costs no attribute copies. The span's context is written into the
// record's headers by the propagator (traceparent and tracestate with
// propagation.TraceContext), replacing rather than adding headers, so
// the consumer's spans continue the trace. Events refused before they are
// sent (an empty key, an encoding error) have no span.
//
// Metrics: messaging.client.sent.messages counts events handed to Kafka
// once Kafka answers (with error.type on failure); and
// messaging.client.operation.duration measures, in seconds, from the send
// to Kafka's answer (with error.type on failure, including events refused
// before they were handed over: closed, buffer full, ctx ended). Both
// carry messaging.system, messaging.destination.name and
// messaging.operation.name and .type.
//
// Log lines about a record ([WithLogger]) carry its topic, event type and
// key, and trace_id and span_id of its send span.
//
// # Errors
//
// A publish error is a [*PublishError] naming topic and event type; its
// cause is reachable with errors.Is and errors.As: partition.ErrNoKey, a
// *partition.CountChangedError, schema errors, franz-go's kerr errors,
// [ErrClosed], [ErrBufferFull], [ErrDeliveryTimeout], context errors. Configuration errors wrap
// [ErrInvalidConfig].
package producer
