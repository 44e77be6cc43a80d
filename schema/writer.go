package schema

import "sync"

// Writer is a writer schema: the schema a record's producer encoded it with,
// found by the ID in the record's header. Get one from [Registry.Writer] (or
// [NewWriter] when the schema text is at hand) and pass it to
// [Codec.DecodeFrom]. A Writer is immutable and safe for concurrent use.
type Writer struct {
	id int
	p  parsed

	// The generic decoder of Decode, built on first use: most writers are
	// only ever resolved into a Codec.
	anyOnce sync.Once
	anyDec  anyDecoder
	anyErr  error
}

// NewWriter parses avsc as the writer schema registered under id, with
// the schemas it references, dependencies first (only their Schema texts
// are used). A schema that does not parse is an error wrapping
// [ErrInvalid].
func NewWriter(id int, avsc string, refs ...Reference) (*Writer, error) {
	texts := make([]string, len(refs))
	for i, r := range refs {
		texts[i] = r.Schema
	}
	p, err := parse(avsc, texts...)
	if err != nil {
		return nil, err
	}
	return &Writer{id: id, p: p}, nil
}

// ID returns the schema's registry ID.
func (w *Writer) ID() int { return w.id }

// Name returns the full Avro name of the writer's record, e.g.
// "com.example.orders.Created"; consumers dispatch on it. It is empty for a
// schema whose top level is not a named type.
func (w *Writer) Name() string { return w.p.name }

// Schema returns the schema as normalized JSON (see [Codec.Schema]).
func (w *Writer) Schema() string { return w.p.text }

// Decode decodes body, written with w, into a generic value, for a tool
// that shows records whose Go type it does not know (dlq's Show): encode
// the result with encoding/json to print it. A record or a map is a
// map[string]any, an array a []any. A union is nil for its null branch;
// another branch is its bare value when every branch of the union is null
// or a primitive type (logical ones included), else a map[string]any with
// one key, the branch's type name (a named type's full name), as in Avro's
// JSON encoding. Strings and enum symbols
// are strings, bytes []byte, fixed a [N]byte, int an int, long an int64,
// float a float32, double a float64, boolean a bool; date and the
// timestamps are a time.Time, time-millis and time-micros a time.Duration,
// decimal a *big.Rat.
//
// Decoding is bounded and never panics, as [Codec.Decode]'s. A schema in
// which a named type contains itself decodes bodies up to 256 KiB only:
// the generic decoder recurses once per level of nesting, and a longer
// hostile body could nest deep enough to exhaust the stack. Errors are a
// *[DecodeError] (Type "any") wrapping [ErrTruncated] or [ErrCorrupt], or
// [ErrUnusableSchema] for a schema no decoder can be built for or a
// recursive schema's body over the bound. Decode is safe for concurrent
// use.
func (w *Writer) Decode(body []byte) (any, error) {
	w.anyOnce.Do(func() { w.anyDec, w.anyErr = newAnyDecoder(w.p) })
	if w.anyErr != nil {
		return nil, &DecodeError{Type: "any", SchemaID: w.id, Offset: -1, Err: w.anyErr}
	}
	v, at, err := w.anyDec.decode(body)
	if err != nil {
		return nil, &DecodeError{Type: "any", SchemaID: w.id, Offset: at, Err: err}
	}
	return v, nil
}
