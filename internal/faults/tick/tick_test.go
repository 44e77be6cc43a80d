package tick

import (
	"fmt"
	"testing"
)

// Poison picks about one event in n, by key and seq alone: every consumer
// incarnation agrees on what is poison.
func TestPoisonRate(t *testing.T) {
	n := 0
	for k := range 64 {
		for s := int64(1); s <= 1000; s++ {
			ev := Tick{Key: fmt.Sprintf("key-%03d", k), Seq: s}
			if ev.Poison(100) != (Tick{Key: ev.Key, Seq: ev.Seq, Pad: "other"}).Poison(100) {
				t.Fatalf("%s#%d: Poison depends on Pad", ev.Key, ev.Seq)
			}
			if ev.Poison(100) {
				n++
			}
		}
	}
	if n < 400 || n > 900 {
		t.Fatalf("%d poison events of 64000 with n=100, want about 640", n)
	}
}
