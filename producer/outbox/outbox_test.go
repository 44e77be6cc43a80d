package outbox_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/producer/outbox"
)

// TestLaneOrder protects the relays' balance on topics with fewer
// partitions than lanes: the first half of the order holds half of every
// power-of-two prefix of the lanes.
func TestLaneOrder(t *testing.T) {
	got := outbox.LaneOrder(16)
	want := []int{0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15}
	if !slices.Equal(got, want) {
		t.Fatalf("LaneOrder(16) = %v, want %v", got, want)
	}
	for _, n := range []int{1, 3, 10, 64} {
		o := slices.Clone(outbox.LaneOrder(n))
		slices.Sort(o)
		for i, l := range o {
			if l != i {
				t.Fatalf("LaneOrder(%d) is not a permutation: %v", n, outbox.LaneOrder(n))
			}
		}
	}
}

// TestHeadersRoundTrip protects the stored form of a sealed event's
// headers, and the refusal of bytes it did not write.
func TestHeadersRoundTrip(t *testing.T) {
	hs := []kgo.RecordHeader{{Key: "ordo-type", Value: []byte("a.B")}, {Key: "empty"}, {Key: "bin", Value: []byte{0, 1, 2}}}
	b := outbox.AppendHeaders(nil, hs)
	got, err := outbox.ParseHeaders(b)
	if err != nil || len(got) != len(hs) {
		t.Fatalf("ParseHeaders: %v, %v", got, err)
	}
	for i := range hs {
		if got[i].Key != hs[i].Key || !bytes.Equal(got[i].Value, hs[i].Value) {
			t.Fatalf("header %d: %+v, want %+v", i, got[i], hs[i])
		}
	}
	for _, bad := range [][]byte{nil, b[:len(b)-1], append(slices.Clone(b), 0), {0xff}} {
		if _, err := outbox.ParseHeaders(bad); !errors.Is(err, outbox.ErrBadHeaders) {
			t.Fatalf("ParseHeaders(%x): %v, want ErrBadHeaders", bad, err)
		}
	}
}
