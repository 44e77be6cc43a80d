package consumer

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// marker hands finished commit points to kgo every quarter of the commit
// interval until the consumer stops. Marking in batches, not per record,
// keeps the lanes off kgo's locks.
func (c *Consumer) marker() {
	defer c.lanes.Done()
	t := time.NewTicker(c.cfg.commitEvery / 4)
	defer t.Stop()
	for {
		select {
		case <-c.stopped:
			return
		case <-t.C:
			c.markDirty()
		}
	}
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
