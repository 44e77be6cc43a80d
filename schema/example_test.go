package schema_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/ordo-go/ordo/schema"
)

type Created struct {
	OrderID string `avro:"order_id"`
	Total   int64  `avro:"total_cents"`
}

const createdV1 = `{"type":"record","name":"Created","namespace":"com.example.orders","fields":[
	{"name":"order_id","type":"string"},
	{"name":"total_cents","type":"long"}]}`

// CreatedV2 adds a field with a default: a backward-compatible change.
type CreatedV2 struct {
	OrderID  string `avro:"order_id"`
	Total    int64  `avro:"total_cents"`
	Currency string `avro:"currency"`
}

const createdV2 = `{"type":"record","name":"Created","namespace":"com.example.orders","fields":[
	{"name":"order_id","type":"string"},
	{"name":"total_cents","type":"long"},
	{"name":"currency","type":"string","default":"EUR"}]}`

// Register a schema, frame an event, and read it back with a newer reader.
func Example() {
	fake := srfake.New() // an in-process registry on 127.0.0.1
	defer fake.Close()
	reg, err := schema.NewRegistry([]string{fake.URL()})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	v1, err := schema.NewCodec[Created](createdV1)
	if err != nil {
		log.Fatal(err)
	}
	subject := schema.TopicName.Subject("orders", v1.Name())
	id, err := reg.Register(ctx, subject, v1.Schema())
	if err != nil {
		log.Fatal(err)
	}
	value, err := v1.AppendFramed(nil, id, &Created{OrderID: "o-1", Total: 1250})
	if err != nil {
		log.Fatal(err)
	}

	// A consumer built against v2 reads the v1 record.
	v2, err := schema.NewCodec[CreatedV2](createdV2)
	if err != nil {
		log.Fatal(err)
	}
	writerID, body, err := schema.Unframe(value)
	if err != nil {
		log.Fatal(err)
	}
	w, err := reg.Writer(ctx, writerID)
	if err != nil {
		log.Fatal(err)
	}
	var got CreatedV2
	if err := v2.DecodeFrom(w, body, &got); err != nil {
		log.Fatal(err)
	}
	fmt.Println(subject, w.Name())
	fmt.Printf("%+v\n", got)
	// Output:
	// orders-value com.example.orders.Created
	// {OrderID:o-1 Total:1250 Currency:EUR}
}

// A breaking change is refused before it reaches the registry.
func ExampleRegistry_Register_incompatible() {
	fake := srfake.New()
	defer fake.Close()
	reg, err := schema.NewRegistry([]string{fake.URL()})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if _, err := reg.Register(ctx, "orders-value", createdV1); err != nil {
		log.Fatal(err)
	}
	// A new required field: new readers cannot read old records.
	breaking := `{"type":"record","name":"Created","namespace":"com.example.orders","fields":[
		{"name":"order_id","type":"string"},
		{"name":"total_cents","type":"long"},
		{"name":"currency","type":"string"}]}`
	_, err = reg.Register(ctx, "orders-value", breaking)
	var ie *schema.IncompatibleError
	fmt.Println(errors.Is(err, schema.ErrIncompatible), errors.As(err, &ie) && ie.Level == schema.Backward)
	// Output: true true
}

// A type that cannot cross the wire is refused with the field's path.
func ExampleNewCodec_bindError() {
	type Line struct {
		Price complex128 `avro:"price"`
	}
	type Order struct {
		Lines []Line `avro:"lines"`
	}
	_, err := schema.NewCodec[Order](`{"type":"record","name":"Order","fields":[
		{"name":"lines","type":{"type":"array","items":{"type":"record","name":"Line","fields":[
			{"name":"price","type":"double"}]}}}]}`)
	fmt.Println(err)
	fmt.Println(errors.Is(err, schema.ErrUnencodable))
	// Output:
	// schema: bind schema_test.Order: field Lines[].Price: complex128 cannot be encoded in Avro
	// true
}

func ExampleUnframe() {
	_, _, err := schema.Unframe([]byte(`{"order_id":"o-1"}`))
	fmt.Println(err)
	fmt.Println(errors.Is(err, schema.ErrBadMagic))
	// Output:
	// frame: magic byte 0x7b, want 0x00 (value of 18 bytes)
	// true
}

func ExampleCheck() {
	err := schema.Check([]string{createdV1}, createdV2, schema.Full)
	fmt.Println(err)
	// Output: <nil>
}
