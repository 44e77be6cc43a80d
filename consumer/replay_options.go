package consumer

import (
	"fmt"
	"math"
	"time"
)

// ExpirePolicy says what happens to a record older than [MaxAge] when a
// lane is about to take it. Either way it is not handled, it is counted
// ([ReplayStats].Expired, the ordo.replay.skipped metric with reason
// "expired") and its offset is committed like a handled record's.
type ExpirePolicy int

const (
	// ExpireSkip passes an expired record over: counted and logged (the
	// first per catch-up and partition, then in the catch-up summary).
	ExpireSkip ExpirePolicy = iota
	// ExpireDeadLetter writes an expired record to the dead-letter topic
	// with reason "expired" and finishes it once the write is
	// acknowledged. It needs a dead-letter topic. An expired record does
	// not quarantine its key: expiry is not a failure, and the key's
	// records inside the window are handled.
	ExpireDeadLetter
)

func (p ExpirePolicy) String() string {
	switch p {
	case ExpireSkip:
		return "skip"
	case ExpireDeadLetter:
		return "dead-letter"
	}
	return fmt.Sprintf("ExpirePolicy(%d)", int(p))
}

// RateScope says when [RateLimit] applies.
type RateScope int

const (
	// DuringCatchUp limits dispatch while any partition is in catch-up.
	DuringCatchUp RateScope = iota
	// Always limits dispatch all the time.
	Always
)

func (s RateScope) String() string {
	switch s {
	case DuringCatchUp:
		return "during-catch-up"
	case Always:
		return "always"
	}
	return fmt.Sprintf("RateScope(%d)", int(s))
}

// replayConfig is the replay part of the consumer's configuration.
type replayConfig struct {
	backlogRecords int64         // catch-up threshold in records; 0 ignores records
	backlogAge     time.Duration // catch-up threshold in age; 0 ignores age
	rate           float64       // records/s; 0: no limit
	burst          int
	scope          RateScope
	warmup         time.Duration // slow start; 0: all lanes at once
	maxAge         time.Duration // 0: no age window
	expire         ExpirePolicy
	floor          time.Time // zero: no floor
	progressEvery  time.Duration
}

// Defaults of the replay options.
const (
	DefaultCatchUpRecords   = 10_000
	DefaultCatchUpAge       = time.Minute
	DefaultProgressInterval = 10 * time.Second
)

func replayDefaults() replayConfig {
	return replayConfig{
		backlogRecords: DefaultCatchUpRecords,
		backlogAge:     DefaultCatchUpAge,
		progressEvery:  DefaultProgressInterval,
	}
}

// CatchUpThreshold sets when a partition is in catch-up: when its backlog
// (from the committed offset to the high watermark, measured at its first
// fetch after each assignment) reaches records, or its oldest unprocessed
// record is at least age old. A partition in catch-up leaves it when the
// backlog measured at the start is all finished and its lag is back under
// records (and, with age set, its oldest unfinished record is younger than
// age). 0 ignores that measure; both 0 turns detection off. Catch-up
// start and end are logged with the backlog, its age, the expected
// duration at the partition's share of the caps (the [RateLimit] split
// over the assigned partitions, or its [PartitionRateLimit] if smaller)
// and, at the end, how every record of the backlog ended. Default [DefaultCatchUpRecords] or [DefaultCatchUpAge].
func CatchUpThreshold(records int64, age time.Duration) Option {
	return optionFunc(func(c *config) {
		if records < 0 || age < 0 {
			c.fail("CatchUpThreshold: %d records, %v: want >= 0", records, age)
			return
		}
		c.replay.backlogRecords, c.replay.backlogAge = records, age
	})
}

// RateLimit caps the records per second the consumer's lanes take, with a
// token bucket of burst tokens (at least 1; 0 picks perSecond/20): a lane
// waits for a token before it takes the next ready key, so handlers never
// sleep and a waiting lane holds no key. scope says whether the cap
// applies only while a partition is in catch-up ([DuringCatchUp]) or
// always ([Always]). Expired records take no token. Default: no cap.
//
// The cap is shared, not bypassed: keys of partitions not in catch-up are
// served before any backlog's, so a partition with no backlog has its
// events handled within a token's wait (measured: every one of 500 live
// events within 2 s while another partition caught up at a
// 500/s cap), and the catch-up takes the rest of the cap; together they
// stay under it. A partition held back by the cap (in catch-up, or any
// with [Always]) holds at most its share of the buffer, [MaxBuffered] and
// [MaxBufferedBytes] split over the assigned partitions; beyond it its
// fetch is paused, so the other partitions' records are fetched and
// dispatched meanwhile.
func RateLimit(perSecond float64, burst int, scope RateScope) Option {
	return rateOption("RateLimit", perSecond, burst, scope, func(c *config, r float64, b int, s RateScope) {
		c.replay.rate, c.replay.burst, c.replay.scope = r, b, s
	})
}

// rateOption validates a rate cap's settings and, if they hold, sets them
// with set, burst 0 made perSecond/20 (at least 1).
func rateOption(name string, perSecond float64, burst int, scope RateScope, set func(*config, float64, int, RateScope)) Option {
	return optionFunc(func(c *config) {
		switch {
		case perSecond <= 0 || math.IsInf(perSecond, 0) || math.IsNaN(perSecond):
			c.fail("%s: %v records/s, want > 0", name, perSecond)
		case burst < 0:
			c.fail("%s: burst %d, want >= 0", name, burst)
		case scope != DuringCatchUp && scope != Always:
			c.fail("%s: unknown scope %d", name, scope)
		default:
			if burst == 0 {
				burst = max(1, int(perSecond/20))
			}
			set(c, perSecond, burst, scope)
		}
	})
}

// SlowStart opens the lanes gradually when Run starts, so a cold
// downstream is not hit by every lane at once: one lane at first, then
// linearly more until all [Concurrency] lanes take work at the end of
// warmup (lane n of N opens at (n-1)/(N-1) of warmup). Lanes above the
// allowed count are parked: they take no work. Default 0: all at once.
func SlowStart(warmup time.Duration) Option {
	return optionFunc(func(c *config) {
		if warmup < 0 {
			c.fail("SlowStart: %v, want >= 0", warmup)
			return
		}
		c.replay.warmup = warmup
	})
}

// MaxAge sets the age window: a record whose timestamp is more than d old
// when a lane is about to take it is not handled; p says whether it is
// skipped or dead-lettered with reason "expired". It is never passed over
// silently: see [ExpirePolicy]. Default 0: no window.
func MaxAge(d time.Duration, p ExpirePolicy) Option {
	return optionFunc(func(c *config) {
		switch {
		case d <= 0:
			c.fail("MaxAge: %v, want > 0", d)
		case p != ExpireSkip && p != ExpireDeadLetter:
			c.fail("MaxAge: unknown policy %v", p)
		default:
			c.replay.maxAge, c.replay.expire = d, p
		}
	})
}

// ReplayFloor sets a "do not replay before t" floor: a partition whose
// next record (at its committed offset, or its start) is older than t
// starts at the first offset at or after t instead (Kafka's list offsets
// by time). The offsets passed over are counted ([ReplayStats].Floor, the
// ordo.replay.skipped metric with reason "floor"), logged, and committed.
// Default: no floor.
func ReplayFloor(t time.Time) Option {
	return optionFunc(func(c *config) {
		if t.IsZero() {
			c.fail("ReplayFloor: zero time")
			return
		}
		c.replay.floor = t
	})
}

// ProgressInterval sets how often catch-up progress is logged while a
// partition is in catch-up: the share of the backlog accounted for (its
// denominator grows only when a partition enters, and the line names it;
// never 100% until the last catch-up ends, which one line at 100% tells),
// the backlog's records handled and expired, the consumer's handled rate
// over the last second (the rate the cap holds: expired records take no
// token, so they are counted apart), the lag of the partitions in
// catch-up (what they still have to do, records that arrived since
// included) and the ETA until it is under the threshold, at the rate it
// shrank over the last second. Default [DefaultProgressInterval].
func ProgressInterval(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 {
			c.fail("ProgressInterval: %v, want > 0", d)
			return
		}
		c.replay.progressEvery = d
	})
}

// errs returns the problems of the replay configuration that only show
// once every option is applied.
func (r *replayConfig) errs(deadLetterTopic bool) []error {
	var errs []error
	if r.maxAge > 0 && r.expire == ExpireDeadLetter && !deadLetterTopic {
		errs = append(errs, fmt.Errorf("MaxAge with ExpireDeadLetter: %w", errNoDeadLetter))
	}
	return errs
}

// enabled reports whether any replay behaviour needs the dispatch gate.
func (r *replayConfig) enabled() bool {
	return r.backlogRecords > 0 || r.backlogAge > 0 || r.rate > 0 || r.warmup > 0 || r.maxAge > 0 || !r.floor.IsZero()
}
