package breaker_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/ordo-go/ordo/internal/breaker"
)

// The consumer's side of the seam, over a database that is down for 20
// seconds: lanes report failures until the breaker opens (one line), the
// poll loop hands out probes on the backoff, and the first probe after
// the database is back closes it (one line).
func Example() {
	now := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	start := now
	b, err := breaker.New(breaker.Config{
		Now: func() time.Time { return now },
		OnEvent: func(e breaker.Event) {
			switch e.Kind {
			case breaker.EventOpened:
				fmt.Printf("%v breaker opened: %s: %v\n", e.At.Sub(start), e.Reason, e.Err)
			case breaker.EventProbeFailed:
				fmt.Printf("%v probe %d failed, next in %v\n", e.At.Sub(start), e.Probes, e.NextProbe.Sub(e.At))
			case breaker.EventClosed:
				fmt.Printf("%v breaker closed: %s after %v\n", e.At.Sub(start), e.Reason, e.OpenFor)
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	dbBack := start.Add(20 * time.Second)
	handle := func() error {
		if now.Before(dbBack) {
			return errors.New("dial tcp 10.0.0.7:5432: connect: connection refused")
		}
		return nil
	}
	for k := 0; b.Allow(); k++ { // lanes: each key's record fails
		if v := b.Failure([]byte(fmt.Sprint("key-", k)), handle()); v == breaker.Hold {
			fmt.Printf("key-%d held, not charged\n", k)
		}
	}
	for !b.Allow() { // the poll loop: sleep until the next probe, dispatch one record
		next, _ := b.NextProbe()
		now = next
		p, _ := b.Probe()
		if err := handle(); err != nil {
			p.Failed(err)
		} else {
			p.Succeeded()
		}
	}
	fmt.Println("open for", b.Snapshot().OpenTotal)
	// Output:
	// 0s breaker opened: 5 keys failed alike within 30s (100% of attempts): dial tcp 10.0.0.7:5432: connect: connection refused
	// key-4 held, not charged
	// 1s probe 1 failed, next in 2s
	// 3s probe 2 failed, next in 4s
	// 7s probe 3 failed, next in 8s
	// 15s probe 4 failed, next in 16s
	// 31s breaker closed: probe succeeded after 31s
	// open for 31s
}
