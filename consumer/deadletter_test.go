package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ordo-go/ordo/consumer/dlq"
	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/internal/quarantine"
)

const dlt = "steps.dlt"

// createTopic makes topic on f's cluster.
func (f *fixture) createTopic(topic string, partitions int32) {
	f.t.Helper()
	if _, err := f.adm.CreateTopic(context.Background(), partitions, 1, nil, topic); err != nil {
		f.t.Fatal(err)
	}
}

// produce writes recs in order, synchronously.
func (f *fixture) produce(recs ...*kgo.Record) {
	f.t.Helper()
	if err := f.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		f.t.Fatal(err)
	}
}

// readTopic reads topic from the start until it has n records.
func (f *fixture) readTopic(topic string, n int) []*kgo.Record {
	f.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.cluster.Brokers()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		f.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			f.t.Fatalf("read %d of %d records of %s", len(out), n, topic)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// quarantined reads the group's quarantine set of partition p from its
// quarantine store, as of the group's committed offset.
func (f *fixture) quarantined(group string, p int32) *quarantine.Set {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	st, err := quarantine.OpenStore(ctx, quarantine.StoreConfig{Group: group, Opts: []kgo.Opt{kgo.SeedBrokers(f.cluster.Brokers()...)}})
	if err != nil {
		f.t.Fatal(err)
	}
	defer st.Close()
	s, err := st.Load(ctx, f.topic, p)
	if err != nil {
		f.t.Fatalf("load the quarantine of %s/%d: %v", f.topic, p, err)
	}
	return s
}

// TestPermanentIsNotRetried: an error marked Permanent, even wrapped, ends
// the record's budget at the first attempt, and errors.Is reaches the
// cause.
func TestPermanentIsNotRetried(t *testing.T) {
	f := newFixture(t, 1)
	f.publish(1, 1)
	cause := errors.New("order does not exist")
	var calls atomic.Int32
	c := f.consumer("permanent", func(context.Context, Step, Meta) error {
		calls.Add(1)
		return fmt.Errorf("look up: %w", Permanent(cause))
	})
	err := runConsumer(t, c)()
	var re *RecordError
	if !errors.As(err, &re) || !errors.Is(err, cause) || re.Attempts != 1 || calls.Load() != 1 {
		t.Fatalf("Run = %v (attempts %d, calls %d), want one attempt failing with the cause", err, re.Attempts, calls.Load())
	}
	if re.Class != ClassPermanent || re.Reason != dlq.Permanent || re.Record == nil || re.Record.Value == nil {
		t.Fatalf("class %q reason %q record %v", re.Class, re.Reason, re.Record)
	}
}

// TestRetryBudgetByTime: RetryFor ends the budget before the attempts do;
// the failure is transient and the reason handler-exhausted.
func TestRetryBudgetByTime(t *testing.T) {
	f := newFixture(t, 1)
	f.publish(1, 1)
	c := f.consumer("budget", func(context.Context, Step, Meta) error { return errors.New("db down") },
		Retry(1000, 20*time.Millisecond, 20*time.Millisecond), RetryFor(300*time.Millisecond))
	start := time.Now()
	err := runConsumer(t, c)()
	var re *RecordError
	if !errors.As(err, &re) || re.Class != ClassTransient || re.Reason != dlq.HandlerExhausted {
		t.Fatalf("Run = %v, want a transient, exhausted failure", err)
	}
	if re.Attempts < 3 || re.Attempts > 30 || time.Since(start) > 10*time.Second {
		t.Fatalf("%d attempts in %v, want the 300ms budget to end them", re.Attempts, time.Since(start))
	}
}

// TestDefaultsRideOutAnOutage is the first finding: with default
// options a 3-second database outage stopped the consumer in 0.8s. The
// default budget must outlast it.
func TestDefaultsRideOutAnOutage(t *testing.T) {
	f := newFixture(t, 1)
	f.publish(1, 1)
	until := time.Now().Add(3 * time.Second)
	rec := newRecorder(nil)
	c := f.consumer("outage", func(ctx context.Context, s Step, m Meta) error {
		if time.Now().Before(until) {
			return errors.New("connection refused")
		}
		return rec.handle(ctx, s, m)
	})
	wait := runConsumer(t, c)
	waitFor(t, 20*time.Second, "the record, after the outage", func() bool { return rec.distinct() == 1 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
}

// TestAttemptTimeout: each attempt's ctx ends after AttemptTimeout.
func TestAttemptTimeout(t *testing.T) {
	f := newFixture(t, 1)
	f.publish(1, 1)
	c := f.consumer("timeout", func(ctx context.Context, _ Step, _ Meta) error {
		<-ctx.Done()
		return ctx.Err()
	}, AttemptTimeout(50*time.Millisecond), Retry(2, time.Millisecond, time.Millisecond))
	err := runConsumer(t, c)()
	var re *RecordError
	if !errors.As(err, &re) || re.Attempts != 2 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run = %v, want 2 timed-out attempts", err)
	}
}

// TestTombstones: a null value is poison (dead-lettered as a tombstone)
// unless a handler opts in.
func TestTombstones(t *testing.T) {
	f := newFixture(t, 1)
	f.createTopic(dlt, 1)
	f.produce(&kgo.Record{Key: []byte("key-000"), Value: nil})
	f.publish(1, 1)
	rec := newRecorder(nil)
	c := f.consumer("tomb", rec.handle, DeadLetterTopic(dlt))
	wait := runConsumer(t, c)
	// The key's later record follows its tombstone into the dead-letter topic.
	waitFor(t, 10*time.Second, "dead letters", func() bool { return c.Stats().DeadLettered == 2 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	info, err := dlq.Parse(f.readTopic(dlt, 2)[0])
	if err != nil || info.Reason != dlq.Tombstone || info.Offset != 0 {
		t.Fatalf("dead letter %+v, %v", info, err)
	}

	var got atomic.Int64
	got.Store(-1)
	c = f.consumer("tomb-ok", rec.handle, Tombstones(func(_ context.Context, m Meta) error {
		got.Store(m.Offset)
		return nil
	}))
	wait = runConsumer(t, c)
	waitFor(t, 10*time.Second, "the tombstone handler", func() bool { return got.Load() == 0 && rec.distinct() == 1 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
}

// fixable is a handler that fails permanently for the listed seqs of one
// key while broken is set, and records everything it handles.
type fixable struct {
	*recorder
	broken atomic.Bool
	key    string
	bad    map[int64]bool
}

func (h *fixable) handle(ctx context.Context, s Step, m Meta) error {
	if h.broken.Load() && s.Key == h.key && h.bad[s.Seq] {
		return Permanent(fmt.Errorf("step %d refused", s.Seq))
	}
	return h.recorder.handle(ctx, s, m)
}

// TestDeadLetterQuarantineRedrive walks the whole story on one partition:
// a permanent failure and a poison record are dead-lettered, later records
// of their keys follow them (quarantined), other keys flow; the quarantine
// survives a restart; after the cause is fixed a redrive handles the chain
// in order and lifts the quarantine, while a chain that fails again starts
// a new quarantine, and the loop guard holds it.
func TestDeadLetterQuarantineRedrive(t *testing.T) {
	f := newFixture(t, 1)
	f.createTopic(dlt, 2)
	a := func(seq int64) *kgo.Record { return f.record(Step{Key: "key-000", Seq: seq}) }
	b := func(seq int64) *kgo.Record { return f.record(Step{Key: "key-001", Seq: seq}) }
	poison := &kgo.Record{Key: []byte("key-002"), Value: []byte("not avro"), Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("x")}}}
	// Offsets: 0 a1, 1 a2 (refused), 2 b1, 3 poison, 4 a3, 5 b2, 6 c1, 7 a4.
	f.produce(a(1), a(2), b(1), poison, a(3), b(2), f.record(Step{Key: "key-002", Seq: 1}), a(4))
	h := &fixable{recorder: newRecorder(nil), key: "key-000", bad: map[int64]bool{2: true}}
	h.broken.Store(true)
	var hooked sync.Map
	hook := ErrorHook(func(_ context.Context, re *RecordError) { hooked.Store(re.Offset, re) })
	c := f.consumer("story", h.handle, DeadLetterTopic(dlt), hook)
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "5 dead letters", func() bool { return c.Stats().DeadLettered == 5 })
	waitFor(t, 10*time.Second, "the commit past them", func() bool { return f.committed("story")[0] == 8 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(h.seqs["key-000"], h.seqs["key-001"]); got != "[1] [1 2]" {
		t.Fatalf("handled %s, want key-000 [1] (the rest quarantined) and key-001 [1 2]", got)
	}
	if v, ok := hooked.Load(int64(3)); !ok || string(v.(*RecordError).Record.Value) != "not avro" ||
		len(v.(*RecordError).Record.Headers) != 1 || v.(*RecordError).Class != ClassPermanent {
		t.Fatalf("hook for the poison record: %v", v)
	}
	want := map[int64]struct {
		reason dlq.Reason
		q      int64
	}{1: {dlq.Permanent, -1}, 3: {dlq.Unframe, -1}, 4: {dlq.Quarantined, 1}, 6: {dlq.Quarantined, 3}, 7: {dlq.Quarantined, 1}}
	for _, d := range f.readTopic(dlt, 5) {
		info, err := dlq.Parse(d)
		w, ok := want[info.Offset]
		if err != nil || !ok || info.Reason != w.reason || info.QuarantineOffset != w.q || info.Group != "story" {
			t.Fatalf("dead letter %+v (%v), want %+v", info, err, w)
		}
		if info.Offset == 3 && (string(d.Value) != "not avro" || string(d.Key) != "key-002") {
			t.Fatalf("poison dead letter lost its key or value: %q %q", d.Key, d.Value)
		}
	}
	if s := f.quarantined("story", 0); s.Len() != 2 {
		t.Fatalf("committed quarantine holds %d keys, want 2", s.Len())
	}

	// A restart knows the quarantine: a5 follows a2.
	f.produce(a(5)) // offset 8
	c = f.consumer("story", h.handle, DeadLetterTopic(dlt))
	wait = runConsumer(t, c)
	waitFor(t, 10*time.Second, "a5 quarantined after the restart", func() bool { return c.Stats().DeadLettered == 1 })

	// The cause is fixed; redrive everything.
	h.broken.Store(false)
	dc, err := dlq.New(dlq.Brokers(f.cluster.Brokers()...), dlq.Registry(f.reg))
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	// The operator redrives the unreadable poison too (it is left by
	// default): this story is what happens when it fails again.
	rep, err := dc.Redrive(context.Background(), dlq.RedriveConfig{Topic: dlt, Group: "redrive-1", IncludeUnreadable: true})
	if err != nil || rep.Redriven != 6 {
		t.Fatalf("redrive: %+v, %v", rep, err)
	}
	waitFor(t, 10*time.Second, "key-000 redriven in order", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return fmt.Sprint(h.seqs["key-000"]) == "[1 2 3 4 5]"
	})
	// The poison failed again: a new chain starts at its redriven copy
	// and c1 follows it; key-000's quarantine is lifted.
	waitFor(t, 10*time.Second, "poison and c1 dead-lettered again", func() bool { return c.Stats().DeadLettered == 3 })
	f.produce(a(6))
	waitFor(t, 10*time.Second, "a6 handled: the quarantine is lifted", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.seqs["key-000"]) == 6
	})
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if s := f.quarantined("story", 0); s.Len() != 1 {
		t.Fatalf("committed quarantine holds %d keys, want key-002's only", s.Len())
	}
	all := f.readTopic(dlt, 8)
	var again []dlq.Info
	for _, d := range all {
		info, _ := dlq.Parse(d)
		if info.Redrives > 0 {
			again = append(again, info)
			if n := countHeader(d, header.Redrives); n != 1 {
				t.Fatalf("dead letter carries %d ordo-redrives headers", n)
			}
		}
	}
	if len(again) != 2 || again[0].Reason != dlq.Unframe || again[1].Reason != dlq.Quarantined || again[1].QuarantineOffset != again[0].Offset {
		t.Fatalf("second dead letters %+v", again)
	}
	// The loop guard: redriven once already, the poison is not redriven
	// again at MaxRedrives 1, and c1 is held behind it.
	rep, err = dc.Redrive(context.Background(), dlq.RedriveConfig{Topic: dlt, Group: "redrive-2", MaxRedrives: 1, DryRun: true, IncludeUnreadable: true,
		Filter: dlq.Filter{Keys: [][]byte{[]byte("key-002")}}})
	if err != nil || rep.LoopGuarded != 1 || rep.Held != 1 {
		t.Fatalf("loop guard: %+v, %v", rep, err)
	}
}

func countHeader(r *kgo.Record, key string) int {
	n := 0
	for _, h := range r.Headers {
		if h.Key == key {
			n++
		}
	}
	return n
}

// TestDeadLetterTopicUnavailable: a dead-letter topic that is missing or
// refuses the writes halts the consumer with a typed error after its
// patience, nothing past the record is committed, and a later run with the
// topic fixed dead-letters it: nothing is lost.
func TestDeadLetterTopicUnavailable(t *testing.T) {
	for _, tt := range []string{"missing", "unauthorised"} {
		t.Run(tt, func(t *testing.T) {
			f := newFixture(t, 1)
			f.produce(f.record(Step{Key: "key-000", Seq: 1}), &kgo.Record{Key: []byte("key-000"), Value: []byte("bad")},
				f.record(Step{Key: "key-000", Seq: 2}), f.record(Step{Key: "key-001", Seq: 1}))
			var deny atomic.Bool
			if tt == "unauthorised" {
				f.createTopic(dlt, 1)
				deny.Store(true)
				kc := f.cluster.Kafka()
				kc.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
					kc.KeepControl()
					if !deny.Load() { // only the dead-letter client produces while denied
						return nil, nil, false
					}
					req := kr.(*kmsg.ProduceRequest)
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
					return resp, nil, true
				})
			}
			rec := newRecorder(nil)
			// A topic deleted after the start is missing at the write:
			// the opt-out stands in for that (Run's own check is
			// TestMissingDeadLetterTopicFailsRun).
			c := f.consumer("dl-down", rec.handle, DeadLetterTopic(dlt), DeadLetterPatience(time.Second),
				Retry(1, 10*time.Millisecond, 50*time.Millisecond), AllowMissingDeadLetterTopic())
			err := runConsumer(t, c)()
			var de *DeadLetterError
			if !errors.As(err, &de) || !errors.Is(err, ErrDeadLetterUnavailable) || de.Record.Offset != 1 || de.Tries < 1 {
				t.Fatalf("Run = %v, want a *DeadLetterError for offset 1", err)
			}
			if got := f.committed("dl-down")[0]; got != 1 {
				t.Fatalf("committed %d, want 1: the record must not be passed", got)
			}
			if tt == "missing" {
				f.createTopic(dlt, 1)
			}
			deny.Store(false)
			c = f.consumer("dl-down", rec.handle, DeadLetterTopic(dlt))
			wait := runConsumer(t, c)
			waitFor(t, 10*time.Second, "both dead letters", func() bool { return c.Stats().DeadLettered == 2 })
			waitFor(t, 10*time.Second, "the commit", func() bool { return f.committed("dl-down")[0] == 4 })
			c.Close()
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			if rec.distinct() != 2 {
				t.Fatalf("handled %d records, want key-000's first and key-001's", rec.distinct())
			}
		})
	}
}
