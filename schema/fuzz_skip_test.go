package schema

import (
	"math"
	"testing"
)

// FuzzDecodeFromSkip protects the consumer's resolution path, the one the
// other targets never reach: a writer schema that differs from the reader
// schema, so that DecodeFrom skips the writer's extra fields (arrays,
// maps, null, unions, nested, empty and recursive records) and promotes
// others (int→long, float→double, string→bytes). On any body it must
// return within seconds (a block count that lies is an error, not 2^40
// iterations) with nil or a *DecodeError wrapping ErrTruncated or
// ErrCorrupt, and never panic. And skipping must agree with reading: a
// body the writer's own codec decodes, the reader decodes too, to the
// same shared fields.
func FuzzDecodeFromSkip(f *testing.F) {
	reader := mustCodec[fzReader](f, fzReaderSchema)
	own := mustCodec[fzWriter](f, fzWriterSchema)
	writer, err := NewWriter(2, fzWriterSchema)
	if err != nil {
		f.Fatal(err)
	}
	exotic, err := NewWriter(3, fzExoticSchema)
	if err != nil {
		f.Fatal(err)
	}

	s := "s"
	for _, v := range []fzWriter{{Inner: fzInner{E: "A"}}, {
		ID: -5, Tags: []string{"a", "bb"}, Name: "ann", Attrs: map[string]*int32{"k": nil, "j": new(int32)},
		Score: 1.5, Nulls: make([]struct{}, 3), Empties: make([]fzEmpty, 2), Blob: "xyz",
		Inner: fzInner{XS: [][]struct{}{{{}}, nil}, M: map[string]fzEmpty{"e": {}}, E: "B", F: [4]byte{1, 2, 3, 4}},
		Opt:   &s,
	}} {
		body, err := own.AppendEncode(nil, &v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(false, body)
		f.Add(false, body[:len(body)/2])
	}
	// The 20-byte record of issue 19: id, then tags declaring 2^40 items
	// and carrying none.
	f.Add(false, zigzag(nil, 7, 1<<40))
	f.Add(false, zigzag(nil, 7, -(1<<40), 0))
	f.Add(false, zigzag(nil, 7, math.MinInt64, 0, 1<<40, 0))
	f.Add(false, zigzag(nil, 7, 0, 0, 0, 0, 1<<24, 0))
	// exotic: id, name, score, blob, then u (branch 2, a Pair), node
	// (next, next, null, x), list of 1 Tree with no kids and x null.
	ex := append(zigzag(nil, 7, 1), 'a')
	ex = append(ex, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f)
	ex = zigzag(ex, 0, 2, 0, 0, 0, 1, 4, 1, 2, 1, 0, 0, 0)
	f.Add(true, ex)
	f.Add(true, zigzag(nil, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
	f.Add(true, zigzag(nil, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1<<40))

	f.Fuzz(func(t *testing.T, useExotic bool, body []byte) {
		w := writer
		if useExotic {
			w = exotic
		}
		var got fzReader
		err := within(t, func() error { return reader.DecodeFrom(w, body, &got) })
		checkDecodeErr(t, err)
		if useExotic {
			return
		}
		var full fzWriter
		if own.Decode(body, &full) != nil {
			return
		}
		if err != nil {
			t.Fatalf("the writer's codec reads the body, the reader skipping its extra fields does not: %v", err)
		}
		if got.ID != int64(full.ID) || got.Name != full.Name || string(got.Blob) != full.Blob ||
			math.Float64bits(got.Score) != math.Float64bits(float64(full.Score)) {
			t.Fatalf("skipping read %+v, reading whole read %+v", got, full)
		}
	})
}

// The reader's schema: four fields, every other one promoted from the
// writer's type.
const fzReaderSchema = `{"type":"record","name":"Fz","namespace":"t","fields":[
	{"name":"id","type":"long"},{"name":"name","type":"string"},
	{"name":"score","type":"double"},{"name":"blob","type":"bytes"}]}`

type fzReader struct {
	ID    int64   `avro:"id"`
	Name  string  `avro:"name"`
	Score float64 `avro:"score"`
	Blob  []byte  `avro:"blob"`
}

// The writer's schema: the reader's fields (id an int, score a float,
// blob a string) among extra fields of every kind, bound to a Go type so
// that the fuzzer can compare skipping with reading.
const fzWriterSchema = `{"type":"record","name":"Fz","namespace":"t","fields":[
	{"name":"id","type":"int"},
	{"name":"tags","type":{"type":"array","items":"string"}},
	{"name":"name","type":"string"},
	{"name":"attrs","type":{"type":"map","values":["null","int"]}},
	{"name":"nothing","type":"null"},
	{"name":"score","type":"float"},
	{"name":"nulls","type":{"type":"array","items":"null"}},
	{"name":"empties","type":{"type":"array","items":{"type":"record","name":"Empty","fields":[]}}},
	{"name":"blob","type":"string"},
	{"name":"inner","type":{"type":"record","name":"Inner","fields":[
		{"name":"n","type":"null"},
		{"name":"xs","type":{"type":"array","items":{"type":"array","items":"null"}}},
		{"name":"m","type":{"type":"map","values":"Empty"}},
		{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
		{"name":"f","type":{"type":"fixed","name":"F4","size":4}}]}},
	{"name":"opt","type":["null","string"]}]}`

type fzEmpty struct{}

type fzInner struct {
	N  struct{}           `avro:"n"`
	XS [][]struct{}       `avro:"xs"`
	M  map[string]fzEmpty `avro:"m"`
	E  string             `avro:"e"`
	F  [4]byte            `avro:"f"`
}

type fzWriter struct {
	ID      int32             `avro:"id"`
	Tags    []string          `avro:"tags"`
	Name    string            `avro:"name"`
	Attrs   map[string]*int32 `avro:"attrs"`
	Nothing struct{}          `avro:"nothing"`
	Score   float32           `avro:"score"`
	Nulls   []struct{}        `avro:"nulls"`
	Empties []fzEmpty         `avro:"empties"`
	Blob    string            `avro:"blob"`
	Inner   fzInner           `avro:"inner"`
	Opt     *string           `avro:"opt"`
}

// A writer no Go type binds to: unions of three branches, records that
// recurse through a union's first branch and through an array.
const fzExoticSchema = `{"type":"record","name":"Fz","namespace":"t","fields":[
	{"name":"id","type":"long"},{"name":"name","type":"string"},
	{"name":"score","type":"double"},{"name":"blob","type":"bytes"},
	{"name":"u","type":["null","string",{"type":"record","name":"Pair","fields":[
		{"name":"a","type":"null"},{"name":"b","type":["null","long"]}]}]},
	{"name":"node","type":{"type":"record","name":"Node","fields":[
		{"name":"next","type":["Node","null"]},{"name":"x","type":"int"}]}},
	{"name":"list","type":{"type":"array","items":{"type":"record","name":"Tree","fields":[
		{"name":"kids","type":{"type":"array","items":"Tree"}},
		{"name":"x","type":["null","Tree",{"type":"map","values":"null"}]}]}}}]}`
