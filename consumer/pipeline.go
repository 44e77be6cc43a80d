package consumer

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordo-go/ordo/consumer/dlq"
	"github.com/ordo-go/ordo/internal/telemetry"
	"github.com/ordo-go/ordo/schema"
)

// The pipeline: one record's way, on the lane that claimed it: unframe,
// writer schema, handler lookup, decode, handle, and the outcome (done, a
// retry after a backoff, or the failure policy: skip, halt, dead-letter).
//
// It owns the handlers, the tombstone handler and the middleware chain,
// all immutable after New; the state it keeps across a record's attempts
// is the record's own (item.try, item.trace), touched only by the lane
// running the record. It takes no lock and runs no goroutine. Below it:
// the dead-letterer (deadLetter, deadletter.go) for a record finished
// elsewhere, and the replay gate's age window (processOrExpire).
type pipeline struct {
	cfg        *config // immutable
	handlers   map[string]binding
	tombstone  binding    // the Tombstones handler, if any
	mw         Middleware // the Use chain; nil for none
	gate       *replay    // the age window; nil for none
	stats      *counters
	obs        *observer
	log        *slog.Logger
	logLimit   *telemetry.LogLimit                  // the retry line, per error class
	deadLetter func(context.Context, *item) outcome // the dead-letterer (deadletter.go)
	brk        *circuit                             // the breaker (breaker.go); nil when off
}

// handlersOf indexes the handlers by the event type they handle.
func handlersOf(bs []binding) map[string]binding {
	m := make(map[string]binding, len(bs))
	for _, h := range bs {
		m[h.name] = h
	}
	return m
}

// tombstoneOf binds the Tombstones handler fn; none if fn is nil.
func tombstoneOf(fn func(context.Context, Meta) error) binding {
	if fn == nil {
		return binding{}
	}
	return binding{name: "tombstone", spanName: "handle tombstone",
		handle: func(ctx context.Context, _ *schema.Writer, _ []byte, m Meta, mw Middleware) (error, error) {
			if mw == nil {
				return nil, fn(ctx, m)
			}
			return nil, mw(ctx, m, func(ctx context.Context) error { return fn(ctx, m) })
		}}
}

// writerMemo is a lane's last writer schema and the handler bound to its
// name: a lane's records mostly share a schema ID, and looking it up in
// the registry's cache (a lock every lane shares) and the handler by name
// took ~20 ns a record (issue 20). A writer schema, once fetched, is the
// registry's for good (schema IDs are immutable), so the memo never goes
// stale. Its lane's only.
type writerMemo struct {
	id int
	w  *schema.Writer // nil: none yet
	b  binding
	ok bool // a handler is bound to w's name
}

// process takes one record through unframe, schema lookup, dispatch,
// decode and the handler. A record being dead-lettered goes straight to
// the write, and one quarantined behind its key's dead letter is
// dead-lettered without being decoded. memo is the lane's (writerMemo).
func (p *pipeline) process(ctx context.Context, ps *partState, it *item, memo *writerMemo) outcome {
	r := it.rec
	if it.trace.span == nil {
		it.trace.span = p.obs.startRecord(ctx, it)
	}
	switch {
	case it.dl != nil:
		return p.deadLetter(ctx, it)
	case it.q.kind == qBehind:
		return p.fail(ctx, it, &RecordError{Stage: StageQuarantine, Err: &dlq.QuarantinedError{Offset: it.q.start}})
	case r.Value == nil:
		if p.tombstone.handle == nil {
			return p.fail(ctx, it, &RecordError{Stage: StageUnframe, Err: ErrTombstone})
		}
		return p.attempt(ctx, ps, it, p.tombstone, nil, nil)
	}
	id, body, err := schema.Unframe(r.Value)
	if err != nil {
		return p.fail(ctx, it, &RecordError{Stage: StageUnframe, Err: err})
	}
	if memo.w == nil || memo.id != id {
		w, err := p.cfg.set.Registry().Writer(ctx, id)
		if err != nil {
			return p.lookupFailed(ctx, it, id, err)
		}
		b, ok := p.handlers[w.Name()]
		*memo = writerMemo{id: id, w: w, b: b, ok: ok}
	}
	if !memo.ok {
		return p.fail(ctx, it, &RecordError{Stage: StageDispatch, Type: memo.w.Name(), SchemaID: id, Err: ErrNoHandler})
	}
	return p.attempt(ctx, ps, it, memo.b, memo.w, body)
}

// attempt runs one handler attempt (w is nil for a tombstone) and decides
// what follows: done, a retry after a backoff, or the failure policy for a
// permanent error or a spent retry budget.
func (p *pipeline) attempt(ctx context.Context, ps *partState, it *item, b binding, w *schema.Writer, body []byte) outcome {
	r := it.rec
	it.try.attempts++
	if it.try.firstTry.IsZero() {
		it.try.firstTry = it.trace.start // claimed just now (at most a batch's budget ago): no clock read
	}
	actx, span := p.obs.startAttempt(ctx, it, b)
	hctx := actx
	if p.cfg.attemptTimeout > 0 {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(actx, p.cfg.attemptTimeout)
		defer cancel()
	}
	hctx, em := emitterFor(p.cfg, hctx) // Transactional's outputs (txn.go)
	decErr, hErr := p.call(hctx, b, w, body, meta(it, w))
	it.txn.take(em, decErr == nil && hErr == nil)
	endAttempt(span, decErr, hErr)
	typ, id := "", 0
	if w != nil {
		typ, id = w.Name(), w.ID()
	}
	switch {
	case decErr != nil:
		it.try.attempts--
		return p.fail(ctx, it, &RecordError{Stage: StageDecode, Type: typ, SchemaID: id, Err: decErr})
	case hErr == nil:
		p.stats.handled.Add(1)
		p.brk.handled(it)
		return outcome{done: true, outcome: "handled"}
	case ctx.Err() != nil:
		p.stats.abandoned.Add(1)
		return outcome{abandoned: true}
	case IsPermanent(hErr): // not the breaker's: the failure policy at once
		return p.fail(ctx, it, &RecordError{Stage: StageHandle, Type: typ, SchemaID: id, Err: hErr})
	case p.brk.failed(it, hErr): // the world is down: not charged, waits for the breaker to close
		it.try.attempts--
		return outcome{after: p.cfg.backoffMin}
	case it.try.attempts >= p.cfg.maxAttempts:
		return p.fail(ctx, it, &RecordError{Stage: StageHandle, Type: typ, SchemaID: id, Err: hErr})
	}
	if it.try.retry == nil {
		it.try.retry = newBackoff(p.cfg.backoffMin, p.cfg.backoffMax)
	}
	d := it.try.retry.NextBackOff()
	if p.brk.spent(it)+d > p.cfg.retryFor { // the next try would start past the budget (time open is not charged)
		return p.fail(ctx, it, &RecordError{Stage: StageHandle, Type: typ, SchemaID: id, Err: hErr})
	}
	p.stats.retries.Add(1)
	p.obs.ins.retries.Add(ctx, 1, ps.met.add[0], metric.WithAttributes(telemetry.ErrorType(hErr)))
	if it.trace.span.IsRecording() { // the wait shows in the record's span
		it.trace.span.AddEvent("retry scheduled", trace.WithAttributes(attribute.Int("ordo.attempt", it.try.attempts),
			attribute.Int64("ordo.retry.in_ms", d.Milliseconds())))
	}
	if ok, more := p.logLimit.Allow("retry/"+telemetry.ErrorClass(hErr), time.Now()); ok {
		p.log.InfoContext(actx, "handler failed, will retry", "type", typ, "topic", r.Topic, "partition", r.Partition,
			"offset", r.Offset, p.obs.logKey(r.Key), "attempt", it.try.attempts, "retry_in", d, "error", hErr,
			"more_like_it", more)
	}
	return outcome{after: d}
}

// lookupFailed decides what a failed writer-schema lookup means for the
// record. A registry outage (no answer, a timeout, a 5xx or 429) says
// nothing about the record: it waits, with backoff, for as long as the
// outage lasts; so does a 401 or 403. Anything else is about the record (an
// unknown ID, a schema that is not usable Avro, another 4xx) and goes to the failure policy at once:
// retrying it would wedge its partition for ever.
func (p *pipeline) lookupFailed(ctx context.Context, it *item, id int, err error) outcome {
	if ctx.Err() != nil {
		return outcome{} // stopping: abandoned, read again by the next owner
	}
	if errors.Is(err, schema.ErrUnknownSchema) {
		if d, wait := p.confirmUnknown(it); wait {
			return outcome{after: d}
		}
	}
	if !isOutage(err) {
		return p.fail(ctx, it, &RecordError{Stage: StageSchema, SchemaID: id, Err: err})
	}
	if p.brk.failed(it, err) { // held: the breaker's line says it, not one per record
		return outcome{after: p.cfg.backoffMin}
	}
	if it.try.outage == nil {
		it.try.outage = newBackoff(p.cfg.backoffMin, p.cfg.backoffMax)
	}
	d := it.try.outage.NextBackOff()
	r := it.rec
	p.log.WarnContext(trace.ContextWithSpan(ctx, it.trace.span), "schema registry unavailable, will retry",
		"topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "schema_id", id, "retry_in", d, "error", redactURLs(err.Error()))
	return outcome{after: d}
}

// unknownConfirmations is how many more times an unknown schema ID is
// looked up, spread over the UnknownSchemaWindow, before it is final.
const unknownConfirmations = 4

// confirmUnknown says whether a record whose schema ID the registry does
// not know should be looked up again, and after how long. A registry
// behind a load balancer can answer 40403 for an ID that exists, from a
// replica that has not caught up: taking the first answer as final made
// Skip discard good records. The record waits through the "not ready
// until" seam, so its key waits without holding a lane.
func (p *pipeline) confirmUnknown(it *item) (time.Duration, bool) {
	now := time.Now()
	if it.try.unknownTries == 0 {
		it.try.unknownSince = now
	}
	it.try.unknownTries++
	w := p.cfg.unknownWindow
	if w <= 0 || it.try.unknownTries > unknownConfirmations || now.Sub(it.try.unknownSince) >= w {
		return 0, false
	}
	return w / unknownConfirmations, true
}

// isOutage reports whether a lookup failure is the registry's, not the
// record's: a transport error, a timeout of the lookup (the caller has
// checked that the consumer's own ctx is alive), or a 5xx/429 answer. An
// error matching schema.ErrUnusableSchema or schema.ErrUnknownSchema, or
// any other answer, is final.
func isOutage(err error) bool {
	if errors.Is(err, schema.ErrUnusableSchema) || errors.Is(err, schema.ErrUnknownSchema) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var re *schema.RegistryError
	if errors.As(err, &re) {
		// 401 and 403 are this consumer's credentials, not the record:
		// skipping every record until someone fixes them would lose
		// them all, so they wait like an outage (and the partition is
		// reported stuck).
		return re.Temporary() || re.Status == 401 || re.Status == 403
	}
	return true // not an answer from the registry: a transport failure
}

// call runs the handler, turning a panic into a failed attempt.
func (p *pipeline) call(ctx context.Context, b binding, w *schema.Writer, body []byte, m Meta) (decErr, hErr error) {
	defer func() {
		if v := recover(); v != nil {
			hErr = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return b.handle(ctx, w, body, m, p.mw)
}

// fail completes re with the record's coordinates, the record itself and
// its class, reports it, and applies the failure policy.
func (p *pipeline) fail(ctx context.Context, it *item, re *RecordError) outcome {
	r := it.rec
	re.Topic, re.Partition, re.Offset, re.Key, re.Attempts = r.Topic, r.Partition, r.Offset, r.Key, it.try.attempts
	re.Record = r
	re.redactKey = p.obs.tel.RedactKeys
	classify(re)
	if re.Stage != StageQuarantine { // it did not fail itself
		p.stats.failed.Add(1)
		p.obs.ins.failed.Add(ctx, 1, it.ps.met.add[0], metric.WithAttributes(telemetry.ErrorType(re)))
	}
	if p.cfg.errorHook != nil {
		p.cfg.errorHook(ctx, re)
	}
	lctx := trace.ContextWithSpan(ctx, it.trace.span)
	switch p.cfg.policy {
	case Skip:
		p.stats.skipped.Add(1)
		p.obs.ins.skipped.Add(ctx, 1, it.ps.met.add[0], metric.WithAttributes(telemetry.ErrorType(re)))
		p.log.WarnContext(lctx, "record skipped", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset,
			p.obs.logKey(r.Key), "type", re.Type, "error", re)
		endRecord(it.trace.span, "skipped", re)
		it.trace.span = nil
		return finishedElsewhere("skipped", re)
	case DeadLetter:
		it.dl = &deadState{re: re, since: time.Now()}
		return p.deadLetter(ctx, it)
	}
	// Not logged: Run returns the error, and the hook has seen it.
	return outcome{fatal: re, outcome: "failed", err: re}
}

// meta describes it's record to its handler; w is nil for a tombstone.
func meta(it *item, w *schema.Writer) Meta {
	r := it.rec
	m := Meta{
		Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key,
		Timestamp: r.Timestamp, Headers: r.Headers, Attempt: it.try.attempts,
		Producer: it.hdr.producer, Seq: it.hdr.seq,
	}
	if w != nil {
		m.Type, m.SchemaID = w.Name(), w.ID()
	}
	return m
}

func newBackoff(min, max time.Duration) *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(min),
		backoff.WithMaxInterval(max),
		backoff.WithMultiplier(DefaultRetryMultiplier), // cenkalti's own is 1.5
		backoff.WithMaxElapsedTime(0),                  // the budget is checked by the caller (attempts, RetryFor)
	)
	return b
}
