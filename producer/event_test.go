package producer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/partition"
)

// TestEventOptions protects per-event headers and timestamps on every
// publishing form: the caller's headers reach the record next to ordo's
// own (which stay intact), and the timestamp is the record's.
func TestEventOptions(t *testing.T) {
	const topic = "orders"
	e := startEnv(t, map[string]int32{topic: 3})
	p := e.producer(t)
	ctx := context.Background()
	pub, err := NewPublisher(ctx, p, topic, codec[Created](t, createdAvsc))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute).Truncate(time.Millisecond).UTC()
	opts := func(form string) []PublishOption {
		return []PublishOption{Header("correlation-id", "c-"+form), HeaderBytes("tenant", []byte("acme")), Timestamp(at)}
	}
	if _, err := pub.Publish(ctx, Created{"sync", 1}, opts("sync")...); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	done := func(_ Result, err error) {
		if err != nil {
			t.Error(err)
		}
		wg.Done()
	}
	if err := pub.PublishAsync(ctx, Created{"async", 1}, done, opts("async")...); err != nil {
		t.Fatal(err)
	}
	if err := pub.TryPublishAsync(ctx, Created{"try", 1}, done, opts("try")...); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if _, err := pub.PublishBatch(ctx, []Message[Created]{
		{Event: Created{"batch", 1}, Options: opts("batch")},
		{Event: Created{"plain", 1}},
	}); err != nil {
		t.Fatal(err)
	}
	un, err := NewUnorderedPublisher(ctx, p, topic, codec[Created](t, createdAvsc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := un.Publish(ctx, Created{"unordered", 1}, opts("unordered")...); err != nil {
		t.Fatal(err)
	}

	for _, r := range e.readAll(t, topic, 6) {
		k := string(r.Key)
		if k == "" {
			k = "unordered"
		}
		for _, h := range []string{header.Type, header.ID, header.Producer} {
			if _, ok := header.Get(r.Headers, h); !ok {
				t.Errorf("%s: no %s header", k, h)
			}
		}
		if k != "unordered" {
			if s, _ := header.Get(r.Headers, header.Seq); s != "1" {
				t.Errorf("%s: ordo-seq %q, want 1", k, s)
			}
		}
		cid, _ := header.Get(r.Headers, "correlation-id")
		tenant, _ := header.Get(r.Headers, "tenant")
		if k == "plain" {
			if cid != "" || tenant != "" || r.Timestamp.Equal(at) {
				t.Errorf("plain: options leaked from its batch neighbour: %q %q %v", cid, tenant, r.Timestamp)
			}
			continue
		}
		if cid != "c-"+k || tenant != "acme" {
			t.Errorf("%s: correlation-id %q tenant %q", k, cid, tenant)
		}
		if !r.Timestamp.Equal(at) {
			t.Errorf("%s: timestamp %v, want %v", k, r.Timestamp, at)
		}
	}
}

// TestReservedHeaders protects ordo's own headers: a caller's header that
// would shadow one (any ordo-*, or one the trace propagator writes) is
// refused with ErrReservedHeader on every form, and nothing is published.
func TestReservedHeaders(t *testing.T) {
	const topic = "orders"
	e := startEnv(t, map[string]int32{topic: 1})
	p := e.producer(t, WithPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})))
	ctx := context.Background()
	pub, err := NewPublisher(ctx, p, topic, codec[Created](t, createdAvsc))
	if err != nil {
		t.Fatal(err)
	}
	noDone := func(Result, error) { t.Error("done called for a refused event") }
	for _, key := range []string{header.Seq, header.ID, "ORDO-Type", "ordo-anything", header.Partitions, "traceparent", "TraceState", "baggage"} {
		forms := map[string]error{}
		_, forms["Publish"] = pub.Publish(ctx, Created{"k", 1}, Header(key, "x"))
		forms["PublishAsync"] = pub.PublishAsync(ctx, Created{"k", 1}, noDone, Header(key, "x"))
		forms["TryPublishAsync"] = pub.TryPublishAsync(ctx, Created{"k", 1}, noDone, Header(key, "x"))
		_, forms["PublishBatch"] = pub.PublishBatch(ctx, []Message[Created]{{Event: Created{"k", 1}}, {Event: Created{"k", 2}, Options: []PublishOption{Header(key, "x")}}})
		for form, err := range forms {
			var pe *PublishError
			if !errors.Is(err, ErrReservedHeader) || !errors.As(err, &pe) || !strings.Contains(err.Error(), key) {
				t.Errorf("%s with header %q: %v, want a *PublishError wrapping ErrReservedHeader naming it", form, key, err)
			}
		}
	}
	for name, opt := range map[string]PublishOption{
		"empty key":                       Header("", "x"),
		"nil option":                      nil,
		"before 1970":                     Timestamp(time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)),
		"older than the delivery timeout": Timestamp(time.Now().Add(-DefaultDeliveryTimeout - time.Second)),
	} {
		if _, err := pub.Publish(ctx, Created{"k", 1}, opt); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("%s: %v, want ErrInvalidOption", name, err)
		}
	}
	// Nothing reached the topic: one good record afterwards is the first.
	if res, err := pub.Publish(ctx, Created{"k", 1}, Header("ordinary", "x")); err != nil || res.Offset != 0 || res.Seq != 1 {
		t.Fatalf("after refusals: %+v, %v; want offset 0, seq 1", res, err)
	}
}

// TestTimestampDoesNotDecideStampedCount guards count.go against
// back-dated records: the stamped count a new producer starts from is the
// largest on the topic's latest records, not the one on the record with
// the latest timestamp, so records written after an accepted change but
// given an old Timestamp do not make a later producer refuse.
func TestTimestampDoesNotDecideStampedCount(t *testing.T) {
	const topic = "orders"
	e := startEnv(t, map[string]int32{topic: 2})
	ctx := context.Background()
	a := e.producer(t)
	if _, err := newCreatedPublisher(t, a).Publish(ctx, Created{"a", 1}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	e.addPartitions(t, topic, 2) // 4 now

	b := e.producer(t)
	pubB := newCreatedPublisher(t, b) // learns 2 stamped, 4 now: refuses
	b.AcceptPartitionCount(topic, 4)
	old := time.Now().Add(-time.Minute)
	// Only the new partitions: the old ones keep A's record, stamped 2 and
	// newer by timestamp than everything B writes.
	for i := range 40 {
		k := fmt.Sprint("k", i)
		if partition.For([]byte(k), 4) < 2 {
			continue
		}
		if _, err := pubB.Publish(ctx, Created{k, 2}, Timestamp(old)); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()

	c := e.producer(t)
	if _, err := newCreatedPublisher(t, c).Publish(ctx, Created{"a", 3}); err != nil {
		t.Fatalf("a producer started after back-dated records refuses: %v", err)
	}
}
