package schema

import (
	"bytes"
	"math"
	"testing"
)

type floats struct {
	F float32 `avro:"f"`
	D float64 `avro:"d"`
}

const floatsSchema = `{"type":"record","name":"Floats","namespace":"t","fields":[
	{"name":"f","type":"float"},{"name":"d","type":"double"}]}`

// TestFloatsLittleEndian protects float and double on every host: the
// Avro spec writes them as IEEE 754 bits in little-endian order. The
// fork read them through unsafe in the host's order, so a big-endian
// host (s390x, ppc64) read 1.5 as 3.0e-319 (issue 20). Known vectors,
// both ways.
func TestFloatsLittleEndian(t *testing.T) {
	c := mustCodec[floats](t, floatsSchema)
	cases := []struct {
		v    floats
		body []byte
	}{
		{floats{1.5, 1.5}, []byte{0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x3f}},
		{floats{-2.25, -2.25}, []byte{0x00, 0x00, 0x10, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xc0}},
		{floats{float32(math.Inf(1)), math.SmallestNonzeroFloat64}, []byte{0x00, 0x00, 0x80, 0x7f, 0x01, 0, 0, 0, 0, 0, 0, 0}},
	}
	for _, tc := range cases {
		var got floats
		if err := c.Decode(tc.body, &got); err != nil {
			t.Fatal(err)
		}
		if got != tc.v {
			t.Fatalf("Decode(% x) = %+v, want %+v", tc.body, got, tc.v)
		}
		enc, err := c.AppendEncode(nil, &tc.v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, tc.body) {
			t.Fatalf("AppendEncode(%+v) = % x, want % x", tc.v, enc, tc.body)
		}
	}
	// A float promoted to double through a writer schema, and skipped.
	w, err := NewWriter(9, `{"type":"record","name":"Floats","namespace":"t","fields":[
		{"name":"x","type":"double"},{"name":"f","type":"float"},{"name":"d","type":"float"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte{0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x10, 0xc0}
	var got floats
	if err := c.DecodeFrom(w, body, &got); err != nil || got != (floats{1.5, -2.25}) {
		t.Fatalf("DecodeFrom = %+v, %v; want {1.5 -2.25}", got, err)
	}
}
