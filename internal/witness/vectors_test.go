package witness

import (
	"bufio"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ordo-go/ordo/partition"
)

// TestForMatchesJavaClient protects the cross-language promise of
// partition.For: on every key of the Java client's vectors (see
// java/gen.sh) and every partition count, ordo picks the partition the
// Java producer's default partitioner picks.
func TestForMatchesJavaClient(t *testing.T) {
	f, err := os.Open("testdata/java_murmur2.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var counts []int
	lines, checked, bad := 0, 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# key_hex") {
			counts = parseCounts(t, line)
			continue
		}
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		lines++
		fields := strings.Split(line, "\t")
		if counts == nil || len(fields) != 2+len(counts) {
			t.Fatalf("line %q: %d fields, header names %d counts", line, len(fields), len(counts))
		}
		key, err := hex.DecodeString(fields[0])
		if err != nil {
			t.Fatalf("line %q: key: %v", line, err)
		}
		for i, n := range counts {
			want, err := strconv.Atoi(fields[2+i])
			if err != nil {
				t.Fatalf("line %q: partition: %v", line, err)
			}
			checked++
			if got := partition.For(key, n); got != want {
				bad++
				if bad <= 10 {
					t.Errorf("For(%x, %d) = %d, Java client says %d", key, n, got, want)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if lines < 10000 || len(counts) < 7 {
		t.Fatalf("read %d keys and %d counts, want the full set (10000 keys, 7 counts)", lines, len(counts))
	}
	if bad > 0 {
		t.Fatalf("%d of %d (key, count) pairs disagree with the Java client", bad, checked)
	}
}

func parseCounts(t *testing.T, header string) []int {
	t.Helper()
	var counts []int
	for _, f := range strings.Split(header, "\t")[2:] {
		n, err := strconv.Atoi(strings.TrimPrefix(f, "n="))
		if err != nil {
			t.Fatalf("header %q: %v", header, err)
		}
		counts = append(counts, n)
	}
	return counts
}
