package outbox_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ordo-go/ordo/producer"
	"github.com/ordo-go/ordo/producer/outbox"
)

func newWriter(t testing.TB, e *env, p *producer.Producer, m *outbox.Memory) *outbox.Writer[*outbox.MemTx, OrderPlaced] {
	t.Helper()
	w, err := outbox.NewWriter[*outbox.MemTx](e.publisher(t, p), m)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func newRelay(t testing.TB, p *producer.Producer, s outbox.Store, opts ...outbox.RelayOption) *outbox.Relay {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := outbox.NewRelay(p, s, append([]outbox.RelayOption{outbox.Backoff(50 * time.Millisecond), outbox.WithLogger(quiet)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRelayPublishesCommittedInKeyOrder protects the outbox's main
// promise: every committed event reaches the topic exactly once when
// nothing fails, in its key's commit order, on its key's partition;
// rolled-back events never do. Events are committed while the relay runs
// (8 writers, 64 keys, 4000 events, batches of 100).
func TestRelayPublishesCommittedInKeyOrder(t *testing.T) {
	e := startEnv(t, 6)
	p := e.producer(t)
	m := outbox.NewMemory()
	ow := newWriter(t, e, p, m)
	stop := runRelay(t, newRelay(t, e.producer(t), m, outbox.BatchSize(100)))
	var w writer
	w.write(t, m, ow, 64, 4000, 8)
	drained(t, m)
	stop()
	if dups := w.check(t, e.readAll(t, w.total())); len(dups) != 0 {
		t.Fatalf("%d events published twice with no failure", len(dups))
	}
}

// TestRelayMarksOnlyAfterAck protects "no loss": while the broker holds
// every produce request no row is marked, and while it refuses the topic
// the rows stay and are published once it accepts again, in key order.
func TestRelayMarksOnlyAfterAck(t *testing.T) {
	e := startEnv(t, 3)
	p := e.producer(t)
	m := outbox.NewMemory()
	var w writer
	w.write(t, m, newWriter(t, e, p, m), 16, 500, 4)
	n := m.Len()

	kc := e.c.Kafka()
	var deny atomic.Bool
	deny.Store(true)
	kc.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		if !deny.Load() {
			return nil, nil, false
		}
		return refuse(kr.(*kmsg.ProduceRequest)), nil, true
	})
	r := newRelay(t, e.producer(t), m, outbox.BatchSize(64))
	stop := runRelay(t, r)
	deadline := time.Now().Add(20 * time.Second)
	for r.Stats().Failed < int64(n) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s := r.Stats(); s.Failed == 0 || s.Published != 0 || m.Len() != n {
		t.Fatalf("broker refusing: stats %+v, outbox %d rows of %d: want failures, nothing marked", s, m.Len(), n)
	}
	deny.Store(false)
	drained(t, m)
	stop()
	if dups := w.check(t, e.readAll(t, w.total())); len(dups) != 0 {
		t.Fatalf("%d duplicates, want none: refused records were not written", len(dups))
	}
}

// refuse answers a produce request with TOPIC_AUTHORIZATION_FAILED for
// every partition: the client fails the records at once.
func refuse(req *kmsg.ProduceRequest) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, kerr.TopicAuthorizationFailed.Code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// crashStore wraps a store: the crashAt-th Mark of its sessions does not
// happen and calls crash instead, as a relay killed after the broker's
// acknowledgement and before its mark.
type crashStore struct {
	outbox.Store
	crashAt int
	crash   func()

	mu      sync.Mutex
	marks   int
	crashed []outbox.Row // the batch acknowledged but not marked
}

func (s *crashStore) Open(ctx context.Context) (outbox.Session, error) {
	sess, err := s.Store.Open(ctx)
	return &crashSession{Session: sess, s: s}, err
}

type crashSession struct {
	outbox.Session
	s *crashStore
}

func (c *crashSession) Mark(ctx context.Context, rows []outbox.Row) error {
	s := c.s
	s.mu.Lock()
	s.marks++
	if s.marks == s.crashAt {
		s.crashed = rows
		s.mu.Unlock()
		s.crash()
		return errors.New("killed")
	}
	s.mu.Unlock()
	return c.Session.Mark(ctx, rows)
}

// TestRelayCrashBetweenAckAndMark protects the outbox's duplicate bound: a
// relay killed between the broker's acknowledgement of a batch and its
// mark leaves that batch to the next relay, which publishes it again; the
// topic then holds every event, first copies in key order, and the only
// duplicates are that batch's events, each with its own event ID again.
func TestRelayCrashBetweenAckAndMark(t *testing.T) {
	e := startEnv(t, 6)
	p := e.producer(t)
	m := outbox.NewMemory()
	var w writer
	w.write(t, m, newWriter(t, e, p, m), 32, 3000, 4)

	ctx, cancel := context.WithCancel(context.Background())
	cs := &crashStore{Store: m, crashAt: 3, crash: cancel}
	r1 := newRelay(t, e.producer(t), cs, outbox.BatchSize(200))
	if err := r1.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(cs.crashed) == 0 {
		t.Fatal("the relay was not killed")
	}
	r2 := newRelay(t, e.producer(t), m, outbox.BatchSize(200))
	stop := runRelay(t, r2)
	drained(t, m)
	stop()
	dups := w.check(t, e.readAll(t, w.total()+len(cs.crashed)))
	want := map[string]bool{}
	for _, r := range cs.crashed {
		want[r.Event.EventID] = true
	}
	for id, n := range dups {
		if !want[id] || n != 2 {
			t.Fatalf("event %s published %d times; only the killed batch's events may be duplicated, once", id, n)
		}
	}
	if len(dups) != len(want) {
		t.Fatalf("%d duplicates, want the killed batch's %d", len(dups), len(want))
	}
}

// TestTwoRelays protects per-key order across relays: two relays share
// one store while events are committed, one is stopped half way and the
// other takes its lanes over; every event is on the topic once, first
// copies in key order, and both relays published.
func TestTwoRelays(t *testing.T) {
	e := startEnv(t, 8)
	p := e.producer(t)
	m := outbox.NewMemory()
	ow := newWriter(t, e, p, m)
	r1 := newRelay(t, e.producer(t), m, outbox.BatchSize(50))
	r2 := newRelay(t, e.producer(t), m, outbox.BatchSize(50))
	stop1 := runRelay(t, r1)
	stop2 := runRelay(t, r2)
	var w writer
	w.write(t, m, ow, 64, 2000, 8)
	deadline := time.Now().Add(20 * time.Second)
	for r1.Stats().Published == 0 || r2.Stats().Published == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("relay 1 %+v, relay 2 %+v after 20s: the lanes were not shared", r1.Stats(), r2.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop1()
	w.write(t, m, ow, 64, 2000, 8)
	drained(t, m)
	stop2()
	if dups := w.check(t, e.readAll(t, w.total())); len(dups) != 0 {
		t.Fatalf("%d duplicates after a clean stop, want none", len(dups))
	}
}
