package producer

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Sentinel errors. Match them with [errors.Is]: they usually arrive wrapped
// in a [*PublishError] or a configuration error.
var (
	// ErrClosed is returned by every call on a [Producer] (and its
	// publishers) after [Producer.Close], and delivered to records that
	// were still buffered when it closed.
	ErrClosed = errors.New("producer: closed")

	// ErrBufferFull is returned by TryPublishAsync when the producer
	// already holds [MaxBufferedRecords] records, or [MaxBufferedBytes]
	// bytes, that Kafka has not yet acknowledged.
	ErrBufferFull = errors.New("producer: buffer full")

	// ErrDeliveryTimeout is delivered to an event Kafka did not acknowledge
	// within the [DeliveryTimeout] (brokers unreachable or gone, a broker
	// that stopped answering, login refused, partitions without a leader);
	// the error also matches franz-go's kgo.ErrRecordTimeout and keeps the
	// last cause franz-go saw. It is not context.DeadlineExceeded, which is
	// the caller's own deadline.
	//
	// The event may or may not have been written: when the timeout ends a
	// request that was sent and not answered, nobody knows whether the
	// broker wrote it. Publishing it again may write it twice. What it
	// costs besides: the producer gives up its idempotent sequence
	// (before producing again franz-go bumps the producer epoch, or takes a
	// new producer ID once the epoch is exhausted, and restarts every
	// partition's sequence), so the broker cannot deduplicate a retry of
	// the timed-out events against what it may already hold; and every
	// event buffered behind it for the same partition fails with it.
	// Events published afterwards are written in order and deduplicated
	// among themselves as usual.
	ErrDeliveryTimeout = errors.New("producer: delivery timeout")

	// ErrReservedHeader is wrapped by the error of an event given a
	// [Header] ordo writes itself (ordo-*, or one of the trace
	// propagator's, such as traceparent); the event is not published.
	ErrReservedHeader = errors.New("producer: reserved header")

	// ErrInvalidOption is wrapped by the error of an event given a bad
	// [PublishOption] (a nil option, an empty header key, a timestamp
	// before 1970); the event is not published.
	ErrInvalidOption = errors.New("producer: invalid publish option")

	// ErrInvalidConfig is wrapped by every error [New] and the publisher
	// constructors return for bad configuration.
	ErrInvalidConfig = errors.New("producer: invalid configuration")

	// ErrUnknownTopic is returned by [NewPublisher] and
	// [NewUnorderedPublisher] for a topic that does not exist on the
	// cluster, unless [AllowMissingTopic] is given.
	ErrUnknownTopic = errors.New("producer: unknown topic")
)

// errNotMade is returned by the methods of a Producer or publisher that
// was not made by its constructor (nil or the zero value).
var errNotMade = fmt.Errorf("%w: not made by New, NewPublisher or NewUnorderedPublisher", ErrInvalidConfig)

// PublishError reports an event that was not published: refused before it
// was handed to Kafka (no key, encode error, closed producer, full buffer,
// cancelled wait) or failed by the client afterwards (partition-count
// change, broker error, timeout).
//
// Unwrap returns the cause, so [errors.Is] and [errors.As] see through it:
// [partition.ErrNoKey], a [*partition.CountChangedError], schema errors,
// franz-go's kerr errors, [ErrClosed], [ErrBufferFull],
// [ErrDeliveryTimeout], context errors.
type PublishError struct {
	Topic string // the topic the event was for
	Type  string // the full Avro name of the event type
	Err   error  // the cause
}

// Error names the event type, the topic and the cause.
func (e *PublishError) Error() string {
	return fmt.Sprintf("producer: publish %s to %q: %v", e.Type, e.Topic, e.Err)
}

// Unwrap returns the cause.
func (e *PublishError) Unwrap() error { return e.Err }

// timeoutError is the cause of an event failed by the [DeliveryTimeout]:
// [ErrDeliveryTimeout] and kgo's error, whose last cause may be a broker's
// error code. It names its own class, so error.type says
// "delivery_timeout" rather than that code.
type timeoutError struct{ err error }

func (e *timeoutError) Error() string { return ErrDeliveryTimeout.Error() + ": " + e.err.Error() }
func (e *timeoutError) Unwrap() []error {
	return []error{ErrDeliveryTimeout, kgo.ErrRecordTimeout, e.err}
}
func (e *timeoutError) ErrorClass() string { return "delivery_timeout" }
