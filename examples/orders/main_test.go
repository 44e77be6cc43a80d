package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"
	"time"
)

// TestRun runs the example end to end on the embedded cluster: every event
// published is consumed, and no order sees its lifecycle out of turn.
func TestRun(t *testing.T) {
	cfg, err := parseFlags([]string{"-orders", "400", "-lanes", "32", "-latency", "1ms"})
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
		`order violations 0 \(lifecycle seen by the handler\), 0 \(per-key sequence checks\)`,
	} {
		if !regexp.MustCompile(want).Match(out.Bytes()) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-brokers", "127.0.0.1:9092"}, // a registry is needed too
		{"-orders", "0"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("parseFlags(%q) accepted bad flags", args)
		}
	}
}
