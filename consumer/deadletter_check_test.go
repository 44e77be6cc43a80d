package consumer

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMissingDeadLetterTopicFailsRun protects the check at start: a
// dead-letter topic the cluster does not have stops Run within seconds,
// before any poison record arrives, with ErrUnknownTopic naming the topic
// and the opt-out. With
// AllowMissingDeadLetterTopic the consumer runs and handles its records,
// and a topic created later takes its dead letters.
func TestMissingDeadLetterTopicFailsRun(t *testing.T) {
	f := newFixture(t, 1)
	f.produce(f.record(Step{Key: "key-000", Seq: 1}))
	rec := newRecorder(nil)
	c := f.consumer("dlt-missing", rec.handle, DeadLetterTopic(dlt))
	start := time.Now()
	err := runConsumer(t, c)()
	took := time.Since(start)
	if !errors.Is(err, ErrUnknownTopic) || !strings.Contains(err.Error(), `"`+dlt+`"`) ||
		!strings.Contains(err.Error(), "AllowMissingDeadLetterTopic") {
		t.Fatalf("Run = %v; want ErrUnknownTopic naming %q and the opt-out", err, dlt)
	}
	if took > 5*time.Second { // the check waits dltConfirm (1 s) for the answer to hold
		t.Fatalf("Run failed after %v; want within seconds of its start", took)
	}
	t.Logf("Run: %v (after %v)", err, took.Round(time.Millisecond))

	c = f.consumer("dlt-later", rec.handle, DeadLetterTopic(dlt), AllowMissingDeadLetterTopic())
	wait := runConsumer(t, c)
	waitFor(t, 10*time.Second, "the record handled", func() bool { return rec.distinct() == 1 })
	time.Sleep(2 * dltConfirm) // past the window in which the check would have failed Run
	f.createTopic(dlt, 1)
	f.produce(&kgo.Record{Key: []byte("key-001"), Value: []byte("bad")})
	waitFor(t, 15*time.Second, "the dead letter", func() bool { return c.Stats().DeadLettered == 1 })
	c.Close()
	if err := wait(); err != nil {
		t.Fatalf("Run with AllowMissingDeadLetterTopic = %v, want nil", err)
	}
}
