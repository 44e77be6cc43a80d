package telemetry

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

type classed struct{}

func (classed) Error() string      { return "classed" }
func (classed) ErrorClass() string { return "my_class" }

type typed struct{}

func (*typed) Error() string { return "typed" }

// TestErrorClass protects the shared classifier: no wrapper type (the
// "*errors.joinError" label seen on every failed attempt) ever names a
// class, and self-classifying errors win.
func TestErrorClass(t *testing.T) {
	sentinel := errors.New("mine")
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"join of typed", errors.Join(&typed{}, errors.New("x")), "*telemetry.typed"},
		{"wrapped typed", fmt.Errorf("a: %w", fmt.Errorf("b: %w", &typed{})), "*telemetry.typed"},
		{"join in wrap", fmt.Errorf("a: %w", errors.Join(nil, &typed{})), "*telemetry.typed"},
		{"classifier", fmt.Errorf("a: %w", classed{}), "my_class"},
		{"kafka code", fmt.Errorf("a: %w", kerr.NotLeaderForPartition), "NOT_LEADER_FOR_PARTITION"},
		{"deadline", fmt.Errorf("a: %w", context.DeadlineExceeded), "timeout"},
		{"canceled", errors.Join(context.Canceled), "canceled"},
		{"caller class", fmt.Errorf("a: %w", sentinel), "mine_class"},
		{"plain", errors.New("x"), "*errors.errorString"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ErrorClass(tc.err, Class{Err: sentinel, Name: "mine_class"})
			if got != tc.want {
				t.Fatalf("ErrorClass = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"http://user:s3cret@127.0.0.1:8081": "http://user:xxxxx@127.0.0.1:8081",
		"http://127.0.0.1:8081":             "http://127.0.0.1:8081",
		"not a url":                         "not a url",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
