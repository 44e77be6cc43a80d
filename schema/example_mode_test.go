package schema_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/ordo-go/ordo/schema"
)

// Money is a type shared by many schemas, registered once under its own
// subject; Payment references it by name.
type Money struct {
	Cents    int64  `avro:"cents"`
	Currency string `avro:"currency"`
}

type Payment struct {
	ID     string `avro:"id"`
	Amount Money  `avro:"amount"`
}

const (
	moneyAvsc = `{"type":"record","name":"Money","namespace":"com.acme","fields":[
		{"name":"cents","type":"long"},{"name":"currency","type":"string"}]}`
	paymentAvsc = `{"type":"record","name":"Payment","namespace":"com.acme.pay","fields":[
		{"name":"id","type":"string"},{"name":"amount","type":"com.acme.Money"}]}`
)

// A schema that uses a type defined under another subject: the codec binds
// across both, registration sends the reference, and a reader resolves it
// through the registry.
func ExampleWithReferences() {
	fake := srfake.New()
	defer fake.Close()
	reg, err := schema.NewRegistry([]string{fake.URL()})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if _, err := reg.Register(ctx, "com.acme.Money", moneyAvsc); err != nil { // by the owner of Money
		log.Fatal(err)
	}
	money := schema.Reference{Name: "com.acme.Money", Subject: "com.acme.Money", Version: 1, Schema: moneyAvsc}
	codec, err := schema.NewCodec[Payment](paymentAvsc, schema.WithReferences(money))
	if err != nil {
		log.Fatal(err)
	}
	id, err := reg.Register(ctx, "payments-value", codec.Schema(), codec.References()...)
	if err != nil {
		log.Fatal(err)
	}
	framed, err := codec.AppendFramed(nil, id, &Payment{"p-1", Money{250, "EUR"}})
	if err != nil {
		log.Fatal(err)
	}

	// A consumer: the writer schema's references are fetched and cached.
	wid, body, err := schema.Unframe(framed)
	if err != nil {
		log.Fatal(err)
	}
	w, err := reg.Writer(ctx, wid)
	if err != nil {
		log.Fatal(err)
	}
	var p Payment
	if err := codec.DecodeFrom(w, body, &p); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %+v\n", w.Name(), p)
	// Output:
	// com.acme.pay.Payment: {ID:p-1 Amount:{Cents:250 Currency:EUR}}
}

// Registration modes: a service with read-only registry credentials looks
// its schema up (lookup-only), or follows the subject's latest version
// (use-latest); neither registers.
func ExampleRegistry_Lookup() {
	fake := srfake.New()
	defer fake.Close()
	reg, err := schema.NewRegistry([]string{fake.URL()})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	_, err = reg.Lookup(ctx, "orders-value", createdV1)
	var me *schema.ModeError
	fmt.Println(errors.Is(err, schema.ErrNotRegistered), errors.As(err, &me) && me.Mode == schema.LookupOnly)

	id, err := reg.Register(ctx, "orders-value", createdV1) // CI registers it
	if err != nil {
		log.Fatal(err)
	}
	found, err := reg.Lookup(ctx, "orders-value", createdV1)
	if err != nil {
		log.Fatal(err)
	}
	latest, err := reg.Latest(ctx, "orders-value")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(found == id, latest.ID == id, latest.Version)
	// Output:
	// true true
	// true true 1
}
