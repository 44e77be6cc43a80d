package consumer

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The committer: the room that turns finished offsets into commits.
//
// It owns the commit of every partition's commit point: marking them to
// kgo (its autocommit sends them every CommitInterval), or, when dead
// letters quarantine their keys, committing itself after writing the
// partitions' quarantine changes to the group's quarantine store
// (quarantine_store.go: Flush before, Committed after, one commit at a
// time, so the store is never behind a committed offset and a commit
// never passes the offsets flushed); the synchronous commits of a
// revoke and of the final stop; and the kgo calls that may outlive their
// bound (calls). The commit points themselves are the trackers'
// (tracker.go), moved by the scheduler as records finish: the committer
// reads them, and the partitions' dirty and qDirty flags, under the
// scheduler's lock (grabbed when a tick finds what moved and when a
// revoke or the stop takes the marks), and never calls kgo with it held.
//
// Goroutines: marker (run), started by Run, counted in Consumer.lanes,
// stopped when the scheduler's ending is done. A call await gave up on
// runs on in a goroutine of its own, counted in calls, until the client
// is closed or abandoned (Consumer.closeClient waits for them).
type committer struct {
	cl           *kgo.Client
	sched        *scheduler
	log          *slog.Logger
	every        time.Duration // CommitInterval
	quarantining bool          // flush the quarantine store before each commit (quarantine.go)
	quar         *quarantiner  // its store, when quarantining
	txn          *txnCommitter // commits by transactions (Transactional, txn.go); nil for none
	calls        sync.WaitGroup
	// one serializes the commits that flush the store: a partition's
	// Flush and commit must not overlap another's (the marker's tick
	// against a revoke's or the stop's commit), or an older commit point
	// could land after a newer one.
	one sync.Mutex
}

// marker hands finished commit points to kgo every quarter of the commit
// interval until the consumer stops. Marking in batches, not per record,
// keeps the lanes off kgo's locks.
func (cm *committer) marker() {
	t := time.NewTicker(cm.every / 4)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-cm.sched.ending.Done():
			return
		case <-t.C:
			if cm.txn != nil {
				cm.txn.tick()
			} else if !cm.quarantining {
				cm.markDirty()
			} else if n%4 == 0 { // the consumer commits itself, every CommitInterval
				cm.commitMoved(cm.sched.ending)
			}
		}
	}
}

// commitParts commits the commit points of parts (all partitions if nil)
// at once, synchronously: on a revoke, before the partitions are handed
// over, and at the final stop.
func (cm *committer) commitParts(ctx context.Context, parts []*partState) error {
	if cm.txn != nil {
		return cm.txn.commitParts(ctx, parts)
	}
	if cm.quarantining {
		cm.one.Lock()
		defer cm.one.Unlock()
	}
	cm.sched.mu.Lock()
	marks := cm.marksLocked(parts)
	cm.sched.mu.Unlock()
	if !cm.quarantining {
		cm.cl.MarkCommitOffsets(marks)
		return cm.await(ctx, func() error { return cm.cl.CommitMarkedOffsets(ctx) })
	}
	return cm.commitFlushed(ctx, marks)
}

// await runs call, a synchronous kgo commit, and returns its error, or
// ctx's cause as soon as ctx ends. kgo's sync commit first waits, without
// looking at its ctx, for the commit before it to be answered, and a
// connection that neither answers nor fails (a frozen broker host) never
// answers it: the call then goes on in a goroutine of its own, counted by
// c.calls, until the client is closed or abandoned (closeClient).
func (cm *committer) await(ctx context.Context, call func() error) error {
	done := make(chan error, 1)
	cm.calls.Add(1)
	go func() {
		defer cm.calls.Done()
		done <- call()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// commitMoved commits the partitions whose commit point or quarantined
// keys changed since their last commit, after flushing their quarantine
// changes. A failed flush or commit is tried again at the next tick.
func (cm *committer) commitMoved(ctx context.Context) {
	cm.one.Lock()
	defer cm.one.Unlock()
	cm.sched.mu.Lock()
	var moved []*partState
	for _, ps := range cm.sched.parts {
		if (ps.commit.dirty || ps.commit.qDirty) && !ps.revoked {
			ps.commit.dirty, ps.commit.qDirty = false, false
			moved = append(moved, ps)
		}
	}
	if len(moved) == 0 {
		cm.sched.mu.Unlock()
		return
	}
	marks := cm.marksLocked(moved)
	cm.sched.mu.Unlock()
	err := cm.commitFlushed(ctx, marks)
	if err == nil || ctx.Err() != nil {
		return
	}
	cm.log.Warn("commit failed, will retry", "error", err)
	cm.sched.mu.Lock()
	for _, ps := range moved {
		ps.commit.dirty, ps.commit.qDirty = true, true
	}
	cm.sched.mu.Unlock()
}

// commitFlushed writes the quarantine changes that committing marks
// passes to the store and waits for them (acks=all), then commits marks
// synchronously with empty metadata (clearing the set an older consumer
// kept there: the store has it now, merged at assignment), and confirms
// the commit to the store. Nothing is committed if the flush failed. The
// caller holds cm.one.
func (cm *committer) commitFlushed(ctx context.Context, marks map[string]map[int32]kgo.EpochOffset) error {
	if len(marks) == 0 {
		return nil
	}
	points, err := cm.quar.flush(ctx, marks)
	if err != nil {
		return err
	}
	if err := cm.commitEmptyMetadata(ctx, marks); err != nil {
		return err
	}
	cm.quar.committed(points)
	return nil
}

// commitEmptyMetadata commits marks synchronously, each partition with
// empty metadata (kgo.PreCommitFnContext sets it on the request), until
// ctx ends (see await).
func (cm *committer) commitEmptyMetadata(ctx context.Context, marks map[string]map[int32]kgo.EpochOffset) error {
	pctx := kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		for i := range req.Topics {
			t := &req.Topics[i]
			for j := range t.Partitions {
				empty := ""
				t.Partitions[j].Metadata = &empty
			}
		}
		return nil
	})
	return cm.await(ctx, func() error {
		var cerr error
		cm.cl.CommitOffsetsSync(pctx, marks, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				cerr = err
				return
			}
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if e := kerr.ErrorForCode(p.ErrorCode); e != nil && cerr == nil {
						cerr = fmt.Errorf("%s/%d: %w", t.Topic, p.Partition, e)
					}
				}
			}
		})
		return cerr
	})
}

// markDirty hands the commit points of partitions that moved to kgo, whose
// autocommit sends them every CommitInterval.
func (cm *committer) markDirty() {
	cm.sched.mu.Lock()
	var moved []*partState
	for _, ps := range cm.sched.parts {
		if ps.commit.dirty && !ps.revoked {
			ps.commit.dirty = false
			moved = append(moved, ps)
		}
	}
	var marks map[string]map[int32]kgo.EpochOffset
	if len(moved) > 0 {
		marks = cm.marksLocked(moved)
	}
	cm.sched.mu.Unlock()
	if marks != nil {
		cm.cl.MarkCommitOffsets(marks)
	}
}

// marksLocked returns the commit points of parts (all if nil).
func (cm *committer) marksLocked(parts []*partState) map[string]map[int32]kgo.EpochOffset {
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
		for _, ps := range cm.sched.parts {
			add(ps)
		}
	}
	for _, ps := range parts {
		add(ps)
	}
	return marks
}
