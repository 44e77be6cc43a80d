package schema

import (
	"testing"
)

type flatNode struct {
	X int64 `avro:"x"`
}

// TestRecursiveWriterSkipped protects the consumer process from a writer
// schema that recurses through a field the reader does not have: building
// the decoder that skips it recursed for ever and killed the process with a
// fatal stack overflow (no recover can catch one). The skipped data is
// finite, so it must decode, however deep it nests up to the 100,000
// levels TestSkipDepthBounded allows.
func TestRecursiveWriterSkipped(t *testing.T) {
	reader := `{"type":"record","name":"Node","fields":[{"name":"x","type":"long"}]}`
	writer := `{"type":"record","name":"Node","fields":[
		{"name":"kids","type":{"type":"array","items":"Node"}},
		{"name":"next","type":["null","Node"]},
		{"name":"x","type":"int"}]}`
	c, err := NewCodec[flatNode](reader)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(7, writer)
	if err != nil {
		t.Fatal(err)
	}
	// kids: [Node{kids: [], next: null, x: 2}], next: null, x: 3
	var v flatNode
	if err := c.DecodeFrom(w, []byte{2, 0, 0, 4, 0, 0, 6}, &v); err != nil || v.X != 3 {
		t.Fatalf("DecodeFrom = %+v, %v; want x 3", v, err)
	}
	// A chain nested 20,000 deep through "next".
	const depth = 20000
	var body []byte
	for range depth {
		body = append(body, 0, 2) // kids: [], next: branch 1 (Node)
	}
	body = append(body, 0, 0, 8) // innermost: kids [], next null, x 4
	for range depth {
		body = append(body, 10) // x: 5 at every outer level
	}
	v = flatNode{}
	if err := c.DecodeFrom(w, body, &v); err != nil || v.X != 5 {
		t.Fatalf("deep DecodeFrom = %+v, %v; want x 5", v, err)
	}
	// Truncated deep data is an error, not a crash.
	if err := c.DecodeFrom(w, body[:len(body)/2], &v); err == nil {
		t.Fatal("truncated recursive body decoded without error")
	}
}
