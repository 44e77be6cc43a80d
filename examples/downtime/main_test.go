package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestStory runs the example on the embedded cluster (short phases) and
// checks that it succeeds and prints every line of its summary.
func TestStory(t *testing.T) {
	var out, errw bytes.Buffer
	code := mainCode([]string{"-up", "1s", "-down", "3s", "-max-age", "2s", "-warmup", "1s"}, &out, &errw)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errw.String(), out.String())
	}
	for _, want := range []string{"\nbacklog ", "\nhandled ", "\nexpired ", "\ndead-lettered ", "\naccounted ", "\nrate limit 3000/s", "\nmeasured rate ", "\npeak heap "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q line in:\n%s", strings.TrimSpace(want), out.String())
		}
	}
}
