package telemetry

import (
	"strconv"
	"unicode/utf8"
)

// MaxText is how many bytes of a record's key, or of a header value, a log
// line, an error text or a span attribute carries. Kafka allows keys of
// megabytes, and a record's key appears in every log line about it (and
// once more in the error text it logs): a poison record with a 1MiB key
// wrote 9.4MB of log for itself. Longer text is cut and marked with its
// length, so it still names any key an operator would type.
const MaxText = 128

// KeyText is the one place a record key becomes text, for log lines,
// error texts and span attributes: [Clip] of the key, or "[redacted]"
// when redact is set (RedactKeys).
func KeyText(key []byte, redact bool) string {
	if redact {
		return "[redacted]"
	}
	return Clip(key)
}

// Clip is b as text, cut to MaxText bytes (on a UTF-8 boundary) and
// followed by "…(N bytes)" when it is longer: for bytes a record brings
// (its key, its headers' values) on their way into a log line, an error
// or a span.
func Clip[T ~string | ~[]byte](b T) string {
	if len(b) <= MaxText {
		return string(b)
	}
	cut := MaxText
	for cut > MaxText-utf8.UTFMax && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return string(b[:cut]) + "…(" + strconv.Itoa(len(b)) + " bytes)"
}
