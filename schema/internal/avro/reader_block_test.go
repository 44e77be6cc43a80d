package avro

import (
	"bytes"
	"testing"
	"time"
)

// The fork's own tests cover the paths package schema cannot reach: the
// generic reader (ReadNext, ReadArrayCB, ReadMapCB), the streaming
// Decoder and the fewest-bytes table the bounds rest on (reader_block.go).
// Package schema's decode_bound_test.go covers the codecs.

func zigzag(b []byte, ns ...int64) []byte {
	for _, n := range ns {
		u := uint64(n<<1) ^ uint64(n>>63)
		for u >= 0x80 {
			b = append(b, byte(u)|0x80)
			u >>= 7
		}
		b = append(b, byte(u))
	}
	return b
}

// bounded runs fn and fails the test if it has not returned in 5 s.
func bounded(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("still running after 5s: a block count is not bounded")
	}
}

// TestReadNextBlockCountBounded: the generic reader refuses counts the
// body cannot hold, and items of zero bytes past the maximum. Upstream
// called back once per declared item: 2^40 calls.
func TestReadNextBlockCountBounded(t *testing.T) {
	cases := []struct{ name, schema string }{
		{"array<string>", `{"type":"array","items":"string"}`},
		{"array<null>", `{"type":"array","items":"null"}`},
		{"map<null>", `{"type":"map","values":"null"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := MustParse(tc.schema)
			r := NewReader(nil, 0).Reset(zigzag(nil, 1<<40))
			bounded(t, func() { r.ReadNext(s) })
			if r.Error == nil {
				t.Fatal("ReadNext of 2^40 items in 0 bytes: no error")
			}
		})
	}
	t.Run("ReadArrayCB", func(t *testing.T) {
		r := NewReader(nil, 0).Reset(zigzag(nil, 1<<40))
		calls := 0
		bounded(t, func() { r.ReadArrayCB(func(*Reader) bool { calls++; return true }) })
		if r.Error == nil || calls != 0 {
			t.Fatalf("ReadArrayCB of 2^40: %d calls, err %v; want 0 calls and an error", calls, r.Error)
		}
	})
	t.Run("ReadMapCB", func(t *testing.T) {
		r := NewReader(nil, 0).Reset(zigzag(nil, 1<<40))
		bounded(t, func() { r.ReadMapCB(func(*Reader, string) bool { return true }) })
		if r.Error == nil {
			t.Fatal("ReadMapCB of 2^40: no error")
		}
	})
}

// TestDecoderBudgetPerValue: the streaming Decoder cannot know the bytes
// left, so the maximum bounds it: a value of 2^24 nulls decodes, and the
// next one too (the zero-byte budget is per value), while 2^40 declared
// strings stop at the stream's end, not after 2^40 iterations.
func TestDecoderBudgetPerValue(t *testing.T) {
	s := MustParse(`{"type":"array","items":"null"}`)
	stream := zigzag(nil, 1<<24, 0, 1<<24, 0)
	dec := NewDecoderForSchema(s, bytes.NewReader(stream))
	for i := range 2 {
		var v []struct{}
		bounded(t, func() {
			if err := dec.Decode(&v); err != nil {
				t.Errorf("value %d: %v", i, err)
			}
		})
		if len(v) != 1<<24 {
			t.Fatalf("value %d: %d items, want 2^24", i, len(v))
		}
	}
	var strs []string
	dec = NewDecoderForSchema(MustParse(`{"type":"array","items":"string"}`), bytes.NewReader(zigzag(nil, 1<<40, 1, 'a')))
	bounded(t, func() {
		if err := dec.Decode(&strs); err == nil {
			t.Error("2^40 strings in a 9-byte stream: no error")
		}
	})
	dec = NewDecoderForSchema(s, bytes.NewReader(zigzag(nil, 1<<24, 1, 0)))
	var v []struct{}
	bounded(t, func() {
		if err := dec.Decode(&v); err == nil {
			t.Error("2^24+1 nulls in one value: no error")
		}
	})
}

// TestMinEncodedSize: the fewest bytes each type takes, on which the
// remaining-bytes bound rests; too high would refuse honest bodies.
func TestMinEncodedSize(t *testing.T) {
	cases := []struct {
		schema string
		want   int
	}{
		{`"null"`, 0},
		{`"boolean"`, 1},
		{`"int"`, 1},
		{`"long"`, 1},
		{`"float"`, 4},
		{`"double"`, 8},
		{`"string"`, 1},
		{`"bytes"`, 1},
		{`{"type":"fixed","name":"F","size":16}`, 16},
		{`{"type":"enum","name":"E","symbols":["A"]}`, 1},
		{`["null","double"]`, 1},
		{`{"type":"array","items":"double"}`, 1},
		{`{"type":"map","values":"double"}`, 1},
		{`{"type":"record","name":"R","fields":[]}`, 0},
		{`{"type":"record","name":"R","fields":[{"name":"a","type":"null"},{"name":"b","type":"double"},{"name":"c","type":"float"}]}`, 12},
		{`{"type":"record","name":"N","fields":[{"name":"x","type":"double"},{"name":"n","type":"N"}]}`, 8},
	}
	for _, tc := range cases {
		if got := minEncodedSize(MustParse(tc.schema)); got != tc.want {
			t.Errorf("minEncodedSize(%s) = %d, want %d", tc.schema, got, tc.want)
		}
	}
	// Resolved schemas: a promoted int read as double takes the int's
	// byte; a reader field filled from its default takes none.
	res, err := NewSchemaCompatibility().Resolve(
		MustParse(`{"type":"record","name":"R","fields":[{"name":"d","type":"double"},{"name":"x","type":"double","default":0}]}`),
		MustParse(`{"type":"record","name":"R","fields":[{"name":"d","type":"int"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := minEncodedSize(res); got != 1 {
		t.Errorf("minEncodedSize(resolved int->double, default) = %d, want 1", got)
	}
}

// TestReadNextSizedBlock: the generic reader, too, checks that a sized
// block's items took its declared size.
func TestReadNextSizedBlock(t *testing.T) {
	s := MustParse(`{"type":"array","items":"string"}`)
	for _, tc := range []struct {
		size int64
		ok   bool
	}{{5, true}, {4, false}} {
		body := append(zigzag(nil, -2, tc.size, 1), 'a')
		body = zigzag(append(zigzag(body, 2), 'b', 'c'), 0)
		r := NewReader(nil, 0).Reset(body)
		got := r.ReadNext(s)
		if ok := r.Error == nil; ok != tc.ok {
			t.Fatalf("size %d for 5 bytes: %v, %v; want ok %v", tc.size, got, r.Error, tc.ok)
		}
	}
}
