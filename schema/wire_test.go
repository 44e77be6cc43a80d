package schema

import (
	"bytes"
	"errors"
	"testing"
)

// TestUnframe protects the wire format's header parsing and its typed errors.
func TestUnframe(t *testing.T) {
	tests := []struct {
		name     string
		value    []byte
		wantID   int
		wantBody []byte
		wantErr  error
		wantMsg  string
	}{
		{name: "valid", value: []byte{0, 0, 0, 1, 2, 0xAA}, wantID: 258, wantBody: []byte{0xAA}},
		{name: "max id", value: []byte{0, 0x7f, 0xff, 0xff, 0xff}, wantID: 1<<31 - 1, wantBody: []byte{}},
		{name: "empty body is not a frame error", value: []byte{0, 0, 0, 0, 7}, wantID: 7, wantBody: []byte{}},
		{name: "nil", value: nil, wantErr: ErrEmptyValue, wantMsg: "frame: empty value (value of 0 bytes)"},
		{name: "empty", value: []byte{}, wantErr: ErrEmptyValue},
		{name: "json", value: []byte(`{"a":1}` + "                                   "), wantErr: ErrBadMagic,
			wantMsg: "frame: magic byte 0x7b, want 0x00 (value of 42 bytes)"},
		{name: "short", value: []byte{0, 0, 1}, wantErr: ErrTruncated, wantMsg: "frame: header needs 5 bytes, have 3 (value of 3 bytes)"},
		{name: "magic only", value: []byte{0}, wantErr: ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, body, err := Unframe(tt.value)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				var fe *FrameError
				if !errors.As(err, &fe) || fe.Len != len(tt.value) {
					t.Fatalf("err = %#v, want *FrameError with Len %d", err, len(tt.value))
				}
				if tt.wantMsg != "" && err.Error() != tt.wantMsg {
					t.Fatalf("message = %q, want %q", err.Error(), tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unframe: %v", err)
			}
			if id != tt.wantID || !bytes.Equal(body, tt.wantBody) {
				t.Fatalf("got (%d, %x), want (%d, %x)", id, body, tt.wantID, tt.wantBody)
			}
		})
	}
}

// TestAppendHeaderRoundTrip protects the header layout: magic byte then a
// big-endian ID, appended without disturbing what dst already holds.
func TestAppendHeaderRoundTrip(t *testing.T) {
	for _, id := range []int{0, 1, 255, 256, 65536, 1<<31 - 1} {
		dst := AppendHeader([]byte("x"), id)
		if len(dst) != 1+HeaderSize || dst[0] != 'x' || dst[1] != MagicByte {
			t.Fatalf("id %d: header %x", id, dst)
		}
		got, body, err := Unframe(dst[1:])
		if err != nil || got != id || len(body) != 0 {
			t.Fatalf("id %d: Unframe = (%d, %x, %v)", id, got, body, err)
		}
	}
	if got := AppendHeader(nil, 0x01020304); !bytes.Equal(got, []byte{0, 1, 2, 3, 4}) {
		t.Fatalf("AppendHeader = %x, want 0001020304", got)
	}
}

// TestAppendHeaderNoAlloc protects the zero-allocation framing promise.
func TestAppendHeaderNoAlloc(t *testing.T) {
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = AppendHeader(buf[:0], 42) }); n != 0 {
		t.Fatalf("AppendHeader allocates %v times", n)
	}
}
