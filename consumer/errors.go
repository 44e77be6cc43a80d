package consumer

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/consumer/dlq"
	"github.com/ordo-go/ordo/internal/telemetry"
)

var (
	// ErrClosed is returned by calls on a consumer that has been closed.
	ErrClosed = errors.New("consumer: closed")
	// ErrInvalidConfig wraps every configuration error from [New].
	ErrInvalidConfig = errors.New("consumer: invalid config")
	// ErrRunning is returned by a second call to Run.
	ErrRunning = errors.New("consumer: already running")
	// ErrNoHandler is the cause of a [*RecordError] for a record whose
	// event type has no handler registered with [On].
	ErrNoHandler = errors.New("consumer: no handler for event type")
	// ErrDrainTimeout is returned by Shutdown when records were still
	// in flight at its deadline; their offsets were not committed.
	ErrDrainTimeout = errors.New("consumer: drain timed out")
	// ErrDeadLetterUnavailable is matched by the [*DeadLetterError] Run
	// returns when a record could not be written to the dead-letter topic
	// (missing, unauthorised, brokers down) within [DeadLetterTopic]'s
	// patience. The record is not lost: its offset is not committed.
	ErrDeadLetterUnavailable = errors.New("consumer: dead-letter topic unavailable")
	// ErrUnknownTopic is matched by the error Run returns when a topic
	// the consumer needs does not exist on the cluster: the
	// [DeadLetterTopic], unless [AllowMissingDeadLetterTopic] is given.
	// The error names the topic.
	ErrUnknownTopic = errors.New("consumer: unknown topic")
	// ErrQuarantineUnknown is returned by Run when the quarantined keys of
	// an assigned partition could not be read from the group's quarantine
	// store (see [QuarantineTopic]) or its committed offsets: handling the
	// partition without them could break a quarantined key's order.
	ErrQuarantineUnknown = errors.New("consumer: quarantine of an assigned partition unknown")
	// ErrUnreachable is matched by the error Run returns when no broker
	// answered (unreachable, refusing the credentials, TLS mismatch) for
	// [UnreachableAfter] from the start; it wraps the last failure.
	ErrUnreachable = errors.New("consumer: cluster unreachable")
	// ErrRefused is returned by Run, together with [ErrUnreachable], when
	// the cluster answered but refused the consumer three probes in a row
	// (a wrong SASL password or mechanism, a broker certificate the
	// consumer does not trust, a client certificate the broker does not):
	// waiting cannot fix a configuration, so Run does not wait for
	// [UnreachableAfter]. It wraps the refusal.
	ErrRefused = errors.New("consumer: cluster refused the connection")
)

// Stage names where in the pipeline a record failed.
type Stage string

const (
	StageUnframe  Stage = "unframe"  // the value is not a Confluent frame
	StageSchema   Stage = "schema"   // the writer schema is unknown or not usable Avro
	StageDispatch Stage = "dispatch" // no handler for the event type
	StageDecode   Stage = "decode"   // the body does not decode into the handler's type
	StageHandle   Stage = "handle"   // the handler failed every attempt, or permanently

	// StageQuarantine: the record did not fail itself; an earlier record
	// of its key in its partition was dead-lettered and the key is
	// quarantined (see [DeadLetterTopic]).
	StageQuarantine Stage = "quarantine"

	// StageReplay: the record was older than the replay age window
	// ([MaxAge]) when it was about to be handled, and the window's policy
	// dead-lettered it.
	StageReplay Stage = "replay"
)

// RecordError reports a record that could not be handled: where it is, what
// it is, how far it got and why. Under [RedactKeys], Error leaves the key
// out (the Key field still holds it, for the error hook). Unwrap returns the cause, so errors.Is
// matches schema errors (schema.ErrBadMagic, schema.ErrUnknownSchema, ...),
// [ErrNoHandler], and whatever the handler returned.
type RecordError struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Type      string // the writer's event type, if known
	SchemaID  int    // the writer schema ID, if known
	Stage     Stage
	Attempts  int // handler attempts made (0 if it never reached the handler)
	Err       error

	// Record is the record as it was fetched: key, value, headers,
	// timestamp. The hook may read it, and keep it, but must not modify it.
	Record *kgo.Record
	// Class says whether the failure could ever succeed: [ClassTransient] for
	// a handler whose retry budget ran out, [ClassPermanent] otherwise.
	Class Class
	// Reason is the dead-letter reason the failure maps to (written to the
	// ordo-reason header when the record is dead-lettered).
	Reason dlq.Reason

	redactKey bool // RedactKeys: Error leaves the key out
}

func (e *RecordError) Error() string {
	typ := e.Type
	if typ == "" {
		typ = "record"
	}
	s := fmt.Sprintf("consumer: %s %s/%d@%d key %s: %s", typ, e.Topic, e.Partition, e.Offset, formatKey(e.Key, e.redactKey), e.Stage)
	if e.Attempts > 0 {
		s += fmt.Sprintf(" after %d attempts", e.Attempts)
	}
	return s + ": " + redactURLs(e.Err.Error())
}

// Unwrap returns the cause.
func (e *RecordError) Unwrap() error { return e.Err }

// ErrorClass names the error for the error.type attribute: the stage
// ("unframe", "schema", "dispatch", "decode"), or for a handler that
// failed every attempt the class of what it returned ("panic", "timeout",
// its error's type, ...).
func (e *RecordError) ErrorClass() string {
	if e.Stage == StageHandle {
		return telemetry.ErrorClass(e.Err)
	}
	return string(e.Stage)
}

// PanicError is the cause recorded when a handler panics. The panic is
// recovered and treated as a failed attempt.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("handler panic: %v", e.Value) }

// ErrorClass is "panic", for the error.type attribute.
func (e *PanicError) ErrorClass() string { return "panic" }

// formatKey is a record key in an error message: telemetry.KeyText's text
// (at most telemetry.MaxText bytes of the key), quoted, or a marker
// under RedactKeys.
func formatKey(key []byte, redact bool) string {
	if redact {
		return telemetry.KeyText(key, true)
	}
	return strconv.Quote(telemetry.KeyText(key, false))
}

// redactURLs hides the password of every URL with credentials in s (a
// registry error quotes the URL it called, and a registry URL may carry
// "user:password@"), through telemetry.Redact, the one function that does.
func redactURLs(s string) string { return telemetry.Redact(s) }

// DeadLetterError reports a record that should have been dead-lettered but
// could not be: the dead-letter topic kept refusing or timing out the
// write. It matches [ErrDeadLetterUnavailable] and, through Record, the
// record's own failure.
type DeadLetterError struct {
	Topic  string       // the dead-letter topic
	Record *RecordError // why the record was being dead-lettered
	Tries  int          // writes tried
	Err    error        // the last write's error
}

func (e *DeadLetterError) Error() string {
	return fmt.Sprintf("consumer: dead-letter topic %s: %d writes failed, last: %v (record: %v)", e.Topic, e.Tries, e.Err, e.Record)
}

// Unwrap returns [ErrDeadLetterUnavailable], the write's error and the
// record's failure.
func (e *DeadLetterError) Unwrap() []error {
	return []error{ErrDeadLetterUnavailable, e.Err, e.Record}
}

// ErrorClass is "deadletter_unavailable", for the error.type attribute.
func (e *DeadLetterError) ErrorClass() string { return "deadletter_unavailable" }
