package consumer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/schema"
)

// TestValidateNamesTheProblem protects New's errors: each names what is
// wrong. Topics("") reported "dead-letter topic  is also consumed" (the
// empty name matched the unset dead-letter topic); a metadata age out of
// franz-go's range is refused by New, not by the client later.
func TestValidateNamesTheProblem(t *testing.T) {
	codec, err := schema.NewCodec[Step](stepSchema)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := schema.NewRegistry([]string{"http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	h := func(context.Context, Step, Meta) error { return nil }
	base := []Option{Brokers("127.0.0.1:1"), Group("g"), Registry(reg), On(codec, h)}
	tests := []struct {
		name     string
		opts     []Option
		want     string
		wantNot  string
		accepted bool
	}{
		{"empty topic", []Option{Topics("")}, "empty topic name", "dead-letter", false},
		{"empty topic beside one", []Option{Topics("a", "")}, "empty topic name", "dead-letter", false},
		{"dead-letter topic consumed", []Option{Topics("a"), DeadLetterTopic("a")}, "dead-letter topic a is also consumed", "", false},
		{"metadata age too short", []Option{Topics("a"), MetadataMaxAge(time.Millisecond)}, "MetadataMaxAge: 1ms", "", false},
		{"metadata age too long", []Option{Topics("a"), MetadataMaxAge(2 * time.Hour)}, "MetadataMaxAge: 2h0m0s", "", false},
		{"metadata age below kgo's min age", []Option{Topics("a"), MetadataMaxAge(time.Second)}, "", "", true},
		// What MetadataMaxAge's doc says of the escape hatch.
		{"kgo's max age alone below its min age", []Option{Topics("a"), KgoOpts(kgo.MetadataMaxAge(time.Second))}, "erroneously less than metadata min age", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(append(base[:len(base):len(base)], tt.opts...)...)
			if tt.accepted {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				c.Close()
				return
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("New: %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %q, want it to say %q", err, tt.want)
			}
			if tt.wantNot != "" && strings.Contains(err.Error(), tt.wantNot) {
				t.Fatalf("New: %q, must not say %q", err, tt.wantNot)
			}
		})
	}
}
