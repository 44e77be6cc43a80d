package schematest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/ordo-go/ordo/schema"
)

// AssertCompatible checks avsc against the schemas registered under subject
// in reg, at level, with [schema.Registry.Check] (local gate and the
// registry's own verdict); it registers nothing. An incompatible schema is
// reported with t.Errorf naming the subject, level, clashing version and
// reason; a registry failure with t.Fatalf. It waits at most 30 seconds for
// the registry.
func AssertCompatible(t testing.TB, reg *schema.Registry, subject, avsc string, level schema.Level) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := reg.Check(ctx, subject, avsc, level)
	var ie *schema.IncompatibleError
	switch {
	case err == nil:
	case errors.As(err, &ie):
		t.Errorf("schema for subject %q is not %s compatible with version %d: %s", subject, level, ie.Version, ie.Reason)
	default:
		t.Fatalf("checking schema for subject %q at %s: %v", subject, level, err)
	}
}

// AssertCompatibleWithFiles checks candidate (schema text) against the
// baseline .avsc files matched by the glob patterns (its arguments in the
// order of [schema.Check]'s: what is there, the candidate, the level), taken oldest first in
// natural name order (v2.avsc before v10.avsc), at level, with
// [schema.Check]. An incompatible candidate is reported with t.Errorf
// naming the baseline file, the level and the reason. No matching file, an
// unreadable file or a bad pattern is reported with t.Fatalf.
func AssertCompatibleWithFiles(t testing.TB, baselineGlob []string, candidate string, level schema.Level) {
	t.Helper()
	files, err := baselines(baselineGlob)
	if err != nil {
		t.Fatalf("schema baselines %q: %v", baselineGlob, err)
		return
	}
	texts := make([]string, len(files))
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("schema baseline: %v", err)
			return
		}
		texts[i] = string(b)
	}
	err = schema.Check(texts, candidate, level)
	var ie *schema.IncompatibleError
	switch {
	case err == nil:
	case errors.As(err, &ie) && ie.Version >= 1 && ie.Version <= len(files):
		t.Errorf("schema is not %s compatible with baseline %s: %s", level, files[ie.Version-1], ie.Reason)
	default:
		t.Fatalf("checking schema against baselines %q at %s: %v", baselineGlob, level, err)
	}
}

// baselines expands the patterns into a sorted, de-duplicated file list.
func baselines(patterns []string) ([]string, error) {
	var files []string
	for _, p := range patterns {
		m, err := filepath.Glob(p)
		if err != nil {
			return nil, err
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		return nil, errors.New("no file matches")
	}
	slices.SortFunc(files, naturalCompare)
	return slices.Compact(files), nil
}

// naturalCompare orders strings with digit runs compared as numbers.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digits(a), digits(b)
		if da > 0 && db > 0 {
			na, _ := strconv.ParseUint(a[:da], 10, 64)
			nb, _ := strconv.ParseUint(b[:db], 10, 64)
			if na != nb {
				if na < nb {
					return -1
				}
				return 1
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			if a[0] < b[0] {
				return -1
			}
			return 1
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func digits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// NewRegistry starts an in-process fake schema registry (franz-go's srfake,
// on 127.0.0.1), returns a [schema.Registry] talking to it, and closes it
// when the test ends. Setup failures call t.Fatalf.
func NewRegistry(t testing.TB, opts ...schema.RegistryOption) *schema.Registry {
	t.Helper()
	fake := srfake.New()
	t.Cleanup(fake.Close)
	reg, err := schema.NewRegistry([]string{fake.URL()}, opts...)
	if err != nil {
		t.Fatalf("schema registry: %v", err)
	}
	return reg
}
