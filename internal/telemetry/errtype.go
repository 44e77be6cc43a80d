package telemetry

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Classifier is implemented by errors that name their own class for the
// error.type attribute (ordo's typed errors do). The class must be of low
// cardinality: a fixed word, never a value from the record.
type Classifier interface {
	ErrorClass() string
}

// Class pairs a sentinel with the error.type value for errors matching it.
type Class struct {
	Err  error
	Name string
}

// common are the states both sides share.
var common = []Class{
	{context.Canceled, "canceled"},
	{context.DeadlineExceeded, "timeout"},
	{kgo.ErrRecordTimeout, "timeout"},
	{kgo.ErrRecordRetries, "retries_exhausted"},
	{kgo.ErrMaxBuffered, "buffer_full"},
	{kgo.ErrClientClosed, "closed"},
}

// ErrorType is the error.type attribute for err; see [ErrorClass].
func ErrorType(err error, classes ...Class) attribute.KeyValue {
	return semconv.ErrorTypeKey.String(ErrorClass(err, classes...))
}

// ErrorClass names the class of err, the one classifier producer and
// consumer share, so a failure is labelled the same on both sides. In
// order: the first error in the chain that names its own class
// ([Classifier]); Kafka's error code name for a broker error; the first of
// classes, then of the shared states (canceled, timeout, ...), that err
// matches; otherwise the Go type of the innermost error, looking through
// fmt and errors.Join wrappers (never "*errors.joinError"). Every answer is
// of low cardinality, as metric attributes must be.
func ErrorClass(err error, classes ...Class) string {
	if err == nil {
		return ""
	}
	var cl Classifier
	if errors.As(err, &cl) {
		if s := cl.ErrorClass(); s != "" {
			return s
		}
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	for _, c := range classes {
		if errors.Is(err, c.Err) {
			return c.Name
		}
	}
	for _, c := range common {
		if errors.Is(err, c.Err) {
			return c.Name
		}
	}
	return fmt.Sprintf("%T", Typed(err))
}

// Typed peels the wrappers that carry no type of their own (fmt's %w
// errors and errors.Join's, following the first branch of a join) and
// returns the first error that does: the one a type name should name.
func Typed(err error) error {
	for {
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			errs := u.Unwrap()
			if len(errs) == 0 {
				return err
			}
			err = errs[0]
		case interface{ Unwrap() error }:
			if !isPlainWrapper(err) {
				return err
			}
			next := u.Unwrap()
			if next == nil {
				return err
			}
			err = next
		default:
			return err
		}
	}
}

// isPlainWrapper reports whether err is one of the standard library's
// anonymous wrappers (fmt.Errorf with %w), whose type says nothing.
func isPlainWrapper(err error) bool {
	switch fmt.Sprintf("%T", err) {
	case "*fmt.wrapError", "*fmt.wrapErrors":
		return true
	}
	return false
}

// Fail marks span failed with err, as both sides record a failure: an
// "exception" event (the semantic conventions' exception.type and
// exception.message) and the error status with err's whole text; the
// caller sets error.type with its own classes ([ErrorType]). The event
// describes cause, the error that really failed, when err only carries it
// with context (the consumer's *RecordError around a handler's error, the
// producer's *PublishError): exception.type names cause's own type,
// looking through fmt and errors.Join wrappers (never "*errors.joinError"
// or "*fmt.wrapError"), and exception.message is cause's text. A nil
// cause is err.
func Fail(span trace.Span, err, cause error) {
	if cause == nil {
		cause = err
	}
	span.AddEvent(semconv.ExceptionEventName, trace.WithAttributes(
		semconv.ExceptionType(fmt.Sprintf("%T", Typed(cause))),
		semconv.ExceptionMessage(cause.Error()),
	))
	span.SetStatus(codes.Error, err.Error())
}
