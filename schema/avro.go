package schema

// This file, bind.go, codec.go, compat.go and logical.go are the seam to
// the Avro library: the only files of the package that import it (tests
// aside). The library is ordo's fork of hamba/avro/v2 in internal/avro
// (hamba is archived upstream; FORK.md there lists what the fork fixes),
// and it is the only Avro code in the SDK: each schema is parsed once, by
// parse below, and the codecs (encoding, decoding, writer-to-reader
// resolution), the compatibility gate in compat.go and the logical-type
// checks in logical.go all read that one parsed schema. Replacing the
// library means rewriting these files, nothing exported changes.

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/modern-go/reflect2"

	avro "github.com/ordo-go/ordo/schema/internal/avro"
)

// parsed is a schema parsed once, with the texts and identity ordo needs.
type parsed struct {
	sch  avro.Schema // the fork's parsed schema, for the codecs and the gate
	name string      // full name of the top-level named type, "" if unnamed
	text string      // the user's JSON, whitespace removed (see compactSchema)
	fp   [32]byte    // SHA-256 of the Parsing Canonical Form: the binary layout
}

// parse parses avsc with a fresh name cache. hamba's Parse shares a global
// cache of named types between every call, so a schema that refers to an
// undefined name could silently pick up a type from an unrelated schema
// parsed earlier in the process; a fresh cache makes each parse hermetic.
//
// refs are the texts of the schemas avsc references (schema references:
// named types defined under other subjects), dependencies first: they are
// parsed into the same cache first, so avsc can use their names and
// nothing else.
func parse(avsc string, refs ...string) (p parsed, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: parser panic: %v", ErrInvalid, r)
		}
	}()
	cache := &avro.SchemaCache{}
	fps := make([][32]byte, 0, len(refs))
	for i, ref := range refs {
		if err := checkJSON(ref); err != nil {
			return parsed{}, fmt.Errorf("%w: reference %d: %v", ErrInvalid, i+1, err)
		}
		rs, err := avro.ParseWithCache(ref, "", cache)
		if err != nil {
			return parsed{}, fmt.Errorf("%w: reference %d: %v", ErrInvalid, i+1, err)
		}
		fps = append(fps, rs.Fingerprint())
	}
	if err := checkJSON(avsc); err != nil {
		return parsed{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	sch, err := avro.ParseWithCache(avsc, "", cache)
	if err != nil {
		return parsed{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	text, err := compactSchema(avsc)
	if err != nil {
		return parsed{}, fmt.Errorf("%w: normalize: %v", ErrInvalid, err)
	}
	p = parsed{sch: sch, text: text, fp: sch.Fingerprint()}
	if len(refs) > 0 {
		// The canonical form names a referenced type without its
		// definition: two writers using different versions of a
		// referenced type must not share a fingerprint (DecodeFrom
		// decodes without resolution when fingerprints are equal). The
		// references' order does not matter, only which they are.
		slices.SortFunc(fps, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
		h := sha256.New()
		for i, fp := range fps {
			if i == 0 || fp != fps[i-1] {
				h.Write(fp[:])
			}
		}
		h.Write(p.fp[:])
		copy(p.fp[:], h.Sum(nil))
	}
	if n, ok := sch.(avro.NamedSchema); ok {
		p.name = n.FullName()
	}
	return p, nil
}

// checkJSON reports a schema text that looks like JSON (an object, an
// array or a string) but is not valid JSON, with the byte offset where it
// goes wrong and the text just before it. Why: the Avro parser takes text
// that does not parse as JSON for a bare type name and answers "unknown
// type: {...}", which hides a missing brace. A bare name (string, a named
// type) is not JSON and passes to the parser unchanged.
func checkJSON(avsc string) error {
	t := strings.TrimLeft(avsc, " \t\r\n")
	if t == "" || !strings.ContainsRune("{[\"", rune(t[0])) || json.Valid([]byte(avsc)) {
		return nil
	}
	var v any
	err := json.Unmarshal([]byte(avsc), &v)
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return fmt.Errorf("not valid JSON: %v", err)
	}
	end := min(len(avsc), int(se.Offset))
	near := strings.Join(strings.Fields(avsc[max(0, end-24):end]), " ")
	return fmt.Errorf("not valid JSON: %v at byte %d of %d, just after …%s", se, se.Offset, len(avsc), near)
}

// compactSchema is the text ordo registers: the user's own JSON with the
// insignificant whitespace removed, a normalisation every JSON parser
// agrees with. It is not a re-serialisation of the parsed schema, which
// would turn a bytes default "\u00ff" into base64, a fixed default into a
// list of numbers and a long default above 2^53 into a float: every client
// that fetched the schema from the registry would then read another schema.
// A primitive given as a bare name ("string") is a JSON string too.
func compactSchema(avsc string) (string, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(avsc)); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// parseRecord parses avsc and requires a named record at the top.
func parseRecord(avsc string, refs ...string) (parsed, error) {
	p, err := parse(avsc, refs...)
	if err != nil {
		return parsed{}, err
	}
	if p.sch.Type() != avro.Record {
		return parsed{}, fmt.Errorf("%w: top-level type is %s, want a named record", ErrInvalid, p.sch.Type())
	}
	return p, nil
}

// Decoding limits. A length prefix in a hostile body can claim any size, and
// hamba allocates what a prefix claims before it notices the body is too
// short. No string, bytes or array in a body can legitimately be longer than
// the body (an array of nulls aside), so each decode uses the limits of the
// smallest tier that holds the body: a prefix can make the decoder allocate
// at most 16 times the body (or 256 bytes), and never more than maxTier.
// Array lengths are bounded the same way (element count, not bytes).
const (
	minTier = 1 << 8
	maxTier = 1 << 28 // 256 MiB: far above any Kafka record size in use
)

// readerTier is a pool of hamba readers bound to one set of limits.
type readerTier struct {
	limit int
	pool  sync.Pool
}

var readerTiers = func() []*readerTier {
	var tiers []*readerTier
	for limit := minTier; limit <= maxTier; limit <<= 4 {
		api := avro.Config{MaxByteSliceSize: limit, MaxSliceAllocSize: limit}.Freeze()
		t := &readerTier{limit: limit}
		t.pool.New = func() any { return avro.NewReader(nil, 0, avro.WithReaderConfig(api)) }
		tiers = append(tiers, t)
	}
	return tiers
}()

func tierFor(n int) *readerTier {
	for _, t := range readerTiers {
		if n <= t.limit {
			return t
		}
	}
	return readerTiers[len(readerTiers)-1]
}

// binding is a Go type bound to a schema: hamba's encoder and decoder for it,
// built in an API of its own. hamba caches encoders by the schema's
// canonical fingerprint, which ignores defaults, so two schemas that differ
// only in a default would share an encoder (and write the wrong default)
// inside one API.
type binding struct {
	api avro.API
	typ reflect2.Type // *T
	enc avro.ValEncoder
	dec avro.ValDecoder
}

func newBinding(p parsed, ptrType reflect2.Type) (b *binding, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: building codec: %v", ErrSchemaMismatch, r)
		}
	}()
	api := avro.Config{}.Freeze()
	return &binding{
		api: api,
		typ: ptrType,
		enc: api.EncoderOf(p.sch, ptrType),
		dec: api.DecoderOf(p.sch, ptrType),
	}, nil
}

// decoderFor builds the decoder that reads data written with writer into the
// bound type, resolving writer into the reader schema r.
func (b *binding) decoderFor(r, w parsed) (dec avro.ValDecoder, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("resolving writer schema: %v", p)
		}
	}()
	// A fresh checker per resolution: hamba's checker caches verdicts by
	// canonical fingerprint, which ignores defaults (see compat.go).
	res, err := avro.NewSchemaCompatibility().Resolve(r.sch, w.sch)
	if err != nil {
		return nil, err
	}
	return b.api.DecoderOf(res, b.typ), nil
}

// anyDecoder decodes bodies written with one schema into generic values
// ([Writer.Decode]). It has an API of its own, as a binding does, so its
// decoders live and die with the Writer: an API's cache only grows.
type anyDecoder struct {
	dec       avro.ValDecoder
	recursive bool // a named type contains itself: see maxRecursiveBody
}

// maxRecursiveBody bounds the body a recursive schema is decoded from
// generically. The generic decoder recurses on the goroutine's stack once
// per level of nesting, about 1.1 KB a level, and a level can cost the body
// one byte (a union index): a hostile 1 MiB body nested ["null", R] deep
// exhausts Go's 1 GB stack limit, a fatal error no recover catches. 256 KiB
// keeps the worst case near a quarter of it (TestWriterDecodeDeep).
const maxRecursiveBody = 256 << 10

var anyType = reflect2.TypeOf((*any)(nil))

func newAnyDecoder(p parsed) (d anyDecoder, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: building generic decoder: %v", ErrUnusableSchema, r)
		}
	}()
	return anyDecoder{
		dec:       avro.Config{}.Freeze().DecoderOf(p.sch, anyType),
		recursive: recursive(p.sch, map[avro.NamedSchema]bool{}),
	}, nil
}

func (d anyDecoder) decode(body []byte) (v any, at int, err error) {
	if d.recursive && len(body) > maxRecursiveBody {
		return nil, -1, fmt.Errorf("%w: a body of %d bytes with a recursive schema: generic decoding stops at %d (nesting that deep could exhaust the stack)",
			ErrUnusableSchema, len(body), maxRecursiveBody)
	}
	at, err = decode(d.dec, body, unsafe.Pointer(&v))
	return v, at, err
}

// recursive reports whether s reaches a named type from inside itself.
// The parser turns every use of a name after its definition into a
// *RefSchema, so recursion is a reference to a type on the path.
func recursive(s avro.Schema, path map[avro.NamedSchema]bool) bool {
	switch t := s.(type) {
	case *avro.RefSchema:
		return path[t.Schema()]
	case *avro.RecordSchema:
		path[t] = true
		defer delete(path, t)
		for _, f := range t.Fields() {
			if recursive(f.Type(), path) {
				return true
			}
		}
	case *avro.ArraySchema:
		return recursive(t.Items(), path)
	case *avro.MapSchema:
		return recursive(t.Values(), path)
	case *avro.UnionSchema:
		for _, b := range t.Types() {
			if recursive(b, path) {
				return true
			}
		}
	}
	return false
}

// writerAPI writes arrays and maps as Java and fastavro write them: a
// block count, not the negative count and byte size hamba writes by default
// (which the spec allows, but then equal values are other bytes in other
// clients).
var writerAPI = avro.Config{DisableBlockSizeHeader: true}.Freeze()

var writerPool = sync.Pool{New: func() any { return avro.NewWriter(nil, 512, avro.WithWriterConfig(writerAPI)) }}

// maxPooledWriter bounds the buffer a pooled writer may keep.
const maxPooledWriter = 1 << 20

// encode appends the Avro encoding of the value at ptr to dst.
func (b *binding) encode(dst []byte, ptr unsafe.Pointer) (out []byte, err error) {
	w := writerPool.Get().(*avro.Writer)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("encoder panic: %v", r)
			out = dst
		}
		if cap(w.Buffer()) <= maxPooledWriter {
			w.Reset(nil)
			w.Error = nil
			writerPool.Put(w)
		}
	}()
	w.Reset(nil)
	w.Error = nil
	b.enc.Encode(ptr, w)
	if w.Error != nil {
		return dst, w.Error
	}
	return append(dst, w.Buffer()...), nil
}

// decode decodes body with dec into the value at ptr. It reports truncation
// (hamba's Unmarshal silently accepts a body that ends early), trailing
// bytes, and recovers from any panic in the decoder. On an error, at is
// how far into body the decoder got (DecodeError.Offset).
func decode(dec avro.ValDecoder, body []byte, ptr unsafe.Pointer) (at int, err error) {
	tier := tierFor(len(body))
	r := tier.pool.Get().(*avro.Reader)
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: decoder panic: %v", ErrCorrupt, p)
		}
		if err != nil {
			at = min(r.InputOffset(), len(body))
		}
		r.Reset(nil)
		r.Error = nil
		tier.pool.Put(r)
	}()
	r.Reset(body)
	r.Error = nil
	dec.Decode(ptr, r)
	if r.Error != nil {
		return 0, classify(r.Error)
	}
	// Peek sets io.EOF exactly when every byte was consumed.
	if r.Peek(); r.Error == nil {
		return 0, fmt.Errorf("%w: trailing bytes after the record", ErrCorrupt)
	}
	return -1, nil
}

func classify(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: body ends early (%v)", ErrTruncated, err)
	}
	return fmt.Errorf("%w: %v", ErrCorrupt, err)
}
