package schematest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ordo-go/ordo/schema"
)

// fakeTB records failures so a test can check that a helper fails (and
// says why) when it should. Fatal calls do not stop the goroutine; the
// helpers return right after them.
type fakeTB struct {
	testing.TB
	errors, fatals []string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
}

const (
	// Reads v10 (note present) but not v2 (note missing, no default):
	// passes only if v10 is taken as the newest baseline.
	readsNewest = `{"type":"record","name":"Created","namespace":"com.example.orders","fields":[
		{"name":"order_id","type":"string"},{"name":"note","type":"string"}]}`
	// Reads v10 and v2, but total_cents was an int in v1.
	breaksV1 = `{"type":"record","name":"Created","namespace":"com.example.orders","fields":[
		{"name":"order_id","type":"string"},{"name":"note","type":"string","default":""},
		{"name":"total_cents","type":"string","default":""}]}`
)

// TestAssertCompatibleWithFiles protects the baseline-file helper: it must
// pass compatible schemas, fail incompatible ones naming the file, level
// and reason, and take files in natural order.
func TestAssertCompatibleWithFiles(t *testing.T) {
	tests := []struct {
		name       string
		level      schema.Level
		candidate  string
		globs      []string
		wantErrors []string // substrings of the single Errorf message
		wantFatal  string
	}{
		{name: "compatible with the newest (natural order)", level: schema.Backward, candidate: readsNewest,
			globs: []string{"testdata/orders/*.avsc"}},
		{name: "transitive clash names the oldest file", level: schema.BackwardTransitive, candidate: breaksV1,
			globs:      []string{"testdata/orders/v*.avsc"},
			wantErrors: []string{"testdata/orders/v1.avsc", "BACKWARD_TRANSITIVE", "not compatible"}},
		{name: "forward clash", level: schema.Forward, candidate: `{"type":"record","name":"Created","namespace":"com.example.orders","fields":[
			{"name":"note","type":"string"}]}`,
			globs: []string{"testdata/orders/*.avsc"}, wantErrors: []string{"v10.avsc", "FORWARD"}},
		{name: "no baseline", level: schema.Backward, candidate: readsNewest, globs: []string{"testdata/none/*.avsc"},
			wantFatal: "no file matches"},
		{name: "bad pattern", level: schema.Backward, candidate: readsNewest, globs: []string{"[", "x"}, wantFatal: "syntax error"},
		{name: "bad candidate", level: schema.Backward, candidate: "{", globs: []string{"testdata/orders/*.avsc"},
			wantFatal: "invalid schema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := &fakeTB{}
			AssertCompatibleWithFiles(ft, tt.globs, tt.candidate, tt.level)
			checkFailures(t, ft, tt.wantErrors, tt.wantFatal)
		})
	}
}

func checkFailures(t *testing.T, ft *fakeTB, wantErrors []string, wantFatal string) {
	t.Helper()
	if wantFatal != "" {
		if len(ft.fatals) != 1 || !strings.Contains(ft.fatals[0], wantFatal) {
			t.Fatalf("fatals = %q, want one containing %q", ft.fatals, wantFatal)
		}
		return
	}
	if len(ft.fatals) != 0 {
		t.Fatalf("unexpected fatal: %q", ft.fatals)
	}
	if len(wantErrors) == 0 {
		if len(ft.errors) != 0 {
			t.Fatalf("unexpected errors: %q", ft.errors)
		}
		return
	}
	if len(ft.errors) != 1 {
		t.Fatalf("errors = %q, want exactly one", ft.errors)
	}
	for _, w := range wantErrors {
		if !strings.Contains(ft.errors[0], w) {
			t.Fatalf("error %q does not contain %q", ft.errors[0], w)
		}
	}
}

// TestAssertCompatible protects the registry helper: it fails naming the
// subject, level and reason, and registers nothing.
func TestAssertCompatible(t *testing.T) {
	reg := NewRegistry(t)
	ctx := context.Background()
	v1 := `{"type":"record","name":"Created","namespace":"com.example.orders","fields":[{"name":"order_id","type":"string"}]}`
	if _, err := reg.Register(ctx, "orders-value", v1); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		avsc       string
		level      schema.Level
		wantErrors []string
	}{
		{"compatible", readsNewest[:0] + `{"type":"record","name":"Created","namespace":"com.example.orders","fields":[
			{"name":"order_id","type":"string"},{"name":"note","type":"string","default":""}]}`, schema.Full, nil},
		{"new required field", readsNewest, schema.Backward, []string{`subject "orders-value"`, "BACKWARD", "version 1", "note"}},
		{"another record type", `{"type":"record","name":"Cancelled","namespace":"com.example.orders","fields":[]}`,
			schema.Backward, []string{"a subject holds one record type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := &fakeTB{}
			AssertCompatible(ft, reg, "orders-value", tt.avsc, tt.level)
			checkFailures(t, ft, tt.wantErrors, "")
		})
	}
	if vs, err := reg.Versions(ctx, "orders-value"); err != nil || len(vs) != 1 {
		t.Fatalf("Versions = %d, %v; AssertCompatible must not register", len(vs), err)
	}
}

// TestNaturalOrder protects the baseline ordering.
func TestNaturalOrder(t *testing.T) {
	files, err := baselines([]string{"testdata/orders/*.avsc"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"testdata/orders/v1.avsc", "testdata/orders/v2.avsc", "testdata/orders/v10.avsc"}
	if strings.Join(files, ",") != strings.Join(want, ",") {
		t.Fatalf("baselines = %q, want %q", files, want)
	}
}

// TestHelpersNilInputs protects the helpers against nil inputs: a nil
// option or a nil registry is a t.Fatalf, not a panic.
func TestHelpersNilInputs(t *testing.T) {
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("helper panicked: %v", r)
		}
	}()
	ft := &fakeTB{TB: t}
	if reg := NewRegistry(ft, nil); reg != nil || len(ft.fatals) != 1 || !strings.Contains(ft.fatals[0], "nil") {
		t.Fatalf("NewRegistry(t, nil) = %v, fatals %q", reg, ft.fatals)
	}
	ft = &fakeTB{TB: t}
	AssertCompatible(ft, nil, "s", readsNewest, schema.Backward)
	if len(ft.fatals) != 1 {
		t.Fatalf("AssertCompatible(nil registry): fatals %q, errors %q", ft.fatals, ft.errors)
	}
}

// TestAssertCompatibleWithFilesRecursive protects the baseline helper on
// recursive schemas: it returns, and reports the field reached through the
// recursion.
func TestAssertCompatibleWithFilesRecursive(t *testing.T) {
	dir := t.TempDir()
	node := func(x string) string {
		return `{"type":"record","name":"Node","fields":[{"name":"kids","type":{"type":"array","items":"Node"}},{"name":"x","type":"` + x + `"}]}`
	}
	if err := os.WriteFile(filepath.Join(dir, "v1.avsc"), []byte(node("int")), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan *fakeTB, 1)
	go func() {
		ft := &fakeTB{TB: t}
		AssertCompatibleWithFiles(ft, []string{filepath.Join(dir, "*.avsc")}, node("string"), schema.Backward)
		done <- ft
	}()
	select {
	case ft := <-done:
		if len(ft.errors) != 1 || !strings.Contains(ft.errors[0], "field x") || len(ft.fatals) != 0 {
			t.Fatalf("errors %q, fatals %q; want one error naming field x", ft.errors, ft.fatals)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("AssertCompatibleWithFiles on a recursive schema still running after 5s")
	}
}
