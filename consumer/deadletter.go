package consumer

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordo-go/ordo/consumer/dlq"
	"github.com/ordo-go/ordo/internal/client"
	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/internal/telemetry"
)

// The dead-letterer: where a record finished elsewhere goes. It owns the
// dead-letter producer (cl, nil without DeadLetterTopic; closed by the
// consumer's stop after the lanes are done) and the topic's record size
// limit (size, with its own lock: deadletter_size.go). A lane writes its
// record's dead letter itself (deadLetter, with the record's deadState),
// without the scheduler's lock; a write not acknowledged is tried again
// through the "not ready until T" seam. Goroutine: checkDeadLetterTopic
// (deadletter_check.go), started by Run, counted in Consumer.lanes,
// stopped by the scheduler's ending; it halts the consumer through the
// scheduler (halt) when the topic is missing.
type deadLetterer struct {
	cfg      *config // immutable
	cl       *kgo.Client
	size     dlSize
	sched    *scheduler
	stats    *counters
	obs      *observer
	log      *slog.Logger
	logLimit *telemetry.LogLimit // the dead-lettered line, per reason
}

// deadState is a record on its way to the dead-letter topic: why, and how
// the writes have gone so far. It is made on the failure path only.
type deadState struct {
	re    *RecordError
	since time.Time // the first write: DeadLetterPatience runs from here
	tries int
	wait  *backoff.ExponentialBackOff
}

// deadLetterWriteTimeout bounds one dead-letter write; a write that takes
// longer is retried (it may then land twice: a dead letter is at least
// once, as its redrive is).
const deadLetterWriteTimeout = 10 * time.Second

// newDeadLetterClient is the producer the dead letters are written with:
// the consumer's connection options and the shared writer settings
// (internal/client.Writer: idempotent, acks=all, writes that a ctx or a
// timeout can end, which TestDeadLetterBrokerDown needs), and keyed records placed by murmur2 so one key's dead letters
// share a partition of the dead-letter topic, in order (a dead letter
// whose key dlq.Fit cut is placed by its original key).
func (d *deadLetterer) newDeadLetterClient() (*kgo.Client, error) {
	return d.cfg.set.NewWriter(client.Writer{
		Log:         d.log.With("client", "dead-letter"),
		Partitioner: placer{kgo.StickyKeyPartitioner(nil)},
		// Sized from the topic's max.message.bytes (deadletter_size.go),
		// read before the first write, which is when kgo calls this.
		BatchMaxBytes: d.size.batchLimit,
		Own: []kgo.Opt{
			kgo.DefaultProduceTopic(d.cfg.dlqTopic),
			kgo.UnknownTopicRetries(2), // a missing topic is an error to retry here, not in kgo for ever
		},
		NoRaw: true, // the consumer's KgoOpts are for its group client
	})
}

// deadLetter writes it's record to the dead-letter topic and waits for the
// acknowledgement; the key waits with it, which keeps its dead letters in
// order. Acknowledged, the record is finished elsewhere (its offset
// becomes markable). A failed write is tried again after a backoff,
// through the "not ready until" seam, until DeadLetterPatience has passed:
// then the consumer halts with a *DeadLetterError, and the record, not
// committed, is read again by the next run. Nothing is skipped. A record
// larger than the topic takes is written cut (dlq.Fit, reason too-large),
// never refused for its size.
func (d *deadLetterer) deadLetter(ctx context.Context, it *item) outcome {
	dl, r := it.dl, it.rec
	rec := dlq.Build(d.cfg.dlqTopic, r, dlq.Failure{
		Reason: dl.re.Reason, Stage: dlq.Stage(dl.re.Stage), Attempts: it.try.attempts, Err: dl.re, Cause: failureCause(dl.re),
		Group: d.cfg.group, QuarantineOffset: it.q.start,
	})
	// The dead letter continues the record's trace: its trace context is
	// the record's span, replacing the producer's it carried.
	sctx := trace.ContextWithSpan(ctx, it.trace.span)
	d.obs.tel.Propagator.Inject(sctx, telemetry.Carrier{R: rec})
	rec.Context = sctx
	rec, err := d.writeDeadLetter(ctx, rec, r.Key)
	lctx := trace.ContextWithSpan(ctx, it.trace.span)
	if err == nil {
		d.stats.deadLettered.Add(1)
		d.obs.ins.deadLettered.Add(ctx, 1, it.ps.met.add[0], metric.WithAttributes(
			attribute.String("ordo.reason", string(dl.re.Reason)), attribute.String("ordo.stage", string(dl.re.Stage))))
		if ok, more := d.logLimit.Allow("dead-letter/"+string(dl.re.Reason), time.Now()); ok {
			d.log.WarnContext(lctx, "record dead-lettered", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset,
				d.obs.logKey(r.Key), "reason", dl.re.Reason, "dead_letter_topic", rec.Topic, "dead_letter_partition", rec.Partition,
				"dead_letter_offset", rec.Offset, "dead_letter_reason", reasonOf(rec), "error", dl.re, "more_like_it", more)
		}
		it.dl = nil
		endRecord(it.trace.span, "dead-lettered", dl.re)
		it.trace.span = nil
		return deadLettered(dl.re)
	}
	if ctx.Err() != nil {
		return outcome{} // stopping or revoked: read again by the next owner
	}
	dl.tries++
	if time.Since(dl.since) >= d.cfg.dlqPatience {
		return outcome{fatal: &DeadLetterError{Topic: d.cfg.dlqTopic, Record: dl.re, Tries: dl.tries, Err: err},
			outcome: "failed", err: dl.re}
	}
	if dl.wait == nil {
		dl.wait = newBackoff(d.cfg.backoffMin, d.cfg.backoffMax)
	}
	wait := dl.wait.NextBackOff()
	if errors.Is(err, context.DeadlineExceeded) {
		wait = 0 // the write's own timeout was the wait
	}
	d.log.WarnContext(lctx, "dead-letter write failed, will retry", "topic", r.Topic, "partition", r.Partition,
		"offset", r.Offset, d.obs.logKey(r.Key), "dead_letter_topic", d.cfg.dlqTopic, "tries", dl.tries, "retry_in", wait, "error", err)
	return outcome{after: max(wait, time.Millisecond)}
}

// writeDeadLetter writes rec, built for a record whose key is key, fitted
// to the dead-letter topic's size limit (dlq.Fit), and returns what it
// wrote. A refusal for size shrinks the limit for the next try.
func (d *deadLetterer) writeDeadLetter(ctx context.Context, rec *kgo.Record, key []byte) (*kgo.Record, error) {
	wctx, cancel := context.WithTimeout(ctx, deadLetterWriteTimeout)
	defer cancel()
	limit, assumed, err := d.size.limit(wctx, d.cl, d.cfg.dlqTopic)
	if err != nil {
		return rec, telemetry.Unhint(err)
	}
	if assumed {
		d.log.WarnContext(ctx, "cannot read the dead-letter topic's max.message.bytes: dead letters are fitted to franz-go's default",
			"dead_letter_topic", d.cfg.dlqTopic, "bytes", limit)
	}
	out := dlq.Fit(rec, limit)
	if k := dlq.PlacementKey(out, key); k != nil {
		out.Context = context.WithValue(out.Context, placeKey{}, k)
	}
	err = d.cl.ProduceSync(wctx, out).FirstErr()
	if errors.Is(err, kerr.MessageTooLarge) {
		d.size.refused(dlq.Size(out))
	}
	return out, telemetry.Unhint(err) // franz-go's "is SASL missing?" misleads here: see telemetry.Unhint
}

// reasonOf is the reason a dead letter carries: the failure's, or
// too-large when dlq.Fit cut it.
func reasonOf(d *kgo.Record) string {
	v, _ := header.Get(d.Headers, header.Reason)
	return v
}
