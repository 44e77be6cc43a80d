package schema

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// TestMessagesNameThePackageOnce protects the error texts from stutter
// (issue 22): each layer adds what it knows once, so "schema: " opens a
// message and appears nowhere else, while errors.Is still finds every
// sentinel the message passed through. It used to read "schema: schema 1:
// schema: unusable writer schema: schema: invalid schema: …".
func TestMessagesNameThePackageOnce(t *testing.T) {
	reg, fake, _ := newTestRegistry(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := sr.NewClient(sr.URLs(fake.URL()))
	if err != nil {
		t.Fatal(err)
	}
	// srfake stores any text; a writer schema that does not parse is poison.
	ss, err := cl.CreateSchema(ctx, "bad-value", sr.Schema{Schema: `{"type":"record","name":"R","fields":[{"name":"a","type":"strin"}]}`})
	if err != nil {
		t.Fatal(err)
	}
	_, writerErr := reg.Writer(ctx, ss.ID)
	_, codecErr := NewCodec[struct {
		A string `avro:"a"`
	}](`{"type":"record","name":"R","fields":[{"name":"a","type":"strin"}]}`)
	_, regErr := reg.Register(ctx, "x-value", `{"type":"enum"}`)
	checkErr := Check(nil, `{"type":"enum"}`, Backward)
	good, err := NewCodec[struct {
		A string `avro:"a"`
	}](`{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		A string `avro:"a"`
	}
	decodeErr := good.Decode([]byte{0x08, 'a'}, &v) // a 4-byte string cut short
	for _, tt := range []struct {
		name string
		err  error
		want string
		is   []error
	}{
		{"writer", writerErr, "schema: schema 1: unusable writer schema: invalid schema: avro: unknown type: strin", []error{ErrUnusableSchema, ErrInvalid}},
		{"codec", codecErr, "schema: codec for struct { A string \"avro:\\\"a\\\"\" }: invalid schema: avro: unknown type: strin", []error{ErrInvalid}},
		{"register", regErr, `schema: register under "x-value": invalid schema: `, []error{ErrInvalid}},
		{"check", checkErr, "schema: candidate schema: invalid schema: ", []error{ErrInvalid}},
		{"decode", decodeErr, "schema: decode struct { A string \"avro:\\\"a\\\"\" } at body offset 1: truncated: body ends early", []error{ErrTruncated}},
	} {
		if tt.err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		msg := tt.err.Error()
		if !strings.HasPrefix(msg, tt.want) {
			t.Errorf("%s: %q, want it to begin %q", tt.name, msg, tt.want)
		}
		if strings.Contains(msg, ": schema: ") || strings.Contains(msg, "schema: schema: ") {
			t.Errorf("%s: %q names the package more than once", tt.name, msg)
		}
		for _, target := range tt.is {
			if !errors.Is(tt.err, target) {
				t.Errorf("%s: errors.Is(%v) false for %q", tt.name, target, msg)
			}
		}
	}
}

// TestBindSuggestsTheTag protects the message for the commonest first
// slip: a struct field without an avro tag. The binder names the tag to add,
// on the Go field it was meant for when one matches by name.
func TestBindSuggestsTheTag(t *testing.T) {
	type Order struct {
		OrderID string
		Cents   int64 `avro:"cents"`
	}
	_, err := NewCodec[Order](`{"type":"record","name":"O","fields":[{"name":"order_id","type":"string"},{"name":"cents","type":"long"}]}`)
	want := "schema: bind schema.Order: field order_id: schema O field \"order_id\" (string) has no Go field and no default: add the tag `avro:\"order_id\"` to the Go field OrderID"
	if err == nil || err.Error() != want {
		t.Errorf("untagged field: %v\nwant %s", err, want)
	}
	type Bare struct {
		Cents int64 `avro:"cents"`
	}
	_, err = NewCodec[Bare](`{"type":"record","name":"O","fields":[{"name":"order_id","type":"string"},{"name":"cents","type":"long"}]}`)
	want = "add the tag `avro:\"order_id\"` to a Go field of type string, or give the schema field a default"
	if err == nil || !strings.HasSuffix(err.Error(), want) || !errors.Is(err, ErrSchemaMismatch) {
		t.Errorf("missing field: %v\nwant it to end %s", err, want)
	}
}

// TestSchemaNotJSON protects the message for a schema text that is not
// valid JSON: it says so and where, instead of the Avro parser's "unknown
// type: {…" (it takes text that is not JSON for a type name).
func TestSchemaNotJSON(t *testing.T) {
	const avsc = `{"type":"record","name":"O","fields":[{"name":"order_id","type":"string"}]` // no final }
	_, err := NewCodec[struct {
		OrderID string `avro:"order_id"`
	}](avsc)
	want := `invalid schema: not valid JSON: unexpected end of JSON input at byte 74 of 74, just after …er_id","type":"string"}]`
	if err == nil || !strings.HasSuffix(err.Error(), want) || !errors.Is(err, ErrInvalid) {
		t.Errorf("missing brace: %v\nwant it to end %s", err, want)
	}
	_, err = NewWriter(1, "{\n  \"type\": \"record\",\n  \"name\": \"O\"\n  \"fields\": []\n}")
	want = `not valid JSON: invalid character '"' after object key:value pair at byte 39 of 52, just after …cord", "name": "O" "`
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("missing comma: %v\nwant it to end %s", err, want)
	}
	// Text that does not open as JSON is left to the Avro parser, which
	// names the unknown type.
	_, err = NewWriter(1, "strin")
	if want := "avro: unknown type: strin"; err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("bare name: %v, want it to end %s", err, want)
	}
}
