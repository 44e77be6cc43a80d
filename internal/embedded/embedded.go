// Package embedded starts ordo's default environment inside the process: a
// franz-go kfake Kafka cluster and an srfake schema registry, both on
// loopback. The examples and the hermetic tests run on it, so `go run` and
// `go test` need nothing installed.
//
// With a data directory the cluster's log and the registry's schemas
// survive a restart of the process, so a consumer can be stopped and
// started again against a backlog.
package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// Config says what to start. The zero value starts three brokers, no
// topics, no persistence.
type Config struct {
	Brokers int              // number of brokers; 0 means 3
	Topics  map[string]int32 // topics to create, with their partition counts
	DataDir string           // if set, the cluster and registry persist here
	Kfake   []kfake.Opt      // extra kfake options
}

// Cluster is a running kfake cluster and srfake registry.
type Cluster struct {
	kafka    *kfake.Cluster
	registry *srfake.Registry
	dataDir  string
	once     sync.Once
	closeErr error
}

const registryFile = "registry.json"

// Start starts the cluster and the registry and creates cfg.Topics.
func Start(cfg Config) (*Cluster, error) {
	n := cfg.Brokers
	if n == 0 {
		n = 3
	}
	opts := []kfake.Opt{kfake.NumBrokers(n)}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("embedded: data dir: %w", err)
		}
		opts = append(opts, kfake.DataDir(filepath.Join(cfg.DataDir, "kafka")))
	}
	kc, err := kfake.NewCluster(append(opts, cfg.Kfake...)...)
	if err != nil {
		return nil, fmt.Errorf("embedded: start kfake: %w", err)
	}
	c := &Cluster{kafka: kc, registry: srfake.New(), dataDir: cfg.DataDir}
	if err := c.restoreRegistry(); err != nil {
		c.Close()
		return nil, err
	}
	names := make([]string, 0, len(cfg.Topics))
	for name := range cfg.Topics {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if kc.TopicInfo(name) != nil {
			continue // survived from a persisted run
		}
		if err := kc.CreateTopic(name, cfg.Topics[name], nil); err != nil {
			c.Close()
			return nil, fmt.Errorf("embedded: create topic %q: %w", name, err)
		}
	}
	return c, nil
}

// Brokers returns the seed broker addresses (127.0.0.1:port).
func (c *Cluster) Brokers() []string { return c.kafka.ListenAddrs() }

// RegistryURL returns the schema registry's base URL.
func (c *Cluster) RegistryURL() string { return c.registry.URL() }

// Kafka returns the kfake cluster, for tests that steer it.
func (c *Cluster) Kafka() *kfake.Cluster { return c.kafka }

// Registry returns the srfake registry, for tests that steer it.
func (c *Cluster) Registry() *srfake.Registry { return c.registry }

// Close stops the cluster and the registry, saving the registry's schemas
// first when a data directory is set. It is idempotent.
func (c *Cluster) Close() error {
	c.once.Do(func() {
		c.closeErr = c.saveRegistry()
		c.registry.Close()
		c.kafka.Close()
	})
	return c.closeErr
}

func (c *Cluster) saveRegistry() error {
	if c.dataDir == "" {
		return nil
	}
	cl, err := sr.NewClient(sr.URLs(c.registry.URL()))
	if err != nil {
		return fmt.Errorf("embedded: save registry: %w", err)
	}
	all, err := cl.AllSchemas(context.Background())
	if err != nil {
		return fmt.Errorf("embedded: save registry: %w", err)
	}
	b, err := json.Marshal(all)
	if err != nil {
		return fmt.Errorf("embedded: save registry: %w", err)
	}
	return os.WriteFile(filepath.Join(c.dataDir, registryFile), b, 0o644)
}

func (c *Cluster) restoreRegistry() (err error) {
	if c.dataDir == "" {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(c.dataDir, registryFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("embedded: restore registry: %w", err)
	}
	var all []sr.SubjectSchema
	if err := json.Unmarshal(b, &all); err != nil {
		return fmt.Errorf("embedded: restore registry %s: %w", registryFile, err)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	defer func() { // srfake panics on an inconsistent seed
		if r := recover(); r != nil {
			err = fmt.Errorf("embedded: restore registry: %v", r)
		}
	}()
	seeded := make(map[int]bool)
	for _, s := range all {
		if !seeded[s.ID] {
			c.registry.SeedSchema(s.Subject, s.Version, s.ID, s.Schema)
			seeded[s.ID] = true
			continue
		}
		// The same schema under a second subject keeps its ID.
		id, _, err := c.registry.RegisterSchema(s.Subject, s.Schema)
		if err != nil || id != s.ID {
			return fmt.Errorf("embedded: restore registry: %s v%d: id %d, want %d (%v)", s.Subject, s.Version, id, s.ID, err)
		}
	}
	return nil
}
