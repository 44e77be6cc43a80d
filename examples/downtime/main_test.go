package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ordo-go/ordo/consumer"
)

// TestStory runs the example on the embedded cluster (short phases) and
// checks that it succeeds and prints every line of its summary.
func TestStory(t *testing.T) {
	var out, errw bytes.Buffer
	plot := filepath.Join(t.TempDir(), "rate.png")
	code := mainCode([]string{"-up", "1s", "-down", "3s", "-max-age", "4s", "-warmup", "1s", "-after", "500ms", "-plot", plot}, &out, &errw)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errw.String(), out.String())
	}
	for _, want := range []string{"\nbacklog ", "\nhandled ", "\nexpired ", "\ndead-lettered ", "\naccounted ", "\nrate limit 3000/s", "\nmeasured rate ", "\npeak heap ", "\nplot written to "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q line in:\n%s", strings.TrimSpace(want), out.String())
		}
	}
}

// TestProgressLine guards the progress line: the percent stops at 99.9
// while a partition is still in catch-up (and says why once the backlog
// is done), the handled rate is apart from the expired count, the ETA is
// at the rate the backlog shrinks (handled and expired), and a growth of
// the backlog is told.
func TestProgressLine(t *testing.T) {
	for _, c := range []struct {
		name  string
		st    consumer.ReplayStats
		shown int64
		want  string
	}{
		{"running", consumer.ReplayStats{Active: 6, Backlog: 10000, Handled: 2000, Expired: 3000, Remaining: 5000, Rate: 5000}, 10000,
			"catching up:  50.0% of 10000, 2999 handled/s, 3000 expired, ETA 1s"},
		{"grew", consumer.ReplayStats{Active: 6, Backlog: 12000, Handled: 2000, Expired: 3000, Remaining: 7000, Rate: 3500}, 10000,
			"catching up:  41.6% of 12000, 2999 handled/s, 3000 expired, ETA 2s (backlog grew by 2000: a partition entered catch-up)"},
		{"backlog done", consumer.ReplayStats{Active: 2, Backlog: 12000, Handled: 5000, Expired: 7000, Rate: 3000}, 12000,
			"catching up:  99.9% of 12000, 2999 handled/s, 7000 expired, backlog done: lag 1500, 2 partitions still over the catch-up threshold"},
	} {
		if got := progressLine(c.st, c.shown, 2999.4, 1500); got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}
