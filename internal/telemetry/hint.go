package telemetry

import (
	"regexp"
	"strings"
)

// franz-go guesses why a broker closed a connection before its first
// answer, and says so in its errors (*kgo.ErrFirstReadEOF: "... is SASL
// missing?", "... is TLS missing?", "... is TLS misconfigured ...?") and
// log lines ("(is SASL missing?)", "which often happens when ..."). The
// guess rests on one fact, an EOF on a connection's first read, and is
// wrong as often as not: a broker going away, a proxy without a backend,
// a write cancelled mid-request all look the same, and on a cluster
// without SASL the hint sends an operator to the wrong place. ordo keeps
// the fact and drops the guess: [Unhint] for errors, the kgo logger for
// its lines.

// FirstReadEOF is what ordo says instead of franz-go's guess.
const FirstReadEOF = "broker closed the connection before its first answer (EOF)"

// The guesses, as franz-go words them: in *kgo.ErrFirstReadEOF's
// messages (and in any text that quotes one), and in its log lines.
var (
	guessErr = regexp.MustCompile(`broker closed the connection immediately[^?]*\?`)
	guessLog = regexp.MustCompile(`(, which often[^(]*)?\s*\(is [^)]*\?\)`)
)

// unhinted is an error whose message has franz-go's guess replaced; it
// unwraps to the original, so errors.As still finds *kgo.ErrFirstReadEOF
// and errors.Is io.EOF.
type unhinted struct {
	err error
	msg string
}

func (e *unhinted) Error() string { return e.msg }
func (e *unhinted) Unwrap() error { return e.err }

// Unhint returns err with franz-go's guess about a first-read EOF
// replaced by [FirstReadEOF] wherever err's message carries it; any other
// error is returned as is. Unhint(nil) is nil.
func Unhint(err error) error {
	if err == nil {
		return nil
	}
	msg := unhintText(err.Error())
	if msg == err.Error() {
		return err
	}
	return &unhinted{err: err, msg: msg}
}

func unhintText(s string) string {
	if !strings.Contains(s, "?") {
		return s
	}
	return guessLog.ReplaceAllString(guessErr.ReplaceAllString(s, FirstReadEOF), "")
}

// unhintLog drops franz-go's guess from a log line: from its message and
// from every string and error among keyvals (rewritten in place: kgo
// builds keyvals per call).
func unhintLog(msg string, keyvals []any) string {
	for i, v := range keyvals {
		switch v := v.(type) {
		case string:
			keyvals[i] = unhintText(v)
		case error:
			keyvals[i] = Unhint(v)
		}
	}
	return unhintText(msg)
}
