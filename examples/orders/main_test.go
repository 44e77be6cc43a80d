package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ordo-go/ordo/internal/embedded"
)

// TestRun runs the example end to end on the embedded cluster and holds
// its summary to the story the README and issue #10 tell: retries
// happen, poison is dead-lettered with its reasons and quarantines its
// orders, the redrive after the fix brings all but the unreadable record's
// chain back, nothing is lost and no order sees its lifecycle out of turn.
func TestRun(t *testing.T) {
	cfg, err := parseFlags([]string{"-orders", "400", "-lanes", "32", "-latency", "1ms"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, cfg, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		`\npublished 1200 events`,
		`\ninjected 3 poison records .*1 not Avro \[order-00057\], 2 OrderAudited.*\[order-00171 order-00285\]\n`,
		`\nrejected the payment of order-00200 `,
		// 1200 lifecycle events and 3 injected: all handled but the
		// unreadable record and the two events of its order behind it.
		`\nconsumed 1200 events with 32 lanes`,
		// 2% of about 1200 attempts: none at all is a broken handler.
		`\nretried [1-9]\d* `,
		// One dead letter per poison record and for the rejected payment;
		// behind them 2 later events of each poisoned order and 1 of the
		// rejected one.
		`\ndead-lettered 11 \(permanent 1, unframe 1, no-handler 2, quarantined 7\) to "orders.dlt"\n`,
		`\nquarantined keys 4 `,
		`\nredriven 8 of the 11 dead letters this run wrote \(3 passed over: the unreadable record's chain; 3 quarantined keys lifted\)\n`,
		`\nlost 0 \(of 1203 events: 1200 handled, 3 held in "orders.dlt"\)\n`,
		// The README promises a summary ending in the violations.
		`\norder violations 0 \(lifecycle seen by the handler\), 0 \(per-key sequence checks\)\n$`,
	} {
		if !regexp.MustCompile(want).Match(out.Bytes()) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestLossFails protects the exit code: an event that is neither handled
// nor in the dead-letter topic (here a handler that acknowledges an
// OrderShipped without recording it) is counted as lost, named, and the
// command exits 1.
func TestLossFails(t *testing.T) {
	cfg, err := parseFlags([]string{"-orders", "100", "-latency", "0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.loseEvent = "order-00000"
	var stdout, stderr bytes.Buffer
	if code := runCode(cfg, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d with an event lost, want 1\n%s\n%s", code, stdout.String(), stderr.String())
	}
	if !regexp.MustCompile(`\nlost 1 \(of 303 events: 299 handled, 3 held in "orders.dlt"\)\n`).Match(stdout.Bytes()) {
		t.Errorf("summary does not count the lost event:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "1 events lost, e.g. event ") {
		t.Errorf("error does not name the lost event: %s", stderr.String())
	}
}

// TestRunTwiceOnOneTopic protects runs repeated with the same -topic on
// one cluster: the existing topics are reused (it used to fail with "topic
// already exists"), and each run tells its own story, the same story: its
// group starts where the topic ended when the run started, and its redrive
// reads only the dead letters it wrote. A run used to consume every
// earlier run's events again, dead-letter their poison again and redrive
// it, so from the fourth run the loop guard held two orders while the
// summary still said "every chain but the unreadable record's" (issue 22).
func TestRunTwiceOnOneTopic(t *testing.T) {
	c, err := embedded.Start(embedded.Config{Brokers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	args := []string{"-brokers", strings.Join(c.Brokers(), ","), "-registry", c.RegistryURL(),
		"-topic", "shared", "-partitions", "4", "-orders", "100", "-latency", "0"}
	for i := range 4 {
		cfg, err := parseFlags(args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var out bytes.Buffer
		err = run(ctx, cfg, &out)
		cancel()
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, out.String())
		}
		for _, want := range []string{
			`\nconsumed 300 events with 64 lanes`,
			`\ndead-lettered 11 \(permanent 1, unframe 1, no-handler 2, quarantined 7\) to "shared.dlt"\n`,
			`\nredriven 8 of the 11 dead letters this run wrote \(3 passed over: the unreadable record's chain; 3 quarantined keys lifted\)\n`,
			`\nlost 0 \(of 303 events: 300 handled, 3 held in "shared.dlt"\)\n`,
		} {
			if !regexp.MustCompile(want).Match(out.Bytes()) {
				t.Fatalf("run %d: output lacks %q:\n%s", i+1, want, out.String())
			}
		}
		if strings.Contains(out.String(), "earlier runs") {
			t.Fatalf("run %d consumed events of earlier runs:\n%s", i+1, out.String())
		}
	}
}

// TestDefaultTopicsDiffer protects two runs started in the same second
// against a real cluster: each gets a topic of its own.
func TestDefaultTopicsDiffer(t *testing.T) {
	c, err := embedded.Start(embedded.Config{Brokers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	args := []string{"-brokers", strings.Join(c.Brokers(), ","), "-registry", c.RegistryURL(), "-partitions", "1"}
	topics := map[string]bool{}
	for range 3 {
		cfg, err := parseFlags(args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		_, cleanup, err := setup(context.Background(), &cfg)
		if err != nil {
			t.Fatal(err)
		}
		cleanup()
		topics[cfg.topic] = true
	}
	if len(topics) != 3 {
		t.Fatalf("three runs got topics %v, want three different ones", topics)
	}
}

// TestExitCodes protects the command's exit codes: -h prints the usage and
// exits 0 (it used to exit 2), bad flags exit 2.
func TestExitCodes(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want int
	}{
		{[]string{"-h"}, 0},
		{[]string{"-help"}, 0},
		{[]string{"-orders", "0"}, 2},
		{[]string{"-no-such-flag"}, 2},
	} {
		var stderr bytes.Buffer
		if got := mainCode(tt.args, io.Discard, &stderr); got != tt.want {
			t.Errorf("%q: exit %d, want %d\n%s", tt.args, got, tt.want, stderr.String())
		}
		if tt.want == 0 && !strings.Contains(stderr.String(), "-topic") {
			t.Errorf("%q: no usage printed:\n%s", tt.args, stderr.String())
		}
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-brokers", "127.0.0.1:9092"}, // a registry is needed too
		{"-orders", "0"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted bad flags", args)
		}
	}
}
