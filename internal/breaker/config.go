package breaker

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of [Config]. The figures are tested in config_test.go.
const (
	// DefaultWindow is how far back the systemic signal looks. Long enough
	// that a handler whose attempts time out (one failure per lane per
	// timeout) still shows several keys failing; short enough that the
	// successes from before an outage leave the window, and the ratio
	// rises, within half a minute.
	DefaultWindow = 30 * time.Second
	// DefaultMinKeys is how many distinct keys must fail alike in the
	// window: one poison key, or a few bad ones, never open the breaker.
	// A consumer with fewer live keys than this never opens it and relies
	// on the retry budget alone.
	DefaultMinKeys = 5
	// DefaultMinRatio is the share of the window's attempts that must have
	// failed alike: "most keys failing", with room for a partial outage
	// (one shard of a database down) to stay closed and let healthy keys
	// flow.
	DefaultMinRatio = 0.8
	// DefaultProbeMin and DefaultProbeMax bound the wait before each
	// probe, doubling (DefaultProbeMultiplier) from the first: 1s, 2s, 4s,
	// 8s, 16s, then every 30s. A dependency that is back is noticed within
	// one wait (at most 30s; 11s for a 20-second outage), and a long outage
	// costs one probe record every 30 seconds.
	DefaultProbeMin        = time.Second
	DefaultProbeMax        = 30 * time.Second
	DefaultProbeMultiplier = 2.0
)

// ErrConfig wraps every problem [New] finds in a [Config].
var ErrConfig = errors.New("breaker: invalid config")

// Config configures a [Breaker]. A zero field takes its default.
type Config struct {
	// Window is the sliding window of the systemic signal. Default
	// [DefaultWindow].
	Window time.Duration
	// MinKeys is how many distinct keys must fail alike within Window.
	// Default [DefaultMinKeys].
	MinKeys int
	// MinRatio is the share of Window's attempts (successes and transient
	// failures) that must have failed alike, in (0, 1]. Default
	// [DefaultMinRatio].
	MinRatio float64
	// ProbeMin, ProbeMax and ProbeMultiplier shape the wait before each
	// probe: ProbeMin after opening, multiplied after each failed probe,
	// at most ProbeMax. Defaults [DefaultProbeMin], [DefaultProbeMax],
	// [DefaultProbeMultiplier].
	ProbeMin, ProbeMax time.Duration
	ProbeMultiplier    float64
	// Classify names an error's class: failures are alike when their
	// classes are equal. Default [Classify].
	Classify func(error) string
	// Now is the clock. Default time.Now; tests pass a fake one.
	Now func() time.Time
	// OnEvent, if set, receives every transition, once, in order, outside
	// the breaker's lock, on the goroutine of a caller that made one; its
	// calls are never concurrent nor nested. It may call the breaker back.
	OnEvent func(Event)
}

// withDefaults fills zero fields and reports every invalid one at once.
func (c Config) withDefaults() (Config, error) {
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.MinKeys == 0 {
		c.MinKeys = DefaultMinKeys
	}
	if c.MinRatio == 0 {
		c.MinRatio = DefaultMinRatio
	}
	if c.ProbeMin == 0 {
		c.ProbeMin = DefaultProbeMin
	}
	if c.ProbeMax == 0 {
		c.ProbeMax = max(DefaultProbeMax, c.ProbeMin)
	}
	if c.ProbeMultiplier == 0 {
		c.ProbeMultiplier = DefaultProbeMultiplier
	}
	if c.Classify == nil {
		c.Classify = Classify
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, c.validate()
}

func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if c.Window < 0 {
		bad("Window %v, want > 0", c.Window)
	}
	if c.MinKeys < 1 {
		bad("MinKeys %d, want >= 1", c.MinKeys)
	}
	if !(c.MinRatio > 0 && c.MinRatio <= 1) {
		bad("MinRatio %v, want in (0, 1]", c.MinRatio)
	}
	if c.ProbeMin < 0 || c.ProbeMax < c.ProbeMin {
		bad("probe backoff %v..%v", c.ProbeMin, c.ProbeMax)
	}
	if c.ProbeMultiplier < 1 {
		bad("ProbeMultiplier %v, want >= 1", c.ProbeMultiplier)
	}
	return errors.Join(errs...)
}
