package consumer

import "slices"

// The outputs' bound: what holds the outputs of a transactional
// consumer's finished records, waiting for their transaction, to half of
// MaxBufferedBytes.
//
// They count against MaxBufferedBytes with the records (bufBytes), so the
// poller stops fetching while records and outputs together fill half of
// it. That alone does not bound them: the records already buffered are
// still handled, and a record's outputs can be much larger than the
// record (a 50-byte input emitting 16 KiB made 12 MiB of outputs wait at
// a 1 MiB bound behind one unfinished record). So while the outputs alone
// fill half of MaxBufferedBytes, the lanes start no record but those the
// partitions' commits wait for: a key whose head is not its partition's
// lowest unfinished record is held (ps.held, as a paused partition's
// keys are), and the keys are put back on the ready list when a
// transaction, or a revoke, brings the outputs below the bound. The
// records the commits wait for always run, so the commit points move and
// the outputs are committed: the bound never stops the consumer. Once the
// outputs fill a quarter of MaxBufferedBytes, lanes claim one record at a
// time instead of batches (outputsNearLocked), so that beyond the bound
// the outputs grow by at most those of the records running when it was
// reached (one a lane) and of the records the commits wait for. All of it
// under the scheduler's lock.
type outputsBound struct {
	bytes int  // outputs waiting for their transaction, all partitions (also in bufBytes)
	held  bool // some key was held for them
}

// keepOutputsLocked keeps a finished record's outputs for its
// partition's transaction (txn.go), counted against MaxBufferedBytes.
// Called by finishLocked.
func (s *scheduler) keepOutputsLocked(ps *partState, it *item) {
	n := ps.txn.keepLocked(it)
	s.bufBytes += n
	s.outputs.bytes += n
}

// freeOutputsLocked uncounts n bytes of outputs, committed or dropped,
// and puts the keys held for them back on the ready list once the
// outputs are below the bound.
func (s *scheduler) freeOutputsLocked(n int) {
	s.bufBytes -= n
	s.outputs.bytes -= n
	if !s.outputs.held || s.outputs.bytes >= s.maxBufferedBytes/2 {
		return
	}
	s.outputs.held = false
	for _, ps := range s.parts {
		if len(ps.held) > 0 {
			// Keys held by Pause are held again when claimed (holdLocked).
			s.releaseHeldLocked(ps)
		}
	}
}

// releaseLowestLocked puts back on the ready list the key held for the
// outputs whose head is now ps's lowest unfinished record. That record
// always runs (overOutputsLocked lets it start), but a key held before
// its head became the lowest would otherwise wait for a release only a
// commit past that very record can bring: the consumer stalled with the
// outputs over the bound. A partition the user paused keeps its keys.
// Called by finishLocked, where the lowest moves.
func (s *scheduler) releaseLowestLocked(ps *partState) {
	if !s.outputs.held || len(ps.held) == 0 || s.paused.holds(ps.tp) {
		return
	}
	lowest, ok := ps.tracker.lowest()
	if !ok {
		return
	}
	for i, kq := range ps.held {
		if len(kq.items) == 0 || kq.items[0].rec.Offset != lowest {
			continue
		}
		ps.held = slices.Delete(ps.held, i, i+1)
		kq.held = false
		if !kq.scheduled {
			kq.scheduled = true
			s.ready.push(kq)
		}
		s.work.Broadcast()
		return
	}
}

// outputsNearLocked reports whether the outputs fill a quarter of
// MaxBufferedBytes: lanes then claim one record at a time, not batches
// (claimLocked), so that few records are claimed, and none in batches,
// when the outputs reach their bound.
func (s *scheduler) outputsNearLocked() bool {
	return s.outputs.bytes >= s.maxBufferedBytes/4
}

// overOutputsLocked reports whether kq's head must wait for the outputs
// to fall below the bound: they fill half of MaxBufferedBytes, and it is
// not the record its partition's commit waits for.
func (s *scheduler) overOutputsLocked(kq *keyQueue) bool {
	if s.outputs.bytes < s.maxBufferedBytes/2 || len(kq.items) == 0 {
		return false
	}
	lowest, ok := kq.ps.tracker.lowest()
	if ok && kq.items[0].rec.Offset == lowest {
		return false
	}
	s.outputs.held = true
	return true
}
