package partition

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Published murmur2 values: Kafka's own UtilsTest and the values Akka's
// Kafka-compatible sharding checks against the Java implementation. Java prints the hash as a signed int; the partition is
// that hash with the sign bit cleared, modulo the partition count.
var murmur2Vectors = []struct {
	key  string
	hash int32
}{
	{"21", -973932308},
	{"foobar", -790332482},
	{"a-little-bit-long-string", -985981536},
	{"a-little-bit-longer-string", -1486304829},
	{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
	{"abc", 479470107},
	{"1", -1993445489},
	{"12", 126087238},
	{"123", -267702483},
	{"1234", -1614185708},
	{"12345", -1188365604},
}

// TestForMatchesKafkaMurmur2 protects cross-language placement: a key must
// land where the Java client and librdkafka put it.
func TestForMatchesKafkaMurmur2(t *testing.T) {
	for _, v := range murmur2Vectors {
		positive := int(uint32(v.hash) & 0x7fffffff)
		for _, n := range []int{1, 2, 3, 7, 12, 100, 1000, math.MaxInt32} {
			t.Run(fmt.Sprintf("%s/%d", v.key, n), func(t *testing.T) {
				if got, want := For([]byte(v.key), n), positive%n; got != want {
					t.Fatalf("For(%q, %d) = %d, want %d", v.key, n, got, want)
				}
			})
		}
	}
}

// TestForGenerated checks a large generated key set for the properties a
// partitioner must have: in range, deterministic, and consistent across
// partition counts (h mod nm mod n == h mod n only holds when the sign bit
// is handled as Kafka does).
func TestForGenerated(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	counts := make([]int, 12)
	for i := 0; i < 100_000; i++ {
		key := make([]byte, 1+rng.IntN(40)) // distinct keys: one empty key would skew the count
		for j := range key {
			key[j] = byte(rng.Uint32())
		}
		p := For(key, 12)
		if p < 0 || p >= 12 {
			t.Fatalf("For(%x, 12) = %d, out of range", key, p)
		}
		if again := For(key, 12); again != p {
			t.Fatalf("For(%x, 12) not deterministic: %d then %d", key, p, again)
		}
		if wide := For(key, 12*97); wide%12 != p {
			t.Fatalf("For(%x, 1164)%%12 = %d, For(%x, 12) = %d", key, wide%12, key, p)
		}
		counts[p]++
	}
	for p, c := range counts { // a fair hash puts ~8333 on each
		if c < 7500 || c > 9200 {
			t.Fatalf("partition %d got %d of 100000 keys: distribution is skewed %v", p, c, counts)
		}
	}
}

func TestForBadCount(t *testing.T) {
	for _, n := range []int{0, -1} {
		if got := For([]byte("k"), n); got != -1 {
			t.Fatalf("For(k, %d) = %d, want -1", n, got)
		}
	}
	if For(nil, 7) != For([]byte{}, 7) {
		t.Fatal("a nil key must hash as an empty one")
	}
}

// TestNilAndZeroValues protects the promise that nothing in the package
// panics on a nil or zero input: a nil Guard refuses with an error, zero
// Stampers and Checkers work with the default bound, nil ones report
// nothing.
func TestNilAndZeroValues(t *testing.T) {
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("panic: %v", r)
		}
	}()
	var g *Guard
	if err := g.Check("t", 3); err == nil {
		t.Fatal("nil Guard: Check accepted")
	}
	g.Accept("t", 3)
	if _, ok := g.Count("t"); ok {
		t.Fatal("nil Guard: Count found a count")
	}
	var zs Stamper
	if a, b := zs.Next([]byte("k")), zs.Next([]byte("k")); a != 1 || b != 2 {
		t.Fatalf("zero Stamper: %d, %d; want 1, 2", a, b)
	}
	var ns *Stamper
	if got := ns.Next([]byte("k")); got != 0 {
		t.Fatalf("nil Stamper: %d, want 0 (no sequence)", got)
	}
	var zc Checker
	if v := zc.Observe("p", []byte("k"), 1); v != First {
		t.Fatalf("zero Checker: %v", v)
	}
	if v := zc.Observe("p", []byte("k"), 3); v != Gap {
		t.Fatalf("zero Checker: %v", v)
	}
	if zc.verdicts()["p"].Gaps != 1 {
		t.Fatalf("zero Checker stats: %+v", zc.verdicts())
	}
	var nc *Checker
	if v := nc.Observe("p", []byte("k"), 1); v != First {
		t.Fatalf("nil Checker: %v", v)
	}
	if len(nc.verdicts()) != 0 {
		t.Fatal("nil Checker has stats")
	}
	for _, n := range []int{0, -1, -1 << 40} {
		if For(nil, n) != -1 {
			t.Fatalf("For(nil, %d) != -1", n)
		}
	}
	if NewStamper(-5).Next(nil) != 1 || NewChecker(-5).Observe("", nil, 0) != First {
		t.Fatal("negative bounds")
	}
}
