package dlq

import (
	"errors"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/schema"
)

const createdAvsc = `{"type":"record","name":"Created","namespace":"com.example","fields":[{"name":"id","type":"string"},{"name":"amount","type":"long"}]}`

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
	body, err := avro.Marshal(avro.MustParse(createdAvsc), map[string]any{"id": "o-1", "amount": int64(42)})
	if err != nil {
		t.Fatal(err)
	}
	framed := append(schema.AppendHeader(nil, id), body...)
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
