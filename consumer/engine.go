package consumer

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/ordo-go/ordo/internal/quarantine"
	"github.com/ordo-go/ordo/partition"
)

// The engine: how a record moves and who may touch what.
//
// Files, one concern each:
//
//	poll.go       the poller: poll, stage, dispatch under the buffered cap
//	schedule.go   dispatch into key queues; headers, sequence and placement
//	              checks
//	ready.go      the ready queue: keys whose head may run, oldest first
//	lane.go       lanes: claim a batch of ready keys, handle, settle; take
//	              back claims (revoke, stop, Pause); the "not ready until
//	              T" seam (afterLocked) and the "dispatch gated" seam
//	              (claimLocked, with replay.go's gate)
//	pipeline.go   one record's way: unframe, writer schema, handler lookup,
//	              decode, handle, and the outcome
//	commit.go     commit points handed to kgo (the marker goroutine)
//	rebalance.go  assigned, revoked, lost: partition state comes and goes
//	stuck.go      the stuck-partition watcher
//
// Locks. Consumer.mu guards the partitions (parts and every partState
// field except the immutable tp and the metric options), every keyQueue
// and item field once dispatched, the ready queue, the buffer counts,
// the lanes' batches (their claims slices), the free lists of items and
// key queues, waiting, pollWaiting, counts, the timers and
// stopping/closing/fatal; it is the lock of the work, space and idle
// conditions. The tracker of a partition is guarded by mu too.
//
// Outside mu: a lane handles its batch without the lock, on items no
// other goroutine touches while their key queues are running. The one
// field it shares is each claim's state (claimed, started, cancelled),
// changed by compare-and-swap: the lane starts a claim, or whoever takes
// it back under mu cancels it, never both (lane.go). A partition's
// sequence checker has its own lock (lanes of one partition check at
// once). Counters (stats) are atomics; kgo's client has its own locks and
// is never called with mu held.
//
// Goroutines, all started by Run, counted in Consumer.lanes and waited for
// by stop after the stopped channel is closed:
//
//	lane (Concurrency of them)  handle batches of ready keys' head records
//	watch                       report stuck partitions
//	marker                      hand commit points to kgo
//	watchConnect                report a cluster never reached
//	replayWatch                 the replay gate's ramp, progress, metrics
//
// Run's own goroutine polls and dispatches (poll.go): it holds mu while it
// dispatches, letting the lanes in every 128 records and waking one
// waiting lane each time; a woken lane that leaves keys ready wakes the
// next. Retry timers (afterLocked) are owned by Consumer.timers and
// stopped by stop. kgo runs the rebalance callbacks (assigned, revoked,
// lost) on its own goroutine while a poll is allowed to rebalance: never
// during a dispatch, but possibly while records are staged (poll.go says
// how those are told apart).
//
// A record's offset becomes markable in one place: settleLocked, for an
// outcome with done set, through finishLocked. An outcome is done when the
// handler succeeded or the record was finished elsewhere (see
// finishedElsewhere): skipped, dead-lettered or expired.

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
	parked    int               // keys waiting in afterLocked
	held      []*keyQueue       // keys parked while the partition is paused
	lim       *rate.Limiter     // PartitionRateLimit's bucket, made on first use (replay_partition.go)

	// q is the partition's quarantined keys (nil unless quarantining),
	// read from the commit metadata at assignment; qDirty says it changed
	// since it was last committed.
	q      *quarantine.Set
	qDirty bool

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
	fed          int                   // recordBytes of every record dispatched, a running sum (detachIfWaiting)
	progressNext int64                 // commit point at the last progress check
	progressAt   time.Time             // when the commit point last moved
	stuckSince   time.Time             // zero unless reported stuck
	replay       partReplay            // replay.go
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
	keyless   bool    // a nil-key record: no order to keep, queued alone
	items     []*item // pending records, head first: a window of buf
	buf       []*item // items' backing array (push)
	scheduled bool
	running   bool
	held      bool // in ps.held (control.go)
}

// item is one dispatched record: what the scheduler needs of it, and a
// share per feature that keeps state across its attempts. Each share is
// written by the lane running the record (or under the scheduler's lock
// at dispatch, claim and settle), never by two goroutines at once: a key
// queue's head is on one lane at a time.
type item struct {
	rec    *kgo.Record
	ps     *partState
	order  uint64 // dispatch order across all partitions
	bytes  int    // what it counts against MaxBufferedBytes while buffered (recordBytes)
	fed    int    // its partition's fed after it was dispatched
	hdr    ordoHeaders
	try    retryState
	trace  recordTrace
	dl     *deadState  // being dead-lettered: the write is pending (deadletter.go)
	q      qmark       // its key's quarantine, as decided when a lane took it (quarantine.go)
	replay replayShare // replay.go, replay_partition.go
}

// ordoHeaders is what the record's ordo headers say, read once at
// dispatch (schedule.go), for the sequence and placement checks and the
// handler's Meta.
type ordoHeaders struct {
	producer string // ordo-producer
	seq      uint64 // ordo-seq
	count    int32  // ordo-partitions
	redriven bool   // has an ordo-redrives header
	checked  bool   // its sequence and placement were checked (checkSeq)
}

// retryState is the pipeline's memory of a record's attempts (pipeline.go).
type retryState struct {
	attempts     int
	retry        *backoff.ExponentialBackOff // handler retries, made on first failure
	outage       *backoff.ExponentialBackOff // registry retries, made on first outage
	unknownSince time.Time                   // first lookup that found the schema ID unknown
	unknownTries int                         // lookups that found it unknown
	firstTry     time.Time                   // its first handler attempt: the retry budget's time runs from here
}

// recordTrace is the record's telemetry (telemetry.go).
type recordTrace struct {
	span  trace.Span // from the first attempt to the outcome
	start time.Time  // when a lane first took it: its process duration starts
}

// replayShare is the replay gate's part of a record.
type replayShare struct {
	paid bool  // its partition's rate token is reserved (replay_partition.go)
	how  uint8 // how it finished (howOf), for a catch-up's accounting
}

// outcome is what a lane decided about a record.
type outcome struct {
	outcome   string        // for the record's span: handled, skipped, failed
	done      bool          // finished (handled, or finished elsewhere): mark it
	after     time.Duration // not ready: try again after this long
	fatal     error         // halt the consumer
	abandoned bool          // its handler was cancelled by a stop: counted as abandoned, not dropped
	err       error         // why a finished record failed (skipped or fatal)
	dead      bool          // finished by an acknowledged dead letter
}

// deadLettered is the outcome of a record whose dead letter was
// acknowledged: finished elsewhere, and its key's quarantine follows.
func deadLettered(re *RecordError) outcome {
	out := finishedElsewhere("dead-lettered", re)
	out.dead = true
	return out
}

// finishedElsewhere is the outcome of a record that is finished without
// being handled: skipped, dead-lettered (once the dead letter is
// acknowledged) or expired. Its offset becomes markable like a handled
// record's; how says which it was, for the record's span, and err why it
// was not handled. The record's span is ended by the caller that knows
// more, or by settleLocked.
func finishedElsewhere(how string, err error) outcome {
	return outcome{done: true, outcome: how, err: err}
}
