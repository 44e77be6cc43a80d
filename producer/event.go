package producer

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
)

// PublishOption sets something on one event: [Header], [HeaderBytes],
// [Timestamp]. Pass them to Publish, PublishAsync and TryPublishAsync, or
// in a [Message] to PublishBatch. Only this package can mint them.
//
// An event published without options costs nothing extra; each option
// given costs an allocation or two (the option itself and a headers slice
// per event).
type PublishOption interface {
	applyEvent(*eventOpts)
}

// Message is one event of a batch with its own options, for
// [Publisher.PublishBatch]. The zero Options publishes the event as
// PublishAll does.
type Message[T any] struct {
	Event   T
	Options []PublishOption
}

// eventOpts is what an event's options add to its record.
type eventOpts struct {
	hdrs []kgo.RecordHeader
	ts   time.Time
	err  error
}

type headerOpt kgo.RecordHeader

func (h headerOpt) applyEvent(o *eventOpts) { o.hdrs = append(o.hdrs, kgo.RecordHeader(h)) }

// Header adds the header key: value to the event, after ordo's own
// headers: a correlation ID, a tenant, anything a consumer reads from its
// Meta. The default is none. Given twice with one key, the record carries
// both, in order (Kafka headers are a list).
//
// key must not be empty and must not name a header ordo writes: anything
// starting with "ordo-", and every header the producer's propagator writes
// (traceparent and tracestate with propagation.TraceContext, baggage with
// propagation.Baggage; see [WithPropagator]), compared without regard to
// case. Such an event is refused with a [*PublishError] wrapping
// [ErrReservedHeader] and nothing is published: a header that silently
// shadowed ordo's would break order checks, deduplication or the trace.
//
// What it costs: the header's bytes on every record, and an allocation
// for the option and for the record's header list.
func Header(key, value string) PublishOption {
	return headerOpt{Key: key, Value: []byte(value)}
}

// HeaderBytes is [Header] with a binary value. value is not copied: do not
// change it until the publish returns (for PublishAsync, until done runs).
func HeaderBytes(key string, value []byte) PublishOption {
	return headerOpt{Key: key, Value: value}
}

type timestampOpt time.Time

func (t timestampOpt) applyEvent(o *eventOpts) {
	ts := time.Time(t)
	if ts.IsZero() {
		return
	}
	if ts.UnixMilli() < 0 {
		o.err = errors.Join(o.err, fmt.Errorf("%w: timestamp %v is before 1970 (Kafka timestamps are Unix milliseconds)", ErrInvalidOption, ts))
		return
	}
	o.ts = ts
}

// Timestamp sets the event's record timestamp (Kafka's CreateTime) to t,
// truncated to the millisecond: the time the event happened, rather than
// the time it was handed to the client (the default). A zero t keeps the
// default.
//
// What it costs: nothing on the wire (every record has a timestamp), but
// franz-go measures the [DeliveryTimeout] from the timestamp of the first
// record of a batch, not from when it was handed over. So an event dated
// d in the past has only DeliveryTimeout - d left to be delivered, and so
// does every event batched behind it for the same partition; a t later
// than now gives its batch longer. An event dated more than the
// DeliveryTimeout in the past would fail at once, and its batch with it:
// it is refused with a [*PublishError] wrapping [ErrInvalidOption], as is
// a t before 1970. To carry the time of an old event (a backfill, a
// replay), put it in a [Header] and let the record have the default.
//
// A topic with message.timestamp.type=LogAppendTime replaces the
// timestamp with the broker's time, and brokers refuse timestamps further
// from their clock than message.timestamp.before.max.ms and
// message.timestamp.after.max.ms allow (Kafka's default: at most one hour
// ahead), failing the batch with INVALID_TIMESTAMP.
func Timestamp(t time.Time) PublishOption { return timestampOpt(t) }

// eventOptions applies opts and checks the headers against those ordo
// writes. It is called only when opts is not empty.
func (p *Producer) eventOptions(opts []PublishOption) (eventOpts, error) {
	var o eventOpts
	for i, opt := range opts {
		if opt == nil {
			o.err = errors.Join(o.err, fmt.Errorf("%w: option %d is nil", ErrInvalidOption, i))
			continue
		}
		opt.applyEvent(&o)
	}
	if !o.ts.IsZero() && time.Since(o.ts) >= p.delivery {
		o.err = errors.Join(o.err, fmt.Errorf("%w: timestamp %v is older than the delivery timeout of %v: the client would fail it at once (carry an old event's time in a Header)",
			ErrInvalidOption, o.ts, p.delivery))
	}
	for _, h := range o.hdrs {
		if err := p.checkHeader(h.Key); err != nil {
			o.err = errors.Join(o.err, err)
		}
	}
	return o, o.err
}

// checkHeader refuses a user header ordo writes itself.
func (p *Producer) checkHeader(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty header key", ErrInvalidOption)
	}
	if len(key) >= len(ordoPrefix) && strings.EqualFold(key[:len(ordoPrefix)], ordoPrefix) {
		return fmt.Errorf("header %q: %w: headers starting with %q are ordo's own", key, ErrReservedHeader, ordoPrefix)
	}
	for _, r := range p.reserved {
		if strings.EqualFold(key, r) {
			return fmt.Errorf("header %q: %w: the trace propagator writes it", key, ErrReservedHeader)
		}
	}
	return nil
}

const ordoPrefix = "ordo-"

// reservedHeaders lists the headers the propagator writes, plus W3C's
// trace context whatever the propagator (a consumer reads them).
func reservedHeaders(fields []string) []string {
	return append([]string{header.TraceParent, header.TraceState}, fields...)
}
