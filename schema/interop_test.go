package schema

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests in this file each guard one defect found by comparing ordo's
// Avro with fastavro and Apache Avro Java value by value (issue #9). The
// cross-language witnesses themselves run under the integration tag in
// internal/witness.

// TestOptionalFieldEvolution protects the most common evolution there is:
// a field made optional. A writer with `note: X` read by a reader bound to
// `note: ["null", X]` (a *X field) must decode, for every X a pointer can
// hold. Before the fix every record failed as corrupt (`*string is
// unsupported for Avro string`).
func TestOptionalFieldEvolution(t *testing.T) {
	enum := `{"type":"enum","name":"Color","symbols":["RED","GREEN"]}`
	fixed := `{"type":"fixed","name":"F2","size":2}`
	cases := []struct {
		name, wtype, rtype, value string
		check                     func(t *testing.T, body []byte, w *Writer)
	}{
		{"string", `"string"`, `["null","string"]`, `"hi"`, evolve[string, *string]("hi")},
		{"long", `"long"`, `["null","long"]`, `1`, evolve[int64, *int64](1 << 40)},
		{"int", `"int"`, `["null","int"]`, `1`, evolve[int32, *int32](-7)},
		{"int to long", `"int"`, `["null","long"]`, `1`, evolvePromoted[int32, int64](-7)},
		{"double", `"double"`, `["null","double"]`, `1`, evolve[float64, *float64](2.5)},
		{"boolean", `"boolean"`, `["null","boolean"]`, `1`, evolve[bool, *bool](true)},
		{"enum", enum, `["null",` + enum + `]`, `1`, evolve[string, *string]("GREEN")},
		{"fixed", fixed, `["null",` + fixed + `]`, `1`, evolve[[2]byte, *[2]byte]([2]byte{1, 2})},
		{"bytes", `"bytes"`, `["null","bytes"]`, `1`, evolveBytes},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ws := fmt.Sprintf(`{"type":"record","name":"R","fields":[{"name":"note","type":%s}]}`, tc.wtype)
			rs := fmt.Sprintf(`{"type":"record","name":"R","fields":[{"name":"note","type":%s,"default":null}]}`, tc.rtype)
			w, err := NewWriter(1, ws)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, []byte(rs), w)
		})
	}
}

type noteOf[X any] struct {
	Note X `avro:"note"`
}

// evolve writes want with a codec for noteOf[W] and reads it with a reader
// codec (schema in body) for noteOf[*W].
func evolve[W any, R ~*W](want W) func(t *testing.T, rs []byte, w *Writer) {
	return func(t *testing.T, rs []byte, w *Writer) {
		wc := mustCodec[noteOf[W]](t, w.Schema())
		rc := mustCodec[noteOf[R]](t, string(rs))
		body, err := wc.AppendEncode(nil, &noteOf[W]{Note: want})
		if err != nil {
			t.Fatal(err)
		}
		var got noteOf[R]
		if err := rc.DecodeFrom(w, body, &got); err != nil {
			t.Fatalf("DecodeFrom: %v", err)
		}
		if got.Note == nil || fmt.Sprint(*got.Note) != fmt.Sprint(want) {
			t.Fatalf("got %v, want %v", got.Note, want)
		}
	}
}

func evolvePromoted[W int32, R int64](want W) func(t *testing.T, rs []byte, w *Writer) {
	return func(t *testing.T, rs []byte, w *Writer) {
		wc := mustCodec[noteOf[W]](t, w.Schema())
		rc := mustCodec[noteOf[*R]](t, string(rs))
		body, err := wc.AppendEncode(nil, &noteOf[W]{Note: want})
		if err != nil {
			t.Fatal(err)
		}
		var got noteOf[*R]
		if err := rc.DecodeFrom(w, body, &got); err != nil {
			t.Fatalf("DecodeFrom: %v", err)
		}
		if got.Note == nil || int64(*got.Note) != int64(want) {
			t.Fatalf("got %v, want %v", got.Note, want)
		}
	}
}

func evolveBytes(t *testing.T, rs []byte, w *Writer) {
	wc := mustCodec[noteOf[[]byte]](t, w.Schema())
	rc := mustCodec[noteOf[[]byte]](t, string(rs))
	body, err := wc.AppendEncode(nil, &noteOf[[]byte]{Note: []byte{9}})
	if err != nil {
		t.Fatal(err)
	}
	var got noteOf[[]byte]
	if err := rc.DecodeFrom(w, body, &got); err != nil || string(got.Note) != "\x09" {
		t.Fatalf("DecodeFrom: %v, %v", got.Note, err)
	}
}

const bigLongs = `{"type":"record","name":"Big","fields":[
	{"name":"id","type":"int"},
	{"name":"a","type":"long","default":9007199254740993},
	{"name":"b","type":"long","default":9223372036854775807},
	{"name":"c","type":["long","null"],"default":-9223372036854775807},
	{"name":"d","type":{"type":"array","items":"long"},"default":[9007199254740995]}]}`

type bigLongsFull struct {
	ID int32   `avro:"id"`
	A  int64   `avro:"a"`
	B  int64   `avro:"b"`
	C  *int64  `avro:"c"`
	D  []int64 `avro:"d"`
}

// TestLongDefaultsExact protects long defaults above 2^53: they were parsed
// through float64, so 9007199254740993 became ...992 and 2^63-1 became
// -2^63, both when writing a field the Go type lacks and when a reader
// fills a default during resolution.
func TestLongDefaultsExact(t *testing.T) {
	want := bigLongsFull{ID: 1, A: 9007199254740993, B: 9223372036854775807, D: []int64{9007199254740995}}
	c := -9223372036854775807
	want.C = new(int64)
	*want.C = int64(c)

	t.Run("written for an absent Go field", func(t *testing.T) {
		type onlyID struct {
			ID int32 `avro:"id"`
		}
		wc := mustCodec[onlyID](t, bigLongs)
		body, err := wc.AppendEncode(nil, &onlyID{ID: 1})
		if err != nil {
			t.Fatal(err)
		}
		var got bigLongsFull
		if err := mustCodec[bigLongsFull](t, bigLongs).Decode(body, &got); err != nil {
			t.Fatal(err)
		}
		if got.A != want.A || got.B != want.B || got.C == nil || *got.C != *want.C || fmt.Sprint(got.D) != fmt.Sprint(want.D) {
			t.Fatalf("got %+v (C=%v), want %+v (C=%v)", got, valueOf(got.C), want, *want.C)
		}
	})
	t.Run("filled during resolution", func(t *testing.T) {
		type onlyID struct {
			ID int32 `avro:"id"`
		}
		ws := `{"type":"record","name":"Big","fields":[{"name":"id","type":"int"}]}`
		w, err := NewWriter(3, ws)
		if err != nil {
			t.Fatal(err)
		}
		body, err := mustCodec[onlyID](t, ws).AppendEncode(nil, &onlyID{ID: 1})
		if err != nil {
			t.Fatal(err)
		}
		var got bigLongsFull
		if err := mustCodec[bigLongsFull](t, bigLongs).DecodeFrom(w, body, &got); err != nil {
			t.Fatal(err)
		}
		if got.A != want.A || got.B != want.B || got.C == nil || *got.C != *want.C || fmt.Sprint(got.D) != fmt.Sprint(want.D) {
			t.Fatalf("got %+v (C=%v), want %+v (C=%v)", got, valueOf(got.C), want, *want.C)
		}
	})
}

func valueOf[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestSchemaTextIsTheUsers protects what is registered: the user's schema
// with whitespace removed, not a re-serialisation that turned a bytes
// default into base64, a fixed default into a list of numbers and a big
// long default into a float.
func TestSchemaTextIsTheUsers(t *testing.T) {
	avsc := `{
	  "type": "record", "name": "D", "namespace": "t",
	  "fields": [
	    {"name": "b", "type": "bytes", "default": "\u00ff\u0000A\u00e9"},
	    {"name": "f", "type": {"type": "fixed", "name": "F2", "size": 2}, "default": "\u00e9\u0001"},
	    {"name": "l", "type": "long", "default": 9223372036854775807}
	  ]}`
	want := `{"type":"record","name":"D","namespace":"t","fields":[{"name":"b","type":"bytes","default":"\u00ff\u0000A\u00e9"},{"name":"f","type":{"type":"fixed","name":"F2","size":2},"default":"\u00e9\u0001"},{"name":"l","type":"long","default":9223372036854775807}]}`
	type d struct {
		B []byte  `avro:"b"`
		F [2]byte `avro:"f"`
		L int64   `avro:"l"`
	}
	c := mustCodec[d](t, avsc)
	if got := c.Schema(); got != want {
		t.Fatalf("Schema() =\n%s\nwant\n%s", got, want)
	}
	w, err := NewWriter(1, avsc)
	if err != nil {
		t.Fatal(err)
	}
	if w.Schema() != want {
		t.Fatalf("Writer.Schema() = %s", w.Schema())
	}
	// The bytes default as written for an absent field: the code points
	// 0-255 as bytes, as the spec says.
	type none struct{}
	noneSchema := `{"type":"record","name":"D","namespace":"t","fields":[]}`
	wn, err := NewWriter(2, noneSchema)
	if err != nil {
		t.Fatal(err)
	}
	body, err := mustCodec[none](t, noneSchema).AppendEncode(nil, &none{})
	if err != nil {
		t.Fatal(err)
	}
	var got d
	if err := c.DecodeFrom(wn, body, &got); err != nil {
		t.Fatal(err)
	}
	if string(got.B) != "\xff\x00A\xe9" || got.F != [2]byte{0xe9, 1} || got.L != 9223372036854775807 {
		t.Fatalf("defaults read as %+v", got)
	}
}

// TestRegisterSendsUsersText protects what other clients fetch: the text
// Register sends to the registry is the user's schema with whitespace
// removed, so the bytes default, the fixed default and the big long
// default every client reads are the user's.
func TestRegisterSendsUsersText(t *testing.T) {
	reg, _, _ := newTestRegistry(t)
	avsc := `{"type":"record","name":"D","fields":[
		{"name":"b","type":"bytes","default":"\u00ff\u0000A\u00e9"},
		{"name":"f","type":{"type":"fixed","name":"F2","size":2},"default":"\u00e9\u0001"},
		{"name":"l","type":"long","default":9007199254740993}]}`
	want := `{"type":"record","name":"D","fields":[{"name":"b","type":"bytes","default":"\u00ff\u0000A\u00e9"},{"name":"f","type":{"type":"fixed","name":"F2","size":2},"default":"\u00e9\u0001"},{"name":"l","type":"long","default":9007199254740993}]}`
	ctx := context.Background()
	if _, err := reg.Register(ctx, "d-value", avsc); err != nil {
		t.Fatal(err)
	}
	texts, err := reg.Versions(ctx, "d-value")
	if err != nil || len(texts) != 1 || texts[0] != want {
		t.Fatalf("registered %q (%v), want %q", texts, err, want)
	}
}

// TestNullableMapBound protects ["null", map] bound to a Go map: NewCodec
// accepted it and then every encode and decode failed. A bare map is
// refused at bind time; a *map works both ways.
func TestNullableMapBound(t *testing.T) {
	avsc := `{"type":"record","name":"M","fields":[{"name":"m","type":["null",{"type":"map","values":"long"}],"default":null}]}`
	type bare struct {
		M map[string]int64 `avro:"m"`
	}
	_, err := NewCodec[bare](avsc)
	var be *BindError
	if !errors.As(err, &be) || be.Field != "M" || !errors.Is(err, ErrSchemaMismatch) {
		t.Fatalf("NewCodec(map for [null, map]) = %v, want a *BindError on field M", err)
	}
	type ptr struct {
		M *map[string]int64 `avro:"m"`
	}
	c := mustCodec[ptr](t, avsc)
	for _, v := range []ptr{{}, {M: &map[string]int64{"a": 1}}} {
		body, err := c.AppendEncode(nil, &v)
		if err != nil {
			t.Fatal(err)
		}
		var got ptr
		if err := c.Decode(body, &got); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(valueOf(got.M)) != fmt.Sprint(valueOf(v.M)) {
			t.Fatalf("got %v, want %v", valueOf(got.M), valueOf(v.M))
		}
	}
}

type logicals struct {
	Day   time.Time     `avro:"day"`
	Price *big.Rat      `avro:"price"`
	ID    string        `avro:"id"`
	TOD   time.Duration `avro:"tod"`
	TODu  time.Duration `avro:"todu"`
	At    time.Time     `avro:"at"`
	AtUs  time.Time     `avro:"atus"`
	Local time.Time     `avro:"local"`
	Items []logicalItem `avro:"items"`
}

type logicalItem struct {
	Amount *big.Rat `avro:"amount"`
}

const logicalsSchema = `{"type":"record","name":"L","fields":[
	{"name":"day","type":{"type":"int","logicalType":"date"}},
	{"name":"price","type":["null",{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}]},
	{"name":"id","type":{"type":"string","logicalType":"uuid"}},
	{"name":"tod","type":{"type":"int","logicalType":"time-millis"}},
	{"name":"todu","type":{"type":"long","logicalType":"time-micros"}},
	{"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
	{"name":"atus","type":{"type":"long","logicalType":"timestamp-micros"}},
	{"name":"local","type":{"type":"long","logicalType":"local-timestamp-millis"}},
	{"name":"items","type":{"type":"array","items":{"type":"record","name":"I","fields":[
		{"name":"amount","type":{"type":"fixed","name":"Amt","size":8,"logicalType":"decimal","precision":12,"scale":3}}]}}}]}`

func validLogicals() logicals {
	return logicals{
		Day:   time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC),
		Price: big.NewRat(-1005, 1000).SetFrac64(-101, 100),
		ID:    "0190a5b4-7c3e-7d2a-9f1b-3c4d5e6f7a8b",
		TOD:   23*time.Hour + 59*time.Minute,
		At:    time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC),
		AtUs:  time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC),
		Local: time.Date(2024, 3, 31, 2, 30, 0, 0, time.UTC),
	}
}

// TestDateBefore1970 protects the date logical type for an instant before
// 1970 that is not midnight: 1969-12-31T12:00Z is day -1, not day 0.
func TestDateBefore1970(t *testing.T) {
	c := mustCodec[logicals](t, logicalsSchema)
	for _, tc := range []struct {
		in   time.Time
		want time.Time
	}{
		{time.Date(1969, 12, 31, 12, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)},
		{time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)},
		{time.Date(1900, 1, 1, 23, 59, 59, 0, time.UTC), time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2024, 2, 29, 18, 0, 0, 0, time.UTC), time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
	} {
		v := validLogicals()
		v.Day = tc.in
		body, err := c.AppendEncode(nil, &v)
		if err != nil {
			t.Fatal(err)
		}
		var got logicals
		if err := c.Decode(body, &got); err != nil {
			t.Fatal(err)
		}
		if !got.Day.Equal(tc.want) {
			t.Errorf("date %s read back as %s, want %s", tc.in, got.Day, tc.want)
		}
	}
}

// TestLogicalDomainRefused protects money and other logical values from
// being changed silently: a decimal with more fraction digits than its
// scale was rounded (-1.005 at scale 2 written as -1.01), a uuid that is
// not one, a time of day past 24 h and a timestamp that overflows a long
// were written without complaint. Each is now a *ValueError naming the
// field, matching ErrInvalidValue.
func TestLogicalDomainRefused(t *testing.T) {
	c := mustCodec[logicals](t, logicalsSchema)
	ok := validLogicals()
	if _, err := c.AppendEncode(nil, &ok); err != nil {
		t.Fatalf("valid value refused: %v", err)
	}
	cases := []struct {
		name, field string
		mutate      func(v *logicals)
	}{
		{"decimal rounded", "Price", func(v *logicals) { v.Price = big.NewRat(-1005, 1000) }},
		{"decimal too many digits", "Price", func(v *logicals) { v.Price = big.NewRat(1e9, 1) }},
		{"decimal in a list", "Items[1].Amount", func(v *logicals) {
			v.Items = []logicalItem{{big.NewRat(1, 4)}, {big.NewRat(1, 3)}}
		}},
		{"uuid", "ID", func(v *logicals) { v.ID = "not-a-uuid" }},
		{"time-millis over 24h", "TOD", func(v *logicals) { v.TOD = 25 * time.Hour }},
		{"time-millis negative", "TOD", func(v *logicals) { v.TOD = -time.Second }},
		{"time-micros over 24h", "TODu", func(v *logicals) { v.TODu = 24 * time.Hour }},
		{"timestamp-micros overflow", "AtUs", func(v *logicals) { v.AtUs = time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"timestamp-millis overflow", "At", func(v *logicals) { v.At = time.Date(-300000000, 1, 1, 0, 0, 0, 0, time.UTC) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := validLogicals()
			tc.mutate(&v)
			out, err := c.AppendEncode([]byte("x"), &v)
			var ve *ValueError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalidValue) {
				t.Fatalf("AppendEncode = %q, %v; want a *ValueError", out, err)
			}
			if ve.Field != tc.field || string(out) != "x" {
				t.Fatalf("error names field %q, want %q (%v)", ve.Field, tc.field, err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("message %q does not name the field", err)
			}
		})
	}
}

// TestLogicalInMapValues protects the value checks on map values, which
// are not addressable: they must check, not panic.
func TestLogicalInMapValues(t *testing.T) {
	type m struct {
		At  map[string]time.Time `avro:"at"`
		Dec map[string]big.Rat   `avro:"dec"`
	}
	c := mustCodec[m](t, `{"type":"record","name":"M","fields":[
		{"name":"at","type":{"type":"map","values":{"type":"long","logicalType":"timestamp-millis"}}},
		{"name":"dec","type":{"type":"map","values":{"type":"bytes","logicalType":"decimal","precision":4,"scale":1}}}]}`)
	ok := m{At: map[string]time.Time{"a": time.Unix(1, 0)}, Dec: map[string]big.Rat{"d": *big.NewRat(1, 2)}}
	if _, err := c.AppendEncode(nil, &ok); err != nil {
		t.Fatalf("valid value refused: %v", err)
	}
	bad := m{Dec: map[string]big.Rat{"d": *big.NewRat(1, 3)}}
	var ve *ValueError
	if _, err := c.AppendEncode(nil, &bad); !errors.As(err, &ve) || ve.Field != `Dec["d"]` {
		t.Fatalf("AppendEncode = %v, want a *ValueError on Dec[\"d\"]", err)
	}
	bad = m{At: map[string]time.Time{"x": time.Date(300000000, 1, 1, 0, 0, 0, 0, time.UTC)}}
	if _, err := c.AppendEncode(nil, &bad); !errors.As(err, &ve) || ve.Field != `At["x"]` {
		t.Fatalf("AppendEncode = %v, want a *ValueError on At[\"x\"]", err)
	}
}

// TestLocalTimestampWallClock protects local-timestamp-millis, a wall
// clock with no zone: it was written in the producer's time.Local and
// shifted on read, an hour off on a daylight-saving day. The wall clock of
// the time in its own location is written, and read back in UTC.
func TestLocalTimestampWallClock(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	old := time.Local
	time.Local = berlin // the producer's zone must not matter
	defer func() { time.Local = old }()
	c := mustCodec[logicals](t, logicalsSchema)
	for _, in := range []time.Time{
		time.Date(2024, 3, 31, 2, 30, 0, 0, time.UTC), // a wall clock Berlin skips
		time.Date(2024, 10, 27, 2, 30, 0, 0, time.UTC),
		time.Date(2024, 3, 31, 3, 30, 0, 0, berlin),
		time.Date(1960, 6, 1, 8, 0, 0, 0, time.FixedZone("X", -5*3600)),
	} {
		v := validLogicals()
		v.Local = in
		body, err := c.AppendEncode(nil, &v)
		if err != nil {
			t.Fatal(err)
		}
		var got logicals
		if err := c.Decode(body, &got); err != nil {
			t.Fatal(err)
		}
		want := time.Date(in.Year(), in.Month(), in.Day(), in.Hour(), in.Minute(), in.Second(), 0, time.UTC)
		if !got.Local.Equal(want) || got.Local.Location() != time.UTC {
			t.Errorf("local %s read back as %s, want %s", in, got.Local, want)
		}
	}
}

// TestFixedUint64Concurrent protects a uint64 bound to fixed(8) under
// concurrent use: hamba's codec kept its 8-byte buffer in the codec itself,
// shared by every goroutine (a data race that -race reports, and bytes
// from another goroutine's value on the wire).
func TestFixedUint64Concurrent(t *testing.T) {
	type u struct {
		N uint64 `avro:"n"`
	}
	c := mustCodec[u](t, `{"type":"record","name":"U","fields":[{"name":"n","type":{"type":"fixed","name":"U8","size":8}}]}`)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				want := uint64(g)<<32 | uint64(i)
				body, err := c.AppendEncode(nil, &u{N: want})
				if err != nil {
					t.Error(err)
					return
				}
				var got u
				if err := c.Decode(body, &got); err != nil || got.N != want {
					t.Errorf("got %d, %v; want %d", got.N, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestDecimalValuesDecode protects decimals held in a big.Rat value and in
// a *big.Rat under ["null", decimal]: hamba stored a pointer over the
// big.Rat value, so they read back as 0 (or garbage); and a nullable fixed
// decimal, which the binder refused, binds and round-trips.
func TestDecimalValuesDecode(t *testing.T) {
	type decBytes struct {
		Val      big.Rat  `avro:"val"`
		OptBytes *big.Rat `avro:"opt_bytes"`
	}
	const bytesSchema = `{"type":"record","name":"Dec","fields":[
		{"name":"val","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
		{"name":"opt_bytes","type":["null",{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}]}]}`
	type decFixed struct {
		Val      big.Rat  `avro:"val"`
		OptFixed *big.Rat `avro:"opt_fixed"`
	}
	const fixedSchema = `{"type":"record","name":"Dec","fields":[
		{"name":"val","type":{"type":"fixed","name":"D4","size":4,"logicalType":"decimal","precision":9,"scale":2}},
		{"name":"opt_fixed","type":["null",{"type":"fixed","name":"D8","size":8,"logicalType":"decimal","precision":12,"scale":3}]}]}`
	t.Run("bytes", func(t *testing.T) {
		decimalRoundTrip(t, mustCodec[decBytes](t, bytesSchema), []decBytes{
			{Val: *big.NewRat(-101, 100), OptBytes: big.NewRat(5, 100)},
			{Val: *big.NewRat(123456789, 100)},
		}, func(d decBytes) string { return d.Val.RatString() + " " + fmt.Sprint(d.OptBytes) })
	})
	t.Run("fixed", func(t *testing.T) {
		decimalRoundTrip(t, mustCodec[decFixed](t, fixedSchema), []decFixed{
			{Val: *big.NewRat(-101, 100), OptFixed: big.NewRat(-1, 1000)},
			{Val: *big.NewRat(7, 1)},
		}, func(d decFixed) string { return d.Val.RatString() + " " + fmt.Sprint(d.OptFixed) })
	})
}

func decimalRoundTrip[T any](t *testing.T, c *Codec[T], vals []T, show func(T) string) {
	t.Helper()
	for _, in := range vals {
		body, err := c.AppendEncode(nil, &in)
		if err != nil {
			t.Fatalf("encode %s: %v", show(in), err)
		}
		var got T
		if err := c.Decode(body, &got); err != nil {
			t.Fatal(err)
		}
		if show(got) != show(in) {
			t.Fatalf("got %s, want %s", show(got), show(in))
		}
	}
}
