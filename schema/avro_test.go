package schema

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestOneAvroLibrary protects "one Avro library" (issue 20): the SDK's
// module does not require upstream hamba/avro, so a service that only
// publishes compiles the fork alone (any import of upstream in the root
// module would need that requirement to build), and the files of this
// package that import the fork are the five the seam comment in avro.go
// names.
func TestOneAvroLibrary(t *testing.T) {
	mod, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mod), "github.com/hamba/avro") {
		t.Fatal("the root go.mod requires upstream github.com/hamba/avro: the SDK compiles two Avro libraries")
	}

	const fork = "github.com/ordo-go/ordo/schema/internal/avro"
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var seam []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if path, _ := strconv.Unquote(imp.Path.Value); path == fork || strings.Contains(path, "hamba/avro") {
				seam = append(seam, name)
				break
			}
		}
	}
	slices.Sort(seam)
	if want := []string{"avro.go", "bind.go", "codec.go", "compat.go", "logical.go"}; !slices.Equal(seam, want) {
		t.Fatalf("files importing an Avro library: %v; the seam comment in avro.go names %v", seam, want)
	}
}
