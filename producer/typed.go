package producer

import (
	"context"

	"github.com/ordo-go/ordo/partition"
	"github.com/ordo-go/ordo/schema"
)

// Publisher publishes events of type T to one topic, in order per key:
// every event goes to the partition of its PartitionKey (murmur2, as every
// Kafka client computes it) and carries the ordo-type, ordo-id,
// ordo-producer and ordo-seq headers. Events of one key published one after
// another (not concurrently) are written in that order, with sequences 1,
// 2, 3, ... per (topic, key), across every publisher of the producer.
//
// T must implement [partition.Keyed], so an event type without a key does
// not compile; events that need no order use [UnorderedPublisher].
//
// A Publisher is safe for concurrent use. It has no resources of its own:
// closing its [Producer] closes it.
type Publisher[T partition.Keyed] struct {
	e encoder[T]
}

// NewPublisher first checks that topic exists on the cluster and refuses
// one that does not with an error wrapping [ErrUnknownTopic], so a
// misspelt topic is found at start ([AllowMissingTopic] accepts a topic
// created later). It then registers codec's schema for topic under p's subject
// strategy (see [Subjects]) and returns a publisher for it; opts override
// the producer's [Registration] mode (a schema looked up rather than
// registered, or the subject's latest version used). Registering now
// means a breaking schema change, or a second event type on a topic under
// the TopicName strategy, is refused here rather than at the first
// publish.
//
// NewPublisher also reads the partition count stamped (ordo-partitions) on
// the newest stamped record of up to 64 of the topic's partitions, reading
// back past records without the header (other producers, unordered
// publishers) up to 1,000 records and 32 MiB: if it differs from the
// topic's count now, partitions were added since ordo last wrote there
// and the producer treats it as a change seen while running (see
// [OnPartitionCountChange]). When no stamp is found that far back, the
// count cannot be known and a warning says so (see
// [OnPartitionCountChange]); a topic that does not exist yet has nothing
// to read. ctx bounds the registry calls and the read, which gives up
// after 10 s and needs the cluster reachable.
//
// Errors wrap [ErrInvalidConfig] (nil producer or codec, empty topic, a
// nil or bad option), [ErrClosed], [ErrUnknownTopic], a *schema.ModeError (the mode refused:
// which, under which subject and why), schema.ErrIncompatible (the message says which subject and,
// under TopicName, what to do), the registry's errors, or the cluster's
// errors from reading the stamped count.
func NewPublisher[T partition.Keyed](ctx context.Context, p *Producer, topic string, codec *schema.Codec[T], opts ...PublisherOption) (*Publisher[T], error) {
	e, err := newEncoder(ctx, p, topic, codec, true, opts)
	if err != nil {
		return nil, err
	}
	return &Publisher[T]{e: e}, nil
}

// Topic returns the topic the publisher writes to ("" for a nil publisher).
func (pub *Publisher[T]) Topic() string {
	if pub == nil {
		return ""
	}
	return pub.e.topic
}

// SchemaID returns the registry ID of the schema the publisher frames
// events with (0 for a nil publisher).
func (pub *Publisher[T]) SchemaID() int {
	if pub == nil {
		return 0
	}
	return pub.e.id
}

// enc returns the publisher's encoder, nil for a nil publisher (whose
// methods then fail with an error wrapping [ErrInvalidConfig]).
func (pub *Publisher[T]) enc() *encoder[T] {
	if pub == nil {
		return nil
	}
	return &pub.e
}

// Publish publishes ev and waits until Kafka acknowledges it. It blocks
// while the producer's buffer is full ([MaxBufferedRecords],
// [MaxBufferedBytes]). opts add headers ([Header]) or set
// the event's timestamp ([Timestamp]); a bad option refuses the event.
//
// Publish does not wait for a batch to fill: with the default [Linger] of
// 0 the event is sent as soon as a produce request can carry it, so a
// request-path service pays one round trip to the brokers, not a batching
// delay. A producer given a Linger of d makes every Publish wait up to d
// longer (see [Linger]).
//
// Cancelling ctx stops waiting; the record may still be written. Before
// the event is handed to Kafka nothing is written; after, Publish returns
// a [*PublishError] wrapping ctx's error while the client goes on
// delivering the event (its ordo-id lets a consumer drop the duplicate if
// the caller publishes it again). ctx bounds this caller's wait only: it
// never fails another caller's event, and the event's own delivery is
// bounded by [DeliveryTimeout]: once the event is handed over, Publish
// returns within DeliveryTimeout + [DeliverySlack] whatever the brokers
// do, with [ErrDeliveryTimeout] if Kafka did not acknowledge it (the
// event may or may not have been written).
//
// Errors are a [*PublishError] wrapping the cause: partition.ErrNoKey for
// an empty key, [ErrReservedHeader] or [ErrInvalidOption] for a bad
// option, a schema error, [ErrClosed], a [*partition.CountChangedError],
// a broker error, ctx's error.
func (pub *Publisher[T]) Publish(ctx context.Context, ev T, opts ...PublishOption) (Result, error) {
	return pub.enc().publish(ctx, ev, ev.PartitionKey(), opts)
}

// PublishAsync hands ev to the producer and returns; done is called exactly
// once with the outcome, unless PublishAsync returns an error (an empty key,
// a bad option, an encoding error, [ErrClosed], ctx's error), in which case
// it is never called. It blocks while the producer's buffer is full;
// cancelling ctx ends that wait and nothing more (see [Publisher.Publish]).
// opts are as for Publish.
//
// done runs on the producer's delivery goroutine, one callback at a time:
// it must be quick and must not block on the producer (no Publish,
// PublishAsync, PublishAll, PublishBatch, Flush, Shutdown or Close;
// TryPublishAsync is allowed). done must not be nil.
func (pub *Publisher[T]) PublishAsync(ctx context.Context, ev T, done func(Result, error), opts ...PublishOption) error {
	return pub.enc().async(ctx, ev, ev.PartitionKey(), done, true, opts)
}

// TryPublishAsync is [Publisher.PublishAsync] without the wait: when the
// buffer is full it returns a [*PublishError] wrapping [ErrBufferFull] at
// once, and done is not called.
func (pub *Publisher[T]) TryPublishAsync(ctx context.Context, ev T, done func(Result, error), opts ...PublishOption) error {
	return pub.enc().async(ctx, ev, ev.PartitionKey(), done, false, opts)
}

// PublishAll publishes evs, in order, and waits until Kafka has answered
// for all of them (or ctx ends, see [Publisher.Publish]). Every event is
// checked and encoded first: if one has an empty key or does not encode,
// nothing is published and the error names its index. Otherwise the
// results are in the order of evs, and the error joins one error per
// failed event, each prefixed with its index ("event 3: ..."); errors.Is
// and errors.As see through the join. For per-event options use
// [Publisher.PublishBatch].
func (pub *Publisher[T]) PublishAll(ctx context.Context, evs ...T) ([]Result, error) {
	return pub.enc().all(ctx, len(evs), func(i int) (*T, []PublishOption) { return &evs[i], nil }, keyOf[T])
}

// PublishBatch is [Publisher.PublishAll] for events with options of their
// own (headers, a timestamp; see [Message]): each message's Options apply
// to its Event alone. A message with a bad option refuses the whole batch
// before anything is published, as an event that does not encode does.
func (pub *Publisher[T]) PublishBatch(ctx context.Context, msgs []Message[T]) ([]Result, error) {
	return pub.enc().all(ctx, len(msgs), func(i int) (*T, []PublishOption) { return &msgs[i].Event, msgs[i].Options }, keyOf[T])
}

func keyOf[T partition.Keyed](ev *T) string { return (*ev).PartitionKey() }

// UnorderedPublisher publishes events of type T to one topic with no key:
// Kafka spreads them over partitions and their order is not kept. It is
// the explicit opt-out from per-key order, for events that truly need none
// (metrics samples, audit noise). Records carry the ordo-type, ordo-id and
// ordo-producer headers but no ordo-seq.
//
// Its methods behave as [Publisher]'s. An UnorderedPublisher is safe for
// concurrent use.
type UnorderedPublisher[T any] struct {
	e encoder[T]
}

// NewUnorderedPublisher is [NewPublisher] for an [UnorderedPublisher].
func NewUnorderedPublisher[T any](ctx context.Context, p *Producer, topic string, codec *schema.Codec[T], opts ...PublisherOption) (*UnorderedPublisher[T], error) {
	e, err := newEncoder(ctx, p, topic, codec, false, opts)
	if err != nil {
		return nil, err
	}
	return &UnorderedPublisher[T]{e: e}, nil
}

// Topic returns the topic the publisher writes to ("" for a nil publisher).
func (pub *UnorderedPublisher[T]) Topic() string {
	if pub == nil {
		return ""
	}
	return pub.e.topic
}

// SchemaID returns the registry ID of the schema the publisher frames
// events with (0 for a nil publisher).
func (pub *UnorderedPublisher[T]) SchemaID() int {
	if pub == nil {
		return 0
	}
	return pub.e.id
}

// enc returns the publisher's encoder, nil for a nil publisher (whose
// methods then fail with an error wrapping [ErrInvalidConfig]).
func (pub *UnorderedPublisher[T]) enc() *encoder[T] {
	if pub == nil {
		return nil
	}
	return &pub.e
}

// Publish is [Publisher.Publish] without a key.
func (pub *UnorderedPublisher[T]) Publish(ctx context.Context, ev T, opts ...PublishOption) (Result, error) {
	return pub.enc().publish(ctx, ev, "", opts)
}

// PublishAsync is [Publisher.PublishAsync] without a key.
func (pub *UnorderedPublisher[T]) PublishAsync(ctx context.Context, ev T, done func(Result, error), opts ...PublishOption) error {
	return pub.enc().async(ctx, ev, "", done, true, opts)
}

// TryPublishAsync is [Publisher.TryPublishAsync] without a key.
func (pub *UnorderedPublisher[T]) TryPublishAsync(ctx context.Context, ev T, done func(Result, error), opts ...PublishOption) error {
	return pub.enc().async(ctx, ev, "", done, false, opts)
}

// PublishAll is [Publisher.PublishAll] without keys.
func (pub *UnorderedPublisher[T]) PublishAll(ctx context.Context, evs ...T) ([]Result, error) {
	return pub.enc().all(ctx, len(evs), func(i int) (*T, []PublishOption) { return &evs[i], nil }, nil)
}

// PublishBatch is [Publisher.PublishBatch] without keys.
func (pub *UnorderedPublisher[T]) PublishBatch(ctx context.Context, msgs []Message[T]) ([]Result, error) {
	return pub.enc().all(ctx, len(msgs), func(i int) (*T, []PublishOption) { return &msgs[i].Event, msgs[i].Options }, nil)
}
