package schema

// Writer is a writer schema: the schema a record's producer encoded it with,
// found by the ID in the record's header. Get one from [Registry.Writer] (or
// [NewWriter] when the schema text is at hand) and pass it to
// [Codec.DecodeFrom]. A Writer is immutable and safe for concurrent use.
type Writer struct {
	id int
	p  parsed
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
