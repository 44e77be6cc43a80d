package avro

import (
	"fmt"
	"unsafe"
)

func createSkipDecoder(schema Schema) ValDecoder {
	return (&skipBuilder{}).of(schema)
}

// skipBuilder builds the skip decoder of one schema, each record's once
// (ordo fork). A reference is how a schema recurses (a Node whose field
// holds Nodes): upstream built the referenced record's decoder again at
// each reference, which never ended for a recursive writer schema (a
// fatal stack overflow, no recover). Here a reference returns the decoder
// of its record, still under construction when the reference is inside
// it, so a recursive schema has a decoder of its own size whatever depth
// the data nests to.
type skipBuilder struct {
	records map[*RecordSchema]*recordSkipDecoder
}

func (b *skipBuilder) of(schema Schema) ValDecoder {
	switch schema.Type() {
	case Boolean:
		return &boolSkipDecoder{}

	case Int:
		return &intSkipDecoder{}

	case Long:
		return &longSkipDecoder{}

	case Float:
		return &floatSkipDecoder{}

	case Double:
		return &doubleSkipDecoder{}

	case String:
		return &stringSkipDecoder{}

	case Bytes:
		return &bytesSkipDecoder{}

	case Record:
		return b.record(schema.(*RecordSchema))

	case Ref:
		return b.of(schema.(*RefSchema).Schema())

	case Enum:
		return &enumSkipDecoder{symbols: schema.(*EnumSchema).Symbols()}

	case Array:
		return b.array(schema.(*ArraySchema))

	case Map:
		return b.mapOf(schema.(*MapSchema))

	case Union:
		return b.union(schema.(*UnionSchema))

	case Fixed:
		return &fixedSkipDecoder{size: schema.(*FixedSchema).Size()}

	case Null:
		// ordo fork: null is valid Avro and takes no bytes; upstream had no
		// skip decoder for it, so a writer field of type null the reader
		// lacks made every record undecodable.
		return nullSkipDecoder{}

	default:
		return &errorDecoder{err: fmt.Errorf("avro: schema type %s is unsupported", schema.Type())}
	}
}

type boolSkipDecoder struct{}

func (*boolSkipDecoder) Decode(_ unsafe.Pointer, r *Reader) {
	r.SkipBool()
}

type intSkipDecoder struct{}

func (*intSkipDecoder) Decode(_ unsafe.Pointer, r *Reader) {
	r.SkipInt()
}

type longSkipDecoder struct{}

func (*longSkipDecoder) Decode(_ unsafe.Pointer, r *Reader) {
	r.SkipLong()
}

type floatSkipDecoder struct{}

func (*floatSkipDecoder) Decode(_ unsafe.Pointer, r *Reader) {
	r.SkipFloat()
}

type doubleSkipDecoder struct{}

func (*doubleSkipDecoder) Decode(_ unsafe.Pointer, r *Reader) {
	r.SkipDouble()
}

type stringSkipDecoder struct{}

func (*stringSkipDecoder) Decode(_ unsafe.Pointer, r *Reader) {
	r.SkipString()
}

type bytesSkipDecoder struct{}

func (c *bytesSkipDecoder) Decode(_ unsafe.Pointer, r *Reader) {
	r.SkipBytes()
}

func (b *skipBuilder) record(rec *RecordSchema) ValDecoder {
	if dec, ok := b.records[rec]; ok {
		return dec
	}
	if b.records == nil {
		b.records = map[*RecordSchema]*recordSkipDecoder{}
	}
	dec := &recordSkipDecoder{}
	b.records[rec] = dec
	dec.decoders = make([]ValDecoder, len(rec.Fields()))
	for i, field := range rec.Fields() {
		dec.decoders[i] = b.of(field.Type())
	}
	return dec
}

type recordSkipDecoder struct {
	decoders []ValDecoder
}

// Decode skips a record. ordo fork: a writer type that recurses through
// a field the reader lacks nests as deep as the body says, one Go stack
// frame pair (about 128 bytes) per level: an 8 MB body of zero bytes
// would pass the runtime's 1 GB stack limit, a fatal error no recover
// catches. Skipped records nest at most Config.MaxSkipDepth deep.
func (d *recordSkipDecoder) Decode(_ unsafe.Pointer, r *Reader) {
	if r.skipDepth >= r.cfg.getMaxSkipDepth() {
		r.ReportError("skip record", fmt.Sprintf("nested deeper than %d (Config.MaxSkipDepth)", r.cfg.getMaxSkipDepth()))
		return
	}
	r.skipDepth++
	for _, decoder := range d.decoders {
		decoder.Decode(nil, r)
		if r.Error != nil {
			break
		}
	}
	r.skipDepth--
}

type enumSkipDecoder struct {
	symbols []string
}

func (c *enumSkipDecoder) Decode(_ unsafe.Pointer, r *Reader) {
	r.SkipInt()
}

// nullSkipDecoder skips a null: nothing (ordo fork).
type nullSkipDecoder struct{}

func (nullSkipDecoder) Decode(unsafe.Pointer, *Reader) {}

// ordo fork: the array and map skip decoders read their blocks through
// readBlock (reader_block.go), which bounds each count by the bytes left
// and Config.MaxCollectionItems, and stop at the first error. Upstream
// trusted any count and looped on after EOF: 2^40 declared items took
// 2^40 iterations.

func (b *skipBuilder) array(arr *ArraySchema) ValDecoder {
	return &sliceSkipDecoder{
		decoder:  b.of(arr.Items()),
		itemSize: minEncodedSize(arr.Items()),
	}
}

type sliceSkipDecoder struct {
	decoder  ValDecoder
	itemSize int
}

func (d *sliceSkipDecoder) Decode(_ unsafe.Pointer, r *Reader) {
	var total int64
	for {
		l, size := r.readBlock("skip array", d.itemSize, &total)
		if l == 0 {
			return
		}
		if size > 0 {
			r.SkipNBytes(int(size))
			continue
		}
		for range l {
			d.decoder.Decode(nil, r)
			if r.Error != nil {
				return
			}
		}
	}
}

func (b *skipBuilder) mapOf(m *MapSchema) ValDecoder {
	return &mapSkipDecoder{
		decoder:  b.of(m.Values()),
		itemSize: mapItemSize(m),
	}
}

type mapSkipDecoder struct {
	decoder  ValDecoder
	itemSize int
}

func (d *mapSkipDecoder) Decode(_ unsafe.Pointer, r *Reader) {
	var total int64
	for {
		l, size := r.readBlock("skip map", d.itemSize, &total)
		if l == 0 {
			return
		}
		if size > 0 {
			r.SkipNBytes(int(size))
			continue
		}
		for range l {
			r.SkipString()
			d.decoder.Decode(nil, r)
			if r.Error != nil {
				return
			}
		}
	}
}

// skipDecoderOfUnion builds the skip decoder of each branch once (ordo
// fork: upstream built one per value skipped, and had none for null).
func (b *skipBuilder) union(union *UnionSchema) ValDecoder {
	decs := make([]ValDecoder, len(union.Types()))
	for i, t := range union.Types() {
		decs[i] = b.of(t)
	}
	return &unionSkipDecoder{schema: union, decoders: decs}
}

type unionSkipDecoder struct {
	schema   *UnionSchema
	decoders []ValDecoder
}

func (d *unionSkipDecoder) Decode(_ unsafe.Pointer, r *Reader) {
	idx, resSchema := getUnionSchema(d.schema, r)
	if resSchema == nil {
		return
	}
	d.decoders[idx].Decode(nil, r)
}

type fixedSkipDecoder struct {
	size int
}

func (d *fixedSkipDecoder) Decode(_ unsafe.Pointer, r *Reader) {
	r.SkipNBytes(d.size)
}
