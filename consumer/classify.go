package consumer

import (
	"errors"

	"github.com/ordo-go/ordo/consumer/dlq"
	"github.com/ordo-go/ordo/schema"
)

// Class says whether a failure could ever succeed. Every failure is one or
// the other: a transient one is retried within the retry budget (see
// [Retry] and [RetryFor]) and never skipped or dead-lettered while the
// budget lasts; a permanent one is never retried.
type Class string

const (
	// ClassTransient: the handler failed with an error not marked permanent
	// (or panicked), or a dependency such as the schema registry is down.
	// A record reaches the failure policy as Transient only once its retry
	// budget is spent.
	ClassTransient Class = "transient"
	// ClassPermanent: the handler returned an error marked with [Permanent], or
	// the record is poison: not a Confluent frame, an unknown schema ID
	// (after the [UnknownSchemaWindow]), a writer schema that is not usable
	// Avro, a body that does not decode, a type with no handler, a
	// tombstone no handler accepts (see [Tombstones]); or it was
	// dead-lettered behind its key's quarantine.
	ClassPermanent Class = "permanent"
)

// PermanentError marks a handler's error as one that will never succeed:
// the record is not retried and goes to the failure policy at once. Make
// one with [Permanent]; errors.Is and errors.As reach the cause.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *PermanentError) Unwrap() error { return e.Err }

// ErrorClass is the cause's class, for the error.type attribute.
func (e *PermanentError) ErrorClass() string { return "permanent" }

// Permanent returns err marked permanent: a handler returning it (or an
// error wrapping it) is not retried. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err, or an error it wraps, is marked
// permanent.
func IsPermanent(err error) bool {
	var pe *PermanentError
	return errors.As(err, &pe)
}

// ErrTombstone is the cause of a [*RecordError] for a record with a null
// value when no handler accepts tombstones (see [Tombstones]). It matches
// schema.ErrEmptyValue too.
var ErrTombstone = &tombstoneError{}

type tombstoneError struct{}

func (*tombstoneError) Error() string        { return "tombstone (null value)" }
func (*tombstoneError) Unwrap() error        { return schema.ErrEmptyValue }
func (*tombstoneError) ErrorClass() string   { return string(dlq.Tombstone) }
func (*tombstoneError) Is(target error) bool { return target == ErrTombstone }

// classify sets re's class and dead-letter reason from its stage and
// cause.
func classify(re *RecordError) {
	re.Class = ClassPermanent
	switch re.Stage {
	case StageUnframe:
		re.Reason = dlq.Unframe
		if errors.Is(re.Err, ErrTombstone) {
			re.Reason = dlq.Tombstone
		}
	case StageSchema:
		re.Reason = dlq.UnusableSchema
		if errors.Is(re.Err, schema.ErrUnknownSchema) {
			re.Reason = dlq.UnknownSchema
		}
	case StageDispatch:
		re.Reason = dlq.NoHandler
	case StageDecode:
		re.Reason = dlq.Decode
	case StageQuarantine:
		re.Reason = dlq.Quarantined
	default:
		re.Reason = dlq.Permanent
		if !IsPermanent(re.Err) {
			re.Class, re.Reason = ClassTransient, dlq.HandlerExhausted
		}
	}
}
