// Package client is the one home of the settings ordo's roles share: the
// producer, the consumer and consumer/dlq's Client. [Settings] holds them
// (the connection in [Conn]: seed brokers, TLS, SASL; the registry, the
// logger, franz-go's log level, raw kgo options), validates them with one
// message per problem and turns them into franz-go options; [Writer] makes
// every role's Kafka writer (the producer, the consumer's dead-letter
// writer, the redrive) with the same safe settings. Each role's exported
// option is a one-line call into it, under the names in [Names], with the
// doc text in [Docs].
package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
)

// Conn is how a client reaches the cluster. The zero value has no brokers.
type Conn struct {
	brokers []string
	tls     *tls.Config
	sasl    []sasl.Mechanism
}

// AddBrokers appends seed brokers ("host:port"); the slice is copied.
func (c *Conn) AddBrokers(addrs ...string) { c.brokers = append(c.brokers, addrs...) }

// BrokerList returns the seed brokers, for log lines.
func (c *Conn) BrokerList() []string { return c.brokers }

// SetTLS dials the brokers with TLS, using a clone of cfg.
func (c *Conn) SetTLS(cfg *tls.Config) error {
	if cfg == nil {
		return errors.New("TLS: nil *tls.Config")
	}
	c.tls = cfg.Clone()
	return nil
}

// AddSASL adds an authentication mechanism; several are tried in order.
func (c *Conn) AddSASL(m sasl.Mechanism) error {
	if m == nil {
		return errors.New("SASL: nil mechanism")
	}
	c.sasl = append(c.sasl, m)
	return nil
}

// Validate reports missing or malformed brokers.
func (c *Conn) Validate() error {
	if len(c.brokers) == 0 {
		return errors.New("no brokers")
	}
	var errs []error
	for _, b := range c.brokers {
		if err := checkHostPort(b); err != nil {
			errs = append(errs, fmt.Errorf("broker %q: %w", b, err))
		}
	}
	return errors.Join(errs...)
}

// Opts returns the franz-go options for the connection.
func (c *Conn) Opts() []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(c.brokers...)}
	if c.tls != nil {
		opts = append(opts, kgo.DialTLSConfig(c.tls))
	}
	if len(c.sasl) > 0 {
		opts = append(opts, kgo.SASL(c.sasl...))
	}
	return opts
}

// checkHostPort accepts "host:port" with a non-empty host and a port from
// 1 to 65535.
func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("not host:port")
	}
	if host == "" {
		return errors.New("no host")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return nil
}
