package dlq

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/ordo-go/ordo/internal/client"
	"github.com/ordo-go/ordo/internal/telemetry"
	"github.com/ordo-go/ordo/schema"
)

// Client reads a dead-letter topic and redrives it: [Client.List],
// [Client.Show] and [Client.Redrive]. Each call opens its own connection
// to the cluster and closes it before returning, so a Client holds no
// goroutine between calls and is safe for concurrent use.
type Client struct {
	conn     client.Conn
	kopts    []kgo.Opt
	registry *schema.Registry
	logger   *slog.Logger
	closed   atomic.Bool
}

// Option configures a [Client].
type Option interface{ apply(*config) }

type config struct {
	conn     client.Conn
	kopts    []kgo.Opt
	registry *schema.Registry
	logger   *slog.Logger
	errs     []error
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Brokers sets the seed brokers ("host:port"). Required; no default.
func Brokers(addrs ...string) Option {
	return optionFunc(func(c *config) { c.conn.AddBrokers(addrs...) })
}

// TLS dials the brokers with TLS (a clone of cfg). Default: plaintext.
func TLS(cfg *tls.Config) Option {
	return optionFunc(func(c *config) {
		if err := c.conn.SetTLS(cfg); err != nil {
			c.errs = append(c.errs, err)
		}
	})
}

// SASL authenticates with m; several are tried in order. Default: none.
func SASL(m sasl.Mechanism) Option {
	return optionFunc(func(c *config) {
		if err := c.conn.AddSASL(m); err != nil {
			c.errs = append(c.errs, err)
		}
	})
}

// Registry decodes values in [Client.Show] through r. Default: none, and
// Show leaves values undecoded.
func Registry(r *schema.Registry) Option {
	return optionFunc(func(c *config) { c.registry = r })
}

// WithLogger logs through l. Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) {
		if l == nil {
			c.errs = append(c.errs, errors.New("nil logger"))
			return
		}
		c.logger = l
	})
}

// KgoOpts appends raw franz-go client options, the escape hatch for what
// the options above do not cover. Options that change durability
// (acks, idempotence) weaken the redrive's guarantees: don't.
func KgoOpts(opts ...kgo.Opt) Option {
	return optionFunc(func(c *config) { c.kopts = append(c.kopts, opts...) })
}

// New returns a Client. Every configuration problem is reported at once,
// in an error wrapping [ErrInvalidConfig]; New never connects.
func New(opts ...Option) (*Client, error) {
	cfg := config{logger: slog.Default()}
	for _, o := range opts {
		if o == nil {
			cfg.errs = append(cfg.errs, errors.New("nil option"))
			continue
		}
		o.apply(&cfg)
	}
	if err := cfg.conn.Validate(); err != nil {
		cfg.errs = append(cfg.errs, err)
	}
	if len(cfg.errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(cfg.errs...))
	}
	return &Client{conn: cfg.conn, kopts: cfg.kopts, registry: cfg.registry, logger: cfg.logger}, nil
}

// Close marks the client closed; later calls return [ErrClosed]. It is
// idempotent. Calls in flight finish.
func (c *Client) Close() { c.closed.Store(true) }

// kgoClient opens a franz-go client with the connection settings plus
// extra. Durability is kgo's default: idempotent, acks=all.
func (c *Client) kgoClient(extra ...kgo.Opt) (*kgo.Client, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	opts := append(c.conn.Opts(), kgo.WithLogger(telemetry.KgoLogger(c.logger, slog.LevelWarn)))
	opts = append(opts, c.kopts...)
	opts = append(opts, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("dlq: new franz-go client: %w", err)
	}
	return cl, nil
}
