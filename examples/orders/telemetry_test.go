package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTraceFlag: -trace prints a tree per traced event in which the
// consumer's process span and the handler's attempt spans (one, or more
// when the example's transient failure hit it) sit under the producer's
// send span, all in one trace.
func TestTraceFlag(t *testing.T) {
	cfg, err := parseFlags([]string{"-orders", "50", "-trace", "-latency", "0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), cfg, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	tree := regexp.MustCompile(`(?m)^trace [0-9a-f]{32}\n  order order-0000[01] created \[internal\].*\n    send orders \[producer\].*\n      process orders \[consumer\].*ordo.outcome=handled(?:\n        handle example.orders.OrderCreated \[internal\].*ordo.attempt=\d+.*)+$`)
	if got := len(tree.FindAllString(out.String(), -1)); got != tracedOrders {
		t.Fatalf("found %d created-event trees, want %d:\n%s", got, tracedOrders, out.String())
	}
	if n := strings.Count(out.String(), "\ntrace "); n != 3*tracedOrders {
		t.Fatalf("%d traces printed, want %d", n, 3*tracedOrders)
	}
}

// TestMetricsEndpoint scrapes the Prometheus endpoint while the example
// holds it open and finds the consumer's lag and the messaging counters.
// The summary is printed before the hold, not held back by it, and
// Ctrl-C (ctx cancelled) ends the hold without failing the run.
func TestMetricsEndpoint(t *testing.T) {
	cfg, err := parseFlags([]string{"-orders", "100", "-latency", "0", "-metrics-addr", "127.0.0.1:0", "-hold", "10m"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, &out) }()
	addr := regexp.MustCompile(`serving metrics at (http://127\.0\.0\.1:\d+/metrics)`)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "holding the metrics endpoint") {
		if time.Now().After(deadline) {
			t.Fatalf("the example did not reach its hold:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !regexp.MustCompile(`order violations 0 .*\nholding the metrics endpoint`).MatchString(out.String()) {
		t.Errorf("the summary does not come before the hold:\n%s", out.String())
	}
	m := addr.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no metrics address in:\n%s", out.String())
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`ordo_consumer_lag{`,
		`messaging_client_consumed_messages_total{`,
		`messaging_client_sent_messages_total{`,
		`messaging_process_duration_seconds_bucket{`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if !regexp.MustCompile(`messaging_client_consumed_messages_total\{[^}]*messaging_destination_name="orders"[^}]*\} \d+`).Match(body) {
		t.Errorf("consumed counter lacks its destination:\n%s", grep(string(body), "consumed"))
	}
	cancel() // Ctrl-C ends the hold
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after Ctrl-C during the hold: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Ctrl-C did not end the hold")
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
