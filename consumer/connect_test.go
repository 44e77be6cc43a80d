package consumer

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// closedPort returns 127.0.0.1:port where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestUnreachableCluster: with brokers that do not answer, or refuse the
// credentials, Run used to log nothing and never return. The failure is
// logged within seconds (and kgo's own warnings reach the logger), and
// Run returns ErrUnreachable wrapping the cause after UnreachableAfter.
func TestUnreachableCluster(t *testing.T) {
	f := newFixture(t, 1)
	tests := []struct {
		name    string
		brokers []string
		opts    []Option
	}{
		{"closed port", []string{closedPort(t)}, nil},
		{"SASL refused", f.cluster.Brokers(), []Option{SASL(plain.Auth{User: "u", Pass: "wrong"}.AsMechanism())}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			opts := append([]Option{Brokers(tt.brokers...), Group("g"), Topics(f.topic), Registry(f.reg),
				On(f.codec, newRecorder(nil).handle), UnreachableAfter(1500 * time.Millisecond),
				WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))}, tt.opts...)
			c, err := New(opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			done := make(chan error, 1)
			start := time.Now()
			go func() { done <- c.Run(context.Background()) }()
			waitFor(t, 3*time.Second, "a warning", func() bool { return strings.Contains(logs.String(), "cannot reach the cluster") })
			select {
			case err := <-done:
				if !errors.Is(err, ErrUnreachable) {
					t.Fatalf("Run = %v, want ErrUnreachable", err)
				}
				t.Logf("after %v: %v", time.Since(start).Round(time.Millisecond), err)
			case <-time.After(15 * time.Second):
				t.Fatal("Run did not return")
			}
			if tt.name == "closed port" && !strings.Contains(logs.String(), "source=kgo") {
				t.Errorf("no kgo line reached the logger:\n%s", logs.String())
			}
		})
	}
}
