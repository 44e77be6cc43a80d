package dlq

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestErrorsSayDlqOnce protects the messages a person reads: each says
// "dlq: " once, however many layers wrapped it, and says what failed.
func TestErrorsSayDlqOnce(t *testing.T) {
	e := newEnv(t)
	closed, err := New(Brokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	for _, tt := range []struct {
		name string
		call func() error
		want string
	}{
		{"no brokers", func() error { _, err := New(); return err }, "dlq: invalid configuration: no brokers"},
		{"missing topic", func() error { _, err := e.dlq.List(ctx, "ordrs.dlt"); return err }, `dlq: topic "ordrs.dlt" does not exist: UNKNOWN_TOPIC_OR_PARTITION`},
		{"redrive without a group", func() error { _, err := e.dlq.Redrive(ctx, RedriveConfig{Topic: dlt}); return err },
			"dlq: invalid configuration: no group to record progress in"},
		{"closed", func() error { _, err := closed.List(ctx, dlt); return err }, "dlq: client closed"},
		{"malformed header", func() error { return &HeaderError{Header: "kafka_dlt-original-offset", Reason: "4 bytes, want 8"} },
			"dlq: header kafka_dlt-original-offset: 4 bytes, want 8"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to start %q", err, tt.want)
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if n := strings.Count(line, "dlq:"); n != 1 {
					t.Fatalf("%q says dlq: %d times", line, n)
				}
			}
		})
	}
}
