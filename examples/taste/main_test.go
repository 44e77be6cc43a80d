package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordo-go/ordo/consumer/consumertest"
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

// TestTasteRuns runs the taste as the README says, against a cluster it
// has never seen (the embedded one, started with the public test kit, its
// addresses given as ORDO_BROKERS and ORDO_REGISTRY as .ci/devcluster.sh
// prints them): it creates its topic, publishes, and bills the order. It
// used to need a registry at http://127.0.0.1:8081 (Apicurio serves the
// Confluent API under /apis/ccompat/v7) and a topic created beforehand.
func TestTasteRuns(t *testing.T) {
	env, err := consumertest.New()
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	bin := filepath.Join(t.TempDir(), "taste")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), "ORDO_BROKERS="+strings.Join(env.Brokers(), ","), "ORDO_REGISTRY="+env.RegistryURL())
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	const want = "charging 250 cents for order o-1"
	for !strings.Contains(out.String(), want) {
		select {
		case err := <-done:
			t.Fatalf("taste exited (%v) before %q:\n%s", err, want, out.String())
		case <-ctx.Done():
			t.Fatalf("no %q within a minute:\n%s", want, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("taste exited with %v after Ctrl-C:\n%s", err, out.String())
	}
}

// syncBuffer is a bytes.Buffer the command writes to while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
