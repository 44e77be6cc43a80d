//go:build integration && faults

package faults

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// bins are the worker binaries, built once per test binary run.
type bins struct{ producer, consumer, outboxwriter, relay, inboxconsumer, pipeline string }

func buildWorkers(t *testing.T) bins {
	t.Helper()
	dir := t.TempDir()
	b := bins{producer: filepath.Join(dir, "producer"), consumer: filepath.Join(dir, "consumer"),
		outboxwriter: filepath.Join(dir, "outboxwriter"), relay: filepath.Join(dir, "relay"),
		inboxconsumer: filepath.Join(dir, "inboxconsumer"), pipeline: filepath.Join(dir, "pipeline")}
	args := []string{"build"}
	if os.Getenv("ORDO_FAULTS_RACE") != "0" {
		args = append(args, "-race")
	}
	for _, w := range []struct{ out, pkg string }{{b.producer, "./cmd/producer"}, {b.consumer, "./cmd/consumer"},
		{b.outboxwriter, "./cmd/outboxwriter"}, {b.relay, "./cmd/relay"}, {b.inboxconsumer, "./cmd/inboxconsumer"},
		{b.pipeline, "./cmd/pipeline"}} {
		cmd := exec.Command("go", append(args, "-o", w.out, w.pkg)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", w.pkg, err, out)
		}
	}
	return b
}
