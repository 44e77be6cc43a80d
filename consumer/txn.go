package consumer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ordo-go/ordo/internal/quarantine"
	"github.com/ordo-go/ordo/producer"
)

// The transactional committer: exactly-once consume → publish.
//
// With [Transactional], the consumer's client is a kgo
// GroupTransactSession and a handler's outputs ([Emit]) wait with their
// input record. A record's outputs are its last successful attempt's
// (an attempt that fails drops what it emitted); when the record finishes
// they move to its partition's partTxn, counted against MaxBufferedBytes
// until they are committed. Each commit tick the committer takes every
// partition's commit point, writes the quarantine's changes below them to
// its store (with the dead-letter quarantine, see commit), begins a
// transaction, produces the outputs of
// the records below the points (each partition's in offset order, so a
// key's outputs keep their input's order), and ends it committing the
// points as the group's offsets (End(TryCommit)): the outputs become
// visible to read_committed readers exactly when their inputs' offsets
// commit. Outputs of finished records above an unfinished one wait, as
// their offsets do.
//
// A transaction that aborts (a rebalance began, the coordinator moved, a
// produce failed) makes nothing visible and commits nothing; the outputs
// stay with their partitions and the next tick tries them again, in a new
// transaction. kgo rewinds its fetch positions to the committed offsets on
// an abort: the records it fetches again are below the trackers' last
// offsets and are dropped at dispatch (schedule.go), so nothing is
// handled twice while the consumer keeps the partition. A revoked or lost
// partition's waiting outputs are dropped with it (rebalance.go): the next
// owner handles its records again from the last committed offset and
// emits their outputs anew. A member that outlives its session (a zombie)
// is fenced by the group's generation in the transactional offset commit
// (KIP-447), and a restarted member that reuses its transactional ID
// fences its predecessor's producer at once.
//
// The poller polls while the committer ends a transaction, which kgo
// documents as invalid for a GroupTransactSession: the only interaction is
// the rewind after an abort, and the trackers make a rewind harmless (see
// above).

// Transactional makes the consumer exactly-once from its input to the
// events its handlers emit with [Emit]: the outputs of a record become
// visible to read_committed readers in the same Kafka transaction that
// commits the record's offset, and never otherwise. The consumer reads
// its input read_committed too, so a pipeline of transactional consumers
// sees only committed events.
//
// id is the Kafka transactional ID and must be unique to each running
// member of the group (the pod's or host's name, say) and stable across
// its restarts: a restarted member fences its predecessor's unfinished
// transaction at once instead of after the transaction timeout. Two live
// members sharing an ID fence each other's transactions.
//
// A transaction runs every quarter of [CommitInterval] while some commit
// point moved (not while one is in flight: a rebalance holds the
// transaction until it is over), so an output becomes visible about that
// long, plus the transaction's own time, after its record and every
// record before it in its partition finished; outputs of a finished
// record above an unfinished one wait for it, as its offset does.
// Outputs waiting for their transaction count against [MaxBufferedBytes]
// with the records: the consumer stops fetching while they fill half of
// it. And while the outputs alone fill half of it, the lanes start no
// record but those the partitions' commits wait for (so the commits go
// on and free them), and claim records one at a time once they fill a
// quarter: outputs much larger than their inputs go beyond half of
// MaxBufferedBytes by at most the outputs of a record per lane (at 1 MiB,
// with 16 KiB of outputs per small record behind an unfinished one, under
// 580 KiB waited, TestTxnOutputsBoundHoldsLanes; the records already
// fetched made 12 MiB before the lanes were held).
//
// A transaction that aborts is tried again at the next tick with the same
// outputs. A rebalance aborts the transaction in flight, and a revoke
// commits nothing: the records of a partition that moved, from its last
// committed offset, are handled again by its next owner, which emits
// their outputs again. A handler should therefore emit the same outputs
// when it handles a record twice (or accept that the last handling's
// outputs are the ones that count). Side effects other than Emit are not
// in the transaction. A transactional error kgo cannot recover from halts
// the consumer: Run returns it.
//
// With a dead-letter topic, a record's dead letter is written (and
// acknowledged) outside the transaction, before the record finishes: a
// dead-lettered record has no outputs, and one handled again after a
// crash or a rebalance may be dead-lettered twice. Its key's quarantine
// (see [DeadLetterTopic]) is written to the group's quarantine store and
// acknowledged before each transaction that commits offsets past it, as
// before a plain commit, so a crash never commits past a dead-lettered
// record whose key's later records the next owner would then handle: they
// follow it into the dead-letter topic, in order, across restarts and
// rebalances. A store that does not take the changes holds the
// transaction back (nothing committed, no output visible) and is tried
// again at the next tick.
func Transactional(id string) Option {
	return optionFunc(func(c *config) { c.txnID, c.txnSet = id, true })
}

// txnStopGrace is how long a transaction in flight when the consumer
// begins to stop may go on. A transaction is otherwise not bounded: a
// rebalance that waits for a dead member's session to expire holds End
// (it waits for a heartbeat the group answers only after the rebalance),
// and cancelling End leaves kgo's client in an undefined state. Past the
// grace the transaction is abandoned: its outputs are not visible, and
// the next owner of its partitions handles their records again.
const txnStopGrace = 5 * time.Second

// Errors of [Emit].
var (
	// ErrNotTransactional is returned by Emit outside a handler of a
	// consumer made with [Transactional].
	ErrNotTransactional = errors.New("consumer: emit outside a transactional handler")
	// ErrEmitAfterReturn is returned by Emit after the handler whose ctx
	// it was given has returned.
	ErrEmitAfterReturn = errors.New("consumer: emit after the handler returned")
)

// Emit adds ev, framed by [producer.Publisher.Seal] (or
// [producer.UnorderedPublisher.Seal]), to the outputs of the record being
// handled; ctx must be the handler's ctx (or derived from it). The output
// is produced, in the order Emit was called, in the Kafka transaction
// that commits the record's offset (see [Transactional]); an attempt that
// fails drops its outputs, and a retry emits them anew. The record keeps
// the sealed key, value and headers; the partition is the key's under
// the topic's partition count when produced (murmur2, as a Publisher
// places it), and the record has no ordo-producer or ordo-seq headers
// (its order is the transaction's, not a producer's sequence).
//
// It returns [ErrNotTransactional] outside a transactional handler,
// [ErrEmitAfterReturn] once the handler returned, and an error wrapping
// [ErrInvalidConfig] for an event that Seal did not make. Emit is safe
// for concurrent use by a handler's goroutines; it does not block.
func Emit(ctx context.Context, ev producer.Sealed) error {
	em, _ := ctx.Value(emitKey{}).(*emitter)
	if em == nil {
		return ErrNotTransactional
	}
	if ev.Topic == "" || len(ev.Value) == 0 || ev.EventID == "" {
		return fmt.Errorf("%w: emit: not a sealed event (use Publisher.Seal)", ErrInvalidConfig)
	}
	r := &kgo.Record{Topic: ev.Topic, Key: ev.Key, Value: ev.Value, Headers: slices.Clone(ev.Headers), Timestamp: ev.Timestamp}
	n := len(r.Topic) + len(r.Key) + len(r.Value) + 64
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value) + 16
	}
	em.mu.Lock()
	defer em.mu.Unlock()
	if em.returned {
		return ErrEmitAfterReturn
	}
	em.out = append(em.out, r)
	em.bytes += n
	return nil
}

type emitKey struct{}

// emitter collects one handler attempt's outputs.
type emitter struct {
	mu       sync.Mutex
	out      []*kgo.Record
	bytes    int
	returned bool
}

// emitterFor gives a transactional consumer's handler attempt its
// emitter; ctx is returned unchanged, with a nil emitter, otherwise.
func emitterFor(cfg *config, ctx context.Context) (context.Context, *emitter) {
	if cfg.txnID == "" {
		return ctx, nil
	}
	em := &emitter{}
	return context.WithValue(ctx, emitKey{}, em), em
}

// txnShare is a record's outputs: its last successful attempt's.
type txnShare struct {
	out   []*kgo.Record
	bytes int
}

// take closes em and keeps its outputs for it if the attempt succeeded.
// The lane running it calls it after each attempt.
func (sh *txnShare) take(em *emitter, ok bool) {
	if em == nil {
		return
	}
	em.mu.Lock()
	em.returned = true
	out, n := em.out, em.bytes
	em.mu.Unlock()
	sh.out, sh.bytes = nil, 0
	if ok {
		sh.out, sh.bytes = out, n
	}
}

// partTxn is the transactional committer's share of a partition: the
// outputs of its finished records, waiting for a transaction to commit
// their offsets. Guarded by the scheduler's lock.
type partTxn struct {
	done  []txnDone // in finish order; sorted by offset when taken
	bytes int
}

type txnDone struct {
	offset int64
	out    []*kgo.Record
	bytes  int
}

// keepLocked moves a finished record's outputs to its partition and
// returns their bytes, to count against MaxBufferedBytes. Called by
// finishLocked.
func (pt *partTxn) keepLocked(it *item) int {
	if len(it.txn.out) == 0 {
		return 0
	}
	pt.done = append(pt.done, txnDone{offset: it.rec.Offset, out: it.txn.out, bytes: it.txn.bytes})
	pt.bytes += it.txn.bytes
	return it.txn.bytes
}

// dropLocked forgets a revoked or lost partition's waiting outputs (the
// next owner emits them again) and returns their bytes.
func (pt *partTxn) dropLocked() int {
	n := pt.bytes
	pt.done, pt.bytes = nil, 0
	return n
}

// txnCommitter commits by transactions (see the top of this file). Its
// mutex serialises the ticks' transactions with the stop's last one.
type txnCommitter struct {
	mu    sync.Mutex
	sess  *kgo.GroupTransactSession
	sched *scheduler
	log   *slog.Logger
	// quar, when dead letters quarantine their keys, has its store
	// flushed before each transaction (see commit); nil otherwise.
	quar *quarantiner
	// beforeEnd, if set, runs after a transaction's outputs are flushed
	// and before it ends: the tests' kill point.
	beforeEnd func()
}

// txnPart is one partition's share of a transaction.
type txnPart struct {
	ps  *partState
	n   int   // its first n waiting outputs are in the transaction
	off int64 // the commit point
}

// tick runs the commit tick's transaction. An error halts the consumer,
// unless the consumer is stopping and the grace cut the transaction.
func (tc *txnCommitter) tick() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := context.AfterFunc(tc.sched.ending, func() { time.AfterFunc(txnStopGrace, cancel) })
	defer stop()
	err := tc.commit(ctx)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		tc.log.Warn("transaction abandoned at the stop", "error", err)
	case errors.Is(err, errNotFlushed):
		tc.log.Warn("transaction not begun: the quarantine store did not take its changes, will retry", "error", err)
	default:
		tc.sched.mu.Lock()
		tc.sched.haltLocked(err)
		tc.sched.mu.Unlock()
	}
}

// errNotFlushed is wrapped by commit's error when the quarantine store
// did not take the changes of a transaction's commit points: no
// transaction was begun, and the next tick tries again.
var errNotFlushed = errors.New("consumer: quarantine store not flushed")

// commit runs one transaction for the partitions whose commit point (or
// quarantine) moved: it produces their finished outputs below the points
// and commits the points. An abort keeps the outputs for the next
// transaction; the error is kgo's, which it cannot recover from, or
// errNotFlushed.
//
// With the quarantine, the store takes the changes the points pass
// before the transaction begins, exactly as before a plain commit
// (commitFlushed): a transaction never commits an offset past a
// dead-lettered record whose key's quarantine is not durable, and a
// crash or an abort after the flush leaves the store ahead of the
// committed offsets, which the store reads back as of the committed
// offset (internal/quarantine's doc, "Store: write before commit"). tc.mu
// keeps one flush and its confirmation at a time. A revoke does not take
// tc.mu (it commits nothing, see commitParts) and releases its partitions
// from the store while a flush may be in flight: that flush's records
// are one more store ahead of the committed offsets.
//
// The next owner loads the sets as of the group's committed offsets
// without waiting for a transaction still open (a dead member's stays
// open for the transaction timeout, 40 s, longer than the load may take),
// while kgo waits for it before it resumes. If that transaction then
// commits (its end was under way at the rebalance), the owner resumes
// past sets it read as of the offsets before: a quarantine started in
// between holds, but one lifted in between holds again, and the key's
// later records are dead-lettered behind it (to be redriven again). Order
// is never broken; the cost is extra dead letters.
func (tc *txnCommitter) commit(ctx context.Context) error {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	parts, recs, marks := tc.take()
	if len(parts) == 0 {
		return nil
	}
	var points map[quarantine.TP]int64
	if tc.quar != nil {
		var err error
		if points, err = tc.quar.flush(ctx, marks); err != nil {
			tc.settle(parts, false)
			return fmt.Errorf("%w: %w", errNotFlushed, err)
		}
	}
	committed, err := tc.run(ctx, recs, marks)
	if committed && tc.quar != nil {
		tc.quar.committed(points)
	}
	tc.settle(parts, committed)
	if err != nil {
		return fmt.Errorf("consumer: transaction: %w", err)
	}
	return nil
}

// take collects, under the scheduler's lock, the moved commit points and
// the outputs below them.
func (tc *txnCommitter) take() ([]txnPart, []*kgo.Record, map[string]map[int32]kgo.EpochOffset) {
	s := tc.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []txnPart
	var recs []*kgo.Record
	marks := make(map[string]map[int32]kgo.EpochOffset)
	for _, ps := range s.parts {
		off, epoch, ok := ps.tracker.commitPoint()
		if !(ps.commit.dirty || ps.commit.qDirty) || ps.revoked || !ok {
			continue
		}
		ps.commit.dirty, ps.commit.qDirty = false, false
		d := ps.txn.done
		slices.SortFunc(d, func(a, b txnDone) int { return cmp.Compare(a.offset, b.offset) })
		n, _ := slices.BinarySearchFunc(d, off, func(e txnDone, off int64) int { return cmp.Compare(e.offset, off) })
		for _, e := range d[:n] {
			recs = append(recs, e.out...)
		}
		parts = append(parts, txnPart{ps: ps, n: n, off: off})
		if marks[ps.tp.topic] == nil {
			marks[ps.tp.topic] = make(map[int32]kgo.EpochOffset)
		}
		marks[ps.tp.topic][ps.tp.partition] = kgo.EpochOffset{Epoch: epoch, Offset: off}
	}
	return parts, recs, marks
}

// run is one transaction: begin, produce recs, mark the points, end.
func (tc *txnCommitter) run(ctx context.Context, recs []*kgo.Record, marks map[string]map[int32]kgo.EpochOffset) (bool, error) {
	if err := tc.sess.Begin(); err != nil {
		return false, err
	}
	var (
		wg      sync.WaitGroup
		errMu   sync.Mutex
		prodErr error
	)
	for _, r := range recs {
		wg.Add(1)
		// A fresh record each time: kgo keeps a record's first ctx, and
		// an aborted transaction's outputs are produced again.
		r := &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp}
		tc.sess.Produce(ctx, r, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				errMu.Lock()
				prodErr = cmpOr(prodErr, err)
				errMu.Unlock()
			}
		})
	}
	if err := tc.sess.Client().Flush(ctx); err != nil {
		_, _ = tc.sess.End(ctx, kgo.TryAbort)
		return false, err
	}
	wg.Wait()
	if tc.beforeEnd != nil {
		tc.beforeEnd()
	}
	ready := offsetsSent(tc.sess.Client(), marks)
	try := kgo.TransactionEndTry(prodErr == nil && ready)
	if prodErr != nil {
		tc.log.Warn("transaction aborted: an output was not produced, will retry", "error", prodErr)
	}
	var sent bool
	ectx := kgo.PreTxnCommitFnContext(ctx, func(req *kmsg.TxnOffsetCommitRequest) error {
		req.Topics, sent = txnTopics(marks), true
		return nil
	})
	committed, err := tc.sess.End(ectx, try)
	switch {
	case err != nil:
		return false, err
	case committed && !sent:
		return false, errors.New("outputs committed without their offsets (kgo sent no offset commit)")
	case !committed && prodErr == nil && ready:
		tc.log.Info("transaction aborted (a rebalance or the coordinator), will retry")
	}
	return committed, nil
}

// offsetsSent reports whether End will send an offset commit for every
// partition of marks. The session commits the offsets kgo polled, and
// sends no commit for a partition polled no further than its committed
// offset (just after an aborted transaction rewound it): the request, if
// sent, carries the commit points instead (txnTopics), but one that is
// not sent would commit the outputs without their offsets. Such a
// transaction is aborted and tried again once the poller has moved on.
func offsetsSent(cl *kgo.Client, marks map[string]map[int32]kgo.EpochOffset) bool {
	polled := cl.UncommittedOffsets()
	for t, ps := range marks {
		for p := range ps {
			if _, ok := polled[t][p]; !ok {
				return false
			}
		}
	}
	return true
}

// txnTopics is the offset commit of the commit points marks, which
// replaces the one kgo made of the offsets it polled.
func txnTopics(marks map[string]map[int32]kgo.EpochOffset) []kmsg.TxnOffsetCommitRequestTopic {
	var out []kmsg.TxnOffsetCommitRequestTopic
	for t, ps := range marks {
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = t
		for p, eo := range ps {
			rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = p, eo.Offset, eo.Epoch
			rt.Partitions = append(rt.Partitions, rp)
		}
		out = append(out, rt)
	}
	return out
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// settle drops the committed outputs, or marks the partitions to be
// tried again.
func (tc *txnCommitter) settle(parts []txnPart, committed bool) {
	s := tc.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range parts {
		ps := p.ps
		if ps.revoked {
			continue // dropLocked counted its outputs out
		}
		if !committed {
			ps.commit.dirty = true
			continue
		}
		freed := 0
		for _, e := range ps.txn.done[:p.n] {
			freed += e.bytes
		}
		clear(ps.txn.done[:p.n])
		ps.txn.done = ps.txn.done[p.n:]
		ps.txn.bytes -= freed
		s.freeOutputsLocked(freed)
	}
	s.space.Broadcast()
}

// newClient makes the consumer's kgo client: a GroupTransactSession's
// with [Transactional], a plain one otherwise.
func (c *Consumer) newClient() (*kgo.Client, *kgo.GroupTransactSession, error) {
	opts := c.kgoOpts()
	if c.cfg.txnID == "" {
		cl, err := kgo.NewClient(opts...)
		return cl, nil, err
	}
	// kgo fetches offsets with RequireStable always: a member assigned a
	// partition whose offset commit is in an open transaction waits for
	// it to end.
	opts = append(opts, kgo.TransactionalID(c.cfg.txnID), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return nil, nil, err
	}
	return sess.Client(), sess, nil
}

// txnErrs checks the transactional options.
func (c *config) txnErrs() []error {
	switch {
	case !c.txnSet:
		return nil
	case c.txnID == "":
		return []error{errors.New("transactional ID is empty")}
	}
	return nil
}

// commitParts is the committer's synchronous commit under Transactional.
// The stop's (parts nil) is one last transaction. A revoke's commits
// nothing: kgo runs the revoke callback holding the session's lock, which
// ending a transaction takes, and the revoke aborts the transaction in
// flight anyway; the revoked partitions' finished records after the last
// commit are handled again by their next owner.
func (tc *txnCommitter) commitParts(ctx context.Context, parts []*partState) error {
	if parts != nil {
		return nil
	}
	return tc.commit(ctx)
}
