package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
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
		keyvals[i] = redactValue(v)
	}
	msg = unhintLog(msg, keyvals) // hint.go: franz-go's guesses about a closed connection mislead
	k.l.Log(context.Background(), sl, msg, keyvals...)
}

// redactValue redacts a log value that formats as text: a string, and an
// error or Stringer (franz-go passes dial errors as errors, whose text can
// quote a URL), which becomes its redacted text when that differs.
func redactValue(v any) any {
	var s string
	switch t := v.(type) {
	case string:
		return Redact(t)
	case error:
		s = t.Error()
	case fmt.Stringer:
		s = t.String()
	default:
		return v
	}
	if r := Redact(s); r != s {
		return r
	}
	return v
}

// Redact replaces the password of every URL with credentials in s
// ("http://user:pw@host" becomes "http://user:xxxxx@host"), wherever in s
// the URL stands: alone, or quoted inside an error text. A URL the parser
// refuses loses its whole user part. It is the one function ordo formats a
// text that may carry a secret through: the registry's errors, the
// consumer's record errors and franz-go's log lines all call it.
func Redact(s string) string {
	if !strings.Contains(s, "@") || !strings.Contains(s, "://") {
		return s
	}
	return urlWithUserinfo.ReplaceAllStringFunc(s, func(u string) string {
		if p, err := url.Parse(u); err == nil && p.User != nil {
			return p.Redacted()
		}
		scheme, rest, _ := strings.Cut(u, "://")
		return scheme + "://xxxxx@" + rest[strings.LastIndex(rest, "@")+1:]
	})
}

// urlWithUserinfo finds URLs with a user part in a text.
var urlWithUserinfo = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>/@` + "`" + `]*@[^\s"'<>` + "`" + `]*`)
