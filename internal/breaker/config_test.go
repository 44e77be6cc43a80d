package breaker

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The documented defaults are what a zero Config gets.
func TestDefaults(t *testing.T) {
	c, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Window != 30*time.Second || c.MinKeys != 5 || c.MinRatio != 0.8 ||
		c.ProbeMin != time.Second || c.ProbeMax != 30*time.Second || c.ProbeMultiplier != 2 {
		t.Fatalf("defaults %+v", c)
	}
	if c.Window != DefaultWindow || c.MinKeys != DefaultMinKeys || c.MinRatio != DefaultMinRatio ||
		c.ProbeMin != DefaultProbeMin || c.ProbeMax != DefaultProbeMax || c.ProbeMultiplier != DefaultProbeMultiplier {
		t.Fatal("defaults differ from the Default constants")
	}
}

// New reports every bad field at once, each wrapping ErrConfig.
func TestConfigInvalid(t *testing.T) {
	_, err := New(Config{Window: -1, MinKeys: -1, MinRatio: 1.5, ProbeMin: 2 * time.Second, ProbeMax: time.Second, ProbeMultiplier: 0.5})
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("err %v, want ErrConfig", err)
	}
	for _, want := range []string{"Window", "MinKeys", "MinRatio", "probe backoff", "ProbeMultiplier"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}
