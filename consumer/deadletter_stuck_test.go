package consumer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/consumer/dlq"
	"github.com/ordo-go/ordo/internal/header"
)

// TestRedriveKeepsStuckChainQuarantined is the story end to end: a
// record carrying a garbage ordo-redrives header is dead-lettered (its
// dead letter keeps the header, so dlq.Parse rejects it) and its key's two
// later records follow it. Before, the redrive skipped the head,
// republished the two others with the lift, and the consumer handled the
// key as [2 3], stranding 1. Now the chain stays quarantined, whole: the
// redrive republishes nothing of it and reports it, and the key's next
// record is quarantined too.
func TestRedriveKeepsStuckChainQuarantined(t *testing.T) {
	f := newFixture(t, 1)
	f.createTopic(dlt, 1)
	first := f.record(Step{Key: "key-000", Seq: 1})
	first.Headers = append(first.Headers, kgo.RecordHeader{Key: header.Redrives, Value: []byte("garbage")})
	f.produce(first, f.record(Step{Key: "key-000", Seq: 2}), f.record(Step{Key: "key-000", Seq: 3}),
		f.record(Step{Key: "key-001", Seq: 1}))
	h := &fixable{recorder: newRecorder(nil), key: "key-000", bad: map[int64]bool{1: true}}
	h.broken.Store(true)
	c := f.consumer("stuck", h.handle, DeadLetterTopic(dlt))
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "3 dead letters", func() bool { return c.Stats().DeadLettered == 3 })
	waitFor(t, 10*time.Second, "the commit past them", func() bool { return f.committed("stuck")[0] == 4 })

	h.broken.Store(false)
	dc, err := dlq.New(dlq.Brokers(f.cluster.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := dc.Redrive(ctx, dlq.RedriveConfig{Topic: dlt, Group: "redrive"})
	if err != nil || rep.Redriven != 0 || rep.Malformed != 1 || rep.Held != 2 || rep.StuckChains != 1 || len(rep.Stuck) != 1 {
		t.Fatalf("redrive: %+v, %v; want nothing redriven, the head malformed, 2 held, 1 chain stuck", rep, err)
	}
	if s := rep.Stuck[0]; s.Topic != f.topic || s.Offset != 0 {
		t.Fatalf("stuck %+v, want %s offset 0", s, f.topic)
	}
	f.produce(f.record(Step{Key: "key-000", Seq: 4}))
	waitFor(t, 10*time.Second, "key-000's next record quarantined", func() bool { return c.Stats().DeadLettered == 4 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	got := fmt.Sprint(h.seqs["key-000"], h.seqs["key-001"])
	h.mu.Unlock()
	if got != "[] [1]" {
		t.Fatalf("handled %s, want key-000 none (its chain stays quarantined) and key-001 [1]", got)
	}
	if s := f.quarantined("stuck", 0); s.Len() != 1 {
		t.Fatalf("committed quarantine holds %d keys, want key-000", s.Len())
	}
}
