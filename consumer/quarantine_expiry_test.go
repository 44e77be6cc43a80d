package consumer

import (
	"sync"
	"testing"
	"time"

	"github.com/ordo-go/ordo/consumer/dlq"
)

// TestExpiryDoesNotQuarantine protects issue 21's "expired records do not
// quarantine keys": under MaxAge with ExpireDeadLetter and quarantining on
// (no ContinueAfterDeadLetter), a backlog in which every key has expired
// records followed by records in the window dead-letters the expired ones
// with reason "expired" and handles every in-window record: none follows
// an expired record into the dead-letter topic as "quarantined".
func TestExpiryDoesNotQuarantine(t *testing.T) {
	f := newFixture(t, 2)
	f.createTopic(dlt, 2)
	f.publishAt(1000, 20, oldThenNew(400)) // each of the 20 keys: 20 expired, then 30 in the window
	var mu sync.Mutex
	var n int64
	c := f.consumer("age-quarantine", stepsSeen(t, time.Hour, &n, &mu), CatchUpThreshold(100, 0),
		MaxAge(time.Hour, ExpireDeadLetter), DeadLetterTopic(dlt))
	wait := runConsumer(t, c)
	s := replayed(t, c, 2, 20*time.Second)
	c.Close()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	reasons := make(map[dlq.Reason]int)
	for _, r := range f.readTopic(dlt, int(c.Stats().DeadLettered)) {
		info, err := dlq.Parse(r)
		if err != nil {
			t.Fatal(err)
		}
		reasons[info.Reason]++
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 600 || s.Expired != 400 || reasons[dlq.Expired] != 400 || reasons[dlq.Quarantined] != 0 {
		t.Fatalf("handled %d (want 600), expired %d (want 400), dead letters by reason %v (want 400 expired, 0 quarantined)",
			n, s.Expired, reasons)
	}
}
