package schema

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors for the wire format and decoding. Match them with
// [errors.Is]; the typed errors below carry the details.
var (
	// ErrEmptyValue: a record value of zero bytes (a tombstone or a bug
	// upstream) where a framed value was expected.
	ErrEmptyValue = errors.New("schema: empty value")
	// ErrBadMagic: the value does not start with [MagicByte], so it was not
	// written in the Confluent wire format.
	ErrBadMagic = errors.New("schema: bad magic byte")
	// ErrTruncated: the header or the Avro body ends before the schema says
	// it should.
	ErrTruncated = errors.New("schema: truncated")
	// ErrCorrupt: the Avro body does not match the writer schema (invalid
	// length, unknown union branch or enum symbol, trailing bytes, a length
	// beyond the decoder's bounds).
	ErrCorrupt = errors.New("schema: corrupt body")
)

// Sentinel errors for binding a Go type to a schema.
var (
	// ErrUnencodable: a Go type that Avro cannot carry (chan, func, complex,
	// unsafe.Pointer, an interface, a map with non-string keys, ...).
	ErrUnencodable = errors.New("schema: type cannot be encoded in Avro")
	// ErrSchemaMismatch: the Go type and the schema disagree on a field.
	ErrSchemaMismatch = errors.New("schema: Go type does not match schema")
	// ErrInvalid: the schema is invalid, whoever found it: its text does
	// not parse or is not a named record (found here, before any registry
	// call), or the registry refused it (error 42201, which matches
	// [ErrInvalidSchema] as well). Match ErrInvalid to ask "is the schema
	// bad?"; ErrInvalidSchema only to ask what the registry answered.
	ErrInvalid = errors.New("schema: invalid schema")
	// ErrUnusableSchema: a writer schema the registry has, but that this
	// reader cannot decode with: another schema type (JSON Schema,
	// Protobuf), Avro that does not parse, or Avro whose references name
	// a subject or version the registry answers it does not have. A record written with it is
	// poison, not a registry outage: retrying cannot help. Errors matching
	// it also match [ErrInvalid] when the text does not parse.
	ErrUnusableSchema = errors.New("schema: unusable writer schema")
)

// ErrIncompatible is matched by every *[IncompatibleError]: a schema change
// that breaks the compatibility level of its subject.
var ErrIncompatible = errors.New("schema: incompatible schema change")

// Registry error sentinels. [errors.Is] matches them against the registry's
// error code, through franz-go's *sr.ResponseError and any wrapping.
var (
	// ErrSubjectNotFound is registry error 40401.
	ErrSubjectNotFound = &registryCode{code: 40401, text: "subject not found"}
	// ErrVersionNotFound is registry error 40402.
	ErrVersionNotFound = &registryCode{code: 40402, text: "version not found"}
	// ErrUnknownSchema is registry error 40403: no schema has that ID.
	// Transport failures and 5xx responses never match it.
	ErrUnknownSchema = &registryCode{code: 40403, text: "unknown schema"}
	// ErrInvalidSchema is registry error 42201: the registry refused the
	// schema text. Every error matching it also matches [ErrInvalid], the
	// sentinel for an invalid schema found locally or by the registry.
	ErrInvalidSchema = &registryCode{code: 42201, text: "invalid schema"}
)

// ErrInvalidConfig is wrapped by configuration errors: a bad registry URL,
// an unknown compatibility level, an out-of-range option.
var ErrInvalidConfig = errors.New("schema: invalid configuration")

// registryCode is a sentinel that matches a registry error code.
type registryCode struct {
	code int
	text string
}

func (e *registryCode) Error() string {
	return fmt.Sprintf("schema registry: %s (%d)", e.text, e.code)
}

// FrameError reports a value that is not a valid wire-format frame. Its
// Unwrap returns [ErrEmptyValue], [ErrBadMagic] or [ErrTruncated].
type FrameError struct {
	// Reason says what is wrong, e.g. "magic byte 0x7b, want 0x00".
	Reason string
	// Len is the length of the value that was inspected.
	Len int

	err error
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("frame: %s (value of %d bytes)", e.Reason, e.Len)
}

// Unwrap returns the sentinel classifying the failure.
func (e *FrameError) Unwrap() error { return e.err }

// BindError reports a Go type that cannot cross the wire with a schema. Its
// Unwrap returns [ErrUnencodable] or [ErrSchemaMismatch].
type BindError struct {
	// Type is the Go type being bound, e.g. "orders.Created".
	Type string
	// Field is the path of the offending field, e.g. "Items[].Price";
	// empty for the type itself.
	Field string
	// Reason says what is wrong with the field.
	Reason string

	err error
}

func (e *BindError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("schema: bind %s: %s", e.Type, e.Reason)
	}
	return fmt.Sprintf("schema: bind %s: field %s: %s", e.Type, e.Field, e.Reason)
}

// Unwrap returns the sentinel classifying the failure.
func (e *BindError) Unwrap() error { return e.err }

// DecodeError reports an Avro body that could not be decoded into a Go
// value. Its Unwrap returns the cause: [ErrTruncated], [ErrCorrupt], an
// *[IncompatibleError] (writer schema not readable as the reader schema) or
// [ErrSchemaMismatch].
type DecodeError struct {
	// Type is the Go type being decoded into.
	Type string
	// SchemaID is the writer schema ID, or -1 when the body was decoded with
	// the codec's own schema.
	SchemaID int
	// Offset is how far into the body the decoder got: where a body that
	// ends early ended, the byte after what it could not read, or where
	// trailing bytes start. It is -1 when decoding did not start (a nil
	// target, a writer schema the codec cannot read).
	Offset int
	// Err is the cause.
	Err error
}

func (e *DecodeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "schema: decode %s", e.Type)
	if e.SchemaID >= 0 {
		fmt.Fprintf(&b, " (writer schema %d)", e.SchemaID)
	}
	if e.Offset >= 0 {
		fmt.Fprintf(&b, " at body offset %d", e.Offset)
	}
	fmt.Fprintf(&b, ": %v", bare(e.Err))
	return b.String()
}

// Unwrap returns the cause.
func (e *DecodeError) Unwrap() error { return e.Err }

// bare wraps err for a message that already begins "schema: ": it reads
// without its own "schema: " prefix (the sentinels and typed errors carry
// one, for when they are returned alone), so however many layers wrap it
// the package is named once. errors.Is and errors.As see err unchanged.
func bare(err error) error { return bareError{err} }

type bareError struct{ err error }

func (e bareError) Error() string { return strings.TrimPrefix(e.err.Error(), "schema: ") }
func (e bareError) Unwrap() error { return e.err }

// IncompatibleError reports a schema change refused by the compatibility
// gate (local or the registry's). errors.Is(err, [ErrIncompatible]) is true.
type IncompatibleError struct {
	// Subject is the registry subject, empty for a local [Check].
	Subject string
	// Level is the compatibility level that was enforced.
	Level Level
	// Version is the registered version the candidate clashes with (for a
	// local [Check], the 1-based position in the existing list), or 0 when
	// unknown.
	Version int
	// Reason says what breaks, in the words of the checker.
	Reason string
}

func (e *IncompatibleError) Error() string {
	var b strings.Builder
	b.WriteString("schema: incompatible")
	if e.Subject != "" {
		fmt.Fprintf(&b, " with subject %q", e.Subject)
	}
	if e.Version > 0 {
		fmt.Fprintf(&b, " version %d", e.Version)
	}
	fmt.Fprintf(&b, " under %s: %s", e.Level, e.Reason)
	return b.String()
}

// Is makes errors.Is(err, ErrIncompatible) true.
func (e *IncompatibleError) Is(target error) bool { return target == ErrIncompatible }
