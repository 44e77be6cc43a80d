package consumer

import (
	"time"

	"golang.org/x/time/rate"
)

// Per-partition rate caps ([PartitionRateLimit]).
//
// [RateLimit] bounds what the whole consumer takes; a downstream sharded
// like the topic (a database per tenant, a service per region) needs a cap
// per partition instead, so that one partition's backlog cannot take
// another's share. Each partition has its own token bucket. A lane about
// to claim a key's head record reserves a token of the key's partition;
// if the token is not due yet, the key waits for it through the "not
// ready until T" seam (afterLocked) with the token reserved, exactly as a
// retry waits: its lane takes another ready key, other partitions flow,
// and no handler sleeps. Reservations are made in claim order, oldest
// ready key first, so a partition's records keep log order among its keys
// and its rate holds however many lanes there are.

// partRate is the per-partition cap's configuration; rate 0 for none.
type partRate struct {
	rate  float64
	burst int
	scope RateScope
}

// PartitionRateLimit caps the records per second taken from each
// partition, each with its own token bucket of burst tokens (at least 1;
// 0 picks perSecond/20): a key whose partition has spent its tokens waits,
// holding no lane, while keys of other partitions are taken. scope says
// whether a partition is capped only while it is in catch-up
// ([DuringCatchUp]) or always ([Always]). It composes with [RateLimit]:
// a record then needs a token of both. Expired records take no token.
//
// A partition over its cap waits without holding the others back: it
// holds at most its share of the buffer ([MaxBuffered] and
// [MaxBufferedBytes] split over the assigned partitions), beyond which
// its fetch is paused (never undoing a [Consumer.Pause]) while the other
// partitions' records are fetched, dispatched and handled (measured:
// every one of 500 live events on one partition within 2 s,
// while another caught up 20,000 records at 500/s, at its cap).
// Default: no cap.
func PartitionRateLimit(perSecond float64, burst int, scope RateScope) Option {
	return rateOption("PartitionRateLimit", perSecond, burst, scope, func(c *config, r float64, b int, s RateScope) {
		c.partRate = partRate{rate: r, burst: b, scope: s}
	})
}

// partitionWaitLocked reserves a token of kq's partition for it, the
// key's head record, and reports whether the key must wait for it: it is
// then back on the ready list when the token is due, with the token
// paid. Called by a lane about to claim it.
func (s *scheduler) partitionWaitLocked(kq *keyQueue, it *item, now time.Time) bool {
	pr := s.partRate
	ps := kq.ps
	if pr.rate == 0 || it.replay.paid || pr.scope == DuringCatchUp && ps.tracker.acct == nil {
		return false
	}
	if s.gate.expired(it.rec.Timestamp, now) {
		return false // an expired record costs the downstream nothing
	}
	if ps.lim == nil {
		ps.lim = rate.NewLimiter(rate.Limit(pr.rate), pr.burst)
	}
	it.replay.paid = true
	d := ps.lim.ReserveN(now, 1).DelayFrom(now)
	if d <= 0 {
		return false
	}
	s.afterLocked(d, kq)
	return true
}
