package kafkatest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"testing"
	"time"
)

// boundGrace is how long past its ctx's end [Bound] gives a test to
// report the end and run its cleanups before the test binary is stopped.
// A variable only for Bound's own test.
var boundGrace = 2 * time.Minute

// Bound makes a test unable to hang its package. It returns a context that
// ends after d (and when t ends), for the test's work: a wait that outlives
// it fails the test with the test's own message. If t (its subtests and its
// cleanups included) is still running 2 minutes after that, every
// goroutine's stack is written to stderr under a line that names t, and
// the test binary exits with status 1. Go's -timeout does the same only
// for a whole package: one hung test used to take all of the package's 20
// minutes, and the other tests' reports with it.
//
// Call it first in the test: its cleanup, registered first, runs last, so
// the bound also covers cleanups that wait (a Close on a frozen
// connection).
func Bound(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	name, start := t.Name(), time.Now()
	hard := d + boundGrace
	timer := time.AfterFunc(hard, func() { boundExceeded(name, hard, start) })
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(func() {
		cancel()
		timer.Stop()
	})
	return ctx
}

// boundExceeded reports a hung test and stops the test binary: the hung
// goroutine cannot be made to return, and the package timeout would only
// come later, with the same dump.
func boundExceeded(name string, d time.Duration, start time.Time) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "\n--- FAIL: %s: still running %v after it started at %s (kafkatest.Bound): a hang; every goroutine follows\n\n",
		name, d, start.Format(time.TimeOnly))
	_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
	fmt.Fprintf(&b, "\nFAIL: %s exceeded its bound of %v; the test binary exits\n", name, d)
	_, _ = os.Stderr.Write(b.Bytes())
	os.Exit(1)
}
