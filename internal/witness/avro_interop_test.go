//go:build integration

package witness

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/ordo-go/ordo/internal/kafkatest"
	"github.com/ordo-go/ordo/schema"
)

// The Avro interop witnesses: Python fastavro (avropy/witness.py) and
// Apache Avro Java (avrojava/, built with Maven) read what ordo writes and
// write what ordo reads, and every reader must agree value by value on the
// neutral form described in avro_types_test.go.
//
// The exchange is one JSON file in and one out per witness run:
//
//	in:  {"suites":[{"name", "writer", "reader", "values":[neutral], "bodies":[hex]}],
//	      "schemas":[{"name", "user", "registered"}]}
//	out: {"suites":[{"name", "decoded":[neutral|{"error":msg}], "written":[hex|""], "errors":[msg]}],
//	      "schemas":[{"name", "same_canonical", "same_schema", "detail"}]}
//
// A witness decodes each body, written by ordo with the writer schema, into
// the reader schema (decoded), and writes each neutral value with the
// writer schema (written), which ordo then decodes into the reader type.
// For "schemas", Java parses the text ordo registered and the user's text
// and compares their parsing canonical forms and the parsed schemas,
// defaults included.

type suite struct {
	Name   string            `json:"name"`
	Writer json.RawMessage   `json:"writer"`
	Reader json.RawMessage   `json:"reader"`
	Values []json.RawMessage `json:"values"`
	Bodies []string          `json:"bodies"`

	want   []any                                            // neutral reader values
	decode func(w *schema.Writer, body []byte) (any, error) // ordo: body → neutral reader value
}

type schemaPair struct {
	Name       string `json:"name"`
	User       string `json:"user"`
	Registered string `json:"registered"`
}

type witnessIn struct {
	Suites  []*suite     `json:"suites"`
	Schemas []schemaPair `json:"schemas"`
}

type suiteOut struct {
	Name    string            `json:"name"`
	Decoded []json.RawMessage `json:"decoded"`
	Written []string          `json:"written"`
	Errors  []string          `json:"errors"`
}

type witnessOut struct {
	Suites  []suiteOut `json:"suites"`
	Schemas []struct {
		Name          string `json:"name"`
		SameCanonical bool   `json:"same_canonical"`
		SameSchema    bool   `json:"same_schema"`
		Detail        string `json:"detail"`
	} `json:"schemas"`
}

// neutral re-encodes v (a neutral value) as canonical JSON, so that two
// neutral values agree exactly when their texts are equal.
func neutral(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return canon(t, b)
}

func canon(t *testing.T, raw []byte) string {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("neutral JSON %s: %v", raw, err)
	}
	b, err := json.Marshal(v) // map keys sorted, numbers kept as written
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// newSuite makes a suite: ordo writes each value of W with ws (bodies),
// the witnesses read them into rs, and ordo reads into R.
func newSuite[W, R any](t *testing.T, name, ws, rs string, values []W, wnorm func(W) any, rnorm func(R) any, want []any) *suite {
	t.Helper()
	wc, err := schema.NewCodec[W](ws)
	if err != nil {
		t.Fatalf("%s: writer codec: %v", name, err)
	}
	rc, err := schema.NewCodec[R](rs)
	if err != nil {
		t.Fatalf("%s: reader codec: %v", name, err)
	}
	s := &suite{Name: name, Writer: json.RawMessage(ws), Reader: json.RawMessage(rs), want: want}
	for i := range values {
		body, err := wc.AppendEncode(nil, &values[i])
		if err != nil {
			t.Fatalf("%s: encode value %d: %v", name, i, err)
		}
		s.Bodies = append(s.Bodies, hex.EncodeToString(body))
		nv, err := json.Marshal(wnorm(values[i]))
		if err != nil {
			t.Fatal(err)
		}
		s.Values = append(s.Values, nv)
	}
	s.decode = func(w *schema.Writer, body []byte) (any, error) {
		var r R
		if err := rc.DecodeFrom(w, body, &r); err != nil {
			return nil, err
		}
		return rnorm(r), nil
	}
	return s
}

// tally counts agreements per witness and direction.
type tally struct{ agree, total int }

func (c *tally) add(ok bool) {
	c.total++
	if ok {
		c.agree++
	}
}

func TestAvroInterop(t *testing.T) {
	ctx := kafkatest.Bound(t, 8*time.Minute)

	suites := []*suite{allTypesSuite(t)}
	suites = append(suites, resolutionSuites(t)...)
	in := witnessIn{Suites: suites, Schemas: registeredSchemas(ctx, t)}

	dir := t.TempDir()
	inPath := filepath.Join(dir, "in.json")
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(inPath, b, 0o644); err != nil {
		t.Fatal(err)
	}

	witnesses := []struct {
		name string
		cmd  []string
	}{
		{"fastavro", []string{"python3", "avropy/witness.py"}},
		{"java", []string{"bash", "avrojava/run.sh"}},
	}
	for _, w := range witnesses {
		if _, err := exec.LookPath(w.cmd[0]); err != nil {
			t.Fatalf("witness %s needs %s (.ci/integration.sh installs the witnesses): %v", w.name, w.cmd[0], err)
		}
		outPath := filepath.Join(dir, w.name+".json")
		start := time.Now()
		cmd := exec.CommandContext(ctx, w.cmd[0], append(w.cmd[1:], inPath, outPath)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("witness %s: %v\n%s", w.name, err, stderr.String())
		}
		t.Logf("witness %s ran in %s", w.name, time.Since(start).Round(time.Millisecond))
		raw, err := os.ReadFile(outPath)
		if err != nil {
			t.Fatal(err)
		}
		var out witnessOut
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("witness %s output: %v", w.name, err)
		}
		compareWitness(t, w.name, suites, out)
		if w.name == "java" {
			compareSchemas(t, in.Schemas, out)
		}
	}
}

func compareWitness(t *testing.T, name string, suites []*suite, out witnessOut) {
	t.Helper()
	if len(out.Suites) != len(suites) {
		t.Fatalf("%s: %d suites back, sent %d", name, len(out.Suites), len(suites))
	}
	var reads, writes, ordoReads, bytesSame tally
	for i, s := range suites {
		o := out.Suites[i]
		for _, e := range o.Errors {
			t.Errorf("%s %s: %s", name, s.Name, e)
		}
		w, err := schema.NewWriter(1, string(s.Writer))
		if err != nil {
			t.Fatal(err)
		}
		for j := range s.Bodies {
			want := neutral(t, s.want[j])
			// ordo reads its own body into the reader type.
			got, err := s.decode(w, mustHex(t, s.Bodies[j]))
			ok := err == nil && neutral(t, got) == want
			ordoReads.add(ok)
			if !ok {
				t.Errorf("ordo %s[%d]: read %v (%v), want %s", s.Name, j, got, err, want)
			}
			// The witness reads ordo's body.
			ok = j < len(o.Decoded) && canon(t, o.Decoded[j]) == want
			reads.add(ok)
			if !ok {
				t.Errorf("%s %s[%d]: read ordo's body as %s, want %s", name, s.Name, j, at(o.Decoded, j), want)
			}
			// ordo reads the witness's body.
			if j >= len(o.Written) || o.Written[j] == "" {
				writes.add(false)
				t.Errorf("%s %s[%d]: wrote nothing", name, s.Name, j)
				continue
			}
			got, err = s.decode(w, mustHex(t, o.Written[j]))
			ok = err == nil && neutral(t, got) == want
			writes.add(ok)
			if !ok {
				t.Errorf("%s %s[%d]: ordo read the witness's body as %v (%v), want %s", name, s.Name, j, got, err, want)
			}
			// Every map here has at most one key, so the encoding of a
			// value is unique: all three clients must write the same bytes.
			same := o.Written[j] == s.Bodies[j]
			bytesSame.add(same)
			if !same {
				t.Errorf("%s %s[%d]: writes other bytes than ordo for the same value:\n  ordo %s\n  %s %s", name, s.Name, j, s.Bodies[j], name, o.Written[j])
			}
		}
	}
	t.Logf("%s: reads ordo's bodies: %d/%d agree; ordo reads its bodies: %d/%d; ordo reads %s's bodies: %d/%d agree; byte-identical bodies: %d/%d",
		name, reads.agree, reads.total, ordoReads.agree, ordoReads.total, name, writes.agree, writes.total, bytesSame.agree, bytesSame.total)
}

func compareSchemas(t *testing.T, pairs []schemaPair, out witnessOut) {
	t.Helper()
	if len(out.Schemas) != len(pairs) {
		t.Fatalf("java: %d schema verdicts, sent %d", len(out.Schemas), len(pairs))
	}
	agree := 0
	for i, v := range out.Schemas {
		if v.SameCanonical && v.SameSchema {
			agree++
			continue
		}
		t.Errorf("java: registered schema %s differs from the user's: canonical %v, schema %v: %s",
			pairs[i].Name, v.SameCanonical, v.SameSchema, v.Detail)
	}
	t.Logf("java: registered schema text equals the user's schema (canonical form and defaults): %d/%d", agree, len(pairs))
}

func at(l []json.RawMessage, i int) string {
	if i < len(l) {
		return string(l[i])
	}
	return "<missing>"
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func allTypesSuite(t *testing.T) *suite {
	vals := allTypesValues()
	want := make([]any, len(vals))
	for i, v := range vals {
		want[i] = v.norm()
	}
	n := func(v allTypes) any { return v.norm() }
	return newSuite(t, "all-types", allTypesSchema, allTypesSchema, vals, n, n, want)
}

// registeredSchemas registers schemas with defaults that a re-serialisation
// would change, through ordo's Registry against srfake, and fetches back
// the text the registry holds.
func registeredSchemas(ctx context.Context, t *testing.T) []schemaPair {
	t.Helper()
	fake := srfake.New()
	t.Cleanup(fake.Close)
	reg, err := schema.NewRegistry([]string{fake.URL()}, schema.GateLevel(schema.None))
	if err != nil {
		t.Fatal(err)
	}
	var pairs []schemaPair
	for i, avsc := range []string{allTypesSchema, defaultsSchema, bigLongSchema} {
		subject := fmt.Sprintf("witness-%d-value", i)
		if _, err := reg.Register(ctx, subject, avsc); err != nil {
			t.Fatalf("register %s: %v", subject, err)
		}
		texts, err := reg.Versions(ctx, subject)
		if err != nil || len(texts) != 1 {
			t.Fatalf("versions of %s: %v %v", subject, texts, err)
		}
		pairs = append(pairs, schemaPair{Name: subject, User: avsc, Registered: texts[0]})
	}
	return pairs
}

const defaultsSchema = `{"type":"record","name":"Defaults","namespace":"ordo.witness","fields":[
 {"name":"id","type":"int"},
 {"name":"b","type":"bytes","default":"\u00ff\u0000A\u00e9"},
 {"name":"f","type":{"type":"fixed","name":"F2","size":2},"default":"\u00e9\u0001"},
 {"name":"l","type":"long","default":9223372036854775807},
 {"name":"l2","type":"long","default":9007199254740993},
 {"name":"n","type":["null","string"],"default":null},
 {"name":"d","type":"double","default":1e300},
 {"name":"fl","type":"float","default":0.1},
 {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"],"default":"B"},"default":"A"},
 {"name":"a","type":{"type":"array","items":"long"},"default":[-9223372036854775808]},
 {"name":"m","type":{"type":"map","values":"bytes"},"default":{"k":"\u0080"}},
 {"name":"r","type":{"type":"record","name":"Sub","fields":[{"name":"x","type":"long"}]},"default":{"x":9007199254740995}}]}`

const bigLongSchema = `{"type":"record","name":"Big","namespace":"ordo.witness","fields":[
 {"name":"id","type":"int"},{"name":"l","type":"long","default":-9007199254740993}]}`
