package consumer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"slices"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordo-go/ordo/internal/header"
	"github.com/ordo-go/ordo/internal/telemetry"
	"github.com/ordo-go/ordo/partition"
	"github.com/ordo-go/ordo/schema"
)

// partState is one assigned partition: its offset tracker, its key queues
// and its sequence checker. It lives from assignment to revocation.
type partState struct {
	tp        tp
	tracker   *tracker
	keys      map[string]*keyQueue
	keyless   map[*keyQueue]struct{} // nil-key records, one queue each
	checker   *partition.Checker
	inflight  int
	revoked   bool
	dirty     bool              // the commit point moved since it was last marked
	producers map[string]string // interned producer IDs

	// ctx is the handlers' context for this partition's records, made
	// on first use (a partition can be assigned before Run): revoking the
	// partition cancels it at the drain deadline without touching other
	// partitions' handlers. Guarded by the consumer's mu.
	ctx    context.Context
	cancel context.CancelFunc

	attrs        attribute.Set         // metric attributes of the partition
	record       []metric.RecordOption // the same with messaging.operation.name "process", made once
	add          []metric.AddOption    // attrs, made once
	consumedSet  attribute.Set         // attrs with messaging.operation.name "poll"
	hwm          int64                 // high watermark of the last fetch, -1 before
	progressNext int64                 // commit point at the last progress check
	progressAt   time.Time             // when the commit point last moved
	stuckSince   time.Time             // zero unless reported stuck
}

// lag is the number of records between the high watermark and the lowest
// record not yet finished; ok is false until both are known.
func (ps *partState) lag() (int64, bool) {
	next := ps.tracker.next
	if ps.hwm < 0 || next < 0 {
		return 0, false
	}
	return max(ps.hwm-next, 0), true
}

func (ps *partState) oldestPending() (time.Time, bool) { return ps.tracker.oldest() }

// keyQueue holds the records of one key of one partition that are
// dispatched and not finished. Only its head is ever handled, and by one
// lane at a time: that is the whole per-key ordering guarantee. A queue is
// scheduled while it sits in the ready list, runs on a lane, or waits for a
// retry timer; an unscheduled queue with records is put on the ready list.
type keyQueue struct {
	ps        *partState
	key       string
	keyless   bool // a nil-key record: no order to keep, queued alone
	items     []*item
	scheduled bool
	running   bool
}

type item struct {
	rec          *kgo.Record
	order        uint64 // dispatch order across all partitions
	producer     string // ordo-producer header
	seq          uint64 // ordo-seq header
	eventID      string // ordo-id header
	attempts     int
	retry        *backoff.ExponentialBackOff // handler retries, made on first failure
	outage       *backoff.ExponentialBackOff // registry retries, made on first outage
	unknownSince time.Time                   // first lookup that found the schema ID unknown
	unknownTries int                         // lookups that found it unknown
	span         trace.Span                  // from the first attempt to the outcome
	start        time.Time                   // when a lane first took it: its process duration starts
	ps           *partState
}

// outcome is what a lane decided about a record.
type outcome struct {
	outcome   string        // for the record's span: handled, skipped, failed
	done      bool          // finished (handled or skipped): mark it
	after     time.Duration // not ready: try again after this long
	fatal     error         // halt the consumer
	abandoned bool          // its handler was cancelled by a stop: counted as abandoned, not dropped
	err       error         // why a finished record failed (skipped or fatal)
}

// dispatch queues a polled record behind its key. Called with c.mu held,
// in offset order per partition.
func (c *Consumer) dispatch(r *kgo.Record) {
	c.stats.fetched.Add(1)
	ps := c.parts[tp{r.Topic, r.Partition}]
	if ps == nil || ps.revoked || c.stopping || !ps.tracker.add(r.Offset, r.LeaderEpoch, r.Timestamp) {
		c.stats.dropped.Add(1)
		return
	}
	c.buffered++
	c.bufBytes += recordBytes(r)
	c.ins.consumed.AddSet(context.Background(), 1, ps.consumedSet)
	var kq *keyQueue
	if r.Key == nil {
		kq = &keyQueue{ps: ps, keyless: true}
		ps.keyless[kq] = struct{}{}
	} else if kq = ps.keys[string(r.Key)]; kq == nil {
		kq = &keyQueue{ps: ps, key: string(r.Key)}
		ps.keys[kq.key] = kq
	}
	c.dispatched++
	it := &item{rec: r, order: c.dispatched, ps: ps}
	c.checkSeq(ps, it)
	kq.items = append(kq.items, it)
	if !kq.scheduled {
		kq.scheduled = true
		c.ready.push(kq)
		c.work.Signal()
	}
}

// checkSeq reads the record's ordo headers once, for the sequence check
// here and for the handler's Meta later.
func (c *Consumer) checkSeq(ps *partState, it *item) {
	r := it.rec
	var count uint64
	for _, h := range r.Headers {
		switch h.Key {
		case header.Producer:
			it.producer = ps.intern(h.Value)
		case header.Seq:
			it.seq = parseSeq(h.Value)
		case header.ID:
			it.eventID = string(h.Value)
		case header.Partitions:
			count = parseSeq(h.Value)
		}
	}
	if count > 0 && count <= math.MaxInt32 {
		c.checkPlacement(ps, r, int(count))
	}
	prod, seq := it.producer, it.seq
	if prod == "" || seq == 0 {
		return
	}
	if v := ps.checker.Observe(prod, r.Key, seq); v.Violation() {
		c.stats.orderViolations.Add(1)
		c.ins.violations.Add(context.Background(), 1, ps.add...)
		c.log.Warn("per-key sequence violation", "verdict", v.String(), "topic", r.Topic,
			"partition", r.Partition, "offset", r.Offset, c.logKey(r.Key), "producer", prod, "seq", seq)
	}
}

// checkPlacement checks a record stamped with the partition count its
// producer placed it under. A count this consumer has not seen for the
// topic before means the topic's partition count changed under an ordered
// stream: keys moved, and a key's records before and after the change
// may be handled out of order. A key that does not hash to the record's
// partition under the stamped count was placed by another partitioner or
// count. Called with c.mu held.
func (c *Consumer) checkPlacement(ps *partState, r *kgo.Record, n int) {
	seen := c.counts[r.Topic]
	if !slices.Contains(seen, n) {
		if len(seen) > 0 {
			c.stats.countChanges.Add(1)
			c.ins.countChanges.Add(context.Background(), 1, ps.add...)
			c.log.Warn("partition count changed under an ordered stream: keys moved, per-key order across the change is not guaranteed",
				"topic", r.Topic, "old_count", seen[len(seen)-1], "new_count", n, "partition", r.Partition, "offset", r.Offset)
		}
		if len(seen) < 64 { // counts only grow; stay bounded anyway
			c.counts[r.Topic] = append(seen, n)
		}
	}
	if r.Key != nil && keyHasher.Partition(r, n) != int(r.Partition) {
		if c.stats.placement.Add(1) == 1 {
			c.log.Warn("record not in the partition its key hashes to under its stamped count (another partitioner?); further ones are only counted",
				"topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "count", n)
		}
		c.ins.placement.Add(context.Background(), 1, ps.add...)
	}
}

// keyHasher is partition.For's partitioner (murmur2, as Java's default),
// called on the record itself: partition.For would allocate a record per
// call. TestPlacementCheck holds the two to the same answers.
var keyHasher = kgo.StickyKeyPartitioner(nil).ForTopic("")

// lane runs until the consumer stops, handling the head record of one
// ready key at a time. Settling a record and taking the next happen in one
// critical section: a lane that puts its key back and takes the oldest
// ready key leaves the ready count as it was, so it wakes nobody.
func (c *Consumer) lane() {
	defer c.lanes.Done()
	var (
		kq  *keyQueue
		it  *item
		out outcome
	)
	c.mu.Lock()
	for {
		if kq != nil {
			c.settleLocked(kq, it, out)
		}
		if kq, it = c.nextLocked(); kq == nil {
			c.mu.Unlock()
			return
		}
		ctx := kq.ps.handlerCtx(c.handlerCtx)
		c.mu.Unlock()
		out = c.process(ctx, kq.ps, it)
		if out.done || out.fatal != nil {
			c.recordDuration(ctx, kq.ps, it, out.err)
		}
		c.mu.Lock()
	}
}

// nextLocked waits for a ready key and claims its head record; it returns
// nil when the consumer stops.
func (c *Consumer) nextLocked() (*keyQueue, *item) {
	for {
		for c.ready.len() == 0 && !c.stopping {
			c.work.Wait()
		}
		if c.stopping {
			return nil, nil
		}
		kq := c.ready.pop()
		if kq.ps.revoked || len(kq.items) == 0 {
			kq.scheduled = false
			continue
		}
		kq.running = true
		kq.ps.inflight++
		c.inflight++
		if it := kq.items[0]; it.start.IsZero() {
			it.start = time.Now() // under mu: a revoke reads it
		}
		return kq, kq.items[0]
	}
}

// settleLocked applies a lane's outcome to the record's key queue and
// partition. The partition's new commit point is marked to kgo in batches
// by the marker, not here: a mark per record would cost a lock and two
// maps each.
func (c *Consumer) settleLocked(kq *keyQueue, it *item, out outcome) {
	ps := kq.ps
	kq.running = false
	ps.inflight--
	c.inflight--
	switch {
	case out.fatal != nil:
		if c.fatal == nil {
			c.fatal = out.fatal
		}
		c.requestStopLocked() // the key stays stuck at its head: nothing passes it
	case out.done:
		kq.items[0] = nil
		kq.items = kq.items[1:]
		c.unbuffer(it)
		c.space.Signal()
		if ps.tracker.finish(it.rec.Offset) {
			ps.dirty = true
		}
		if len(kq.items) > 0 {
			c.ready.push(kq) // this lane takes the oldest next: no signal
		} else {
			kq.scheduled = false
			ps.forget(kq)
		}
	case out.after > 0 && !c.stopping && !ps.revoked:
		c.afterLocked(out.after, kq)
	default: // abandoned: stopping, or revoked while it ran
		if out.abandoned { // counted once, as abandoned; the rest are dropped
			endRecord(it.span, "abandoned", nil)
			it.span = nil
			kq.items[0] = nil
			kq.items = kq.items[1:]
			c.unbuffer(it)
		}
		c.dropLocked(kq, 0)
		kq.scheduled = false
	}
	if out.done || out.fatal != nil {
		endRecord(it.span, out.outcome, out.fatal)
		it.span = nil
	}
	c.idle.Broadcast()
}

// markDirty hands the commit points of partitions that moved to kgo, whose
// autocommit sends them every CommitInterval.
func (c *Consumer) markDirty() {
	c.mu.Lock()
	var moved []*partState
	for _, ps := range c.parts {
		if ps.dirty && !ps.revoked {
			ps.dirty = false
			moved = append(moved, ps)
		}
	}
	var marks map[string]map[int32]kgo.EpochOffset
	if len(moved) > 0 {
		marks = c.marksLocked(moved)
	}
	c.mu.Unlock()
	if marks != nil {
		c.cl.MarkCommitOffsets(marks)
	}
}

// afterLocked puts kq back on the ready list after d: the "not ready until"
// seam. The key's later records wait with it; other keys keep their lanes.
func (c *Consumer) afterLocked(d time.Duration, kq *keyQueue) {
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, ok := c.timers[t]; !ok {
			return // stopped
		}
		delete(c.timers, t)
		if c.stopping || kq.ps.revoked {
			kq.scheduled = false
			return
		}
		c.ready.push(kq)
		c.work.Signal()
	})
	c.timers[t] = struct{}{}
}

// marksLocked returns the commit points of parts (all if nil).
func (c *Consumer) marksLocked(parts []*partState) map[string]map[int32]kgo.EpochOffset {
	marks := make(map[string]map[int32]kgo.EpochOffset)
	add := func(ps *partState) {
		off, epoch, ok := ps.tracker.commitPoint()
		if !ok {
			return
		}
		if marks[ps.tp.topic] == nil {
			marks[ps.tp.topic] = make(map[int32]kgo.EpochOffset)
		}
		marks[ps.tp.topic][ps.tp.partition] = kgo.EpochOffset{Epoch: epoch, Offset: off}
	}
	if parts == nil {
		for _, ps := range c.parts {
			add(ps)
		}
	}
	for _, ps := range parts {
		add(ps)
	}
	return marks
}

// process takes one record through unframe, schema lookup, dispatch,
// decode and the handler.
func (c *Consumer) process(ctx context.Context, ps *partState, it *item) outcome {
	r := it.rec
	if it.span == nil {
		it.span = c.startRecord(ctx, r)
	}
	id, body, err := schema.Unframe(r.Value)
	if err != nil {
		return c.fail(ctx, it, &RecordError{Stage: StageUnframe, Err: err})
	}
	w, err := c.cfg.registry.Writer(ctx, id)
	if err != nil {
		return c.lookupFailed(ctx, it, id, err)
	}
	b, ok := c.handlers[w.Name()]
	if !ok {
		return c.fail(ctx, it, &RecordError{Stage: StageDispatch, Type: w.Name(), SchemaID: id, Err: ErrNoHandler})
	}
	it.attempts++
	actx, span := c.startAttempt(ctx, it, b)
	decErr, hErr := c.call(actx, b, w, body, meta(it, w))
	endAttempt(span, decErr, hErr)
	switch {
	case decErr != nil:
		it.attempts--
		return c.fail(ctx, it, &RecordError{Stage: StageDecode, Type: w.Name(), SchemaID: id, Err: decErr})
	case hErr == nil:
		c.stats.handled.Add(1)
		return outcome{done: true, outcome: "handled"}
	case ctx.Err() != nil:
		c.stats.abandoned.Add(1)
		return outcome{abandoned: true}
	case it.attempts >= c.cfg.maxAttempts:
		return c.fail(ctx, it, &RecordError{Stage: StageHandle, Type: w.Name(), SchemaID: id, Err: hErr})
	}
	c.stats.retries.Add(1)
	c.ins.retries.Add(ctx, 1, ps.add[0], metric.WithAttributes(telemetry.ErrorType(hErr)))
	if it.retry == nil {
		it.retry = newBackoff(c.cfg.backoffMin, c.cfg.backoffMax)
	}
	d := it.retry.NextBackOff()
	c.log.InfoContext(actx, "handler failed, will retry", "type", w.Name(), "topic", r.Topic, "partition", r.Partition,
		"offset", r.Offset, c.logKey(r.Key), "attempt", it.attempts, "retry_in", d, "error", hErr)
	return outcome{after: d}
}

// lookupFailed decides what a failed writer-schema lookup means for the
// record. A registry outage (no answer, a timeout, a 5xx or 429) says
// nothing about the record: it waits, with backoff, for as long as the
// outage lasts; so does a 401 or 403. Anything else is about the record (an
// unknown ID, a schema that is not usable Avro, another 4xx) and goes to the failure policy at once:
// retrying it would wedge its partition for ever.
func (c *Consumer) lookupFailed(ctx context.Context, it *item, id int, err error) outcome {
	if ctx.Err() != nil {
		return outcome{} // stopping: abandoned, read again by the next owner
	}
	if errors.Is(err, schema.ErrUnknownSchema) {
		if d, wait := c.confirmUnknown(it); wait {
			return outcome{after: d}
		}
	}
	if !isOutage(err) {
		return c.fail(ctx, it, &RecordError{Stage: StageSchema, SchemaID: id, Err: err})
	}
	if it.outage == nil {
		it.outage = newBackoff(c.cfg.backoffMin, c.cfg.backoffMax)
	}
	d := it.outage.NextBackOff()
	r := it.rec
	c.log.WarnContext(trace.ContextWithSpan(ctx, it.span), "schema registry unavailable, will retry",
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
func (c *Consumer) confirmUnknown(it *item) (time.Duration, bool) {
	now := time.Now()
	if it.unknownTries == 0 {
		it.unknownSince = now
	}
	it.unknownTries++
	w := c.cfg.unknownWindow
	if w <= 0 || it.unknownTries > unknownConfirmations || now.Sub(it.unknownSince) >= w {
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
func (c *Consumer) call(ctx context.Context, b binding, w *schema.Writer, body []byte, m Meta) (decErr, hErr error) {
	defer func() {
		if v := recover(); v != nil {
			hErr = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return b.handle(ctx, w, body, m)
}

// fail completes re with the record's coordinates, reports it, and applies
// the failure policy.
func (c *Consumer) fail(ctx context.Context, it *item, re *RecordError) outcome {
	r := it.rec
	re.Topic, re.Partition, re.Offset, re.Key, re.Attempts = r.Topic, r.Partition, r.Offset, r.Key, it.attempts
	re.redactKey = c.tel.RedactKeys
	c.stats.failed.Add(1)
	c.ins.failed.Add(ctx, 1, it.ps.add[0], metric.WithAttributes(telemetry.ErrorType(re)))
	if c.cfg.errorHook != nil {
		c.cfg.errorHook(ctx, re)
	}
	lctx := trace.ContextWithSpan(ctx, it.span)
	if c.cfg.policy == Skip {
		c.stats.skipped.Add(1)
		c.ins.skipped.Add(ctx, 1, it.ps.add[0], metric.WithAttributes(telemetry.ErrorType(re)))
		c.log.WarnContext(lctx, "record skipped", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset,
			c.logKey(r.Key), "type", re.Type, "error", re)
		endRecord(it.span, "skipped", re)
		it.span = nil
		return outcome{done: true, err: re}
	}
	// Not logged: Run returns the error, and the hook has seen it.
	return outcome{fatal: re, outcome: "failed", err: re}
}

// intern returns the producer ID b as a string, shared by every record of
// that producer in the partition (a handful of IDs, many records).
func (ps *partState) intern(b []byte) string {
	if s, ok := ps.producers[string(b)]; ok {
		return s
	}
	if len(ps.producers) >= 1024 { // producers restart with new IDs: stay bounded
		clear(ps.producers)
	}
	s := string(b)
	ps.producers[s] = s
	return s
}

// parseSeq reads a decimal sequence number without allocating; anything
// else (empty, non-digits, overflow) is 0, which is never stamped.
func parseSeq(b []byte) uint64 {
	if len(b) == 0 || len(b) > 19 {
		return 0
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + uint64(c-'0')
	}
	return n
}

func meta(it *item, w *schema.Writer) Meta {
	r := it.rec
	return Meta{
		Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key,
		Timestamp: r.Timestamp, Headers: r.Headers, Type: w.Name(), SchemaID: w.ID(), Attempt: it.attempts,
		EventID: it.eventID, Producer: it.producer, Seq: it.seq,
	}
}

func newBackoff(min, max time.Duration) *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(min),
		backoff.WithMaxInterval(max),
		backoff.WithMaxElapsedTime(0), // attempts are bounded by count, not time
	)
	return b
}

// assigned starts tracking newly assigned partitions. kgo calls it before
// fetching from them.
func (c *Consumer) assigned(_ context.Context, _ *kgo.Client, added map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, ps := range added {
		for _, p := range ps {
			k := tp{topic, p}
			ps := &partState{
				tp: k, tracker: newTracker(), checker: partition.NewChecker(0),
				keys: make(map[string]*keyQueue), keyless: make(map[*keyQueue]struct{}),
				producers: make(map[string]string),
				hwm:       -1, progressNext: -1, progressAt: time.Now(),
			}
			ps.attrs = c.partAttrs(k)
			ps.consumedSet = c.opAttrs(ps.attrs, "poll", semconv.MessagingOperationTypeReceive)
			ps.record = []metric.RecordOption{metric.WithAttributeSet(c.opAttrs(ps.attrs, "process", semconv.MessagingOperationTypeProcess))}
			ps.add = []metric.AddOption{metric.WithAttributeSet(ps.attrs)}
			c.parts[k] = ps
		}
	}
	c.log.Info("partitions assigned", "partitions", fmt.Sprint(added))
}

// revoked is kgo's revoke callback: records of the revoked partitions that
// have not started are dropped (the next owner reads them again), records in
// flight get up to the drain timeout to finish, and the partitions' commit
// points are committed before kgo hands them over. It never closes the
// client or leaves the group: kgo forbids that from a rebalance callback.
//
// Per-key order across owners rests on this callback: the next owner may
// start a key's later records as soon as it returns. So a handler still
// running at the drain deadline has its ctx cancelled (only the revoked
// partitions' handlers), and the callback waits up to revokeGrace more for
// it to return. A handler that ignores its ctx is still running when the
// partition is handed over: it is logged and counted, and it may overlap
// with the next owner's handling of the same key.
func (c *Consumer) revoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	parts := c.release(revoked)
	if len(parts) == 0 {
		return
	}
	idle := func() bool {
		for _, ps := range parts {
			if ps.inflight > 0 {
				return false
			}
		}
		return true
	}
	drain, cancel := context.WithTimeout(ctx, c.cfg.drainTimeout)
	defer cancel()
	if !c.waitIdle(drain, idle) {
		c.cancelHandlers(parts)
		grace, cancel := context.WithTimeout(ctx, revokeGrace)
		defer cancel()
		if !c.waitIdle(grace, idle) {
			c.reportHandover(parts)
		}
	}
	c.cancelHandlers(parts)
	c.mu.Lock()
	marks := c.marksLocked(parts)
	c.mu.Unlock()
	cl.MarkCommitOffsets(marks)
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		c.log.Warn("commit on revoke failed", "error", err)
	}
	c.log.Info("partitions revoked", "partitions", fmt.Sprint(revoked))
}

// handlerCtx returns the context for handlers of ps's records. Called
// with the consumer's mu held.
func (ps *partState) handlerCtx(parent context.Context) context.Context {
	if ps.ctx == nil {
		ps.ctx, ps.cancel = context.WithCancel(parent)
	}
	return ps.ctx
}

// cancelHandlers cancels the contexts of parts' handlers.
func (c *Consumer) cancelHandlers(parts []*partState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ps := range parts {
		if ps.cancel != nil {
			ps.cancel()
		}
	}
}

// revokeGrace is how long a revoke waits, after cancelling the handlers
// that outlived the drain timeout, for them to return.
const revokeGrace = time.Second

// reportHandover logs and counts every handler of parts still running as
// its partition is handed over.
func (c *Consumer) reportHandover(parts []*partState) {
	type running struct {
		r     *kgo.Record
		since time.Duration
	}
	var rs []running
	c.mu.Lock()
	for _, ps := range parts {
		each := func(kq *keyQueue) {
			if kq.running && len(kq.items) > 0 {
				it := kq.items[0]
				rs = append(rs, running{it.rec, time.Since(it.start)})
			}
		}
		for _, kq := range ps.keys {
			each(kq)
		}
		for kq := range ps.keyless {
			each(kq)
		}
	}
	c.mu.Unlock()
	for _, x := range rs {
		c.stats.handedOver.Add(1)
		c.ins.handedOver.Add(context.Background(), 1, metric.WithAttributeSet(c.partAttrs(tp{x.r.Topic, x.r.Partition})))
		c.log.Warn("handler still running as its partition is handed over: it ignored its cancelled ctx, and may overlap with the next owner",
			"topic", x.r.Topic, "partition", x.r.Partition, "offset", x.r.Offset, c.logKey(x.r.Key), "running_for", x.since.Round(time.Millisecond))
	}
}

// dropLocked drops kq's records after the first keep (the one a lane is
// running, if any). They were never started; whoever reads the partition
// next handles them.
func (c *Consumer) dropLocked(kq *keyQueue, keep int) {
	n := len(kq.items) - keep
	if n <= 0 {
		return
	}
	c.stats.dropped.Add(int64(n))
	for _, it := range kq.items[keep:] {
		c.unbuffer(it)
		endRecord(it.span, "released", nil) // started, then released for redelivery
	}
	clear(kq.items[keep:])
	kq.items = kq.items[:keep]
	c.space.Broadcast()
}

// unbuffer takes a finished or dropped record off the buffer counts.
func (c *Consumer) unbuffer(it *item) {
	c.buffered--
	c.bufBytes -= recordBytes(it.rec)
}

// recordBytes is what a buffered record is counted as against
// MaxBufferedBytes: its key and value, and the bookkeeping around them
// (kgo's Record, the item, the tracker entry), which for small records is
// most of it.
func recordBytes(r *kgo.Record) int { return len(r.Key) + len(r.Value) + 256 }

// headSeq is the dispatch number of the head record; 0 for an empty queue.
func (kq *keyQueue) headSeq() uint64 {
	if len(kq.items) == 0 {
		return 0
	}
	return kq.items[0].order
}

func (kq *keyQueue) runningCount() int {
	if kq.running {
		return 1
	}
	return 0
}

// forget removes an empty queue from its partition.
func (ps *partState) forget(kq *keyQueue) {
	if kq.keyless {
		delete(ps.keyless, kq)
	} else if ps.keys[kq.key] == kq {
		delete(ps.keys, kq.key)
	}
}

// lost drops partitions that were taken away without a clean revoke: their
// offsets may already belong to someone else, so nothing is committed.
func (c *Consumer) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	c.cancelHandlers(c.release(lost)) // someone else may own them already
	c.log.Warn("partitions lost", "partitions", fmt.Sprint(lost))
}

// release marks partitions revoked, drops their records that have not
// started, and forgets them. It returns their states.
func (c *Consumer) release(m map[string][]int32) []*partState {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*partState
	for topic, ps := range m {
		for _, p := range ps {
			k := tp{topic, p}
			st := c.parts[k]
			if st == nil {
				continue
			}
			delete(c.parts, k)
			st.revoked = true
			for _, kq := range st.keys {
				c.dropLocked(kq, kq.runningCount())
			}
			for kq := range st.keyless {
				c.dropLocked(kq, kq.runningCount())
			}
			out = append(out, st)
		}
	}
	c.space.Broadcast()
	return out
}
