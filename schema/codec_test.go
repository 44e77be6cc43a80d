package schema

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	avro "github.com/ordo-go/ordo/schema/internal/avro"
)

// Item and Created form the realistic event used by the codec tests,
// benchmarks and fuzz targets.
type Item struct {
	SKU      string  `avro:"sku"`
	Quantity int32   `avro:"quantity"`
	Price    float64 `avro:"price"`
}

type Address struct {
	Street string `avro:"street"`
	City   string `avro:"city"`
}

type Created struct {
	OrderID    string            `avro:"order_id"`
	CustomerID int64             `avro:"customer_id"`
	Total      float64           `avro:"total"`
	Currency   string            `avro:"currency"`
	Status     string            `avro:"status"`
	Items      []Item            `avro:"items"`
	Shipping   Address           `avro:"shipping"`
	Coupon     *string           `avro:"coupon"`
	Tags       map[string]string `avro:"tags"`
	CreatedAt  time.Time         `avro:"created_at"`
	Checksum   [4]byte           `avro:"checksum"`
	Note       []byte            `avro:"note"`
}

const createdV1 = `{
  "type": "record", "name": "Created", "namespace": "com.example.orders",
  "fields": [
    {"name": "order_id", "type": "string"},
    {"name": "customer_id", "type": "long"},
    {"name": "total", "type": "double"},
    {"name": "currency", "type": "string"},
    {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID", "SHIPPED"]}},
    {"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [
      {"name": "sku", "type": "string"},
      {"name": "quantity", "type": "int"},
      {"name": "price", "type": "double"}]}}},
    {"name": "shipping", "type": {"type": "record", "name": "Address", "fields": [
      {"name": "street", "type": "string"},
      {"name": "city", "type": "string"}]}},
    {"name": "coupon", "type": ["null", "string"], "default": null},
    {"name": "tags", "type": {"type": "map", "values": "string"}},
    {"name": "created_at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "checksum", "type": {"type": "fixed", "name": "Checksum", "size": 4}},
    {"name": "note", "type": "bytes"}
  ]
}`

func sampleCreated() Created {
	coupon := "SPRING"
	return Created{
		OrderID: "o-1", CustomerID: 42, Total: 31.5, Currency: "EUR", Status: "PAID",
		Items:     []Item{{SKU: "a", Quantity: 2, Price: 10.25}, {SKU: "b", Quantity: 1, Price: 11}},
		Shipping:  Address{Street: "1 Main St", City: "Lyon"},
		Coupon:    &coupon,
		Tags:      map[string]string{"channel": "web"},
		CreatedAt: time.Date(2024, 5, 1, 12, 30, 0, 123456000, time.UTC),
		Checksum:  [4]byte{1, 2, 3, 4},
		Note:      []byte("fragile"),
	}
}

func mustCodec[T any](t testing.TB, avsc string) *Codec[T] {
	t.Helper()
	c, err := NewCodec[T](avsc)
	if err != nil {
		t.Fatalf("NewCodec: %v", err)
	}
	return c
}

// TestCodecRoundTrip protects encode→frame→unframe→decode for every
// supported kind of field.
func TestCodecRoundTrip(t *testing.T) {
	c := mustCodec[Created](t, createdV1)
	if got := c.Name(); got != "com.example.orders.Created" {
		t.Fatalf("Name = %q", got)
	}
	if s := c.Schema(); strings.ContainsAny(s, "\n ") || !strings.Contains(s, `"default":null`) {
		t.Fatalf("Schema() not normalized with defaults: %s", s)
	}
	in := sampleCreated()
	frame, err := c.AppendFramed([]byte("prefix"), 7, &in)
	if err != nil {
		t.Fatalf("AppendFramed: %v", err)
	}
	if !bytes.HasPrefix(frame, []byte("prefix")) {
		t.Fatalf("AppendFramed clobbered dst: %q", frame[:6])
	}
	id, body, err := Unframe(frame[6:])
	if err != nil || id != 7 {
		t.Fatalf("Unframe = %d, %v", id, err)
	}
	var out Created
	if err := c.Decode(body, &out); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", out, in)
	}
	in.Coupon = nil
	body, err = c.AppendEncode(nil, &in)
	if err != nil {
		t.Fatalf("AppendEncode: %v", err)
	}
	out = Created{}
	if err := c.Decode(body, &out); err != nil || out.Coupon != nil {
		t.Fatalf("nil coupon round trip: %v, %v", out.Coupon, err)
	}
}

// TestAppendFramedNoAlloc protects the framing budget: into a reused
// buffer, no allocation beyond hamba's own (the fork's Marshal, which is
// upstream's with the FORK.md fixes). hamba allocates while iterating
// a Go map (reflect2's map iterator), so the map-free Item must cost zero
// and Created at least one fewer than avro.Marshal (which copies its result).
func TestAppendFramedNoAlloc(t *testing.T) {
	ci := mustCodec[Item](t, itemSchema)
	item := Item{SKU: "a", Quantity: 1, Price: 2}
	buf := make([]byte, 0, 1024)
	var err error
	if n := testing.AllocsPerRun(200, func() { buf, err = ci.AppendFramed(buf[:0], 3, &item) }); err != nil || n != 0 {
		t.Fatalf("AppendFramed(Item): %v allocs, err %v", n, err)
	}

	c := mustCodec[Created](t, createdV1)
	v := sampleCreated()
	ours := testing.AllocsPerRun(200, func() { buf, err = c.AppendFramed(buf[:0], 3, &v) })
	if err != nil {
		t.Fatal(err)
	}
	sch := avro.MustParse(createdV1)
	hambas := testing.AllocsPerRun(200, func() { _, _ = avro.Marshal(sch, &v) })
	if ours > hambas-1 {
		t.Fatalf("AppendFramed(Created): %v allocs, hamba's Marshal %v: want at most %v", ours, hambas, hambas-1)
	}
}

const itemSchema = `{"type":"record","name":"Item","namespace":"com.example.orders","fields":[
  {"name":"sku","type":"string"},{"name":"quantity","type":"int"},{"name":"price","type":"double"}]}`

// TestEncodeErrors protects ErrInvalidValue for values the type allows but
// the schema does not, and that dst comes back untouched.
func TestEncodeErrors(t *testing.T) {
	c := mustCodec[Created](t, createdV1)
	bad := sampleCreated()
	bad.Status = "LOST"
	tests := []struct {
		name string
		v    *Created
	}{
		{"unknown enum symbol", &bad},
		{"nil value", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			out, err := c.AppendFramed(dst, 1, tt.v)
			if !errors.Is(err, ErrInvalidValue) {
				t.Fatalf("err = %v, want ErrInvalidValue", err)
			}
			if string(out) != "keep" {
				t.Fatalf("dst = %q, want it unchanged", out)
			}
		})
	}
}

// TestDecodeBadBodies protects the decoder's typed errors on hostile input.
func TestDecodeBadBodies(t *testing.T) {
	c := mustCodec[Created](t, createdV1)
	v := sampleCreated()
	good, err := c.AppendEncode(nil, &v)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		body []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"cut in half", good[:len(good)/2], ErrTruncated},
		{"last byte missing", good[:len(good)-1], ErrTruncated},
		{"trailing byte", append(append([]byte{}, good...), 0), ErrCorrupt},
		{"huge string length", []byte{0xfe, 0xff, 0xff, 0xff, 0x0f}, ErrCorrupt},
		{"negative length", []byte{0x01}, ErrCorrupt},
		{"bad enum index", corruptStatus(t, c), ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out Created
			err := c.Decode(tt.body, &out)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var de *DecodeError
			if !errors.As(err, &de) || de.Type != "schema.Created" || de.SchemaID != -1 {
				t.Fatalf("err = %#v, want *DecodeError for schema.Created", err)
			}
		})
	}
}

// corruptStatus returns a body whose enum index is out of range.
func corruptStatus(t *testing.T, c *Codec[Created]) []byte {
	v := Created{OrderID: "o", Currency: "E", Status: "NEW"}
	body, err := c.AppendEncode(nil, &v)
	if err != nil {
		t.Fatal(err)
	}
	// order_id "o" (2 bytes), customer_id 0 (1), total (8), currency "E" (2),
	// then the enum index.
	body[13] = 0x7e
	return body
}

// TestDecodeBoundedAllocation protects against a length prefix making the
// decoder allocate far more than the body: a 3-byte body claiming 512 KiB
// of bytes (under hamba's default 1 MiB limit) must fail without
// allocating them.
func TestDecodeBoundedAllocation(t *testing.T) {
	type S struct {
		B []byte `avro:"b"`
	}
	c := mustCodec[S](t, `{"type":"record","name":"S","fields":[{"name":"b","type":"bytes"}]}`)
	body := []byte{0x80, 0x80, 0x40} // zigzag varint of 512 KiB
	var out S
	if err := c.Decode(body, &out); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
	before := memStats()
	for range 20 {
		_ = c.Decode(body, &out)
	}
	if grown := memStats() - before; grown > 1<<20 {
		t.Fatalf("20 hostile decodes allocated %.0f bytes", grown)
	}
}
