package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/consumer/consumertest"
	"github.com/ordo-go/ordo/consumer/dlq"
	"github.com/ordo-go/ordo/schema"
)

const (
	demoDLT     = "orders.dlt"
	paymentAvsc = `{"type":"record","name":"OrderPaid","namespace":"com.example.orders","fields":[{"name":"order_id","type":"string"},{"name":"amount_cents","type":"long"}]}`
)

// orderPaid is the Go type of paymentAvsc.
type orderPaid struct {
	OrderID     string `avro:"order_id"`
	AmountCents int64  `avro:"amount_cents"`
}

// startDemo starts an embedded cluster and registry, dead-letters sample
// records into demoDLT and points cfg at them. stop closes the cluster.
func startDemo(ctx context.Context, cfg *config, out io.Writer) (stop func(), err error) {
	c, err := consumertest.New(consumertest.Brokers(1), consumertest.Topic("orders", 3),
		consumertest.Topic("payments", 1), consumertest.Topic(demoDLT, 3))
	if err != nil {
		return nil, err
	}
	cfg.brokers, cfg.registry = c.Brokers(), c.RegistryURL()
	if err := seed(ctx, c.Brokers(), c.RegistryURL()); err != nil {
		c.Close()
		return nil, fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintf(out, "demo: embedded cluster %v with sample dead letters in %s\n", c.Brokers(), demoDLT)
	return func() { c.Close() }, nil
}

// seed dead-letters what a consumer of "orders" would have: a refused
// payment of order-1 and the two events of order-1 quarantined behind it,
// an exhausted retry of order-2, and a record that is not Avro at all.
func seed(ctx context.Context, brokers []string, registry string) error {
	reg, err := schema.NewRegistry([]string{registry})
	if err != nil {
		return err
	}
	id, err := reg.Register(ctx, "orders-value", paymentAvsc)
	if err != nil {
		return err
	}
	codec, err := schema.NewCodec[orderPaid](paymentAvsc)
	if err != nil {
		return err
	}
	var encErr error
	value := func(order string, cents int64) []byte {
		framed, err := codec.AppendFramed(nil, id, &orderPaid{OrderID: order, AmountCents: cents})
		encErr = errors.Join(encErr, err)
		return framed
	}
	t0 := time.Now().Add(-time.Hour)
	rec := func(topic, key string, off int64, v []byte) *kgo.Record {
		return &kgo.Record{Topic: topic, Key: []byte(key), Value: v, Offset: off, Timestamp: t0.Add(time.Duration(off) * time.Second),
			Headers: []kgo.RecordHeader{{Key: "ordo-type", Value: []byte("com.example.orders.OrderPaid")}}}
	}
	refused := errors.New("payment refused: card expired")
	dead := []*kgo.Record{
		dlq.Build(demoDLT, rec("orders", "order-1", 10, value("order-1", 1250)), dlq.Failure{Reason: dlq.Permanent, Stage: dlq.StageHandle, Attempts: 1, Err: refused, Group: "fulfilment"}),
		dlq.Build(demoDLT, rec("orders", "order-1", 11, value("order-1", 50)), dlq.Failure{Reason: dlq.Quarantined, Stage: dlq.StageQuarantine, QuarantineOffset: 10, Group: "fulfilment"}),
		dlq.Build(demoDLT, rec("orders", "order-1", 12, value("order-1", 75)), dlq.Failure{Reason: dlq.Quarantined, Stage: dlq.StageQuarantine, QuarantineOffset: 10, Group: "fulfilment"}),
		dlq.Build(demoDLT, rec("orders", "order-2", 13, value("order-2", 990)), dlq.Failure{Reason: dlq.HandlerExhausted, Stage: dlq.StageHandle, Attempts: 8, Err: errors.New("warehouse: 503 Service Unavailable"), Group: "fulfilment"}),
		dlq.Build(demoDLT, rec("payments", "p-9", 4, []byte("not avro")), dlq.Failure{Reason: dlq.Unframe, Stage: dlq.StageUnframe, Err: errors.New("bad magic byte"), Group: "ledger"}),
	}
	if encErr != nil {
		return encErr
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.ProduceSync(ctx, dead...).FirstErr()
}
