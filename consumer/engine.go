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

// The engine: how a record moves, which room owns what, and who may
// touch it.
//
// Rooms are types, each with its own state, its lock if it needs one, and
// its methods (franz-go's Client → consumer, groupConsumer, source, sink).
// A record flows down the table once; a lower room never calls up into
// the lifecycle: it signals through the scheduler (haltLocked, the ending
// context) and Run reacts.
//
//	Consumer      consumer.go   configuration, the public API, the
//	                            lifecycle (Run, Shutdown, Close, stop); the
//	                            poller (poll.go), the lanes (lane.go) and
//	                            the rebalance callbacks (rebalance.go)
//	scheduler     scheduler.go  the engine's lock and what it guards: the
//	                            partitions' key queues, the ready set
//	                            (ready.go), the lanes' claims, the buffer
//	                            counts, retry timers, pauses, the stop
//	                            signal; dispatch (schedule.go), claim and
//	                            settle (lane.go), hold and release
//	                            (control.go)
//	pipeline      pipeline.go   one record's way on its lane: unframe,
//	                            writer schema, handler, decode, handle,
//	                            outcome; no lock
//	checks        schedule.go   ordo headers, stamped counts, per-key
//	                            sequence and placement
//	committer     commit.go     commit points to kgo, commits after a
//	                            flush of the quarantine store, the revoke's
//	                            and the stop's commits; tracker.go holds
//	                            the points
//	replay        replay.go     the replay gate: catch-up detection, rate
//	                            cap, slow start, age window, floor,
//	                            accounting (replay_watch.go, its goroutine;
//	                            replay_partition.go, the per-partition
//	                            bucket; replay_options.go); fair.go, the
//	                            capped partitions' shares of the buffer
//	fetchPauses   fetchpause.go why each fetch is paused: the one caller
//	                            of kgo's Pause/ResumeFetch* (its own lock)
//	dead-letterer deadletter.go the dead-letter write (deadletter_size.go:
//	                            the topic's size limit, its own lock)
//	quarantiner   quarantine.go keys quarantined behind a dead letter;
//	                            quarantine_store.go, their durable store
//	observer      telemetry.go  spans, metrics, observed gauges
//	stuckWatch    stuck.go      the stuck-partition watcher
//	connectWatch  connect.go    the probe of a cluster never reached
//	topicWatch    topics_check.go  consumed topics the cluster lacks (its
//	                            own lock)
//	              deadletter_check.go  the dead-letterer's check that
//	                            its topic exists, at Run
//	firstLook     start.go      partition counts at the first assignment
//
// The rest: options.go, shared.go (the settings every role shares),
// replay_options.go, handler.go, middleware.go, group.go (options);
// errors.go, classify.go (errors and their classes); stats.go
// (counters); doc.go; engine.go (this map, partState, keyQueue, item,
// outcome).
//
// Seams the scheduler calls, under its lock: "dispatch gated" (the
// replay gate's admitLocked at dispatch; parkedLocked, limitingLocked,
// waitTokenLocked, takenLocked at claim), "not ready until T"
// (afterLocked: a retry, a registry outage, a dead-letter write, a
// partition's token), "finished elsewhere" (an outcome with done set but
// not handled: skipped, dead-lettered, expired; quarantiner.settleLocked
// for dead letters and redrives). A systemic-failure breaker would sit
// beside the gate: parked lanes (parkedLocked) pause dispatch, a paused
// fetch (a reason of its own in fetchPauses, beside Pause's and the
// cap's) holds the poller, one claim is the probe. The durable
// quarantine store sits behind quarantiner (load, settleLocked) and the
// committer (Flush before a commit, Committed after).
//
// Locks. scheduler.mu is the engine's one lock for the work: it guards the
// partitions (parts and every partState field except the immutable tp,
// the metric options, lim and checker, which have their own locks), every
// keyQueue, and an item's scheduler fields once dispatched; the trackers
// (committer's) and the replay gate's fields are read and written under
// it too, so an offset becomes markable, and a catch-up counts it, in the
// critical section in which its key's next record becomes ready. It is
// grabbed when the poller dispatches a run of records, when a lane
// settles its batch and claims the next, when claims are taken back
// (revoke, stop, Pause), when a retry timer fires, and once per tick by
// the committer, the stuck watcher, the replay watcher and the observer.
// kgo's client is never called with it held, save the fetch pauses of
// Pause and Resume (fetchpause.go: its lock comes after this one).
//
// Outside it: a lane handles its batch without the lock, on items no other
// goroutine touches while their key queues are running. The one field it
// shares is each claim's state (claimed, started, cancelled), changed by
// compare-and-swap: the lane starts a claim, or whoever takes it back
// under the lock cancels it, never both (lane.go). Counters (stats) are
// atomics. The lifecycle (shutdown, userClosed: atomics; stopErr:
// published by closing runDone) takes no lock.
//
// Goroutines, all started by Run, counted in Consumer.lanes and waited for
// by stop after the scheduler's ending is done:
//
//	lane (Concurrency of them)  claim from the scheduler, run the pipeline
//	stuckWatch.watch            report stuck partitions
//	committer.marker            hand commit points to kgo
//	connectWatch.watchConnect   report a cluster never reached
//	watchTopics                 report consumed topics the cluster lacks
//	deadLetterer.checkDeadLetterTopic  halt on a missing dead-letter topic
//	replay.replayWatch          the replay gate's ramp, progress, metrics
//
// Run's own goroutine polls and dispatches (poll.go): the scheduler holds
// its lock while it dispatches, letting the lanes in every 128 records and
// waking one waiting lane each time; a woken lane that leaves keys ready
// wakes the next. Retry timers (afterLocked) are the scheduler's, stopped
// by stop. kgo runs the rebalance callbacks (assigned, revoked, lost) on
// its own goroutine while a poll is allowed to rebalance: never during a
// dispatch, but possibly while records are staged (poll.go says how those
// are told apart). Contexts the consumer keeps: the scheduler's ending
// (done when stopping begins) and the handlers' parent, stopCtx (bounds
// the stop), clientCtx (kgo's), and each partition's handler context.
//
// A record's offset becomes markable in one place: scheduler.finishLocked,
// for an outcome with done set (settleLocked). An outcome is done when the
// handler succeeded or the record was finished elsewhere (see
// finishedElsewhere): skipped, dead-lettered or expired.

// partState is one assigned partition. It lives from assignment to
// revocation. Its fields are the scheduler's (the key queues and their
// counts), and a share per room that keeps state about the partition;
// all are guarded by the scheduler's lock unless said otherwise.
type partState struct {
	tp       tp
	keys     map[string]*keyQueue
	keyless  map[*keyQueue]struct{} // nil-key records, one queue each
	inflight int
	idleKeys int // its empty key queues kept in keys (keepIdleLocked)
	revoked  bool
	parked   int         // keys waiting in afterLocked
	held     []*keyQueue // keys parked while the partition is paused
	hwm      int64       // high watermark of the last fetch (or lag.go's read), -1 before
	// committed is the group's committed offset as lag.go read it while
	// no record of the partition was dispatched (tracker.next < 0), -1
	// before or if none.
	committed int64
	fed       int       // recordBytes of every record dispatched, a running sum (detachIfWaiting)
	share     partShare // its part of the buffer, under a rate cap (fair.go)

	// ctx is the handlers' context for this partition's records, made
	// on first use (a partition can be assigned before Run): revoking the
	// partition cancels it at the drain deadline without touching other
	// partitions' handlers.
	ctx    context.Context
	cancel context.CancelFunc

	// tracker holds the commit point, moved by the scheduler as records
	// finish and read by the committer.
	tracker *tracker
	// q is the partition's quarantined keys (nil unless quarantining),
	// loaded from the quarantine store at assignment (quarantine.go).
	q *quarantine.Set

	commit  partCommit
	checker *partition.Checker // per-key sequences: its own lock (checks.checkSeq)
	// producers interns producer IDs; the poller's only (checks.parseHeaders).
	producers map[string]string
	met       partMetrics
	stuck     partStuck
	replay    partReplay    // replay.go
	txn       partTxn       // outputs waiting for their transaction (txn.go)
	lim       *rate.Limiter // PartitionRateLimit's bucket, made on first use: its own lock (replay_partition.go)
}

// partCommit is the committer's share of a partition.
type partCommit struct {
	dirty  bool // the commit point moved since it was last marked
	qDirty bool // the quarantine set changed since it was last flushed and committed
}

// partMetrics is the observer's share of a partition: its attribute sets,
// made once at assignment and immutable after.
type partMetrics struct {
	attrs       attribute.Set         // metric attributes of the partition
	record      []metric.RecordOption // the same with messaging.operation.name "process"
	add         []metric.AddOption    // attrs
	consumedSet attribute.Set         // attrs with messaging.operation.name "poll"
}

// partStuck is the stuck watcher's share of a partition (stuck.go).
type partStuck struct {
	progressNext int64     // commit point at the last progress check
	progressAt   time.Time // when the commit point last moved
	stuckSince   time.Time // zero unless reported stuck
}

// lag is the number of records between the high watermark and the lowest
// record not yet finished; ok is false until both are known.
func (ps *partState) lag() (int64, bool) {
	next := ps.tracker.next
	if next < 0 {
		next = ps.committed
	}
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
// An emptied queue is forgotten, or kept idle for the key's next record
// (lane.go's keepIdleLocked).
type keyQueue struct {
	ps        *partState
	key       string
	keyless   bool    // a nil-key record: no order to keep, queued alone
	items     []*item // pending records, head first: a window of buf
	buf       []*item // items' backing array (push)
	scheduled bool
	running   bool
	held      bool // in ps.held (control.go)
	idle      bool // empty, kept in ps.keys for the key's next record (keepIdleLocked)
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
	txn    txnShare    // its outputs under Transactional (txn.go)
	brk    *brkShare   // the breaker's (breaker.go): made on a first failure, or for a probe
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
