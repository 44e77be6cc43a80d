package main

import (
	_ "embed"
	"time"

	"github.com/ordo-go/ordo/schema"
)

// The order lifecycle: created, then paid, then shipped. All three are keyed
// by order ID and share one topic, so each order's events stay in order.

type Item struct {
	SKU      string `avro:"sku"`
	Quantity int32  `avro:"quantity"`
	Cents    int64  `avro:"cents"`
}

type OrderCreated struct {
	OrderID   string    `avro:"order_id"`
	Customer  string    `avro:"customer"`
	Items     []Item    `avro:"items"`
	CreatedAt time.Time `avro:"created_at"`
}

func (e OrderCreated) PartitionKey() string { return e.OrderID }

type OrderPaid struct {
	OrderID string `avro:"order_id"`
	Cents   int64  `avro:"cents"`
	Method  string `avro:"method"`
}

func (e OrderPaid) PartitionKey() string { return e.OrderID }

type OrderShipped struct {
	OrderID  string  `avro:"order_id"`
	Carrier  string  `avro:"carrier"`
	Tracking *string `avro:"tracking"`
}

func (e OrderShipped) PartitionKey() string { return e.OrderID }

// OrderAudited is not part of the lifecycle: an audit service started
// writing it to the orders topic before fulfilment had a handler for it
// (see poison.go). The second fulfilment instance handles it.
type OrderAudited struct {
	OrderID string `avro:"order_id"`
	Auditor string `avro:"auditor"`
	Note    string `avro:"note"`
}

func (e OrderAudited) PartitionKey() string { return e.OrderID }

var (
	//go:embed schemas/created.avsc
	createdAvsc string
	//go:embed schemas/paid.avsc
	paidAvsc string
	//go:embed schemas/shipped.avsc
	shippedAvsc string
	//go:embed schemas/audited.avsc
	auditedAvsc string
)

// codecs binds the event types to their schemas. A type that cannot cross
// the wire with its schema fails here, at start-up, naming the field.
type codecs struct {
	created *schema.Codec[OrderCreated]
	paid    *schema.Codec[OrderPaid]
	shipped *schema.Codec[OrderShipped]
	audited *schema.Codec[OrderAudited]
}

func newCodecs() (codecs, error) {
	var c codecs
	var err error
	if c.created, err = schema.NewCodec[OrderCreated](createdAvsc); err != nil {
		return c, err
	}
	if c.paid, err = schema.NewCodec[OrderPaid](paidAvsc); err != nil {
		return c, err
	}
	if c.shipped, err = schema.NewCodec[OrderShipped](shippedAvsc); err != nil {
		return c, err
	}
	c.audited, err = schema.NewCodec[OrderAudited](auditedAvsc)
	return c, err
}
