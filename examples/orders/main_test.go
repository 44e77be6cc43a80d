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

// TestRun runs the example end to end on the embedded cluster: every event
// published is consumed, and no order sees its lifecycle out of turn.
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
		`published\s+1200 events`,
		`consumed\s+1200 events with 32 lanes`,
		// The README promises a summary ending in the violations.
		`order violations 0 \(lifecycle seen by the handler\), 0 \(per-key sequence checks\)\n$`,
	} {
		if !regexp.MustCompile(want).Match(out.Bytes()) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestRunTwiceOnOneTopic protects a second run with the same -topic on one
// cluster: the existing topic is reused (it used to fail with "topic
// already exists"), and the events of the first run, consumed again by the
// second run's new group, are not counted as its own.
func TestRunTwiceOnOneTopic(t *testing.T) {
	c, err := embedded.Start(embedded.Config{Brokers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	args := []string{"-brokers", strings.Join(c.Brokers(), ","), "-registry", c.RegistryURL(),
		"-topic", "shared", "-partitions", "4", "-orders", "100", "-latency", "0"}
	for i, want := range []string{`consumed\s+300 events with 64 lanes.*\ndur`, `consumed\s+300 events .*\n\s+\(and 300 events of earlier runs`} {
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
		if !regexp.MustCompile(want).Match(out.Bytes()) {
			t.Fatalf("run %d: output lacks %q:\n%s", i+1, want, out.String())
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
