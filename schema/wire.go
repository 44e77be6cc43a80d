package schema

import (
	"encoding/binary"
	"fmt"
)

// MagicByte is the first byte of every value in the Confluent wire format.
const MagicByte byte = 0

// HeaderSize is the length of the wire-format header: the magic byte and a
// 4-byte big-endian schema ID.
const HeaderSize = 5

// AppendHeader appends the wire-format header for schema id to dst and
// returns the extended slice. It does not allocate when dst has room for
// [HeaderSize] more bytes. The id is written as a big-endian uint32; the
// registry never hands out negative IDs or IDs above 2³¹-1.
func AppendHeader(dst []byte, id int) []byte {
	dst = append(dst, MagicByte)
	return binary.BigEndian.AppendUint32(dst, uint32(id))
}

// Unframe splits a wire-format value into its schema ID and Avro body. The
// body aliases value.
//
// Errors are a *[FrameError] wrapping [ErrEmptyValue] (nil or zero-length
// value), [ErrBadMagic] (first byte is not [MagicByte]) or [ErrTruncated]
// (fewer than [HeaderSize] bytes). A valid header followed by an empty body
// is not an error here: an Avro record with no fields encodes to zero bytes,
// and decoding reports a body that is too short.
func Unframe(value []byte) (id int, body []byte, err error) {
	switch {
	case len(value) == 0:
		return 0, nil, &FrameError{Reason: "empty value", Len: 0, err: ErrEmptyValue}
	case value[0] != MagicByte:
		return 0, nil, &FrameError{
			Reason: fmt.Sprintf("magic byte 0x%02x, want 0x%02x", value[0], MagicByte),
			Len:    len(value),
			err:    ErrBadMagic,
		}
	case len(value) < HeaderSize:
		return 0, nil, &FrameError{
			Reason: fmt.Sprintf("header needs %d bytes, have %d", HeaderSize, len(value)),
			Len:    len(value),
			err:    ErrTruncated,
		}
	}
	return int(binary.BigEndian.Uint32(value[1:HeaderSize])), value[HeaderSize:], nil
}
