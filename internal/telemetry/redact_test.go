package telemetry

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKgoLogRedacts protects the kgo log bridge: a password in a URL is
// hidden wherever franz-go puts it, a value that is only the URL, a text
// quoting it, or an error whose text quotes it. The bridge used to redact
// only a string that was a whole URL.
func TestKgoLogRedacts(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, nil))
	k := KgoLogger(l, slog.LevelWarn)
	k.Log(kgo.LogLevelWarn, "dial",
		"url", "https://user:s3cret@registry:8081",
		"text", "connect to https://user:s3cret@registry:8081 refused",
		"err", errors.New(`Get "https://user:s3cret@registry:8081/subjects": EOF`))
	out := buf.String()
	if strings.Contains(out, "s3cret") {
		t.Fatalf("password in the log line:\n%s", out)
	}
	if n := strings.Count(out, "user:xxxxx@registry"); n != 3 {
		t.Fatalf("%d redacted URLs, want 3:\n%s", n, out)
	}
}

// TestRedactText protects the one redaction function on texts that quote
// URLs, and on URLs the parser refuses.
func TestRedactText(t *testing.T) {
	for in, want := range map[string]string{
		`Get "http://u:pw@h:1/x": EOF`:   `Get "http://u:xxxxx@h:1/x": EOF`,
		"a http://u:pw@h b http://h c":   "a http://u:xxxxx@h b http://h c",
		"http://u:p%zz@h":                "http://xxxxx@h",
		"mail me at someone@example.com": "mail me at someone@example.com",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
