package telemetry

import (
	"context"
	"log/slog"
	"net/url"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// KgoLogger bridges franz-go's logger into l, at min and above (ordo's
// default is warn: franz-go's info lines are for its own developers).
// Values that look like URLs with credentials are redacted, so a password
// never reaches a log line through the bridge.
func KgoLogger(l *slog.Logger, min slog.Level) kgo.Logger {
	return kgoLogger{l: l.With("source", "kgo"), min: min}
}

type kgoLogger struct {
	l   *slog.Logger
	min slog.Level
}

var _ kgo.Logger = kgoLogger{}

func (k kgoLogger) Level() kgo.LogLevel {
	switch {
	case k.min <= slog.LevelDebug:
		return kgo.LogLevelDebug
	case k.min <= slog.LevelInfo:
		return kgo.LogLevelInfo
	case k.min <= slog.LevelWarn:
		return kgo.LogLevelWarn
	default:
		return kgo.LogLevelError
	}
}

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	var sl slog.Level
	switch level {
	case kgo.LogLevelError:
		sl = slog.LevelError
	case kgo.LogLevelWarn:
		sl = slog.LevelWarn
	case kgo.LogLevelInfo:
		sl = slog.LevelInfo
	case kgo.LogLevelDebug:
		sl = slog.LevelDebug
	default:
		return
	}
	if sl < k.min {
		return
	}
	for i, v := range keyvals {
		if s, ok := v.(string); ok {
			keyvals[i] = RedactURL(s)
		}
	}
	msg = unhintLog(msg, keyvals) // hint.go: franz-go's guesses about a closed connection mislead
	k.l.Log(context.Background(), sl, msg, keyvals...)
}

// RedactURL replaces the password of a URL with credentials
// ("http://user:pw@host") by "xxxxx"; anything else is returned as is.
// It is the one place ordo formats a URL that may carry a secret.
func RedactURL(s string) string {
	if !strings.Contains(s, "@") || !strings.Contains(s, "://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}
