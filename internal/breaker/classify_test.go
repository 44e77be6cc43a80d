package breaker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

// Errors of one outage are alike across keys; errors that say different
// things are not.
func TestClassify(t *testing.T) {
	tests := []struct {
		name  string
		a, b  error
		alike bool
	}{
		{"addresses differ", dbDown(1), dbDown(2), true},
		{"record IDs differ", errors.New("user 17 not found"), errors.New("user 4242 not found"), true},
		{"uuids differ", errors.New("order 0190b2c4-7d1e-7a3b-9f00-1a2b3c4d5e6f locked"), errors.New("order 0190b2c4-7d1e-7a3b-9f00-ffffffffffff locked"), true},
		{"wrapped differently", fmt.Errorf("a: %w", context.DeadlineExceeded), fmt.Errorf("b: %w", context.DeadlineExceeded), true},
		{"status codes", errors.New("HTTP 503"), errors.New("HTTP 404"), true},
		{"types", &fs.PathError{Op: "open", Path: "x", Err: fs.ErrNotExist}, errors.New("open x: file does not exist"), false},
		{"messages", errors.New("connection refused"), errors.New("permission denied"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca, cb := Classify(tt.a), Classify(tt.b)
			if (ca == cb) != tt.alike {
				t.Fatalf("Classify: %q vs %q, want alike=%v", ca, cb, tt.alike)
			}
		})
	}
	if Classify(nil) != "" {
		t.Fatal("nil error has a class")
	}
	long := errors.New(string(make([]byte, 1000)))
	if n := len(Classify(long)); n > maxClassLen {
		t.Fatalf("class of %d bytes, want <= %d", n, maxClassLen)
	}
}
