package main

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"io"
	"time"

	"github.com/ordo-go/ordo/consumer"
)

// errFulfilmentDown is what the handler's fulfilment call returns while
// the service is down: the same for every order.
var errFulfilmentDown = errors.New("fulfilment: dial tcp 127.0.0.1:7070: connect: connection refused")

// The outage's shades on the plot: the service down, the breaker open
// (inside it: the breaker opens once most orders fail, and closes at the
// first probe after the service is back).
var (
	downBand    = color.NRGBA{R: 0xbc, G: 0xbd, B: 0x22, A: 0x38}
	breakerBand = color.NRGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0x30}
)

// outage takes the fulfilment service down for -outage after two seconds of
// live flow, brings it back, and shades the time the consumer's breaker
// was open (seen in its Lag, as an operator would). It fails if the
// breaker never opens, or is still open 30 s after the service is back.
func (s *story) outage(ctx context.Context, c *consumer.Consumer, out io.Writer) error {
	if s.cfg.outage <= 0 {
		return nil
	}
	if err := sleep(ctx, 2*time.Second); err != nil { // live flow first, clear of the catch-up's end on the plot
		return err
	}
	fmt.Fprintf(out, "fulfilment service down for %v: every order fails alike\n", s.cfg.outage)
	s.depDown.Store(true)
	serviceBack := s.spanFrom("fulfilment service down", downBand)
	back := time.Now().Add(s.cfg.outage)
	var end func()
	for {
		now := time.Now()
		if s.depDown.Load() && !now.Before(back) {
			s.depDown.Store(false)
			serviceBack()
			fmt.Fprintln(out, "fulfilment service back")
		}
		held := heldByBreaker(c)
		switch {
		case held && end == nil:
			end = s.spanFrom("breaker open", breakerBand)
			fmt.Fprintln(out, "breaker open: dispatch and fetching paused, one order probes the service")
		case !held && end != nil:
			end()
			fmt.Fprintln(out, "breaker closed: every order flows again, in order")
			return nil
		case end == nil && now.After(back.Add(5*time.Second)):
			return errors.New("the breaker did not open during the fulfilment outage")
		case now.After(back.Add(30 * time.Second)):
			return errors.New("the breaker is still open 30s after the fulfilment service came back")
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// heldByBreaker reports whether the consumer's breaker holds dispatch.
func heldByBreaker(c *consumer.Consumer) bool {
	for _, pl := range c.Lag() {
		if pl.HeldByBreaker {
			return true
		}
	}
	return false
}
