package consumer

import "sync/atomic"

type counters struct {
	fetched, handled, retries, failed, skipped, dropped, abandoned, orderViolations, handedOver, countChanges, placement, deadLettered, quarantineFull atomic.Int64
}

// Stats counts what a consumer has done since it was created.
type Stats struct {
	Fetched         int64 // records polled
	Handled         int64 // records whose handler succeeded
	Retries         int64 // failed handler attempts that were retried
	Failed          int64 // records that could not be handled (see OnFailure)
	Skipped         int64 // failed records passed over under the Skip policy
	Dropped         int64 // records released unstarted on revoke or shutdown, for redelivery
	Abandoned       int64 // records whose handler was cancelled by a stop or a revoke
	HandedOver      int64 // handlers still running when their partition was handed over (they ignored their cancelled ctx)
	OrderViolations int64 // per-key sequence gaps and regressions seen in the log
	// PartitionCountChanges counts records stamped (ordo-partitions) with
	// a partition count this consumer had not seen for their topic before
	// (after the first): the count changed under an ordered stream.
	PartitionCountChanges int64
	// PlacementViolations counts stamped records whose key does not hash
	// to their partition under the stamped count.
	PlacementViolations int64
	// DeadLettered counts records written to the dead-letter topic,
	// quarantined ones included.
	DeadLettered int64
	// QuarantineFull counts dead letters whose key found its partition's
	// quarantine at [QuarantineMaxKeys]: the consumer halted
	// ([ErrQuarantineFull]), the key's order kept.
	QuarantineFull int64
}

// Stats returns the consumer's counters. It is safe to call at any time.
func (c *Consumer) Stats() Stats {
	s := &c.stats
	return Stats{
		Fetched: s.fetched.Load(), Handled: s.handled.Load(), Retries: s.retries.Load(),
		Failed: s.failed.Load(), Skipped: s.skipped.Load(), Dropped: s.dropped.Load(),
		Abandoned: s.abandoned.Load(), OrderViolations: s.orderViolations.Load(),
		HandedOver: s.handedOver.Load(), PartitionCountChanges: s.countChanges.Load(),
		PlacementViolations: s.placement.Load(), DeadLettered: s.deadLettered.Load(),
		QuarantineFull: s.quarantineFull.Load(),
	}
}
