package main

import (
	"bytes"
	"os"
	"testing"
)

// TestReadmeTaste keeps the README's "A taste" compiling: the README's
// code block under that heading must be this package's main.go, byte for
// byte, and main.go is compiled with every build of the module.
func TestReadmeTaste(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := bytes.Cut(readme, []byte("\n## A taste\n"))
	if !ok {
		t.Fatal(`README.md has no "## A taste" section`)
	}
	_, block, ok := bytes.Cut(rest, []byte("```go\n"))
	if !ok {
		t.Fatal(`"A taste" has no go code block`)
	}
	block, _, ok = bytes.Cut(block, []byte("\n```\n"))
	if !ok {
		t.Fatal(`"A taste"'s code block is not closed`)
	}
	block = append(block, '\n')
	if !bytes.Equal(block, src) {
		t.Fatalf("README's \"A taste\" differs from examples/taste/main.go: copy main.go into the README's block\n--- README ---\n%s", block)
	}
}
