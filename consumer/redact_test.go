package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/oteltest"
	"github.com/ordo-go/ordo/schema"
)

// TestRedactKeysEverywhere protects RedactKeys and the registry password:
// a run with failing, skipped, out-of-sequence and stuck records of a
// personal key, and a second consumer whose registry URL carries a
// password, must not show the key or the password in any log line, error
// text, span (name, attribute, event, status) or metric. The key used to
// leak through "record skipped", the span's status and exception event,
// and RecordError.Error.
func TestRedactKeysEverywhere(t *testing.T) {
	const key, password = "personal-7f3a", "s3cret"
	f := newFixture(t, 1)
	recs := []*kgo.Record{
		f.record(Step{Key: key, Seq: 1}), // fails every attempt: skipped
		f.record(Step{Key: key, Seq: 3}), // a sequence gap; slow: stuck
		{Key: []byte(key), Value: []byte("not avro")},
	}
	if err := f.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tp := oteltest.NewTracerProvider()
	mp := oteltest.NewMeterProvider()
	var (
		mu    sync.Mutex
		texts []string
	)
	hook := func(_ context.Context, re *RecordError) {
		mu.Lock()
		texts = append(texts, re.Error(), fmt.Sprint(re), fmt.Sprintf("%v %+v", re, errors.Unwrap(re)))
		mu.Unlock()
	}
	h := func(ctx context.Context, s Step, m Meta) error {
		if s.Seq == 1 {
			return errors.New("downstream refused")
		}
		time.Sleep(300 * time.Millisecond)
		return nil
	}
	opts := []Option{RedactKeys(), WithLogger(log), WithTracerProvider(tp), WithMeterProvider(mp), OnFailure(Skip),
		ErrorHook(hook), Retry(2, time.Millisecond, time.Millisecond), StuckAfter(50 * time.Millisecond)}
	c := f.consumer("redact", h, opts...)
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "all three records", func() bool { st := c.Stats(); return st.Handled+st.Skipped == 3 })
	waitFor(t, 10*time.Second, "the stuck warning", func() bool { return strings.Contains(logs.String(), "partition stuck") })

	// A second consumer whose registry URL carries a password, and no
	// registry behind it: its lookups fail and are logged.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	reg, err := schema.NewRegistry([]string{"http://user:" + password + "@" + addr})
	if err != nil {
		t.Fatal(err)
	}
	c2 := f.consumer("redact-2", h, append(opts, Registry(reg))...)
	wait2 := runConsumer(t, c2)
	waitFor(t, 10*time.Second, "a registry warning", func() bool {
		return strings.Contains(logs.String(), "schema registry unavailable")
	})
	c.Close()
	c2.Close()
	for _, w := range []func() error{wait, wait2} {
		if err := w(); err != nil {
			texts = append(texts, err.Error())
		}
	}

	var all []string
	all = append(all, logs.String())
	all = append(all, texts...)
	for _, s := range tp.Spans() {
		all = append(all, s.Name, s.Status.Description)
		for _, a := range s.Attributes {
			all = append(all, string(a.Key)+"="+a.Value.String())
		}
		for _, e := range s.Events {
			all = append(all, e.Name)
			for _, a := range e.Attributes {
				all = append(all, string(a.Key)+"="+a.Value.String())
			}
		}
	}
	ms, err := mp.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	all = append(all, ms.String())
	if len(texts) < 2 || len(tp.Spans()) == 0 || !strings.Contains(logs.String(), "record skipped") {
		t.Fatalf("the run did not exercise the failure paths: %d error texts, %d spans", len(texts), len(tp.Spans()))
	}
	for _, s := range all {
		for _, secret := range []string{key, password} {
			if strings.Contains(s, secret) {
				t.Errorf("%q leaks in: %s", secret, grepLine(s, secret))
			}
		}
	}
}
