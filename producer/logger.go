package producer

import (
	"context"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
)

// kgoLogger forwards franz-go's warnings and errors to the producer's
// logger. franz-go's info and debug chatter stays out: it logs every
// metadata refresh and connection.
type kgoLogger struct{ l *slog.Logger }

var _ kgo.Logger = kgoLogger{}

func (k kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lvl := slog.LevelWarn
	if level == kgo.LogLevelError {
		lvl = slog.LevelError
	} else if level != kgo.LogLevelWarn {
		return
	}
	k.l.Log(context.Background(), lvl, "kgo: "+msg, keyvals...)
}
