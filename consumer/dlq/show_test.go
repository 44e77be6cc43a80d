package dlq

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/schema"
)

const createdAvsc = `{"type":"record","name":"Created","namespace":"com.example","fields":[{"name":"id","type":"string"},{"name":"amount","type":"long"}]}`

type created struct {
	ID     string `avro:"id"`
	Amount int64  `avro:"amount"`
}

// TestListAndShow protects what the operator sees: counts by original
// topic, reason and type with the oldest and newest dead-letter times, and
// records shown with their value decoded to JSON through the registry and
// every header.
func TestListAndShow(t *testing.T) {
	e := newEnv(t)
	reg, err := schema.NewRegistry([]string{e.cluster.RegistryURL()})
	if err != nil {
		t.Fatal(err)
	}
	id, err := reg.Register(e.ctx, "orders-value", createdAvsc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := schema.NewCodec[created](createdAvsc)
	if err != nil {
		t.Fatal(err)
	}
	framed, err := c.AppendFramed(nil, id, &created{ID: "o-1", Amount: 42})
	if err != nil {
		t.Fatal(err)
	}
	orig := &kgo.Record{Topic: "orders", Key: []byte("o-1"), Value: framed, Offset: 3,
		Headers: []kgo.RecordHeader{{Key: header.Type, Value: []byte("com.example.Created")}}}
	e.produce(Build(dlt, orig, Failure{Reason: Permanent, Err: errors.New("refused")}))
	orig.Offset = 4
	e.produce(Build(dlt, orig, Failure{Reason: Quarantined, QuarantineOffset: 3}))
	e.deadLetter("payments", "p", Failure{Reason: Unframe})
	e.produce(&kgo.Record{Topic: dlt, Key: []byte("junk"), Value: []byte("x")})

	d, err := New(Brokers(e.cluster.Brokers()...), Registry(reg))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := d.List(e.ctx, dlt)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Total != 4 || sum.Malformed != 1 || len(sum.Groups) != 3 {
		t.Fatalf("summary %+v", sum)
	}
	first := sum.Groups[0]
	if first.Topic != "orders" || first.Reason != Permanent || first.Type != "com.example.Created" || first.Records != 1 {
		t.Fatalf("first group %+v", first)
	}
	if first.Oldest.IsZero() || time.Since(first.Newest) > time.Minute {
		t.Fatalf("times %v %v", first.Oldest, first.Newest)
	}
	if g := sum.Groups[2]; g.Topic != "payments" || g.Reason != Unframe {
		t.Fatalf("last group %+v", g)
	}

	shown, err := d.Show(e.ctx, dlt, Filter{Topics: []string{"orders"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(shown) != 2 {
		t.Fatalf("shown %d, want 2", len(shown))
	}
	if got := string(shown[0].Value); got != `{"amount":42,"id":"o-1"}` || shown[0].ValueError != "" {
		t.Fatalf("value %s (%s)", got, shown[0].ValueError)
	}
	if shown[1].Info.Reason != Quarantined || shown[1].Info.QuarantineOffset != 3 || hdr(&kgo.Record{Headers: shown[1].Headers}, header.DLTOriginalTopic) != "orders" {
		t.Fatalf("second %+v", shown[1].Info)
	}
	limited, err := d.Show(e.ctx, dlt, Filter{}, 1)
	if err != nil || len(limited) != 1 {
		t.Fatalf("limit 1: %d, %v", len(limited), err)
	}
	all, _ := d.Show(e.ctx, dlt, Filter{}, 0)
	junk := 0
	for _, en := range all {
		if en.ParseError != "" && string(en.Key) == "junk" {
			junk++
		}
	}
	if len(all) != 4 || junk != 1 {
		t.Fatalf("no filter: %d shown, %d junk with a parse error; want 4, 1", len(all), junk)
	}
}

// TestShowDecodesAsTheConsumer protects Show decoding through package
// schema, as a consumer does: a writer schema that uses a type registered
// under another subject (a schema reference) decodes, and a body with a
// byte after the record is reported, not shown as the record. Show parsed
// the writer's text alone with upstream hamba before: it failed the first
// ("unknown type: com.acme.Money") and showed the second as if whole.
func TestShowDecodesAsTheConsumer(t *testing.T) {
	const (
		moneyAvsc   = `{"type":"record","name":"Money","namespace":"com.acme","fields":[{"name":"cents","type":"long"}]}`
		paymentAvsc = `{"type":"record","name":"Payment","namespace":"com.acme","fields":[{"name":"id","type":"string"},{"name":"amount","type":"com.acme.Money"}]}`
	)
	type money struct {
		Cents int64 `avro:"cents"`
	}
	type payment struct {
		ID     string `avro:"id"`
		Amount money  `avro:"amount"`
	}
	e := newEnv(t)
	reg, err := schema.NewRegistry([]string{e.cluster.RegistryURL()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Register(e.ctx, "com.acme.Money", moneyAvsc); err != nil {
		t.Fatal(err)
	}
	ref := schema.Reference{Name: "com.acme.Money", Subject: "com.acme.Money", Version: 1, Schema: moneyAvsc}
	c, err := schema.NewCodec[payment](paymentAvsc, schema.WithReferences(ref))
	if err != nil {
		t.Fatal(err)
	}
	id, err := reg.Register(e.ctx, "payments-value", c.Schema(), c.References()...)
	if err != nil {
		t.Fatal(err)
	}
	framed, err := c.AppendFramed(nil, id, &payment{ID: "p-1", Amount: money{Cents: 250}})
	if err != nil {
		t.Fatal(err)
	}
	cid, err := reg.Register(e.ctx, "orders-value", createdAvsc)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := schema.NewCodec[created](createdAvsc)
	if err != nil {
		t.Fatal(err)
	}
	trailing, err := cc.AppendFramed(nil, cid, &created{ID: "o-1", Amount: 42})
	if err != nil {
		t.Fatal(err)
	}
	trailing = append(trailing, 0)
	for _, v := range [][]byte{framed, trailing} {
		e.produce(Build(dlt, &kgo.Record{Topic: "payments", Key: []byte("p-1"), Value: v}, Failure{Reason: Permanent}))
	}

	d, err := New(Brokers(e.cluster.Brokers()...), Registry(reg))
	if err != nil {
		t.Fatal(err)
	}
	shown, err := d.Show(e.ctx, dlt, Filter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(shown) != 2 {
		t.Fatalf("shown %d, want 2", len(shown))
	}
	if got := string(shown[0].Value); got != `{"amount":{"cents":250},"id":"p-1"}` || shown[0].ValueError != "" {
		t.Fatalf("value with a schema reference: %s (%s)", got, shown[0].ValueError)
	}
	if shown[1].Value != nil || !strings.Contains(shown[1].ValueError, "trailing bytes") {
		t.Fatalf("value with a trailing byte: %s (%q), want no value and the reason", shown[1].Value, shown[1].ValueError)
	}
}
