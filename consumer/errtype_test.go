package consumer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/internal/oteltest"
)

// declinedError is a user's own error type.
type declinedError struct{ reason string }

func (e *declinedError) Error() string { return "declined: " + e.reason }

// TestUsersErrorTypeNamed protects where a person or a Spring tool looks
// first: the type of the error a handler returned. The attempt span's
// exception event named *errors.joinError (the attempt joined the decode
// and handler errors), the record span's and the dead letter's
// kafka_dlt-exception-fqcn named ordo's envelope, *consumer.RecordError.
// Each now names *consumer.declinedError, through Permanent's mark and
// fmt's wrapping; the messages keep their whole text, and error.type
// stays the low-cardinality class the metrics use.
func TestUsersErrorTypeNamed(t *testing.T) {
	f := newFixture(t, 1)
	dlt := f.topic + ".dlt"
	f.createTopic(dlt, 1)
	tp := oteltest.NewTracerProvider()
	h := func(context.Context, Step, Meta) error {
		return Permanent(fmt.Errorf("charge card: %w", &declinedError{"insufficient funds"}))
	}
	c := f.consumer("errtype", h, DeadLetterTopic(dlt), WithTracerProvider(tp))
	wait := runConsumer(t, c)
	f.publish(1, 1)
	dead := f.readTopic(dlt, 1)
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	const want = "*consumer.declinedError"
	fqcn, _ := header.Get(dead[0].Headers, header.DLTExceptionFQCN)
	if string(fqcn) != want {
		t.Errorf("kafka_dlt-exception-fqcn = %q, want %q", fqcn, want)
	}
	waitFor(t, 10*time.Second, "the record's span", func() bool { return len(spansNamed(tp, "process "+f.topic)) == 1 })
	for _, name := range []string{"process " + f.topic, "handle ordo.test.Step"} {
		spans := spansNamed(tp, name)
		if len(spans) != 1 {
			t.Fatalf("%d spans named %q", len(spans), name)
		}
		typ, msg := exception(spans[0])
		if typ != want || msg == "" {
			t.Errorf("span %q: exception.type %q (message %q), want %q", name, typ, msg, want)
		}
		if et, _ := spans[0].Attr("error.type"); et.AsString() != "permanent" {
			t.Errorf("span %q: error.type %q, want the class both sides' metrics use, permanent", name, et.AsString())
		}
	}
}

func spansNamed(tp *oteltest.TracerProvider, name string) []oteltest.Span {
	var out []oteltest.Span
	for _, s := range tp.Spans() {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// exception returns the exception event's type and message.
func exception(s oteltest.Span) (typ, msg string) {
	for _, e := range s.Events {
		if e.Name != "exception" {
			continue
		}
		for _, kv := range e.Attributes {
			switch kv.Key {
			case attribute.Key("exception.type"):
				typ = kv.Value.AsString()
			case attribute.Key("exception.message"):
				msg = kv.Value.AsString()
			}
		}
	}
	return typ, msg
}
