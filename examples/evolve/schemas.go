package main

import (
	_ "embed"

	"github.com/ordo-go/ordo/schema"
)

// The schema's history, as a service keeps it in its repository: each
// version a file, so that a test can hold the next one to the earlier ones
// (see evolve_test.go).
var (
	//go:embed schemas/order_v1.avsc
	orderV1 string
	// v2 adds tags, with a default: a v2 reader fills it in for a v1
	// record, a v1 reader skips it in a v2 record.
	//go:embed schemas/order_v2.avsc
	orderV2 string
	// Two changes that break v2's readers or writers: a field without a
	// default (a v3 reader cannot read a v1 or v2 record: no warehouse in
	// it) and a type change (cents long to string).
	//go:embed schemas/breaking_required.avsc
	breakingRequired string
	//go:embed schemas/breaking_retyped.avsc
	breakingRetyped string
)

// OrderV1 is the event as v1 of the service knows it.
type OrderV1 struct {
	OrderID string `avro:"order_id"`
	Cents   int64  `avro:"cents"`
}

// PartitionKey keeps an order's events on one partition, in order.
func (o OrderV1) PartitionKey() string { return o.OrderID }

// OrderV2 is the event as v2 knows it: v1's fields and the new tags.
type OrderV2 struct {
	OrderID string   `avro:"order_id"`
	Cents   int64    `avro:"cents"`
	Tags    []string `avro:"tags"`
}

// PartitionKey keeps an order's events on one partition, in order.
func (o OrderV2) PartitionKey() string { return o.OrderID }

// OrderRequired is the breaking change that adds a field without a default.
type OrderRequired struct {
	OrderID   string   `avro:"order_id"`
	Cents     int64    `avro:"cents"`
	Tags      []string `avro:"tags"`
	Warehouse string   `avro:"warehouse"`
}

// PartitionKey keeps an order's events on one partition, in order.
func (o OrderRequired) PartitionKey() string { return o.OrderID }

// OrderRetyped is the breaking change that turns cents into a string.
type OrderRetyped struct {
	OrderID string   `avro:"order_id"`
	Cents   string   `avro:"cents"`
	Tags    []string `avro:"tags"`
}

// PartitionKey keeps an order's events on one partition, in order.
func (o OrderRetyped) PartitionKey() string { return o.OrderID }

// codecs are the codecs of every version, each bound to its Go type:
// NewCodec refuses a type that does not match its schema.
type codecs struct {
	v1       *schema.Codec[OrderV1]
	v2       *schema.Codec[OrderV2]
	required *schema.Codec[OrderRequired]
	retyped  *schema.Codec[OrderRetyped]
}

func newCodecs() (codecs, error) {
	var c codecs
	var err error
	if c.v1, err = schema.NewCodec[OrderV1](orderV1); err != nil {
		return c, err
	}
	if c.v2, err = schema.NewCodec[OrderV2](orderV2); err != nil {
		return c, err
	}
	if c.required, err = schema.NewCodec[OrderRequired](breakingRequired); err != nil {
		return c, err
	}
	c.retyped, err = schema.NewCodec[OrderRetyped](breakingRetyped)
	return c, err
}
