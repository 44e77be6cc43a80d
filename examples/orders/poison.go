package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/schema"
)

// The poison this run puts in front of real orders' later events. Each is
// written with raw franz-go, as a service that does not use ordo would, to
// the partition of a real order's key, after its OrderCreated and before
// its OrderPaid: what follows it for that order must wait behind it.
const (
	poisonBadBytes = iota // not a Confluent frame: no consumer can ever read it
	poisonAudited         // a valid frame of example.orders.OrderAudited, which fulfilment has no handler for (yet)
)

// poisonPlan says which orders get poison, and which order's payment the
// ledger rejects until the cause is fixed.
type poisonPlan struct {
	before   map[int]int // order index → poison kind, injected before its OrderPaid
	rejected int         // order index whose payment fails permanently until fixed; -1 if none
}

// planPoison picks the orders: spread over the run, never one of the
// traced ones (-trace shows an order's ordinary story), all different. A
// run with too few orders gets less poison.
func planPoison(orders int) poisonPlan {
	p := poisonPlan{before: make(map[int]int), rejected: -1}
	pick := func(i int) bool {
		if i < tracedOrders || i >= orders {
			return false
		}
		if _, taken := p.before[i]; taken {
			return false
		}
		return i != p.rejected
	}
	for _, c := range []struct{ at, kind int }{
		{orders * 1 / 7, poisonBadBytes}, {orders * 3 / 7, poisonAudited}, {orders * 5 / 7, poisonAudited},
	} {
		if pick(c.at) {
			p.before[c.at] = c.kind
		}
	}
	if pick(orders / 2) {
		p.rejected = orders / 2
	}
	return p
}

// injector writes the poison records. Its IDs (the ordo-id header) are
// what the accounting follows them by.
type injector struct {
	cl        *kgo.Client
	topic     string
	auditedID int // the schema ID OrderAudited is registered under
	codec     *schema.Codec[OrderAudited]
	led       *ledger     // where each record is entered before it is written
	byKind    [2][]string // order IDs per poison kind, for the summary
}

func newInjector(ctx context.Context, cfg config, reg *schema.Registry, c codecs, led *ledger) (*injector, error) {
	// The audit service registers its type as ordo's producer would, so
	// the frame is valid and the schema resolves: only the handler is
	// missing.
	id, err := reg.Register(ctx, schema.TopicRecordName.Subject(cfg.topic, c.audited.Name()), c.audited.Schema())
	if err != nil {
		return nil, fmt.Errorf("register %s: %w", c.audited.Name(), err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.brokers...),
		// murmur2 on the key, as ordo's producer: the poison lands on its
		// order's partition.
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		return nil, err
	}
	return &injector{cl: cl, topic: cfg.topic, auditedID: id, codec: c.audited, led: led}, nil
}

func (in *injector) close() { in.cl.Close() }

// inject writes one poison record of kind for order and waits for the
// acknowledgement, so that it lands before the order's next event.
func (in *injector) inject(ctx context.Context, order string, kind int) error {
	id := newEventID()
	r := &kgo.Record{Topic: in.topic, Key: []byte(order), Headers: []kgo.RecordHeader{{Key: "ordo-id", Value: []byte(id)}}}
	switch kind {
	case poisonBadBytes:
		r.Value = []byte(`{"order_id":"` + order + `","status":"PAID"}`) // JSON where Avro was expected
		in.led.inject(id, order+" bad bytes")
	case poisonAudited:
		v, err := in.codec.AppendFramed(nil, in.auditedID, &OrderAudited{OrderID: order, Auditor: "audit-bot", Note: "payment reviewed"})
		if err != nil {
			return err
		}
		r.Value = v
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: "ordo-type", Value: []byte(in.codec.Name())})
		in.led.inject(id, order+" OrderAudited")
	}
	in.byKind[kind] = append(in.byKind[kind], order)
	slices.Sort(in.byKind[kind])
	if err := in.cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		return fmt.Errorf("inject poison for %s: %w", order, err)
	}
	return nil
}

// newEventID is an ID for an injected record: not a UUIDv7 as ordo's
// producer writes, which is fine for a header only this example reads.
func newEventID() string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return "poison-" + hex.EncodeToString(b[:])
}
