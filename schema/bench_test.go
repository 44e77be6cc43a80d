package schema

import (
	"testing"

	avro "github.com/ordo-go/ordo/schema/internal/avro"
)

// The budget (DESIGN.md): encode and frame at most 1.15× hamba's Marshal,
// no extra allocation; decode likewise. "hamba" is the library's own API,
// as copied in the fork (internal/avro): the cost of ordo's layer over it. Compare with benchstat:
//
//	go test -run x -bench 'Encode|Decode$' -count 6 ./schema > bench.txt
//	benchstat -col /impl bench.txt
//
// Encode is AppendFramed into a reused buffer against avro.Marshal; Decode
// is Decode against avro.Unmarshal, on the same event.

func BenchmarkEncode(b *testing.B) {
	c := mustCodec[Created](b, createdV1)
	sch := avro.MustParse(createdV1)
	v := sampleCreated()
	b.Run("impl=ordo", func(b *testing.B) {
		buf := make([]byte, 0, 512)
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if buf, err = c.AppendFramed(buf[:0], 42, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=hamba", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := avro.Marshal(sch, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	c := mustCodec[Created](b, createdV1)
	sch := avro.MustParse(createdV1)
	in := sampleCreated()
	body, err := c.AppendEncode(nil, &in)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("impl=ordo", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v Created
			if err := c.Decode(body, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=hamba", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v Created
			if err := avro.Unmarshal(sch, body, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecodeFrom measures decoding through a resolved writer schema
// (cache warm), for reference.
func BenchmarkDecodeFrom(b *testing.B) {
	c1 := mustCodec[userV1](b, userV1Schema)
	c2 := mustCodec[userV2](b, userV2Schema)
	w1, err := NewWriter(1, userV1Schema)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := c1.AppendEncode(nil, &userV1{ID: 1, Name: "n"})
	b.ReportAllocs()
	for b.Loop() {
		var v userV2
		if err := c2.DecodeFrom(w1, body, &v); err != nil {
			b.Fatal(err)
		}
	}
}
