package consumer

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/ordo-go/ordo/schema"
)

// produceRaw writes one record with the given value on key k.
func (f *fixture) produceRaw(k string, value []byte) {
	f.t.Helper()
	if err := f.cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte(k), Value: value}).FirstErr(); err != nil {
		f.t.Fatal(err)
	}
}

// TestBadRecordsHalt protects the safe default: a record that cannot be
// handled stops the consumer with a typed error naming it, and nothing is
// committed at or past it.
func TestBadRecordsHalt(t *testing.T) {
	tests := []struct {
		name  string
		value func(f *fixture) []byte
		stage Stage
		is    error
	}{
		{"empty value", func(*fixture) []byte { return nil }, StageUnframe, schema.ErrEmptyValue},
		{"wrong magic byte", func(*fixture) []byte { return []byte(`{"json":true}`) }, StageUnframe, schema.ErrBadMagic},
		{"truncated header", func(*fixture) []byte { return []byte{0, 0, 1} }, StageUnframe, schema.ErrTruncated},
		{"unknown schema id", func(*fixture) []byte { return schema.AppendHeader(nil, 9999) }, StageSchema, schema.ErrUnknownSchema},
		{"truncated body", func(f *fixture) []byte {
			v, _ := f.codec.AppendFramed(nil, f.id, &Step{Key: "a-fairly-long-key", Seq: 1})
			return v[:len(v)-10]
		}, StageDecode, schema.ErrTruncated},
		{"no handler", func(f *fixture) []byte {
			id, err := f.reg.Register(context.Background(), "other-value",
				`{"type":"record","name":"Other","namespace":"ordo.test","fields":[{"name":"x","type":"int"}]}`)
			if err != nil {
				f.t.Fatal(err)
			}
			return append(schema.AppendHeader(nil, id), 2)
		}, StageDispatch, ErrNoHandler},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, 1)
			f.publish(1, 2)                      // offsets 0, 1: fine
			f.produceRaw("key-000", tt.value(f)) // offset 2: bad
			f.publish(1, 2)                      // offsets 3, 4: same key, must not pass it
			var hooked atomic.Pointer[RecordError]
			rec := newRecorder(nil)
			c := f.consumer("halt", rec.handle, ErrorHook(func(_ context.Context, re *RecordError) { hooked.Store(re) }))
			err := runConsumer(t, c)()
			var re *RecordError
			if !errors.As(err, &re) {
				t.Fatalf("Run = %v, want *RecordError", err)
			}
			if !errors.Is(err, tt.is) || re.Stage != tt.stage || re.Offset != 2 || re.Topic != f.topic {
				t.Fatalf("err = %v (stage %s, offset %d), want %v at stage %s offset 2", err, re.Stage, re.Offset, tt.is, tt.stage)
			}
			if hooked.Load() != re {
				t.Fatal("error hook did not see the record error")
			}
			if got := f.committed("halt")[0]; got != 2 {
				t.Fatalf("committed %d, want 2: the bad record must not be passed", got)
			}
			if n := len(rec.seqs["key-000"]); n != 2 {
				t.Fatalf("handled %d records of the key, want the 2 before the bad one", n)
			}
		})
	}
}

// TestBadRecordSkip: under Skip the hook sees the record and the consumer
// moves past it.
func TestBadRecordSkip(t *testing.T) {
	f := newFixture(t, 1)
	f.publish(1, 1)
	f.produceRaw("key-000", []byte("not avro"))
	f.publish(1, 1)
	var hooked []*RecordError
	var mu sync.Mutex
	rec := newRecorder(nil)
	c := f.consumer("skip", rec.handle, OnFailure(Skip), ErrorHook(func(_ context.Context, re *RecordError) {
		mu.Lock()
		hooked = append(hooked, re)
		mu.Unlock()
	}))
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "both good records", func() bool { return rec.distinct() == 2 })
	waitFor(t, 10*time.Second, "commit past the bad record", func() bool { return f.committed("skip")[0] == 3 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if len(hooked) != 1 || !errors.Is(hooked[0], schema.ErrBadMagic) || hooked[0].Offset != 1 {
		t.Fatalf("hook saw %v", hooked)
	}
	if !strings.Contains(hooked[0].Error(), "steps/0@1") {
		t.Fatalf("error %q does not say where", hooked[0])
	}
	if st := c.Stats(); st.Skipped != 1 || st.Failed != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

// TestHandlerExhaustsRetries: a handler that always fails is tried the
// configured number of times, then the policy applies.
func TestHandlerExhaustsRetries(t *testing.T) {
	f := newFixture(t, 1)
	f.publish(1, 1)
	var calls atomic.Int32
	boom := errors.New("boom")
	h := func(context.Context, Step, Meta) error { calls.Add(1); return boom }
	c := f.consumer("exhaust", h, Retry(3, time.Millisecond, 2*time.Millisecond))
	err := runConsumer(t, c)()
	var re *RecordError
	if !errors.As(err, &re) || !errors.Is(err, boom) || re.Stage != StageHandle || re.Attempts != 3 {
		t.Fatalf("Run = %v, want handle failure after 3 attempts", err)
	}
	if calls.Load() != 3 {
		t.Fatalf("handler called %d times, want 3", calls.Load())
	}
}

// TestRegistryOutageIsRetried: while the registry fails, records wait; they
// are neither failed nor skipped, and flow once it recovers.
func TestRegistryOutageIsRetried(t *testing.T) {
	f := newFixture(t, 1)
	f.publish(3, 2)
	var down atomic.Bool
	var refused atomic.Int32
	down.Store(true)
	f.cluster.Registry().Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if down.Load() {
			refused.Add(1)
			http.Error(w, `{"error_code":50001,"message":"store unavailable"}`, http.StatusInternalServerError)
			return true
		}
		return false
	})
	// A fresh registry client, so no schema is cached yet.
	reg, err := schema.NewRegistry([]string{f.cluster.RegistryURL()})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(nil)
	c := f.consumer("outage", rec.handle, Registry(reg), Retry(2, 5*time.Millisecond, 20*time.Millisecond))
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "several refused lookups", func() bool { return refused.Load() >= 5 })
	if n := rec.distinct(); n != 0 {
		t.Fatalf("%d records handled while the registry was down", n)
	}
	down.Store(false)
	waitFor(t, 10*time.Second, "records after recovery", func() bool { return rec.distinct() == 6 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Failed != 0 {
		t.Fatalf("a registry outage failed %d records", st.Failed)
	}
}

func TestConfigErrors(t *testing.T) {
	codec, err := schema.NewCodec[Step](stepSchema)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := schema.NewRegistry([]string{"http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	h := func(context.Context, Step, Meta) error { return nil }
	good := []Option{Brokers("127.0.0.1:1"), Group("g"), Topics("t"), Registry(reg), On(codec, h)}
	tests := []struct {
		name string
		opts []Option
	}{
		{"no brokers", append(good[1:5:5], Brokers())},
		{"no handlers", good[:4]},
		{"duplicate handler", append(good[:5:5], On(codec, h))},
		{"zero concurrency", append(good[:5:5], Concurrency(0))},
		{"bad retry", append(good[:5:5], Retry(0, time.Second, time.Second))},
		{"bad backoff", append(good[:5:5], Retry(3, time.Second, time.Millisecond))},
		{"tiny commit interval", append(good[:5:5], CommitInterval(time.Millisecond))},
		{"bad policy", append(good[:5:5], OnFailure(Policy(9)))},
		{"nil TLS", append(good[:5:5], TLS(nil))},
		{"nil SASL", append(good[:5:5], SASL(nil))},
		{"broker without port", append(good[1:5:5], Brokers("127.0.0.1"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.opts...); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("New = %v, want ErrInvalidConfig", err)
			}
		})
	}
	c, err := New(good...)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close() // idempotent
	if err := c.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close = %v, want ErrClosed", err)
	}
}

// TestShutdownFinishesInFlight: Shutdown lets a running handler finish and
// commits it; Run returns nil.
func TestShutdownFinishesInFlight(t *testing.T) {
	f := newFixture(t, 1)
	f.publish(1, 1)
	started, release := make(chan struct{}), make(chan struct{})
	var finished atomic.Bool
	h := func(ctx context.Context, s Step, m Meta) error {
		close(started)
		<-release
		finished.Store(true)
		return nil
	}
	c := f.consumer("shutdown", h)
	wait := runConsumer(t, c)
	<-started
	errc := make(chan error, 1)
	go func() { errc <- c.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	close(release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if !finished.Load() || f.committed("shutdown")[0] != 1 {
		t.Fatalf("finished=%v committed=%v", finished.Load(), f.committed("shutdown"))
	}
}

// TestShutdownDeadline: a handler that outlives Shutdown's ctx is cancelled
// and its record is not committed.
func TestShutdownDeadline(t *testing.T) {
	f := newFixture(t, 1)
	f.publish(1, 1)
	started := make(chan struct{})
	h := func(ctx context.Context, s Step, m Meta) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}
	c := f.consumer("deadline", h)
	wait := runConsumer(t, c)
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.Shutdown(ctx); !errors.Is(err, ErrDrainTimeout) {
		t.Fatalf("Shutdown = %v, want ErrDrainTimeout", err)
	}
	if err := wait(); !errors.Is(err, ErrDrainTimeout) {
		t.Fatalf("Run = %v, want ErrDrainTimeout", err)
	}
	if got, ok := f.committed("deadline")[0]; ok && got != 0 {
		t.Fatalf("committed %d for an unfinished record", got)
	}
}

// TestUnusableSchemaIsPoison: a record framed with the ID of a schema that
// is not Avro (JSON Schema, Protobuf) used to be taken for a registry
// outage and retried for ever, wedging its partition. It is poison: the
// failure policy applies at once, and under Skip the partition moves on.
func TestUnusableSchemaIsPoison(t *testing.T) {
	for _, typ := range []sr.SchemaType{sr.TypeJSON, sr.TypeProtobuf} {
		t.Run(typ.String(), func(t *testing.T) {
			f := newFixture(t, 1)
			text := `{"type":"object"}`
			if typ == sr.TypeProtobuf {
				text = `syntax = "proto3"; message M { int32 x = 1; }`
			}
			id, _, err := f.cluster.Registry().RegisterSchema("other-value", sr.Schema{Schema: text, Type: typ})
			if err != nil {
				t.Fatal(err)
			}
			f.publish(1, 1)                                                  // offset 0
			f.produceRaw("key-000", append(schema.AppendHeader(nil, id), 2)) // offset 1: poison
			f.publish(2, 1)                                                  // offsets 2, 3
			var hooked atomic.Pointer[RecordError]
			rec := newRecorder(nil)
			c := f.consumer("unusable", rec.handle, OnFailure(Skip),
				ErrorHook(func(_ context.Context, re *RecordError) { hooked.Store(re) }))
			wait := runConsumer(t, c)
			waitFor(t, 10*time.Second, "the good records", func() bool { return rec.distinct() == 3 })
			waitFor(t, 10*time.Second, "commit past the poison", func() bool { return f.committed("unusable")[0] == 4 })
			c.Close()
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			re := hooked.Load()
			if re == nil || !errors.Is(re, schema.ErrUnusableSchema) || re.Stage != StageSchema || re.Offset != 1 {
				t.Fatalf("hook saw %v", re)
			}
		})
	}
}

// TestUnknownSchemaIsConfirmed: a registry that briefly answers 40403 for
// an ID that exists (a replica not caught up) used to make Skip discard
// every record looked up meanwhile. The ID is confirmed over the window
// first; here every record is handled and none skipped.
func TestUnknownSchemaIsConfirmed(t *testing.T) {
	f := newFixture(t, 2)
	total := f.publish(40, 5)
	var lookups atomic.Int32
	f.cluster.Registry().Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/schemas/ids/") && lookups.Add(1) <= 3 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error_code":40403,"message":"Schema not found"}`))
			return true
		}
		return false
	})
	reg, err := schema.NewRegistry([]string{f.cluster.RegistryURL()}) // nothing cached
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(nil)
	c := f.consumer("unknown", rec.handle, Registry(reg), OnFailure(Skip), UnknownSchemaWindow(time.Second))
	wait := runConsumer(t, c)
	waitFor(t, 20*time.Second, "every record", func() bool { return int(c.Stats().Handled+c.Stats().Skipped) == total })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Skipped != 0 || st.Handled != int64(total) {
		t.Fatalf("stats = %+v: records skipped for a schema the registry did know", st)
	}
	if lookups.Load() < 4 {
		t.Fatalf("%d lookups: the stub never answered", lookups.Load())
	}
}

// TestUnknownSchemaBecomesFinal: an ID the registry keeps not knowing is
// final after the window, not before a few confirmations.
func TestUnknownSchemaBecomesFinal(t *testing.T) {
	f := newFixture(t, 1)
	f.produceRaw("key-000", schema.AppendHeader(nil, 9999))
	var lookups atomic.Int32
	f.cluster.Registry().Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/schemas/ids/") {
			lookups.Add(1)
		}
		return false
	})
	start := time.Now()
	c := f.consumer("final", newRecorder(nil).handle, UnknownSchemaWindow(400*time.Millisecond))
	err := runConsumer(t, c)()
	if !errors.Is(err, schema.ErrUnknownSchema) {
		t.Fatalf("Run = %v, want ErrUnknownSchema", err)
	}
	if n := lookups.Load(); n != 1+unknownConfirmations {
		t.Fatalf("%d lookups, want %d", n, 1+unknownConfirmations)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("final after %v, before the window", d)
	}
}
