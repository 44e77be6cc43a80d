package dlq

import (
	"errors"
	"fmt"
	"strconv"
)

// Every error this package returns starts with "dlq: " once: its
// sentinels and error types say it, and a call that wraps another error
// (franz-go's, the registry's) adds "dlq: " and what it was doing, never
// over an error of its own that already says it
// (TestErrorsSayDlqOnce).
var (
	// ErrNotDeadLetter: the record carries no original-topic header of
	// any family [Parse] reads (kafka_dlt-original-topic,
	// __streams.errors.topic, __connect.errors.topic, __dlq.errors.topic),
	// so it was not written by a dead-letter publisher.
	ErrNotDeadLetter = errors.New("dlq: not a dead-letter record")
	// ErrMalformed: a dead-letter header is present but not in its
	// encoding (a wrong length, not a number, a negative count).
	ErrMalformed = errors.New("dlq: malformed dead-letter header")
	// ErrInvalidConfig: [New] or a call's configuration is incomplete or
	// contradictory; the error says which setting.
	ErrInvalidConfig = errors.New("dlq: invalid configuration")
	// ErrClosed: the [Client] was closed.
	ErrClosed = errors.New("dlq: client closed")
	// ErrTooLarge: the dead letter has reason [TooLarge]; it lacks part of
	// the record, so redrive cannot republish it.
	ErrTooLarge = errors.New("dlq: dead letter lacks part of the record (too-large): fetch the original from its source topic")
	// ErrUnreadable: the dead letter's reason says its consumer could not
	// read the record ([Reason.Unreadable]); republished unchanged it
	// would fail again, so redrive leaves it unless asked
	// (RedriveConfig.IncludeUnreadable).
	ErrUnreadable = errors.New("dlq: the consumer could not read the record (republished unchanged, it fails again)")
	// ErrLoopGuard: the dead letter was redriven the maximum number of
	// times (RedriveConfig.MaxRedrives) and failed again.
	ErrLoopGuard = errors.New("dlq: dead letter at the redrive loop guard")
)

// HeaderError says which dead-letter header is malformed and how. It
// matches [ErrMalformed].
type HeaderError struct {
	Header string // header name
	Reason string // what is wrong, e.g. "4 bytes, want 8"
}

func (e *HeaderError) Error() string {
	return fmt.Sprintf("dlq: header %s: %s", e.Header, e.Reason)
}

// Unwrap returns [ErrMalformed].
func (e *HeaderError) Unwrap() error { return ErrMalformed }

// ErrorClass is the error.type for telemetry.
func (e *HeaderError) ErrorClass() string { return "dlq_malformed_header" }

// QuarantinedError is the failure recorded for a record dead-lettered with
// reason [Quarantined]: it did not fail itself, an earlier record of its
// key did. [Build] uses it when the failure has no error of its own.
type QuarantinedError struct {
	Offset int64 // original-partition offset that started the quarantine
}

func (e *QuarantinedError) Error() string {
	return "quarantined behind offset " + strconv.FormatInt(e.Offset, 10)
}

// ErrorClass is the error.type for telemetry.
func (e *QuarantinedError) ErrorClass() string { return string(Quarantined) }
