package schema

import (
	"errors"
	"testing"
)

// TestDecodeErrorOffset protects DecodeError.Offset's contract: how far
// into the body the decoder got. It was -1 for every body (issue 19).
func TestDecodeErrorOffset(t *testing.T) {
	c := mustCodec[Created](t, createdV1)
	v := sampleCreated()
	good, err := c.AppendEncode(nil, &v)
	if err != nil {
		t.Fatal(err)
	}
	n := len(good)
	tests := []struct {
		name string
		body []byte
		at   int // want; -1: anywhere from 1 to len(body)
	}{
		{"empty", nil, 0},
		// A cut body stops where the value that does not fit starts:
		// a string's length is checked against the bytes left before
		// the string is read.
		{"cut in half", good[:n/2], -1},
		{"last byte missing", good[:n-1], -1},
		{"trailing byte", append(append([]byte{}, good...), 0), n},
		{"bad enum index", corruptStatus(t, c), 14}, // the index is byte 13
		{"huge string length", []byte{0xfe, 0xff, 0xff, 0xff, 0x0f}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out Created
			var de *DecodeError
			if err := c.Decode(tt.body, &out); !errors.As(err, &de) {
				t.Fatalf("err = %v, want a *DecodeError", err)
			}
			if tt.at >= 0 && de.Offset != tt.at {
				t.Fatalf("Offset = %d for %d bytes (%v), want %d", de.Offset, len(tt.body), de, tt.at)
			}
			if tt.at < 0 && (de.Offset < 1 || de.Offset > len(tt.body)) {
				t.Fatalf("Offset = %d for %d bytes (%v), want 1 to %d", de.Offset, len(tt.body), de, len(tt.body))
			}
		})
	}
}
