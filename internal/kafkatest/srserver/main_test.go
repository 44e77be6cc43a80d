package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRun protects the contract .ci/integration.sh relies on: the URL file
// appears, names a registry that answers, and the server stops on cancel.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	file := filepath.Join(t.TempDir(), "url")
	done := make(chan error, 1)
	go func() { done <- run(ctx, "127.0.0.1:0", file) }()
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == ""; {
		b, _ := os.ReadFile(file)
		url = strings.TrimSpace(string(b))
		if url == "" && time.Now().After(deadline) {
			t.Fatal("no URL file after 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := http.Get(url + "/subjects")
	if err != nil {
		t.Fatalf("GET /subjects: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /subjects: status %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
}

// TestListenLoopbackRefusesOtherAddresses protects the loopback-only rule.
func TestListenLoopbackRefusesOtherAddresses(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "10.0.0.1:0"} {
		t.Run(addr, func(t *testing.T) {
			if l, err := listenLoopback(addr); err == nil {
				l.Close()
				t.Fatalf("listenLoopback(%q) succeeded", addr)
			}
		})
	}
}
