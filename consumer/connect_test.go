package consumer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
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

// TestRefusal protects the classification that lets Run stop at once
// (ErrRefused) on a refused login or handshake, and only then: kfake closes
// the connection on a wrong password, so the real-Kafka path is
// e2e TestSecureRefused; here each kind of error is classified.
func TestRefusal(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"SASL refused", fmt.Errorf("ping: %w", kerr.SaslAuthenticationFailed), true},
		{"SASL mechanism", kerr.UnsupportedSaslMechanism, true},
		{"unknown CA", &net.OpError{Op: "remote error", Err: x509.UnknownAuthorityError{}}, true},
		{"hostname", fmt.Errorf("tls: %w", x509.HostnameError{Host: "x"}), true},
		{"TLS alert", fmt.Errorf("handshake: %w", tls.AlertError(42)), true},
		{"EOF", io.EOF, false},
		{"dial refused", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, false},
		{"timeout", context.DeadlineExceeded, false},
		{"not leader", kerr.NotLeaderForPartition, false},
	} {
		if got := refusal(tc.err); got != tc.want {
			t.Errorf("%s: refusal(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
