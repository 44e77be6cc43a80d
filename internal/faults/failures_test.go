//go:build integration && faults

package faults

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// tb is a scenario's *testing.T whose failures are also kept, so the
// suite can repeat them under its table: CI shows the end of a long log,
// and a failure printed minutes before the table would be cut off.
type tb struct{ *testing.T }

var failures struct {
	mu   sync.Mutex
	msgs []string
}

func (t tb) keep(msg string) {
	const max = 600
	if len(msg) > max {
		msg = msg[:max] + " …"
	}
	failures.mu.Lock()
	failures.msgs = append(failures.msgs, t.Name()+": "+msg)
	failures.mu.Unlock()
}

func (t tb) Errorf(format string, args ...any) {
	t.Helper()
	t.keep(fmt.Sprintf(format, args...))
	t.T.Errorf(format, args...)
}

func (t tb) Fatalf(format string, args ...any) {
	t.Helper()
	t.keep(fmt.Sprintf(format, args...))
	t.T.Fatalf(format, args...)
}

func (t tb) Fatal(args ...any) {
	t.Helper()
	t.keep(fmt.Sprint(args...))
	t.T.Fatal(args...)
}

// failureList is what failed, one line each, for the end of the log.
func failureList() string {
	failures.mu.Lock()
	defer failures.mu.Unlock()
	if len(failures.msgs) == 0 {
		return ""
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "faults: %d failure(s):\n", len(failures.msgs))
	for _, m := range failures.msgs {
		// One line each: the first line of the message.
		first, _, _ := strings.Cut(m, "\n")
		fmt.Fprintf(&sb, "  %s\n", first)
	}
	return sb.String()
}
