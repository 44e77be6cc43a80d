package consumer

import (
	"errors"
	"fmt"
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
)

// Stage names where in the pipeline a record failed.
type Stage string

const (
	StageUnframe  Stage = "unframe"  // the value is not a Confluent frame
	StageSchema   Stage = "schema"   // the writer schema is unknown or not usable Avro
	StageDispatch Stage = "dispatch" // no handler for the event type
	StageDecode   Stage = "decode"   // the body does not decode into the handler's type
	StageHandle   Stage = "handle"   // the handler failed every attempt
)

// RecordError reports a record that could not be handled: where it is, what
// it is, how far it got and why. Unwrap returns the cause, so errors.Is
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
}

func (e *RecordError) Error() string {
	typ := e.Type
	if typ == "" {
		typ = "record"
	}
	s := fmt.Sprintf("consumer: %s %s/%d@%d key %q: %s", typ, e.Topic, e.Partition, e.Offset, e.Key, e.Stage)
	if e.Attempts > 0 {
		s += fmt.Sprintf(" after %d attempts", e.Attempts)
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *RecordError) Unwrap() error { return e.Err }

// PanicError is the cause recorded when a handler panics. The panic is
// recovered and treated as a failed attempt.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("handler panic: %v", e.Value) }
