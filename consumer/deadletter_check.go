package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// A missing dead-letter topic used to be found when the first poison
// record arrived, which can be weeks after the deploy; the consumer then
// halted after DeadLetterPatience with the record's offset held. So Run
// reads the topic's max.message.bytes at once (the read the first write
// needs anyway, kept in dlqSize for it), and a cluster that says the topic
// does not exist stops Run with ErrUnknownTopic, unless
// AllowMissingDeadLetterTopic was given.
//
// Goroutine: checkDeadLetterTopic, started by Run, counted in c.lanes,
// stopped when the scheduler's ending is done. It ends at the first answer that
// settles the question.
const (
	// dltConfirm is how long the cluster must keep saying the topic is
	// unknown before Run fails: a broker can answer for a topic created
	// a moment ago before its metadata has caught up.
	dltConfirm = time.Second
	// dltRetry is the pause between reads while the answer is not yet
	// settled (unknown, or no answer: watchConnect reports a cluster
	// that does not answer).
	dltRetry = 250 * time.Millisecond
)

func (d *deadLetterer) checkDeadLetterTopic() {
	var unknownSince time.Time
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-d.sched.ending.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(d.sched.ending, probeTimeout)
		limit, assumed, err := d.size.limit(ctx, d.cl, d.cfg.dlqTopic)
		cancel()
		switch {
		case d.sched.ending.Err() != nil:
			return
		case err == nil:
			if assumed { // said here, as the first write no longer reads the limit
				d.log.Warn("cannot read the dead-letter topic's max.message.bytes: dead letters are fitted to franz-go's default",
					"dead_letter_topic", d.cfg.dlqTopic, "bytes", limit)
			}
			return
		case !errors.Is(err, kerr.UnknownTopicOrPartition):
			unknownSince = time.Time{}
		case unknownSince.IsZero():
			unknownSince = time.Now()
		case time.Since(unknownSince) >= dltConfirm:
			d.sched.halt(fmt.Errorf("%w %q: the dead-letter topic does not exist on the cluster "+
				"(create it first, or pass consumer.AllowMissingDeadLetterTopic() for a topic created later)",
				ErrUnknownTopic, d.cfg.dlqTopic))
			return
		}
		t.Reset(dltRetry)
	}
}
