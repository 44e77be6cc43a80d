package quarantine

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestLifecycle(t *testing.T) {
	s, err := New(0)
	if err != nil {
		t.Fatal(err)
	}
	k := []byte("order-1")
	if err := s.Start(k, 10); err != nil {
		t.Fatal(err)
	}
	if !s.Follow(k, 12) || !s.Follow(k, 11) {
		t.Fatal("follow of a quarantined key reported false")
	}
	if s.Follow([]byte("other"), 3) {
		t.Fatal("follow of a free key reported true")
	}
	if e, _ := s.Get(k); e != (Entry{10, 12}) {
		t.Fatalf("entry %+v, want {10 12}", e)
	}
	if s.Lift(k, 9, 12) {
		t.Fatal("lifted by another chain")
	}
	if s.Lift(k, 10, 11) {
		t.Fatal("lifted although offset 12 was dead-lettered after the redrive's last")
	}
	if !s.Lift(k, 10, 12) || s.Len() != 0 {
		t.Fatal("not lifted by its own complete chain")
	}
}

// TestBound protects the broker's offset.metadata.max.bytes: a full set
// encodes within the bound and refuses a new key.
func TestBound(t *testing.T) {
	for _, max := range []int{35, 100, DefaultMaxBytes, 4096} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			s, err := New(max)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < s.Cap(); i++ {
				if err := s.Start([]byte(fmt.Sprintf("key-%d", i)), int64(1)<<62); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Start([]byte("one more"), 1); !errors.Is(err, ErrFull) {
				t.Fatalf("start in a full set: %v, want ErrFull", err)
			}
			if err := s.Start([]byte("key-0"), 5); err != nil {
				t.Fatalf("restart of a quarantined key in a full set: %v", err)
			}
			if n := len(s.Encode()); n > max {
				t.Fatalf("full set encodes to %d bytes, bound %d", n, max)
			}
		})
	}
	if s, _ := New(0); s.Cap() != 95 {
		t.Fatalf("default cap %d, want 95 (documented)", s.Cap())
	}
	if _, err := New(34); err == nil {
		t.Fatal("a bound with no room for a key was accepted")
	}
}

func TestRoundTrip(t *testing.T) {
	s, _ := New(0)
	for i := range 20 {
		_ = s.Start([]byte(fmt.Sprint(i)), int64(i*100))
		s.Follow([]byte(fmt.Sprint(i)), int64(i*100+7))
	}
	md := s.Encode()
	if !strings.HasPrefix(md, "q1:") {
		t.Fatalf("encoding %q lacks the version prefix", md)
	}
	got, err := Decode(md, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Len() != 20 || got.Encode() != md {
		t.Fatalf("decoded %d keys, re-encoded differently", got.Len())
	}
	if e, ok := got.Get([]byte("3")); !ok || e != (Entry{300, 307}) {
		t.Fatalf("key 3: %+v %v", e, ok)
	}
	if empty, err := Decode("", 0); err != nil || empty.Len() != 0 {
		t.Fatalf("empty metadata: %v", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	s, _ := New(0)
	_ = s.Start([]byte("a"), 1)
	good := s.Encode()
	for name, md := range map[string]string{
		"bad b64":   "q1:***",
		"truncated": good[:len(good)-1],
		"empty":     "q1:",
	} {
		if _, err := Decode(md, 0); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", name, err)
		}
	}
	if s, err := Decode("kgo-member-1", 0); !errors.Is(err, ErrNoSet) || s == nil || s.Len() != 0 {
		t.Errorf("foreign metadata: %v, want an empty set and ErrNoSet", err)
	}
	big, _ := New(4096)
	for i := range big.Cap() {
		_ = big.Start([]byte(fmt.Sprint(i)), 1)
	}
	if _, err := Decode(big.Encode(), 1000); !errors.Is(err, ErrFull) {
		t.Fatalf("over-cap metadata: %v, want ErrFull", err)
	}
}

func FuzzDecode(f *testing.F) {
	s, _ := New(0)
	_ = s.Start([]byte("k"), 3)
	f.Add(s.Encode())
	f.Add("q1:AAAA")
	f.Fuzz(func(t *testing.T, md string) {
		got, err := Decode(md, 0)
		if err != nil {
			return
		}
		if again := got.Encode(); len(again) > DefaultMaxBytes {
			t.Fatalf("decoded set encodes to %d bytes", len(again))
		}
	})
}
