package kafkatest

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestBound runs a test that hangs past its bound in a child test binary:
// the child must exit with status 1 within seconds, naming the test and
// showing the stack of the goroutine that hangs. Without the bound the
// child would wait for the package timeout.
func TestBound(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestBoundChild$", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), "ORDO_BOUND_CHILD=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	t.Logf("child exited after %v: %v", took.Round(time.Millisecond), err)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("child exit = %v, want status 1; output:\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{
		"--- FAIL: TestBoundChild: still running 200ms",
		"kafkatest.hangForBoundTest", // the hung goroutine's stack
		"FAIL: TestBoundChild exceeded its bound of 200ms",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("child output lacks %q:\n%s", want, s)
		}
	}
	if took > time.Minute {
		t.Errorf("child took %v: the bound did not stop it, the package timeout did", took)
	}
}

// TestBoundChild hangs, in the child binary only (TestBound).
func TestBoundChild(t *testing.T) {
	if os.Getenv("ORDO_BOUND_CHILD") != "1" {
		return // run by TestBound in a child binary
	}
	boundGrace = 100 * time.Millisecond
	ctx := Bound(t, 100*time.Millisecond)
	<-ctx.Done()
	hangForBoundTest()
}

func hangForBoundTest() { <-make(chan struct{}) }
