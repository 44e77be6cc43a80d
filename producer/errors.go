package producer

import (
	"errors"
	"fmt"
)

// Sentinel errors. Match them with [errors.Is]: they usually arrive wrapped
// in a [*PublishError] or a configuration error.
var (
	// ErrClosed is returned by every call on a [Producer] (and its
	// publishers) after [Producer.Close], and delivered to records that
	// were still buffered when it closed.
	ErrClosed = errors.New("producer: closed")

	// ErrBufferFull is returned by TryPublishAsync when the producer
	// already holds [MaxBufferedRecords] records that Kafka has not yet
	// acknowledged.
	ErrBufferFull = errors.New("producer: buffer full")

	// ErrInvalidConfig is wrapped by every error [New] and the publisher
	// constructors return for bad configuration.
	ErrInvalidConfig = errors.New("producer: invalid configuration")
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
// franz-go's kerr errors, [ErrClosed], [ErrBufferFull], context errors.
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
