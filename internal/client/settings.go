package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/ordo-go/ordo/internal/telemetry"
	"github.com/ordo-go/ordo/schema"
)

// DefaultKgoLogLevel is the default of every role's KgoLogLevel option.
const DefaultKgoLogLevel = slog.LevelWarn

// Settings are what every role takes under the same option names (the
// producer, the consumer and consumer/dlq's Client), as slog's
// HandlerOptions serve two handlers: the connection, the registry, the
// logger, franz-go's log level and the raw kgo options. Each role's
// exported option is one line calling a method here, so a setting is
// validated once, fails with the same message in every role ([Names]
// lists them, [Docs] holds their shared doc text) and becomes kgo options
// once ([Settings.ClientOpts], [Settings.WriterOpts]).
//
// A method given a bad value records the problem; [Settings.Errs] returns
// every one, so New can report them all at once. The zero value is ready:
// no brokers, no registry, slog.Default() at the time Logger is first
// called, franz-go's lines at [DefaultKgoLogLevel].
type Settings struct {
	Conn
	registry *schema.Registry
	logger   *slog.Logger
	level    slog.Level
	levelSet bool
	raw      []kgo.Opt
	errs     []error
}

func (s *Settings) fail(format string, args ...any) {
	s.errs = append(s.errs, fmt.Errorf(format, args...))
}

// Brokers adds seed brokers; the slice is copied.
func (s *Settings) Brokers(addrs []string) { s.AddBrokers(append([]string(nil), addrs...)...) }

// TLS dials the brokers with a clone of cfg.
func (s *Settings) TLS(cfg *tls.Config) {
	if err := s.SetTLS(cfg); err != nil {
		s.errs = append(s.errs, err)
	}
}

// SASL adds an authentication mechanism.
func (s *Settings) SASL(m sasl.Mechanism) {
	if err := s.AddSASL(m); err != nil {
		s.errs = append(s.errs, err)
	}
}

// SetRegistry sets the schema registry.
func (s *Settings) SetRegistry(r *schema.Registry) {
	if r == nil {
		s.fail("Registry: nil registry")
		return
	}
	s.registry = r
}

// SetLogger sets the logger.
func (s *Settings) SetLogger(l *slog.Logger) {
	if l == nil || l.Handler() == nil {
		s.fail("WithLogger: nil logger or handler")
		return
	}
	s.logger = l
}

// SetKgoLogLevel sets the lowest level of franz-go's lines logged.
func (s *Settings) SetKgoLogLevel(l slog.Level) { s.level, s.levelSet = l, true }

// KgoOpts appends raw franz-go options; the slice is copied, nil entries
// are refused.
func (s *Settings) KgoOpts(opts []kgo.Opt) {
	for i, o := range opts {
		if o == nil {
			s.fail("KgoOpts: option %d is nil", i)
			continue
		}
		s.raw = append(s.raw, o)
	}
}

// Errs returns every problem found: those the options recorded, missing
// or malformed brokers, and, when needRegistry, a missing registry. The
// texts are the same in every role; the role wraps them in its own
// ErrInvalidConfig.
func (s *Settings) Errs(needRegistry bool) []error {
	errs := append([]error(nil), s.errs...)
	if err := s.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%w: use Brokers", err))
	}
	if needRegistry && s.registry == nil {
		errs = append(errs, errors.New("no registry: use Registry"))
	}
	return errs
}

// Registry returns the registry, nil if none was set.
func (s *Settings) Registry() *schema.Registry { return s.registry }

// Logger returns the logger set, or slog.Default() now: the default is
// the default logger at the time New is called.
func (s *Settings) Logger() *slog.Logger {
	if s.logger == nil {
		s.logger = slog.Default()
	}
	return s.logger
}

// KgoLogLevel returns franz-go's log level.
func (s *Settings) KgoLogLevel() slog.Level {
	if !s.levelSet {
		return DefaultKgoLogLevel
	}
	return s.level
}

// Raw returns the raw kgo options, to be applied after the role's own.
func (s *Settings) Raw() []kgo.Opt { return s.raw }

// ClientOpts returns the options every client of every role starts from:
// the connection, and franz-go's lines bridged into log (the role's
// logger, perhaps with attributes of its own) at [Settings.KgoLogLevel],
// URLs redacted.
func (s *Settings) ClientOpts(log *slog.Logger) []kgo.Opt {
	return append(s.Opts(), kgo.WithLogger(telemetry.KgoLogger(log, s.KgoLogLevel())))
}
