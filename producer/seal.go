package producer

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/partition"
)

// Sealed is one event framed exactly as a [Publisher] frames it, but not
// sent: what a transactional outbox stores in the caller's database
// transaction, and what [Producer.PublishSealed] later sends. Its fields
// are plain data, so a store can write them to a row and read them back.
//
// Headers holds ordo-type, ordo-id, the trace context of the span that
// sealed the event (traceparent, tracestate, or whatever the producer's
// propagator writes) and the caller's [Header] options, in that order.
// The headers that depend on who sends the event and when are added by
// [Producer.PublishSealed]: ordo-producer, ordo-partitions and, for keyed
// events, ordo-seq.
type Sealed struct {
	Topic string
	// Partition is the partition the key maps to (murmur2, as the
	// Publisher places it) under the topic's partition count when sealed;
	// -1 for an event without a key. Stores use it to split the work of
	// several relays without splitting a key. The record is placed again
	// when it is published, by the same partitioner and guard as every
	// keyed record (see [OnPartitionCountChange]).
	Partition int32
	Key       []byte // nil for an event without a key
	Value     []byte // the Confluent wire frame: magic byte, schema ID, Avro body
	Headers   []kgo.RecordHeader
	EventID   string // the ordo-id header: a UUIDv7
	// Timestamp is the caller's [Timestamp] option, zero if none: the
	// record's timestamp is then the time it is published, as for a
	// Publisher, so that the [DeliveryTimeout] (counted from a record's
	// timestamp) does not run while the event waits in the outbox.
	Timestamp time.Time
}

// Seal encodes ev and frames it as [Publisher.Publish] would, with a new
// event ID and the trace context of ctx's span, without sending it: see
// [Sealed]. The schema is the publisher's, registered and gated when the
// publisher was made. opts are as for Publish.
//
// Seal needs the topic's partition count to fill in [Sealed].Partition:
// the count the producer's guard holds, or, before the producer has one,
// the topic's metadata (one request; ctx bounds it). A topic that does not
// exist yet is refused: create it before sealing events for it.
//
// Errors are a [*PublishError] wrapping the cause, as for Publish.
// Seal is safe for concurrent use.
func (pub *Publisher[T]) Seal(ctx context.Context, ev T, opts ...PublishOption) (Sealed, error) {
	return pub.enc().seal(ctx, ev, ev.PartitionKey(), opts)
}

// Seal is [Publisher.Seal] without a key: [Sealed].Partition is -1.
func (pub *UnorderedPublisher[T]) Seal(ctx context.Context, ev T, opts ...PublishOption) (Sealed, error) {
	return pub.enc().seal(ctx, ev, "", opts)
}

func (e *encoder[T]) seal(ctx context.Context, ev T, key string, opts []PublishOption) (Sealed, error) {
	if !e.made() {
		return Sealed{}, &PublishError{Err: errNotMade}
	}
	if ctx == nil {
		return Sealed{}, e.fail(fmt.Errorf("%w: nil context", ErrInvalidConfig))
	}
	if e.p.isClosed.Load() {
		return Sealed{}, e.fail(ErrClosed)
	}
	held := e.hold(ev)
	in, err := e.prepare(ctx, held, key, nil, opts)
	e.unhold(held)
	if err != nil {
		return Sealed{}, err
	}
	defer in.free()
	part := int32(-1)
	if e.ordered {
		n, err := e.p.sealCount(ctx, e.topic)
		if err != nil {
			return Sealed{}, e.fail(err)
		}
		part = int32(partition.For(in.key(), n))
	}
	ts := in.rec.Timestamp // the caller's, before seal sets the default
	in.seal()
	return in.toSealed(ctx, part, ts), nil
}

// toSealed copies a sealed inflight out into a Sealed, in one allocation
// for the key, value and ID, and adds ctx's trace context.
func (in *inflight) toSealed(ctx context.Context, part int32, ts time.Time) Sealed {
	valEnd := in.valAt + len(in.rec.Value)
	data := slices.Clone(in.buf[in.keyAt : valEnd+len(in.idText)])
	off := func(i int) int { return i - in.keyAt }
	s := Sealed{
		Topic:     in.c.topic,
		Partition: part,
		Value:     data[off(in.valAt):off(valEnd):off(valEnd)],
		EventID:   in.idText,
		Timestamp: ts,
	}
	if in.c.ordered {
		s.Key = data[:off(in.valAt):off(in.valAt)]
	}
	id := data[off(valEnd):]
	hs := make([]kgo.RecordHeader, 2, 4+len(in.extra))
	hs[0] = kgo.RecordHeader{Key: header.Type, Value: in.c.typHdr}
	hs[1] = kgo.RecordHeader{Key: header.ID, Value: id}
	r := kgo.Record{Headers: hs}
	in.c.p.prop.Inject(ctx, &r)
	s.Headers = append(r.Headers, in.extra...)
	return s
}

// sealCount returns the partition count a sealed event of topic is placed
// under: the guard's, or the topic's metadata, which the guard then
// records as the count first seen (as the partitioner would).
func (p *Producer) sealCount(ctx context.Context, topic string) (int, error) {
	if n, ok := p.guard.guard.Count(topic); ok {
		return n, nil
	}
	td, err := kadm.NewClient(p.cl).ListTopics(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("read the partition count of topic %q: %w", topic, err)
	}
	d, ok := td[topic]
	switch {
	case !ok:
		return 0, fmt.Errorf("topic %q does not exist: create it before sealing events for it", topic)
	case d.Err != nil:
		return 0, fmt.Errorf("topic %q: %w (create it before sealing events for it)", topic, d.Err)
	case len(d.Partitions) == 0:
		return 0, fmt.Errorf("topic %q has no partitions", topic)
	}
	_ = p.guard.guard.Check(topic, len(d.Partitions)) // records it unless known by now
	n, _ := p.guard.guard.Count(topic)
	return n, nil
}

// errBadSealed is wrapped by PublishSealed's error for an event that was
// not made by Seal (no topic, no type, no ID).
var errBadSealed = fmt.Errorf("%w: not a sealed event (use Publisher.Seal)", ErrInvalidOption)

// PublishSealed hands an event sealed by [Publisher.Seal] or
// [UnorderedPublisher.Seal] to the producer, as [Publisher.PublishAsync]
// does with a fresh event: same event ID, key, value and headers as
// sealed, plus ordo-producer, ordo-partitions and ordo-seq from this
// producer, in the order PublishSealed is called for each key. Its send
// span is a child of the trace context sealed in the event, so the trace
// goes on from the span that sealed it.
//
// done is called exactly once with the outcome, unless PublishSealed
// returns an error (a malformed event, [ErrClosed], ctx's error while
// waiting for buffer space), in which case it is never called; done runs
// as for PublishAsync and must not block on the producer. s's slices must
// not change until done has run. The schema is not registered again: the
// frame carries the ID it was sealed with.
//
// PublishSealed is safe for concurrent use; it is the relay's half of a
// transactional outbox (see package producer/outbox).
func (p *Producer) PublishSealed(ctx context.Context, s *Sealed, done func(Result, error)) error {
	if !p.made() {
		return &PublishError{Err: errNotMade}
	}
	c, err := p.sealedCore(ctx, s)
	if err != nil {
		return err
	}
	if done == nil {
		return c.fail(errNilDone)
	}
	if c.ordered && len(s.Key) == 0 {
		return c.fail(partition.ErrNoKey)
	}
	in := c.begin(ctx, string(s.Key), done)
	in.buf = append(in.buf, s.Value...)
	in.reseal(s)
	parent := p.prop.Extract(ctx, &kgo.Record{Headers: s.Headers})
	if err := p.send(parent, in, true); err != nil {
		in.free()
		return c.fail(err)
	}
	return nil
}

// sealedKey names the core a sealed event is sent through.
type sealedKey struct {
	topic, typ string
	ordered    bool
}

// sealedCore returns the core that sends s: its topic and type, keyed or
// not. A keyed topic's stamped count is learnt once, as NewPublisher does.
func (p *Producer) sealedCore(ctx context.Context, s *Sealed) (*core, error) {
	if s == nil {
		return nil, &PublishError{Err: errBadSealed}
	}
	typ, _ := header.Get(s.Headers, header.Type)
	if s.Topic == "" || typ == "" || s.EventID == "" || len(s.Value) == 0 {
		return nil, &PublishError{Topic: s.Topic, Type: typ, Err: errBadSealed}
	}
	k := sealedKey{topic: s.Topic, typ: typ, ordered: s.Key != nil}
	if c, ok := p.sealed.Load(k); ok {
		return c.(*core), nil
	}
	c := &core{p: p, topic: k.topic, typ: typ, typHdr: []byte(typ), ordered: k.ordered, tt: newTopicTel(k.topic, typ)}
	if k.ordered {
		if err := p.learnCount(ctx, k.topic); err != nil {
			return nil, c.fail(err)
		}
		c.count = p.guard.count(k.topic)
	}
	got, _ := p.sealed.LoadOrStore(k, c)
	return got.(*core), nil
}

// reseal points the record into the inflight's store as [inflight.seal]
// does, with the sealed event's ID and headers; seal then only sets the
// timestamp. The header order is the Publisher's: ordo-type, ordo-id,
// ordo-producer, ordo-partitions, then the rest as sealed.
func (in *inflight) reseal(s *Sealed) {
	b := slices.Grow(in.buf, maxSeqDigits)
	in.buf = b
	in.idText = s.EventID
	in.rec.Timestamp = s.Timestamp
	in.rec.Topic = s.Topic
	in.rec.Value = b[in.valAt:len(b):len(b)]
	in.rec.Context = in
	hs := in.hdrs[:0]
	if n := len(s.Headers) + 3; n > len(in.hdrs) {
		hs = make([]kgo.RecordHeader, 0, n)
	}
	for _, h := range s.Headers {
		if h.Key == header.Type || h.Key == header.ID {
			hs = append(hs, h)
		}
	}
	hs = append(hs, kgo.RecordHeader{Key: header.Producer, Value: in.c.p.instance})
	if in.c.ordered {
		in.rec.Key = b[in.keyAt:in.valAt:in.valAt]
		in.countAt = len(hs)
		hs = append(hs, kgo.RecordHeader{Key: header.Partitions, Value: in.c.count.value()})
	}
	for _, h := range s.Headers {
		if h.Key != header.Type && h.Key != header.ID {
			hs = append(hs, h)
		}
	}
	in.rec.Headers = hs
}
