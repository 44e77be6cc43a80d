package schema

import (
	"errors"
	"testing"
)

// These tests protect readers from writer fields they do not have, of
// every Avro type (issue 19, "A writer field of type null"): a v2 that
// adds a field of type "null" (valid Avro, and the gate accepts it) made
// every v2 record poison for v1 readers ("schema type null is
// unsupported"), a mass dead-lettering on a compatible deploy.

const (
	skipV1 = `{"type":"record","name":"Skip","namespace":"t","fields":[
		{"name":"id","type":"long"},{"name":"tail","type":"string"}]}`
	skipV2 = `{"type":"record","name":"Skip","namespace":"t","fields":[
		{"name":"id","type":"long"},{"name":"extra","type":%s},{"name":"tail","type":"string"}]}`
)

type skipped struct {
	ID   int64  `avro:"id"`
	Tail string `avro:"tail"`
}

// TestSkipEveryWriterType: a v1 reader skips v2's extra field of each
// type, exactly its bytes: the field after it reads back and nothing
// trails.
func TestSkipEveryWriterType(t *testing.T) {
	c := mustCodec[skipped](t, skipV1)
	cases := []struct {
		name, typ string
		extra     []byte // the extra field's encoding
	}{
		{"null", `"null"`, nil},
		{"boolean", `"boolean"`, []byte{1}},
		{"int", `"int"`, zigzag(nil, -300)},
		{"long", `"long"`, zigzag(nil, 1<<40)},
		{"float", `"float"`, []byte{0, 0, 0xc0, 0x3f}},
		{"double", `"double"`, []byte{0, 0, 0, 0, 0, 0, 0xf8, 0x3f}},
		{"string", `"string"`, append(zigzag(nil, 3), "abc"...)},
		{"bytes", `"bytes"`, append(zigzag(nil, 2), 0xff, 0)},
		{"enum", `{"type":"enum","name":"E","symbols":["A","B"]}`, zigzag(nil, 1)},
		{"fixed", `{"type":"fixed","name":"F","size":3}`, []byte{1, 2, 3}},
		{"uuid", `{"type":"string","logicalType":"uuid"}`, append(zigzag(nil, 36), "0190b7c8-0000-7000-8000-000000000000"...)},
		{"timestamp-millis", `{"type":"long","logicalType":"timestamp-millis"}`, zigzag(nil, 1700000000000)},
		{"[null,string] null", `["null","string"]`, zigzag(nil, 0)},
		{"[null,string] string", `["null","string"]`, append(zigzag(nil, 1, 1), 'x')},
		{"[string,null] null", `["string","null"]`, zigzag(nil, 1)},
		{"[null,record of nulls]", `["null",{"type":"record","name":"N","fields":[{"name":"a","type":"null"}]}]`, zigzag(nil, 1)},
		{"record of only null fields", `{"type":"record","name":"Ns","fields":[{"name":"a","type":"null"},{"name":"b","type":"null"}]}`, nil},
		{"empty record", `{"type":"record","name":"Em","fields":[]}`, nil},
		{"record with a null field", `{"type":"record","name":"Rn","fields":[{"name":"a","type":"null"},{"name":"b","type":"int"}]}`, zigzag(nil, 5)},
		{"array<null> of 3", `{"type":"array","items":"null"}`, zigzag(nil, 3, 0)},
		{"array<[null,int]>", `{"type":"array","items":["null","int"]}`, zigzag(nil, 2, 0, 1, 9, 0)},
		{"map<null> of 2", `{"type":"map","values":"null"}`, append(append(zigzag(nil, 2, 1), 'a'), append(zigzag(nil, 1), 'b', 0)...)},
		{"map<string> sized block", `{"type":"map","values":"string"}`, append(zigzag(nil, -1, 4, 1), 'k', 2, 'v', 0)},
		{"array<array<null>>", `{"type":"array","items":{"type":"array","items":"null"}}`, zigzag(nil, 2, 5, 0, 0, 0)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, err := NewWriter(2, withField(skipV2, tc.typ))
			if err != nil {
				t.Fatal(err)
			}
			body := append(zigzag(nil, 7), tc.extra...)
			body = append(zigzag(body, 2), "ok"...)
			var got skipped
			if err := within(t, func() error { return c.DecodeFrom(w, body, &got) }); err != nil {
				t.Fatalf("DecodeFrom: %v", err)
			}
			if got != (skipped{ID: 7, Tail: "ok"}) {
				t.Fatalf("got %+v, want {7 ok}", got)
			}
		})
	}
}

// TestSkipNullRoundTrip: what ordo's own encoder writes for a v2 with a
// null field, a nullable field and a record of nulls, a v1 reader reads.
func TestSkipNullRoundTrip(t *testing.T) {
	type nulls struct {
		A struct{} `avro:"a"`
	}
	type v2 struct {
		ID    int64    `avro:"id"`
		Extra struct{} `avro:"extra"`
		Opt   *string  `avro:"opt"`
		Rec   nulls    `avro:"rec"`
		Tail  string   `avro:"tail"`
	}
	schema := `{"type":"record","name":"Skip","namespace":"t","fields":[
		{"name":"id","type":"long"},{"name":"extra","type":"null"},
		{"name":"opt","type":["null","string"]},
		{"name":"rec","type":{"type":"record","name":"Nulls","fields":[{"name":"a","type":"null"}]}},
		{"name":"tail","type":"string"}]}`
	c2 := mustCodec[v2](t, schema)
	c1 := mustCodec[skipped](t, skipV1)
	w, err := NewWriter(2, c2.Schema())
	if err != nil {
		t.Fatal(err)
	}
	s := "x"
	for _, v := range []v2{{ID: 1, Tail: "a"}, {ID: 2, Opt: &s, Tail: "b"}} {
		body, err := c2.AppendEncode(nil, &v)
		if err != nil {
			t.Fatal(err)
		}
		var got skipped
		if err := within(t, func() error { return c1.DecodeFrom(w, body, &got) }); err != nil {
			t.Fatalf("DecodeFrom: %v", err)
		}
		if got.ID != v.ID || got.Tail != v.Tail {
			t.Fatalf("got %+v from %+v", got, v)
		}
	}
}

// TestSkipRecursiveUnionAtEnd: a skipped writer field that recurses
// through the first branch of a union (["Node","null"]) in a body that
// ends early. Upstream read the missing union index as 0 and took the
// Node branch again, for ever: a fatal stack overflow, no recover.
func TestSkipRecursiveUnionAtEnd(t *testing.T) {
	c := mustCodec[skipped](t, skipV1)
	w, err := NewWriter(2, withField(skipV2, `{"type":"record","name":"Node","fields":[{"name":"next","type":["Node","null"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var got skipped
	for _, body := range [][]byte{zigzag(nil, 7), zigzag(nil, 7, 0, 0, 0)} {
		wantPoison(t, within(t, func() error { return c.DecodeFrom(w, body, &got) }))
	}
	// And a chain that ends: next, next, null; tail "ok".
	body := append(zigzag(nil, 7, 0, 0, 1, 2), "ok"...)
	if err := within(t, func() error { return c.DecodeFrom(w, body, &got) }); err != nil || got.Tail != "ok" {
		t.Fatalf("DecodeFrom = %+v, %v", got, err)
	}
}

// TestSkipRecursiveBuiltOnce: the skip decoder of a recursive writer type
// is built once per record type and shared by every depth, so skipping
// data nested 1,000 deep allocates nothing. Upstream built a union's
// branch decoders anew for every value it skipped: allocations grew with
// the depth of the data, per record.
func TestSkipRecursiveBuiltOnce(t *testing.T) {
	c := mustCodec[skipped](t, skipV1)
	w, err := NewWriter(2, withField(skipV2, `{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	body := zigzag(nil, 7)
	for range 1000 {
		body = zigzag(body, 1) // next: Node
	}
	body = append(zigzag(body, 0, 2), "ok"...) // next: null; tail "ok"
	var got skipped
	if err := c.DecodeFrom(w, body, &got); err != nil || got.Tail != "ok" {
		t.Fatalf("DecodeFrom = %+v, %v", got, err)
	}
	allocs := testing.AllocsPerRun(20, func() { _ = c.DecodeFrom(w, body, &got) })
	if allocs > 2 {
		t.Fatalf("skipping 1,000 levels allocates %.0f times per record, want at most 2 (the tail string)", allocs)
	}
}

// TestSkipDepthBounded: a skipped writer type that recurses nests as deep
// as its body says, one stack frame pair (about 128 bytes) per level, and
// past the runtime's 1 GB stack limit (an 8 MB body) the process dies, no
// recover. Skipped records nest at most 100,000 deep (the default
// MaxSkipDepth): that deep decodes, one more is ErrCorrupt (before: it
// recursed to the body's end, 128 MB of stack per MB of body).
func TestSkipDepthBounded(t *testing.T) {
	c := mustCodec[skipped](t, skipV1)
	w, err := NewWriter(2, withField(skipV2, `{"type":"record","name":"Node","fields":[{"name":"next","type":["Node","null"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	chain := func(nodes int) []byte { // nodes Nodes, the last one's next null; tail "ok"
		body := append(zigzag(nil, 7), make([]byte, nodes-1)...)
		return append(zigzag(body, 1, 2), "ok"...)
	}
	var got skipped
	if err := within(t, func() error { return c.DecodeFrom(w, chain(100_000), &got) }); err != nil || got.Tail != "ok" {
		t.Fatalf("100,000 deep: %+v, %v", got, err)
	}
	err = within(t, func() error { return c.DecodeFrom(w, chain(100_001), &got) })
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("100,001 deep: %v, want ErrCorrupt", err)
	}
}
