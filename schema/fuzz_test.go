package schema

import (
	"errors"
	"testing"
)

// FuzzUnframeDecode protects the consumer's first steps on hostile bytes:
// Unframe then Decode (own schema) and DecodeFrom (through a resolved
// writer) must return typed errors and never panic.
func FuzzUnframeDecode(f *testing.F) {
	c := mustCodec[Created](f, createdV1)
	v := sampleCreated()
	valid, err := c.AppendFramed(nil, 1, &v)
	if err != nil {
		f.Fatal(err)
	}
	empty := Created{Status: "NEW"}
	small, _ := c.AppendFramed(nil, 2, &empty)
	f.Add(valid)
	f.Add(small)
	f.Add(valid[:len(valid)/2])
	f.Add(valid[:HeaderSize])
	f.Add(valid[:3])
	f.Add(append([]byte{0x7b}, valid[1:]...))
	f.Add([]byte{})
	f.Add(append(append([]byte{}, valid...), 0xff, 0xff))
	f.Add([]byte{0, 0, 0, 0, 1, 0xfe, 0xff, 0xff, 0xff, 0x0f})

	u1 := mustCodec[userV1](f, userV1Schema)
	u2 := mustCodec[userV2](f, userV2Schema)
	w1, err := NewWriter(1, userV1Schema)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		_, body, err := Unframe(value)
		if err != nil {
			var fe *FrameError
			if !errors.As(err, &fe) {
				t.Fatalf("Unframe error %T is not a *FrameError", err)
			}
			return
		}
		var out Created
		checkDecodeErr(t, c.Decode(body, &out))
		var a userV1
		checkDecodeErr(t, u1.Decode(body, &a))
		var b userV2
		checkDecodeErr(t, u2.DecodeFrom(w1, body, &b))
	})
}

func checkDecodeErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var de *DecodeError
	if !errors.As(err, &de) || !(errors.Is(err, ErrTruncated) || errors.Is(err, ErrCorrupt)) {
		t.Fatalf("decode error %v is not a *DecodeError wrapping ErrTruncated or ErrCorrupt", err)
	}
}

// FuzzNewCodec protects schema parsing, binding and the compatibility gate
// against hostile schema text: errors, never panics.
func FuzzNewCodec(f *testing.F) {
	f.Add(createdV1)
	f.Add(userV1Schema)
	f.Add(`{"type":"record","name":"N","fields":[{"name":"n","type":["null","N"]}]}`)
	f.Add(`{"type":"enum","name":"E","symbols":[]}`)
	f.Add(`["null",{"type":"fixed","name":"F","size":-1}]`)
	f.Fuzz(func(t *testing.T, avsc string) {
		if c, err := NewCodec[Created](avsc); err == nil {
			v := sampleCreated()
			body, err := c.AppendEncode(nil, &v)
			if err == nil {
				var out Created
				if err := c.Decode(body, &out); err != nil {
					t.Fatalf("round trip with an accepted schema: %v", err)
				}
			}
		}
		_ = Check([]string{userV1Schema, createdV1}, avsc, FullTransitive)
		_ = Check([]string{avsc}, createdV1, Full)
	})
}
