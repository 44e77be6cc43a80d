package schematest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ordo-go/ordo/schema"
	"github.com/ordo-go/ordo/schema/schematest"
)

// recorder is a stand-in for the *testing.T a real test would pass.
type recorder struct {
	testing.TB
	cleanups []func()
}

func (*recorder) Helper()             {}
func (r *recorder) Cleanup(fn func()) { r.cleanups = append(r.cleanups, fn) }
func (r *recorder) done() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}
func (*recorder) Errorf(format string, args ...any) {
	fmt.Printf("FAIL: "+format+"\n", args...)
}
func (*recorder) Fatalf(format string, args ...any) {
	fmt.Printf("FATAL: "+format+"\n", args...)
}

func ExampleAssertCompatibleWithFiles() {
	// In a real test: schematest.AssertCompatibleWithFiles(t, ...).
	t := &recorder{}
	candidate := `{"type":"record","name":"Created","namespace":"com.example.orders","fields":[
		{"name":"order_id","type":"string"},
		{"name":"note","type":"string","default":""},
		{"name":"total_cents","type":"string","default":""}]}`
	schematest.AssertCompatibleWithFiles(t, []string{"testdata/orders/*.avsc"}, candidate, schema.Backward)
	fmt.Println("BACKWARD: ok")
	schematest.AssertCompatibleWithFiles(t, []string{"testdata/orders/*.avsc"}, candidate, schema.BackwardTransitive)
	// Output:
	// BACKWARD: ok
	// FAIL: schema is not BACKWARD_TRANSITIVE compatible with baseline testdata/orders/v1.avsc: new schema cannot read data written with the old one: field total_cents: reader schema string not compatible with writer schema int
}

func ExampleAssertCompatible() {
	t := &recorder{}
	defer t.done()
	reg := schematest.NewRegistry(t)
	v1 := `{"type":"record","name":"Created","namespace":"com.example.orders","fields":[
		{"name":"order_id","type":"string"}]}`
	if _, err := reg.Register(context.Background(), "orders-value", v1); err != nil {
		fmt.Println(err)
		return
	}
	v2 := `{"type":"record","name":"Created","namespace":"com.example.orders","fields":[
		{"name":"order_id","type":"string"},
		{"name":"currency","type":"string"}]}`
	schematest.AssertCompatible(t, reg, "orders-value", v2, schema.Backward)
	// Output:
	// FAIL: schema for subject "orders-value" is not BACKWARD compatible with version 1: new schema cannot read data written with the old one: field currency: reader field currency is missing in writer schema and has no default
}
