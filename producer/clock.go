package producer

import (
	"sync/atomic"
	"time"
)

// wallClock tells the wall-clock time for event IDs and record timestamps
// at the cost of one monotonic clock read. time.Now reads two clocks, wall
// and monotonic (~60 ns here, the largest single step of a publish); kgo
// would read it again for the record's timestamp had ordo not set it.
//
// The time is the wall clock read at the last anchor plus the monotonic
// time elapsed since; it re-anchors every anchorEvery, so a step of the
// wall clock (NTP, an operator) shows within that, and the drift of a
// slewed clock in between is at most a few tens of microseconds, far below
// the milliseconds IDs and timestamps carry.
type wallClock struct {
	anchor atomic.Pointer[clockAnchor]
}

type clockAnchor struct {
	wall time.Time     // the wall clock, without its monotonic reading
	mono time.Duration // monoNow when wall was read
}

const anchorEvery = 100 * time.Millisecond

// now returns the wall-clock time, without a monotonic reading. It is
// safe for concurrent use.
func (c *wallClock) now() time.Time { return c.at(monoNow()) }

// at is now for a monoNow reading the caller has already taken.
func (c *wallClock) at(mono time.Duration) time.Time {
	a := c.anchor.Load()
	if a == nil || mono-a.mono >= anchorEvery || mono < a.mono {
		w := time.Now()
		a = &clockAnchor{wall: w.Round(0), mono: w.Sub(epoch)}
		c.anchor.Store(a) // a race between publishers stores one of two valid anchors
		return a.wall
	}
	return a.wall.Add(mono - a.mono)
}
