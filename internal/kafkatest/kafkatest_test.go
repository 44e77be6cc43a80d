package kafkatest

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFreePortsDistinct protects the broker/controller port split: two
// nodes given the same port would fail to start with a bind error.
func TestFreePortsDistinct(t *testing.T) {
	ports, err := freePorts(10)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("freePorts(10) = %v: port %d zero or repeated", ports, p)
		}
		seen[p] = true
	}
}

// TestRegistryURL protects the contract the integration suite relies on:
// ORDO_TEST_REGISTRY wins, and without it a working registry is served.
func TestRegistryURL(t *testing.T) {
	t.Run("env", func(t *testing.T) {
		t.Setenv(RegistryEnv, "http://127.0.0.1:1")
		if got := RegistryURL(t); got != "http://127.0.0.1:1" {
			t.Fatalf("RegistryURL = %q, want the env value", got)
		}
	})
	t.Run("fallback", func(t *testing.T) {
		t.Setenv(RegistryEnv, "")
		os.Unsetenv(RegistryEnv)
		url := RegistryURL(t)
		resp, err := http.Get(url + "/subjects")
		if err != nil {
			t.Fatalf("GET %s/subjects: %v", url, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s/subjects: status %d, want 200", url, resp.StatusCode)
		}
	})
}

// TestImage protects the ORDO_KAFKA_IMAGE contract.
func TestImage(t *testing.T) {
	t.Setenv(ImageEnv, "")
	if got := Image(); got != DefaultImage {
		t.Fatalf("Image() with %s empty = %q, want %q", ImageEnv, got, DefaultImage)
	}
	t.Setenv(ImageEnv, "apache/kafka:4.1.2")
	if got := Image(); got != "apache/kafka:4.1.2" {
		t.Fatalf("Image() = %q, want the env value", got)
	}
}

// TestNotServingIsTheCluster: a node that does not serve again in time
// (a restart on a busy machine) fails with an error that says it was the
// cluster, not the code under test, and how long it was given.
func TestNotServingIsTheCluster(t *testing.T) {
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, nodes: []*node{{id: 1, broker: "127.0.0.1:" + strconv.Itoa(ports[0])}}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err = c.waitServing(ctx, 0)
	if !errors.Is(err, ErrCluster) || !strings.Contains(err.Error(), "not the code under test") ||
		!strings.Contains(err.Error(), "not serving after") {
		t.Fatalf("waitServing = %v, want an ErrCluster saying how long the node was given", err)
	}
	t.Log(err)
}
