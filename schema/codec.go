package schema

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"unsafe"

	"github.com/modern-go/reflect2"

	avro "github.com/ordo-go/ordo/schema/internal/avro"
)

// ErrInvalidValue is wrapped by encoding errors: a value the bound type
// allows but the schema does not (a string that is not one of an enum's
// symbols, a nil pointer where the schema has no null branch), or a nil *T.
var ErrInvalidValue = errors.New("schema: value cannot be encoded with its schema")

// Codec encodes values of T with one Avro record schema (the reader schema
// on the consuming side) and decodes bodies written with it or with any
// compatible writer schema.
//
// A Codec is safe for concurrent use. Create one per type and keep it: the
// first call for a type builds hamba's encoder and decoder, and resolved
// writer schemas are cached in the Codec.
type Codec[T any] struct {
	p        parsed
	refs     []Reference // schemas p references, dependencies first
	typeName string
	b        *binding
	goType   reflect.Type
	check    valueCheck // logical-type domains; nil when T has none

	// resolved maps a writer schema ID to its *resolution. Entries are only
	// added; a duplicate computation under a race is harmless.
	resolved sync.Map
}

type resolution struct {
	fp  [32]byte // writer fingerprint, in case an ID is reused by another registry
	dec avro.ValDecoder
	err error
}

// NewCodec parses avsc, which must be a named Avro record, and checks that T
// can cross the wire with it: every field of T is walked against the schema
// (fields are matched by their `avro:"name"` tag, else the Go name; a field
// tagged `avro:"-"` is left out).
//
// Supported pairs: structs and records (nested), pointers and [null, X]
// unions, slices and arrays, maps with string keys, strings and enums,
// [N]byte and fixed(N), []byte and bytes, time.Time with the date and
// timestamp logical types, time.Duration with time-millis/time-micros,
// *big.Rat with decimal, and the integer and floating-point types that hold
// their Avro type both ways. A nullable map needs a *map.
//
// Times: a date is the UTC calendar day of the time.Time (floor of its
// Unix seconds / 86400) and decodes to midnight UTC. A timestamp-millis or
// -micros is the instant. A local-timestamp-millis or -micros is a wall
// clock with no zone, as the spec says: the year-to-nanosecond fields of
// the time.Time in its own location are written (neither converted to UTC
// nor to the producer's time.Local), and it decodes to that wall clock in
// time.UTC.
//
// A schema that does not parse, or is not a record, is an error wrapping
// [ErrInvalid]. A type that cannot cross the wire is a *[BindError] naming
// the field path, wrapping [ErrUnencodable] (chan, func, complex,
// unsafe.Pointer, an interface, a map with non-string keys, a recursive
// schema) or [ErrSchemaMismatch] (types differ, a schema field with no Go
// field and no default, a Go field with no schema field, a multi-type
// union).
//
// A schema that uses types defined by other registered schemas (schema
// references) needs them: see [WithReferences]. A reference without a
// Name or Subject, or with a Version below 1, wraps [ErrInvalidConfig].
func NewCodec[T any](avsc string, opts ...CodecOption) (*Codec[T], error) {
	t := reflect.TypeFor[T]()
	var cfg codecConfig
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("schema: codec for %s: %w: option %d is nil", t, bare(ErrInvalidConfig), i+1)
		}
		o.applyCodec(&cfg)
	}
	texts, err := checkRefs(cfg.refs)
	if err != nil {
		return nil, fmt.Errorf("schema: codec for %s: %w", t, bare(err))
	}
	p, err := parseRecord(avsc, texts...)
	if err != nil {
		return nil, fmt.Errorf("schema: codec for %s: %w", t, bare(err))
	}
	if berr := bind(t, p.sch); berr != nil {
		return nil, berr
	}
	b, err := newBinding(p, reflect2.TypeOf((*T)(nil)))
	if err != nil {
		return nil, &BindError{Type: t.String(), Reason: err.Error(), err: ErrSchemaMismatch}
	}
	return &Codec[T]{p: p, refs: cfg.refs, typeName: t.String(), b: b, goType: t, check: planChecks(t, p.sch)}, nil
}

// References returns the schemas the codec's schema references, as given
// to [WithReferences] (a copy; nil when none). Pass them to
// [Registry.Register] with [Codec.Schema].
func (c *Codec[T]) References() []Reference { return slices.Clone(c.refs) }

// Name returns the full name of the schema's record, e.g.
// "com.example.orders.Created".
func (c *Codec[T]) Name() string { return c.p.name }

// Schema returns the schema text as the user gave it to [NewCodec], with
// the insignificant whitespace removed and nothing else changed: defaults
// (bytes, fixed, longs above 2^53), names, aliases, doc and logical types
// stay exactly as written, so every client in every language that fetches
// it from the registry reads the same schema. This is the text to
// register. (It is not the Parsing Canonical Form, which drops defaults
// and so would change what the schema means to a reader.)
func (c *Codec[T]) Schema() string { return c.p.text }

// AppendEncode appends the Avro encoding of *v to dst and returns the
// extended slice. With a dst of sufficient capacity it does not allocate.
// On error dst is returned unchanged, with an error wrapping
// [ErrInvalidValue]; a value outside its logical type's domain is a
// *[ValueError] naming the field: a decimal with more fraction digits than
// its scale (never rounded) or more digits than its precision, a uuid
// string not in the 8-4-4-4-12 form, a time of day outside [0, 24h), a
// date or timestamp that does not fit its int or long.
func (c *Codec[T]) AppendEncode(dst []byte, v *T) ([]byte, error) {
	if v == nil {
		return dst, fmt.Errorf("schema: encode %s: %w: nil value", c.typeName, bare(ErrInvalidValue))
	}
	if err := checkValue(c.check, c.goType, c.typeName, unsafe.Pointer(v)); err != nil {
		return dst, err
	}
	out, err := c.b.encode(dst, unsafe.Pointer(v))
	if err != nil {
		return dst, fmt.Errorf("schema: encode %s: %w: %v", c.typeName, bare(ErrInvalidValue), err)
	}
	return out, nil
}

// AppendFramed appends a complete wire-format value, the header for schema
// id and the Avro body of *v, to dst. Reuse dst across calls (dst[:0]) to
// frame without allocating. On error dst is returned unchanged.
func (c *Codec[T]) AppendFramed(dst []byte, id int, v *T) ([]byte, error) {
	n := len(dst)
	out, err := c.AppendEncode(AppendHeader(dst, id), v)
	if err != nil {
		return dst[:n], err
	}
	return out, nil
}

// Decode decodes body, written with c's own schema, into *v. Fields absent
// from the body keep their values in *v, so pass a zeroed value unless you
// mean to merge. Errors are a *[DecodeError] wrapping [ErrTruncated] or
// [ErrCorrupt]; hostile bytes never panic and never make the decoder
// allocate more than a small multiple of len(body).
func (c *Codec[T]) Decode(body []byte, v *T) error {
	return c.decodeWith(c.b.dec, -1, body, v)
}

// DecodeFrom decodes body, written with writer schema w, into *v, resolving
// w into c's schema by the Avro rules (fields added with defaults are
// filled, removed fields skipped, int→long→float→double and string↔bytes
// promoted, enum defaults applied). The resolved decoder is cached per
// writer ID; a writer with the same canonical form as c's schema is decoded
// directly. A writer c cannot read is a *[DecodeError] wrapping an
// *[IncompatibleError] (so errors.Is(err, [ErrIncompatible])).
func (c *Codec[T]) DecodeFrom(w *Writer, body []byte, v *T) error {
	if w == nil {
		return &DecodeError{Type: c.typeName, SchemaID: -1, Offset: -1, Err: fmt.Errorf("%w: nil writer", ErrInvalidConfig)}
	}
	if w.p.fp == c.p.fp {
		return c.decodeWith(c.b.dec, w.id, body, v)
	}
	res := c.resolve(w)
	if res.err != nil {
		return &DecodeError{Type: c.typeName, SchemaID: w.id, Offset: -1, Err: res.err}
	}
	return c.decodeWith(res.dec, w.id, body, v)
}

func (c *Codec[T]) resolve(w *Writer) *resolution {
	if r, ok := c.resolved.Load(w.id); ok && r.(*resolution).fp == w.p.fp {
		return r.(*resolution)
	}
	res := &resolution{fp: w.p.fp}
	if why := canRead(c.p, w.p); why != "" {
		res.err = &IncompatibleError{Level: Backward, Reason: fmt.Sprintf("reader %s cannot read writer schema %d: %s", c.p.name, w.id, why)}
	} else if dec, err := c.b.decoderFor(c.p, w.p); err != nil {
		res.err = &IncompatibleError{Level: Backward, Reason: fmt.Sprintf("resolving writer schema %d: %v", w.id, err)}
	} else {
		res.dec = dec
	}
	c.resolved.Store(w.id, res)
	return res
}

func (c *Codec[T]) decodeWith(dec avro.ValDecoder, id int, body []byte, v *T) error {
	if v == nil {
		return &DecodeError{Type: c.typeName, SchemaID: id, Offset: -1, Err: fmt.Errorf("%w: nil target", ErrInvalidConfig)}
	}
	if at, err := decode(dec, body, unsafe.Pointer(v)); err != nil {
		return &DecodeError{Type: c.typeName, SchemaID: id, Offset: at, Err: err}
	}
	return nil
}
