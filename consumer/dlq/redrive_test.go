package dlq

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/embedded"
	"github.com/ordo-go/ordo/internal/header"
)

const dlt = "orders.dlt"

type env struct {
	t       *testing.T
	ctx     context.Context
	cluster *embedded.Cluster
	kcl     *kgo.Client
	dlq     *Client
	offset  map[string]int64 // next fabricated original offset per topic
}

func newEnv(t *testing.T) *env {
	t.Helper()
	c, err := embedded.Start(embedded.Config{Brokers: 1, Topics: map[string]int32{"orders": 3, "payments": 1, dlt: 3}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	kcl, err := kgo.NewClient(kgo.SeedBrokers(c.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kcl.Close)
	d, err := New(Brokers(c.Brokers()...), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, cluster: c, kcl: kcl, dlq: d, offset: make(map[string]int64)}
}

// deadLetter writes the dead letter of a fabricated original record of
// topic and key and returns the original's offset.
func (e *env) deadLetter(topic, key string, f Failure, extra ...kgo.RecordHeader) int64 {
	e.t.Helper()
	off := e.offset[topic]
	e.offset[topic]++
	var k []byte
	if key != "" {
		k = []byte(key)
	}
	orig := &kgo.Record{
		Topic: topic, Partition: 0, Offset: off, Timestamp: time.UnixMilli(1700000000000 + off),
		Key: k, Value: []byte(fmt.Sprintf("%s/%s/%d", topic, key, off)),
		Headers: append([]kgo.RecordHeader{{Key: header.Type, Value: []byte("com.example.Event")}, {Key: "app", Value: []byte(strconv.FormatInt(off, 10))}}, extra...),
	}
	if f.Group == "" {
		f.Group = "svc"
	}
	e.produce(Build(dlt, orig, f))
	return off
}

func (e *env) produce(r *kgo.Record) {
	e.t.Helper()
	if err := e.kcl.ProduceSync(e.ctx, r).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

// read returns n records of topic from the start, failing after a while
// if there are fewer.
func (e *env) read(topic string, from int64, n int) []*kgo.Record {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cluster.Brokers()...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().At(from)))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			e.t.Fatalf("read %s: %d records, want %d", topic, len(out), n)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func (e *env) endOffsets(topic string) int64 {
	e.t.Helper()
	var sum int64
	spans, err := e.spans(topic)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, sp := range spans {
		sum += sp.to
	}
	return sum
}

func (e *env) spans(topic string) (map[int32]span, error) {
	cl, err := e.dlq.kgoClient(nil)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	return bounds(e.ctx, kadmFor(cl), topic, "")
}

func byKey(rs []*kgo.Record) map[string][]*kgo.Record {
	m := make(map[string][]*kgo.Record)
	for _, r := range rs {
		m[string(r.Key)] = append(m[string(r.Key)], r)
	}
	return m
}

func hdr(r *kgo.Record, k string) string {
	v, _ := header.Get(r.Headers, k)
	return v
}

// TestRedriveRoundTrip protects redrive's promises: the original topic gets
// the selected records in each key's order with key, value and original
// headers intact and ordo-redrives=1; chains carry the chain and, on their
// last record, the lift; the loop guard holds a record and the rest of its
// chain; a dry run writes and commits nothing; a second run with the same
// group republishes nothing.
func TestRedriveRoundTrip(t *testing.T) {
	e := newEnv(t)
	a0 := e.deadLetter("orders", "a", Failure{Reason: HandlerExhausted, Attempts: 5, Err: errors.New("down")})
	e.deadLetter("orders", "a", Failure{Reason: Quarantined, QuarantineOffset: a0})
	a2 := e.deadLetter("orders", "a", Failure{Reason: Quarantined, QuarantineOffset: a0})
	b0 := e.deadLetter("orders", "b", Failure{Reason: Permanent, Err: errors.New("bad")})
	b1 := e.deadLetter("orders", "b", Failure{Reason: Quarantined, QuarantineOffset: b0})
	e.deadLetter("payments", "c", Failure{Reason: Decode, Err: errors.New("decode")})
	d0 := e.deadLetter("orders", "d", Failure{Reason: Permanent}, kgo.RecordHeader{Key: header.Redrives, Value: []byte("3")})
	e.deadLetter("orders", "d", Failure{Reason: Quarantined, QuarantineOffset: d0})
	e.deadLetter("orders", "", Failure{Reason: Expired})

	cfg := RedriveConfig{Topic: dlt, Group: "redrive-1", Filter: Filter{Topics: []string{"orders"}}, DryRun: true}
	dry, err := e.dlq.Redrive(e.ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n := e.endOffsets("orders"); n != 0 {
		t.Fatalf("dry run wrote %d records", n)
	}
	cfg.DryRun = false
	rep, err := e.dlq.Redrive(e.ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Stuck) != 1 {
		t.Fatalf("stuck %+v, want d's chain", rep.Stuck)
	}
	want := RedriveReport{Scanned: 9, Redriven: 6, Filtered: 1, LoopGuarded: 1, Held: 1, Lifted: 2, ByTopic: map[string]int{"orders": 6},
		StuckChains: 1, Stuck: []Stuck{{Topic: "orders", Offset: d0, DeadLetterPartition: rep.Stuck[0].DeadLetterPartition,
			DeadLetterOffset: rep.Stuck[0].DeadLetterOffset, Err: ErrLoopGuard}}}
	for name, r := range map[string]RedriveReport{"dry run": dry, "run": rep} {
		if fmt.Sprint(r) != fmt.Sprint(want) {
			t.Fatalf("%s report %+v, want %+v", name, r, want)
		}
	}

	got := byKey(e.read("orders", 0, 6))
	if len(got["a"]) != 3 || len(got["b"]) != 2 || len(got[""]) != 1 || len(got["c"])+len(got["d"]) != 0 {
		t.Fatalf("redriven per key: a %d b %d nil %d c %d d %d", len(got["a"]), len(got["b"]), len(got[""]), len(got["c"]), len(got["d"]))
	}
	for i, r := range got["a"] {
		wantValue := fmt.Sprintf("orders/a/%d", a0+int64(i))
		if string(r.Value) != wantValue || hdr(r, "app") != strconv.FormatInt(a0+int64(i), 10) || hdr(r, header.Type) != "com.example.Event" {
			t.Fatalf("a[%d]: value %q app %q, want %q in order", i, r.Value, hdr(r, "app"), wantValue)
		}
		if hdr(r, header.Redrives) != "1" || hdr(r, header.RedriveChain) != strconv.FormatInt(a0, 10) {
			t.Fatalf("a[%d]: redrives %q chain %q", i, hdr(r, header.Redrives), hdr(r, header.RedriveChain))
		}
		_, lifted := header.Get(r.Headers, header.RedriveLift)
		if lifted != (i == 2) {
			t.Fatalf("a[%d]: lift header present=%v, want only on the last", i, lifted)
		}
		for _, h := range r.Headers {
			if bytes.HasPrefix([]byte(h.Key), []byte(header.DLTPrefix)) || h.Key == header.Reason || h.Key == header.Attempts {
				t.Fatalf("a[%d] kept dead-letter header %s", i, h.Key)
			}
		}
	}
	if hdr(got["a"][2], header.RedriveLift) != strconv.FormatInt(a2, 10) || hdr(got["b"][1], header.RedriveLift) != strconv.FormatInt(b1, 10) {
		t.Fatalf("lift offsets %q %q, want %d %d", hdr(got["a"][2], header.RedriveLift), hdr(got["b"][1], header.RedriveLift), a2, b1)
	}
	if _, ok := header.Get(got[""][0].Headers, header.RedriveChain); ok {
		t.Fatalf("a record without a key carries a chain")
	}

	again, err := e.dlq.Redrive(e.ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if again.Scanned != 0 || again.Redriven != 0 || e.endOffsets("orders") != 6 {
		t.Fatalf("second run with the same group: %+v, orders has %d records", again, e.endOffsets("orders"))
	}
}

// TestRedriveLoopGuard runs a record through dead letter → redrive →
// failure → dead letter until the loop guard stops it, each redrive
// resuming the same group.
func TestRedriveLoopGuard(t *testing.T) {
	e := newEnv(t)
	e.deadLetter("orders", "z", Failure{Reason: Permanent, Err: errors.New("always")})
	cfg := RedriveConfig{Topic: dlt, Group: "loop", MaxRedrives: 2}
	var read int64
	for round := 1; ; round++ {
		rep, err := e.dlq.Redrive(e.ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Scanned != 1 {
			t.Fatalf("round %d scanned %d, want only the new dead letter", round, rep.Scanned)
		}
		if round == 3 {
			if rep.LoopGuarded != 1 || rep.Redriven != 0 {
				t.Fatalf("round 3: %+v, want the loop guard to hold it", rep)
			}
			return
		}
		r := e.read("orders", read, 1)[0]
		read = r.Offset + 1
		if hdr(r, header.Redrives) != strconv.Itoa(round) {
			t.Fatalf("round %d: ordo-redrives %q", round, hdr(r, header.Redrives))
		}
		e.produce(Build(dlt, r, Failure{Reason: Permanent, Err: errors.New("always"), Group: "svc"}))
	}
}

// TestRedriveRate checks the rate cap from below only: 20 records at 50/s
// cannot take less than 19 intervals.
func TestRedriveRate(t *testing.T) {
	e := newEnv(t)
	for i := range 20 {
		e.deadLetter("orders", fmt.Sprint("k", i), Failure{Reason: Permanent})
	}
	start := time.Now()
	rep, err := e.dlq.Redrive(e.ctx, RedriveConfig{Topic: dlt, Group: "rate", Rate: 50})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); rep.Redriven != 20 || el < 19*time.Second/50 {
		t.Fatalf("redrove %d in %v, want 20 in at least %v", rep.Redriven, el, 19*time.Second/50)
	}
}

func TestRedriveConfig(t *testing.T) {
	e := newEnv(t)
	_, err := e.dlq.Redrive(e.ctx, RedriveConfig{Rate: -1, MaxRedrives: -1})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("got %v, want ErrInvalidConfig", err)
	}
	for _, s := range []string{"dead-letter topic", "group", "rate", "max redrives"} {
		if !bytes.Contains([]byte(err.Error()), []byte(s)) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
	if _, err := New(); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New without brokers: %v", err)
	}
}

func kadmFor(cl *kgo.Client) *kadm.Client { return kadm.NewClient(cl) }

// TestRedriveUnwritableTopic protects "never lose": when the original
// topic cannot be written, Redrive fails, commits nothing, and a later run
// redrives the record once the topic exists.
func TestRedriveUnwritableTopic(t *testing.T) {
	e := newEnv(t)
	e.deadLetter("gone", "k", Failure{Reason: Permanent})
	cfg := RedriveConfig{Topic: dlt, Group: "ops"}
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	if _, err := e.dlq.Redrive(ctx, cfg); err == nil {
		t.Fatal("redrive to a missing topic reported success")
	}
	if err := e.cluster.Kafka().CreateTopic("gone", 1, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := e.dlq.Redrive(e.ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Redriven != 1 {
		t.Fatalf("after the topic exists: %+v, want the record redriven", rep)
	}
	if r := e.read("gone", 0, 1)[0]; string(r.Key) != "k" {
		t.Fatalf("got key %q", r.Key)
	}
}
