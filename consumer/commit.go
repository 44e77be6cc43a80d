package consumer

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// marker hands finished commit points to kgo every quarter of the commit
// interval until the consumer stops. Marking in batches, not per record,
// keeps the lanes off kgo's locks.
func (c *Consumer) marker() {
	defer c.lanes.Done()
	t := time.NewTicker(c.cfg.commitEvery / 4)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-c.sched.ending.Done():
			return
		case <-t.C:
			if !c.quarantining() {
				c.markDirty()
			} else if n%4 == 0 { // the consumer commits itself, every CommitInterval
				c.commitMoved(c.sched.ending)
			}
		}
	}
}

// commitParts commits the commit points of parts (all partitions if nil)
// at once, synchronously: on a revoke, before the partitions are handed
// over, and at the final stop.
func (c *Consumer) commitParts(ctx context.Context, parts []*partState) error {
	c.sched.mu.Lock()
	marks := c.marksLocked(parts)
	var md map[tp]string
	if c.quarantining() {
		md = c.metadataLocked(parts)
	}
	c.sched.mu.Unlock()
	if md == nil {
		c.cl.MarkCommitOffsets(marks)
		return c.await(ctx, func() error { return c.cl.CommitMarkedOffsets(ctx) })
	}
	return c.commitWithMetadata(ctx, marks, md)
}

// await runs call, a synchronous kgo commit, and returns its error, or
// ctx's cause as soon as ctx ends. kgo's sync commit first waits, without
// looking at its ctx, for the commit before it to be answered, and a
// connection that neither answers nor fails (a frozen broker host) never
// answers it: the call then goes on in a goroutine of its own, counted by
// c.calls, until the client is closed or abandoned (closeClient).
func (c *Consumer) await(ctx context.Context, call func() error) error {
	done := make(chan error, 1)
	c.calls.Add(1)
	go func() {
		defer c.calls.Done()
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
// keys changed since their last commit, each with its quarantine set. A
// failed commit is tried again at the next tick.
func (c *Consumer) commitMoved(ctx context.Context) {
	c.sched.mu.Lock()
	var moved []*partState
	for _, ps := range c.sched.parts {
		if (ps.dirty || ps.qDirty) && !ps.revoked {
			ps.dirty, ps.qDirty = false, false
			moved = append(moved, ps)
		}
	}
	if len(moved) == 0 {
		c.sched.mu.Unlock()
		return
	}
	marks := c.marksLocked(moved)
	md := c.metadataLocked(moved)
	c.sched.mu.Unlock()
	err := c.commitWithMetadata(ctx, marks, md)
	if err == nil || ctx.Err() != nil {
		return
	}
	c.log.Warn("commit failed, will retry", "error", err)
	c.sched.mu.Lock()
	for _, ps := range moved {
		ps.dirty, ps.qDirty = true, true
	}
	c.sched.mu.Unlock()
}

// metadataLocked returns the encoded quarantine set of each of parts
// (all partitions if nil): every commit of a partition carries its set,
// or the set is lost. Revoked partitions are no longer in c.sched.parts, so the
// caller passes their states.
func (c *Consumer) metadataLocked(parts []*partState) map[tp]string {
	md := make(map[tp]string)
	add := func(ps *partState) {
		if ps.q != nil {
			md[ps.tp] = ps.q.Encode()
		}
	}
	if parts == nil {
		for _, ps := range c.sched.parts {
			add(ps)
		}
	}
	for _, ps := range parts {
		add(ps)
	}
	return md
}

// commitWithMetadata commits marks synchronously, each partition with its
// metadata in md (kgo.PreCommitFnContext sets it on the request), until
// ctx ends (see await).
func (c *Consumer) commitWithMetadata(ctx context.Context, marks map[string]map[int32]kgo.EpochOffset, md map[tp]string) error {
	if len(marks) == 0 {
		return nil
	}
	pctx := kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		for i := range req.Topics {
			t := &req.Topics[i]
			for j := range t.Partitions {
				p := &t.Partitions[j]
				m := md[tp{t.Topic, p.Partition}]
				p.Metadata = &m
			}
		}
		return nil
	})
	return c.await(ctx, func() error {
		var cerr error
		c.cl.CommitOffsetsSync(pctx, marks, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
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
func (c *Consumer) markDirty() {
	c.sched.mu.Lock()
	var moved []*partState
	for _, ps := range c.sched.parts {
		if ps.dirty && !ps.revoked {
			ps.dirty = false
			moved = append(moved, ps)
		}
	}
	var marks map[string]map[int32]kgo.EpochOffset
	if len(moved) > 0 {
		marks = c.marksLocked(moved)
	}
	c.sched.mu.Unlock()
	if marks != nil {
		c.cl.MarkCommitOffsets(marks)
	}
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
		for _, ps := range c.sched.parts {
			add(ps)
		}
	}
	for _, ps := range parts {
		add(ps)
	}
	return marks
}
