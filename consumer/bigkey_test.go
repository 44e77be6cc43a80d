package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/oteltest"
)

// TestBigKeyBoundedText protects log volume, error texts and spans from a
// record's key: two records with a 1MiB key, one poison (not a frame) and
// one whose handler fails every attempt, logged (retries, skips),
// reported to the error hook and traced. Every log line, error text and
// span attribute, status and event carries at most telemetry.MaxText
// bytes of the key; together they stay under 16KiB. The key used to be
// written whole, twice per log line (the key attribute and the error
// text): 9.4MB of log for one record.
func TestBigKeyBoundedText(t *testing.T) {
	const keyLen = 1 << 20
	f := newFixture(t, 1)
	big := bigKeyClient(t, f)
	key := strings.Repeat("k", keyLen)
	good := f.record(Step{Key: key, Seq: 1})
	recs := []*kgo.Record{{Key: []byte(key), Value: []byte("not avro")}, good}
	if err := big.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tp := oteltest.NewTracerProvider()
	var (
		mu    sync.Mutex
		texts []string
	)
	hook := func(_ context.Context, re *RecordError) {
		mu.Lock()
		texts = append(texts, re.Error(), fmt.Sprintf("%v %+v", re, re))
		mu.Unlock()
	}
	h := func(context.Context, Step, Meta) error { return errors.New("downstream refused") }
	c := f.consumer("bigkey", h, WithLogger(log), WithTracerProvider(tp), OnFailure(Skip), ErrorHook(hook),
		Retry(3, time.Millisecond, time.Millisecond))
	wait := runConsumer(t, c)
	waitFor(t, 20*time.Second, "both records skipped", func() bool { return c.Stats().Skipped == 2 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	all := append([]string(nil), texts...)
	mu.Unlock()
	all = append(all, strings.Split(logs.String(), "\n")...)
	for _, s := range tp.Spans() {
		all = append(all, s.Name, s.Status.Description)
		for _, a := range s.Attributes {
			all = append(all, string(a.Key)+"="+a.Value.String())
		}
		for _, e := range s.Events {
			for _, a := range e.Attributes {
				all = append(all, string(a.Key)+"="+a.Value.String())
			}
		}
	}
	if len(texts) < 4 || len(tp.Spans()) == 0 || !strings.Contains(logs.String(), "record skipped") {
		t.Fatalf("the run did not exercise the failure paths: %d error texts, %d spans", len(texts), len(tp.Spans()))
	}
	total, run := 0, strings.Repeat("k", 1024)
	for _, s := range all {
		total += len(s)
		if strings.Contains(s, run) {
			t.Errorf("a text carries %d bytes of text, a run of the key over 1KiB: %.200s…", len(s), s)
		}
	}
	t.Logf("%d texts (log lines, error texts, span fields): %d bytes", len(all), total)
	if total > 16<<10 {
		t.Fatalf("logs, error texts and spans of two records carry %d bytes, want at most 16KiB", total)
	}
}

// bigKeyClient raises f's topic's max.message.bytes to 4MiB and returns a
// producer that may write records that large.
func bigKeyClient(t *testing.T, f *fixture) *kgo.Client {
	t.Helper()
	cfg := []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "max.message.bytes", Value: kadm.StringPtr("4194304")}}
	rs, err := f.adm.AlterTopicConfigs(context.Background(), cfg, f.topic)
	if err == nil {
		for _, r := range rs {
			err = errors.Join(err, r.Err)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.cluster.Brokers()...), kgo.DefaultProduceTopic(f.topic),
		kgo.ProducerBatchMaxBytes(4<<20))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}
