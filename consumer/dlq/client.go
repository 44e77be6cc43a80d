package dlq

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-go/ordo/internal/client"
	"github.com/ordo-go/ordo/schema"
)

// Client reads a dead-letter topic and redrives it: [Client.List],
// [Client.Show] and [Client.Redrive]. Each call opens its own connection
// to the cluster and closes it before returning, so a Client holds no
// goroutine between calls and is safe for concurrent use.
type Client struct {
	set      client.Settings
	registry *schema.Registry
	logger   *slog.Logger
	closed   atomic.Bool
}

// Option configures a [Client].
type Option interface{ apply(*config) }

type config struct {
	set  client.Settings // Brokers, TLS, SASL, Registry, WithLogger, KgoLogLevel, KgoOpts (shared.go)
	errs []error
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// New returns a Client. Every configuration problem is reported at once,
// in an error wrapping [ErrInvalidConfig]; New never connects.
func New(opts ...Option) (*Client, error) {
	var cfg config
	for _, o := range opts {
		if o == nil {
			cfg.errs = append(cfg.errs, errors.New("nil Option"))
			continue
		}
		o.apply(&cfg)
	}
	cfg.errs = append(cfg.errs, cfg.set.Errs(false)...)
	if len(cfg.errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(cfg.errs...))
	}
	return &Client{set: cfg.set, registry: cfg.set.Registry(), logger: cfg.set.Logger()}, nil
}

// Close marks the client closed; later calls return [ErrClosed]. It is
// idempotent. Calls in flight finish.
func (c *Client) Close() { c.closed.Store(true) }

// kgoClient opens a franz-go client with the connection settings and the
// shared writer settings (internal/client.Writer: idempotent, acks=all,
// writes a ctx or the delivery timeout can end), its batches sized by
// batch when it writes (nil: kgo's default), and the raw options.
func (c *Client) kgoClient(batch func(topic string) int32) (*kgo.Client, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	cl, err := c.set.NewWriter(client.Writer{Log: c.logger, BatchMaxBytes: batch})
	if err != nil {
		return nil, fmt.Errorf("dlq: new franz-go client: %w", err)
	}
	return cl, nil
}
