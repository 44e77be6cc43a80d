package breaker

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// maxClassLen bounds a class name: classes are map keys and appear in
// log lines.
const maxClassLen = 120

// Classify is the default classifier: the type of err's innermost cause
// (following single-error Unwrap) and the shape of its message, in which
// every word holding a digit becomes "#". So "dial tcp 10.0.0.7:5432:
// connect: connection refused" from two keys, or "user 17 not found" and
// "user 4242 not found", are alike; so are "HTTP 503" and "HTTP 404" (when
// most keys get either, the dependency is down or misconfigured: the
// world, not the records). A consumer that wants finer classes passes its
// own [Config].Classify.
func Classify(err error) string {
	if err == nil {
		return ""
	}
	root := err
	for next := errors.Unwrap(root); next != nil; next = errors.Unwrap(root) {
		root = next
	}
	c := fmt.Sprintf("%T: %s", root, shape(root.Error()))
	if len(c) > maxClassLen {
		c = c[:maxClassLen]
	}
	return c
}

// shape blanks the record-specific parts of an error message.
func shape(msg string) string {
	words := strings.Fields(msg)
	for i, w := range words {
		if hasDigit(w) {
			words[i] = "#"
		}
	}
	return strings.Join(words, " ")
}

func hasDigit(w string) bool { return strings.IndexFunc(w, unicode.IsDigit) >= 0 }
