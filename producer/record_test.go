package producer

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestNewEventID protects the ordo-id contract: RFC 9562 version 7 and
// variant, the current Unix millisecond in the first 48 bits, and no
// repeats.
func TestNewEventID(t *testing.T) {
	before := time.Now().UnixMilli()
	seen := make(map[uuid.UUID]bool, 100000)
	for range 100000 {
		u := newEventID(time.Now())
		if u.Version() != 7 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("%s: version %d variant %v", u, u.Version(), u.Variant())
		}
		if seen[u] {
			t.Fatalf("%s repeated", u)
		}
		if got := string(appendUUID([]byte("x"), u)); got != "x"+u.String() {
			t.Fatalf("appendUUID %s, want x%s", got, u)
		}
		seen[u] = true
	}
	u := newEventID(time.Now())
	after := time.Now().UnixMilli()
	sec, nsec := u.Time().UnixTime()
	ms := sec*1000 + nsec/1e6
	if ms < before || ms > after {
		t.Fatalf("timestamp %d outside [%d, %d]", ms, before, after)
	}
	if got := string(appendUUID(nil, u)); got != u.String() {
		t.Fatalf("appendUUID %s, want %s", got, u.String())
	}
}
