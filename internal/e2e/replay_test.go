//go:build integration

package e2e

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ordo-go/ordo/consumer"
	"github.com/ordo-go/ordo/internal/kafkatest"
	"github.com/ordo-go/ordo/producer"
)

// TestReplayAfterDowntime protects bounded replay on real Kafka: a
// consumer is stopped while 100k records are published; restarted with a
// rate cap it catches up no faster than the cap (+5% over a steady window,
// the first second excluded) and not grossly slower (half the cap: a busy
// 2-core CI machine may not reach the cap itself), every record of the
// backlog is accounted for, and per key nothing is lost or handled out of
// order.
func TestReplayAfterDowntime(t *testing.T) {
	const keys, perKey, limit = 500, 200, 4000.0
	ctx := kafkatest.Bound(t, 5*time.Minute)
	e := newEnv(ctx, t, kafkatest.StartBroker(ctx, t), 6, 1)
	codec := e.codec("Replayed")
	b := newBook()
	var (
		mu    sync.Mutex
		times []time.Time
	)
	inner := b.handle(0)
	h := func(ctx context.Context, s Step, m consumer.Meta) error {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		return inner(ctx, s, m)
	}
	group := "replay-" + e.topic
	first := e.consumer(group, consumer.On(codec, h))
	stop := run(t, first)
	time.Sleep(3 * time.Second) // joined, at the end of an empty topic
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	pub, err := producer.NewPublisher(ctx, e.producer(), e.topic, codec)
	if err != nil {
		t.Fatal(err)
	}
	publishSteps(ctx, t, pub, keys, perKey, 0)

	second := e.consumer(group, consumer.On(codec, h), consumer.Concurrency(32),
		consumer.CatchUpThreshold(1000, 0), consumer.RateLimit(limit, 0, consumer.DuringCatchUp))
	run(t, second)
	var s consumer.ReplayStats
	waitFor(t, 2*time.Minute, "the catch-up", func() bool {
		s = second.ReplayStats()
		return s.CatchUps > 0 && s.Active == 0
	})
	b.check(t, keys, perKey)
	if s.Backlog != keys*perKey || s.Handled != keys*perKey || s.Accounted() != s.Backlog {
		t.Fatalf("accounting %+v, want a backlog of %d all handled", s, keys*perKey)
	}
	mu.Lock()
	defer mu.Unlock()
	t0 := times[0]
	from, to := t0.Add(time.Second), times[len(times)-1].Add(-time.Second)
	n := 0
	for _, ts := range times {
		if !ts.Before(from) && ts.Before(to) {
			n++
		}
	}
	got := float64(n) / to.Sub(from).Seconds()
	t.Logf("limit %v/s: measured %.1f/s over %v; %+v", limit, got, to.Sub(from).Round(time.Millisecond), s)
	if got > limit*1.05 || got < limit*0.5 {
		t.Fatalf("measured %.1f/s, want at most %v/s +5%% (and over half of it)", got, limit)
	}
}
