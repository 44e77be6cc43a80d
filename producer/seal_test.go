package producer

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/partition"
)

// headerNames lists r's header names in order.
func headerNames(r *kgo.Record) []string {
	var ks []string
	for _, h := range r.Headers {
		ks = append(ks, h.Key)
	}
	return ks
}

// TestSealFramesAsPublisher protects the outbox's promise that an event
// sealed now and published later is the record Publish would have
// written: same key, partition, frame and header set, the sealed event ID,
// per-key sequences continuing the producer's, and the trace going on from
// the span that sealed it.
func TestSealFramesAsPublisher(t *testing.T) {
	e := startEnv(t, map[string]int32{"orders": 6})
	p := e.producer(t, WithPropagator(propagation.TraceContext{}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pub, err := NewPublisher(ctx, p, "orders", codec[Created](t, createdAvsc))
	if err != nil {
		t.Fatal(err)
	}
	tid := trace.TraceID{1, 2, 3}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{9}, TraceFlags: trace.FlagsSampled, Remote: true})
	sctx := trace.ContextWithRemoteSpanContext(ctx, sc)
	ev := Created{OrderID: "o-7", Amount: 42}
	if _, err := pub.Publish(sctx, ev); err != nil {
		t.Fatal(err)
	}
	s, err := pub.Seal(sctx, ev, Header("tenant", "t1"))
	if err != nil {
		t.Fatal(err)
	}
	if want := int32(partition.For([]byte("o-7"), 6)); s.Partition != want || string(s.Key) != "o-7" {
		t.Fatalf("sealed partition %d key %q, want %d %q", s.Partition, s.Key, want, "o-7")
	}
	ch := make(chan outcome, 1)
	if err := p.PublishSealed(ctx, &s, func(r Result, err error) { ch <- outcome{r, err} }); err != nil {
		t.Fatal(err)
	}
	o := <-ch
	if o.err != nil || o.res.EventID != s.EventID || o.res.Seq != 2 {
		t.Fatalf("PublishSealed: %+v %v, want event %s seq 2", o.res, o.err, s.EventID)
	}
	recs := e.readAll(t, "orders", 2)
	a, b := recs[0], recs[1]
	if a.Partition != b.Partition || b.Partition != s.Partition || string(a.Key) != string(b.Key) || string(a.Value) != string(b.Value) {
		t.Fatalf("sealed record differs: partition %d/%d key %q/%q value equal %v",
			a.Partition, b.Partition, a.Key, b.Key, string(a.Value) == string(b.Value))
	}
	want := append(headerNames(a), "tenant")
	slices.Sort(want)
	got := headerNames(b)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("sealed record headers %v, want %v", headerNames(b), want)
	}
	if id, _ := header.Get(b.Headers, header.ID); id != s.EventID {
		t.Fatalf("ordo-id %q, want the sealed %q", id, s.EventID)
	}
	if seq, _ := header.Get(b.Headers, header.Seq); seq != "2" {
		t.Fatalf("ordo-seq %q, want 2 (after the published event's 1)", seq)
	}
	got2 := propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": func() string { v, _ := header.Get(b.Headers, "traceparent"); return v }()})
	if trace.SpanContextFromContext(got2).TraceID() != tid {
		t.Fatalf("published traceparent %v does not continue the sealing span's trace %v", trace.SpanContextFromContext(got2).TraceID(), tid)
	}
}

// TestSealRefusals: a topic that does not exist cannot be sealed for (its
// partition is unknown), an unkeyed seal has no partition, and a Sealed
// not made by Seal is refused rather than sent.
func TestSealRefusals(t *testing.T) {
	e := startEnv(t, map[string]int32{"metrics": 2})
	p := e.producer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pub, err := NewPublisher(ctx, p, "nowhere", codec[Created](t, createdAvsc), AllowMissingTopic())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Seal(ctx, Created{OrderID: "o-1"}); err == nil {
		t.Fatal("Seal for a topic that does not exist: no error")
	}
	if _, err := pub.Seal(ctx, Created{}); !errors.Is(err, partition.ErrNoKey) {
		t.Fatalf("Seal with an empty key: %v, want ErrNoKey", err)
	}
	un, err := NewUnorderedPublisher(ctx, p, "metrics", codec[Metric](t, metricAvsc))
	if err != nil {
		t.Fatal(err)
	}
	s, err := un.Seal(ctx, Metric{Name: "m", Value: 1})
	if err != nil || s.Partition != -1 || s.Key != nil {
		t.Fatalf("unordered Seal: partition %d key %v err %v, want -1, nil, nil", s.Partition, s.Key, err)
	}
	done := func(Result, error) {}
	if err := p.PublishSealed(ctx, &Sealed{Topic: "metrics", Value: []byte{0}}, done); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("PublishSealed of a hand-made event: %v, want ErrInvalidOption", err)
	}
	ch := make(chan error, 1)
	if err := p.PublishSealed(ctx, &s, func(_ Result, err error) { ch <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
	r := e.readAll(t, "metrics", 1)[0]
	if _, ok := header.Get(r.Headers, header.Seq); ok || r.Key != nil {
		t.Fatalf("unordered sealed record has key %q / ordo-seq", r.Key)
	}
}
