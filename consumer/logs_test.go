package consumer

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestLogLines protects the log's readability: the group appears once per
// line (the logger carries it), and a normal stop is not a warning. Every
// assign and revoke line used to carry group= twice, and a normal stop
// logged a "fetch error" warning.
func TestLogLines(t *testing.T) {
	for _, stop := range []string{"close", "shutdown", "cancel", "deadline"} {
		t.Run(stop, func(t *testing.T) {
			f := newFixture(t, 2)
			f.publish(4, 2)
			var logs syncBuffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			rec := newRecorder(nil)
			c := f.consumer("logs", rec.handle, WithLogger(log))
			ctx, cancel := context.WithCancel(context.Background())
			if stop == "deadline" {
				ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
			}
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			waitFor(t, 10*time.Second, "the records", func() bool { return rec.distinct() == 8 })
			time.Sleep(100 * time.Millisecond) // polls in flight when it stops
			switch stop {
			case "close":
				c.Close()
			case "shutdown":
				if err := c.Shutdown(context.Background()); err != nil {
					t.Fatal(err)
				}
			case "cancel":
				cancel()
			case "deadline": // Run's ctx ends by itself
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			out := logs.String()
			if !strings.Contains(out, "partitions assigned") {
				t.Fatalf("no assign line in:\n%s", out)
			}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if n := strings.Count(line, "group="); n > 1 {
					t.Errorf("group %d times: %s", n, line)
				}
				if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
					t.Errorf("a normal stop logged: %s", line)
				}
			}
		})
	}
}
