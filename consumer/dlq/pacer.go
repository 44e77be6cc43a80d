package dlq

import (
	"context"

	"golang.org/x/time/rate"
)

// newPace returns the redrive's rate limit: a token bucket with a burst of
// one, which is what a redrive into a live service wants (no spike at the
// start); nil for no limit (a rate of zero or less).
func newPace(perSecond float64) *rate.Limiter {
	if perSecond <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(perSecond), 1)
}

// waitPace waits for lim's next token, or returns ctx's error.
func waitPace(ctx context.Context, lim *rate.Limiter) error {
	if lim == nil {
		return nil
	}
	return lim.Wait(ctx)
}
