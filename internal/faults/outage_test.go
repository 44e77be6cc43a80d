//go:build integration && faults

package faults

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// The outage scenario (issue 21): the consumer's handler depends on a
// "database" the runner takes down, by a file the worker looks for
// (-down-file), while the producer publishes: for 2–2.5 minutes in the short
// form, for about five minutes in the long one. The breaker must open,
// probe and close, and then every record be handled: 0 lost, 0
// dead-lettered (the run has a dead-letter topic, so a record whose
// retries were spent would be there), 0 order violations. The table's
// breaker column is the time the breaker was open, read from the
// workers' "breaker closed" lines.
func init() {
	scenarios = append(scenarios, scenario{name: "dependency-outage", members: 1, maxUnexplained: noUnexplained,
		deadLetters: true, outage: true, inject: func(ctx context.Context, r *run) {
			r.waitHandled(0, 100, time.Minute)
			down := r.between(2*time.Minute, 2*time.Minute+30*time.Second)
			if r.form.name == longForm.name {
				down = r.between(5*time.Minute, 5*time.Minute+30*time.Second)
			}
			r.dependencyDown(down)
		}})
}

// downFile is the file whose presence takes the members' dependency down.
func (r *run) downFile() string { return filepath.Join(r.dir, "dependency.down") }

// dependencyDown takes the dependency down for d, then brings it back.
func (r *run) dependencyDown(d time.Duration) {
	if err := os.WriteFile(r.downFile(), nil, 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.t.Logf("dependency down for %v", d.Round(time.Second))
	time.Sleep(d)
	if err := os.Remove(r.downFile()); err != nil {
		r.t.Fatal(err)
	}
	r.t.Logf("dependency back")
}

// breakerOpenFor sums the open time of every "breaker closed" line the
// members logged, and counts the openings.
func (r *run) breakerOpenFor() (open time.Duration, opens int) {
	b, err := os.ReadFile(filepath.Join(r.dir, "consumer.log"))
	if err != nil {
		r.t.Fatal(err)
	}
	openFor := regexp.MustCompile(`open_for=(\S+)`)
	for l := range strings.Lines(string(b)) {
		switch {
		case strings.Contains(l, `msg="breaker open:`):
			opens++
		case strings.Contains(l, `msg="breaker closed:`):
			if m := openFor.FindStringSubmatch(l); m != nil {
				d, err := time.ParseDuration(m[1])
				if err != nil {
					r.t.Errorf("breaker line %q: %v", l, err)
				}
				open += d
			}
		}
	}
	return open, opens
}
