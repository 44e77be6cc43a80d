package schema

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These tests protect the consumer from a body whose array or map block
// counts lie (issue 19, "A 20-byte record hangs a lane for ever"): every
// count, read or skipped, is bounded by the bytes left and by
// MaxCollectionItems, so a lying body is a *DecodeError (poison), never a
// loop of 2^40 iterations. Each decode runs under a deadline, so a
// regression fails here instead of hanging the package.

// decodeDeadline is how long one hostile decode may take before the test
// calls it a hang. Every bounded decode here takes milliseconds; the
// slowest (16,777,216 null items) well under a second on a busy machine.
const decodeDeadline = 5 * time.Second

// within runs decode and returns its error, failing the test if it has
// not returned within decodeDeadline (the goroutine is left behind: the
// regression it reports is a decoder that never returns).
func within(t *testing.T, decode func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- decode() }()
	select {
	case err := <-done:
		return err
	case <-time.After(decodeDeadline):
		t.Fatalf("decode still running after %v: a block count is not bounded", decodeDeadline)
		return nil
	}
}

// zigzag appends the Avro encoding of n (a zigzag varint) to b.
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

// wantPoison fails unless err is a *DecodeError wrapping ErrTruncated or
// ErrCorrupt: what the consumer dead-letters at once.
func wantPoison(t *testing.T, err error) {
	t.Helper()
	var de *DecodeError
	if !errors.As(err, &de) || !(errors.Is(err, ErrTruncated) || errors.Is(err, ErrCorrupt)) {
		t.Fatalf("err = %v, want a *DecodeError wrapping ErrTruncated or ErrCorrupt", err)
	}
}

const (
	huge     = int64(1) << 40
	tagsV1   = `{"type":"record","name":"Tagged","namespace":"t","fields":[{"name":"id","type":"long"}]}`
	tagsV2   = `{"type":"record","name":"Tagged","namespace":"t","fields":[{"name":"id","type":"long"},{"name":"extra","type":%s}]}`
	emptyRec = `{"type":"record","name":"Empty","fields":[]}`
)

type tagged struct {
	ID int64 `avro:"id"`
}

// withField returns format with typ in place of its %s: a writer schema
// with an extra field of type typ.
func withField(format, typ string) string { return strings.Replace(format, "%s", typ, 1) }

// TestSkipBlockCountBounded: a v1 reader skips v2's extra field, whose
// body declares more items than it carries. Upstream looped over every
// declared item (2^40 of them), reading nothing after the end.
func TestSkipBlockCountBounded(t *testing.T) {
	c := mustCodec[tagged](t, tagsV1)
	cases := []struct {
		name, typ string
		body      []byte
	}{
		{"array<string> of 2^40", `{"type":"array","items":"string"}`, zigzag(nil, 7, huge)},
		{"array<int> of 2^40", `{"type":"array","items":"int"}`, zigzag(nil, 7, huge)},
		{"map<string> of 2^40", `{"type":"map","values":"string"}`, zigzag(nil, 7, huge)},
		{"map<null> of 2^40", `{"type":"map","values":"null"}`, zigzag(nil, 7, huge)},
		{"array<null> of 2^40", `{"type":"array","items":"null"}`, zigzag(nil, 7, huge)},
		{"array<empty record> of 2^40", `{"type":"array","items":` + emptyRec + `}`, zigzag(nil, 7, huge)},
		{"array<[null,string]> of 2^40", `{"type":"array","items":["null","string"]}`, zigzag(nil, 7, huge)},
		// A negative count says the block's byte size follows; 0 bytes
		// cannot hold 2^40 strings, and upstream then iterated them.
		{"array<string> of -2^40 in 0 bytes", `{"type":"array","items":"string"}`, zigzag(nil, 7, -huge, 0)},
		{"map<string> of -2^40 in 0 bytes", `{"type":"map","values":"string"}`, zigzag(nil, 7, -huge, 0)},
		{"array<string> of -2 in 2^40 bytes", `{"type":"array","items":"string"}`, zigzag(nil, 7, -2, huge)},
		{"array<double> of -4 in 8 bytes", `{"type":"array","items":"double"}`, append(zigzag(nil, 7, -4, 8), make([]byte, 8)...)},
		{"array<string> of -2^63", `{"type":"array","items":"string"}`, zigzag(nil, 7, math.MinInt64, 0, 1, 0)},
		{"array<string> of -1 in -1 bytes", `{"type":"array","items":"string"}`, zigzag(nil, 7, -1, -1, 0, 0)},
		// 2^24 nulls fit the maximum; a second such array in the same
		// value passes the value's budget of zero-byte items, however
		// the arrays nest (without it, each outer item could cost 2^24
		// no-op iterations, and a 1 MB body holds 250,000 of them).
		{"array<array<empty record>> of 4 x 2^24", `{"type":"array","items":{"type":"array","items":` + emptyRec + `}}`,
			zigzag(nil, 7, 4, 1<<24, 0, 1<<24, 0, 0, 0, 0)},
		{"array<array<null>> of 4 x 2^24", `{"type":"array","items":{"type":"array","items":"null"}}`,
			zigzag(nil, 7, 4, 1<<24, 0, 1<<24, 0, 0, 0, 0)},
		{"array<empty record> over MaxCollectionItems in two blocks", `{"type":"array","items":` + emptyRec + `}`,
			zigzag(nil, 7, 1<<24, 1, 0)},
		{"string of length 2^40", `"string"`, zigzag(nil, 7, huge)},
		{"string of length -1", `"string"`, zigzag(nil, 7, -1)},
		{"bytes of length -5", `"bytes"`, zigzag(nil, 7, -5)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, err := NewWriter(2, withField(tagsV2, tc.typ))
			if err != nil {
				t.Fatal(err)
			}
			var got tagged
			wantPoison(t, within(t, func() error { return c.DecodeFrom(w, tc.body, &got) }))
		})
	}
}

type taggedInts struct {
	ID   int64   `avro:"id"`
	Tags []int32 `avro:"tags"`
}

type taggedNulls struct {
	ID   int64      `avro:"id"`
	Tags []struct{} `avro:"tags"`
}

type empty struct{}

type taggedEmpties struct {
	ID   int64   `avro:"id"`
	Tags []empty `avro:"tags"`
}

type taggedMap struct {
	ID   int64            `avro:"id"`
	Tags map[string]int32 `avro:"tags"`
}

type taggedNullMap struct {
	ID   int64               `avro:"id"`
	Tags map[string]struct{} `avro:"tags"`
}

// textKey is a map key decoded through encoding.TextUnmarshaler.
type textKey struct{ s string }

func (k *textKey) UnmarshalText(b []byte) error { k.s = string(b); return nil }
func (k textKey) MarshalText() ([]byte, error)  { return []byte(k.s), nil }

type taggedTextMap struct {
	ID   int64              `avro:"id"`
	Tags map[textKey]string `avro:"tags"`
}

func tagsSchema(typ string) string {
	return `{"type":"record","name":"Tagged","namespace":"t","fields":[{"name":"id","type":"long"},{"name":"tags","type":` + typ + `}]}`
}

// decodeBoth decodes body with c's own schema (Decode) and through a
// writer with the same layout but an int id (DecodeFrom, resolution).
func decodeBoth[T any](t *testing.T, typ string, body []byte) {
	t.Helper()
	c := mustCodec[T](t, tagsSchema(typ))
	w, err := NewWriter(3, strings.Replace(tagsSchema(typ), `"long"`, `"int"`, 1))
	if err != nil {
		t.Fatal(err)
	}
	var a, b T
	wantPoison(t, within(t, func() error { return c.Decode(body, &a) }))
	wantPoison(t, within(t, func() error { return c.DecodeFrom(w, body, &b) }))
}

// TestReadBlockCountBounded: the same lies read into a Go value, with the
// codec's own schema and through resolution. A count of -2^63 has no
// positive: upstream grew the slice to a negative length, so the next
// block's items were written through a wild pointer (array<int>) or
// iterated 2^40 times at no byte each (array<null>, array<empty record>).
func TestReadBlockCountBounded(t *testing.T) {
	negThenHuge := zigzag(nil, 7, math.MinInt64, 0, huge, 0)
	for _, body := range [][]byte{zigzag(nil, 7, huge), zigzag(nil, 7, -huge, 0), negThenHuge} {
		name := strconv.Itoa(len(body)) + " bytes"
		t.Run("array<int> "+name, func(t *testing.T) { decodeBoth[taggedInts](t, `{"type":"array","items":"int"}`, body) })
		t.Run("array<null> "+name, func(t *testing.T) { decodeBoth[taggedNulls](t, `{"type":"array","items":"null"}`, body) })
		t.Run("array<empty record> "+name, func(t *testing.T) {
			decodeBoth[taggedEmpties](t, `{"type":"array","items":`+emptyRec+`}`, body)
		})
		t.Run("map<int> "+name, func(t *testing.T) { decodeBoth[taggedMap](t, `{"type":"map","values":"int"}`, body) })
		t.Run("map<null> "+name, func(t *testing.T) { decodeBoth[taggedNullMap](t, `{"type":"map","values":"null"}`, body) })
		t.Run("map<string> with text keys "+name, func(t *testing.T) {
			decodeBoth[taggedTextMap](t, `{"type":"map","values":"string"}`, body)
		})
	}
}

// TestBlockCountsThatFit: the bounds refuse no honest body: items that
// take no bytes may outnumber the body's bytes (up to the maximum), and a
// block written with its byte size (hamba's default, Java's
// BlockingBinaryEncoder) is read and skipped.
func TestBlockCountsThatFit(t *testing.T) {
	// 200 nulls, then 50 in a sized block of 0 bytes: 250 items in 6
	// bytes (reading allocates at most 256 items for a body this small).
	nulls := zigzag(nil, 7, 200, -50, 0, 0)
	c := mustCodec[taggedNulls](t, tagsSchema(`{"type":"array","items":"null"}`))
	var got taggedNulls
	if err := within(t, func() error { return c.Decode(nulls, &got) }); err != nil || len(got.Tags) != 250 {
		t.Fatalf("Decode = %d items, %v; want 250", len(got.Tags), err)
	}
	v1 := mustCodec[tagged](t, tagsV1)
	w, err := NewWriter(2, withField(tagsV2, `{"type":"array","items":"null"}`))
	if err != nil {
		t.Fatal(err)
	}
	var skipped tagged
	if err := within(t, func() error { return v1.DecodeFrom(w, nulls, &skipped) }); err != nil || skipped.ID != 7 {
		t.Fatalf("skip = %+v, %v; want id 7", skipped, err)
	}
	// Two strings "a", "bc" in a block of -2 items and 5 bytes, then 1
	// more in a plain block: skipped by size, then item by item.
	strs := append(zigzag(nil, 7, -2, 5, 1), 'a')
	strs = append(zigzag(strs, 2), 'b', 'c')
	strs = append(zigzag(strs, 1, 1), 'z')
	strs = zigzag(strs, 0)
	w, err = NewWriter(4, withField(tagsV2, `{"type":"array","items":"string"}`))
	if err != nil {
		t.Fatal(err)
	}
	skipped = tagged{}
	if err := within(t, func() error { return v1.DecodeFrom(w, strs, &skipped) }); err != nil || skipped.ID != 7 {
		t.Fatalf("sized skip = %+v, %v; want id 7", skipped, err)
	}
	// Exactly MaxCollectionItems (2^24) nulls, skipped: the documented
	// maximum is reachable.
	w, err = NewWriter(5, withField(tagsV2, `{"type":"array","items":"null"}`))
	if err != nil {
		t.Fatal(err)
	}
	skipped = tagged{}
	if err := within(t, func() error { return v1.DecodeFrom(w, zigzag(nil, 7, 1<<24, 0), &skipped) }); err != nil || skipped.ID != 7 {
		t.Fatalf("2^24 nulls = %+v, %v; want id 7", skipped, err)
	}
}

type named struct {
	ID   int64  `avro:"id"`
	Name string `avro:"name"`
}

// TestStringLengthBeyondBody: a string whose length prefix claims more
// than the body holds is refused before the claimed length is allocated
// (upstream allocated it, up to 16 times the body, then found the end).
func TestStringLengthBeyondBody(t *testing.T) {
	c := mustCodec[named](t, `{"type":"record","name":"Named","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"}]}`)
	body := append(zigzag(nil, 7, 4000), make([]byte, 300)...) // 4,000 claimed, 300 there
	var v named
	wantPoison(t, c.Decode(body, &v))
	const runs = 100
	before := memStats()
	for range runs {
		_ = c.Decode(body, &v)
	}
	if per := (memStats() - before) / runs; per >= 4000 {
		t.Fatalf("a 4,000-byte claim in a 304-byte body allocates %.0f bytes per decode, want under 4,000", per)
	}
}

// TestBoundsAllocateNothing: the checks run on every string, array and
// map of every record, so they must not allocate (building an error
// name per string once cost 20 allocations per record): Decode allocates
// no more than hamba's own Unmarshal of the same body, which has none of
// the checks. That is upstream hamba v2.31.0's count, recorded when the SDK
// stopped compiling upstream: the fork's Unmarshal runs the same checks,
// so it is no baseline for them.
func TestBoundsAllocateNothing(t *testing.T) {
	const hambas = 7.0 // upstream's Unmarshal(createdV1 body, *Created)
	c := mustCodec[Created](t, createdV1)
	in := sampleCreated()
	body, err := c.AppendEncode(nil, &in)
	if err != nil {
		t.Fatal(err)
	}
	ours := testing.AllocsPerRun(200, func() {
		var v Created
		err = c.Decode(body, &v)
	})
	if err != nil {
		t.Fatal(err)
	}
	if ours > hambas {
		t.Fatalf("Decode allocates %.0f times per record, hamba's Unmarshal %.0f", ours, hambas)
	}
}

// TestSizedBlockMustMatch: a block written with a negative count carries
// its byte size, and a reader that skips the field skips by that size
// while one that decodes it reads item by item. A size that lies made
// the two read the rest of the body differently (FuzzDecodeFromSkip
// found 25 nulls declared as 3 bytes: decoded, the 3 bytes were the next
// fields; skipped, they were not). Decoding now checks the items took
// the declared size: a mismatch is ErrCorrupt.
func TestSizedBlockMustMatch(t *testing.T) {
	strs := func(size int64) []byte { // ["a", "bc"] in a block of -2 items and size bytes
		b := append(zigzag(nil, 7, -2, size, 1), 'a')
		return zigzag(append(zigzag(b, 2), 'b', 'c'), 0)
	}
	c := mustCodec[taggedStrings](t, tagsSchema(`{"type":"array","items":"string"}`))
	var v taggedStrings
	if err := c.Decode(strs(5), &v); err != nil || len(v.Tags) != 2 || v.Tags[1] != "bc" {
		t.Fatalf("honest size: %+v, %v", v, err)
	}
	for _, size := range []int64{4, 6} {
		if err := c.Decode(strs(size), &v); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("size %d for 5 bytes of items: %v, want ErrCorrupt", size, err)
		}
	}
	n := mustCodec[taggedNulls](t, tagsSchema(`{"type":"array","items":"null"}`))
	var nv taggedNulls
	if err := n.Decode(zigzag(nil, 7, -25, 3, 0, 0, 0, 0), &nv); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("25 nulls declared as 3 bytes: %v, want ErrCorrupt", err)
	}
	m := mustCodec[taggedMap](t, tagsSchema(`{"type":"map","values":"int"}`))
	var mv taggedMap
	if err := m.Decode(append(zigzag(nil, 7, -1, 2, 1), 'k', 2, 0), &mv); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a 3-byte entry declared as 2 bytes: %v, want ErrCorrupt", err)
	}
}

type taggedStrings struct {
	ID   int64    `avro:"id"`
	Tags []string `avro:"tags"`
}
