package consumer

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// dltDown makes the broker unreachable for produce requests to the
// dead-letter topic while down is set: it drops the connection of every
// such request, as a broker that went away would (the request is never
// answered; the client sees the connection reset). Other requests, and
// produce requests to other topics, are served as usual. It returns a
// counter of the requests it dropped.
func (f *fixture) dltDown(down *atomic.Bool) *atomic.Int64 {
	f.t.Helper()
	// Produce v13 names topics by ID only.
	ts, err := f.adm.ListTopics(context.Background(), dlt)
	if err != nil || ts[dlt].Err != nil {
		f.t.Fatalf("topic %s: %v %v", dlt, err, ts[dlt].Err)
	}
	id := ts[dlt].ID
	var dropped atomic.Int64
	kc := f.cluster.Kafka()
	kc.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		req := kr.(*kmsg.ProduceRequest)
		if !down.Load() || len(req.Topics) == 0 || req.Topics[0].Topic != dlt && req.Topics[0].TopicID != id {
			return nil, nil, false
		}
		dropped.Add(1)
		return nil, errors.New("broker down"), true
	})
	return &dropped
}

// TestDeadLetterBrokerDown protects the dead-letter path when the
// dead-letter topic's broker is unreachable: the write is tried again
// and again, the consumer halts with a *DeadLetterError matching
// ErrDeadLetterUnavailable once DeadLetterPatience has passed, nothing at
// or past the record is committed (its key's later record is not handled
// meanwhile: it waits behind it), and a restart once the broker is back
// dead-letters the record and its key's later record (quarantine) and
// moves on. Nothing is lost.
func TestDeadLetterBrokerDown(t *testing.T) {
	f := newFixture(t, 1)
	f.createTopic(dlt, 1)
	f.produce(f.record(Step{Key: "key-000", Seq: 1}), &kgo.Record{Key: []byte("key-000"), Value: []byte("bad")},
		f.record(Step{Key: "key-000", Seq: 2}), f.record(Step{Key: "key-001", Seq: 1}))
	var down atomic.Bool
	down.Store(true)
	dropped := f.dltDown(&down)

	rec := newRecorder(nil)
	start := time.Now()
	c := f.consumer("dl-broker-down", rec.handle, DeadLetterTopic(dlt), DeadLetterPatience(500*time.Millisecond),
		Retry(1, 10*time.Millisecond, 50*time.Millisecond))
	err := runConsumer(t, c)()
	took := time.Since(start)
	var de *DeadLetterError
	if !errors.As(err, &de) || !errors.Is(err, ErrDeadLetterUnavailable) {
		t.Fatalf("Run = %v, want a *DeadLetterError matching ErrDeadLetterUnavailable", err)
	}
	if de.Record.Offset != 1 || de.Topic != dlt || de.Tries < 1 {
		t.Fatalf("DeadLetterError for offset %d of %s after %d tries, want offset 1 of %s and at least one try",
			de.Record.Offset, de.Topic, de.Tries, dlt)
	}
	if took < 500*time.Millisecond {
		t.Fatalf("halted after %v, before the patience (500ms)", took)
	}
	if dropped.Load() < 2 {
		t.Fatalf("%d dead-letter produce requests reached the broker, want the write tried again", dropped.Load())
	}
	if got := f.committed("dl-broker-down")[0]; got != 1 {
		t.Fatalf("committed %d, want 1: the record must not be passed", got)
	}
	if got := c.Stats().DeadLettered; got != 0 {
		t.Fatalf("%d records counted dead-lettered with the broker down", got)
	}
	if rec.distinct() != 2 {
		t.Fatalf("handled %d records while the dead letter waited, want key-000's first and key-001's (not key-000's second: it waits behind the record)", rec.distinct())
	}
	t.Logf("halted after %v, %d write tries, %d produce requests dropped", took, de.Tries, dropped.Load())

	down.Store(false)
	c = f.consumer("dl-broker-down", rec.handle, DeadLetterTopic(dlt))
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "the record and its key's later one dead-lettered", func() bool { return c.Stats().DeadLettered == 2 })
	waitFor(t, 10*time.Second, "the commit past them", func() bool { return f.committed("dl-broker-down")[0] == 4 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	got := f.readTopic(dlt, 2)
	if len(got) != 2 || got[0].Offset != 0 || string(got[0].Value) != "bad" || string(got[1].Key) != "key-000" {
		t.Fatalf("dead-letter topic holds %d records, want the bad record then key-000's second step", len(got))
	}
	if rec.distinct() != 2 {
		t.Fatalf("handled %d records in all, want 2: the quarantined one is dead-lettered, not handled", rec.distinct())
	}
}
