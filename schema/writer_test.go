package schema

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"sync"
	"testing"

	avro "github.com/ordo-go/ordo/schema/internal/avro"
)

// everyKindAvsc has a field of each Avro kind Writer.Decode maps, a
// multi-type union and a nested record among them.
const everyKindAvsc = `{"type":"record","name":"All","namespace":"t","fields":[
	{"name":"s","type":"string"},{"name":"i","type":"int"},{"name":"l","type":"long"},
	{"name":"f","type":"float"},{"name":"d","type":"double"},{"name":"b","type":"boolean"},
	{"name":"raw","type":"bytes"},{"name":"fx","type":{"type":"fixed","name":"F2","size":2}},
	{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
	{"name":"arr","type":{"type":"array","items":"int"}},{"name":"m","type":{"type":"map","values":"long"}},
	{"name":"opt","type":["null","string"]},{"name":"none","type":["null","string"]},
	{"name":"multi","type":["null","long",{"type":"record","name":"In","fields":[{"name":"x","type":"int"}]}]},
	{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
	{"name":"dec","type":{"type":"bytes","logicalType":"decimal","precision":6,"scale":2}}]}`

// TestWriterDecode protects the generic decoding that dlq's Show prints:
// every kind maps to the documented Go value (a union with a named branch
// as in Avro's JSON encoding, one of primitives as its bare value); a short body is ErrTruncated and trailing bytes
// ErrCorrupt (hamba's Unmarshal, which Show used before, accepted both).
func TestWriterDecode(t *testing.T) {
	w, err := NewWriter(7, everyKindAvsc)
	if err != nil {
		t.Fatal(err)
	}
	body, err := avro.Marshal(avro.MustParse(everyKindAvsc), map[string]any{
		"s": "x", "i": 1, "l": int64(1) << 40, "f": float32(1.5), "d": 2.25, "b": true,
		"raw": []byte{1, 2}, "fx": [2]byte{3, 4}, "e": "B", "arr": []int{5, 6}, "m": map[string]any{"k": int64(7)},
		"opt": "y", "none": nil, "multi": map[string]any{"t.In": map[string]any{"x": 8}},
		"ts": int64(1_700_000_000_123), "dec": []byte{0x04, 0xd2}, // 12.34
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := w.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"arr":[5,6],"b":true,"d":2.25,"dec":"617/50","e":"B","f":1.5,"fx":[3,4],"i":1,"l":1099511627776,` +
		`"m":{"k":7},"multi":{"t.In":{"x":8}},"none":null,"opt":"y","raw":"AQI=","s":"x","ts":"2023-11-14T22:13:20.123Z"}`
	if string(got) != want {
		t.Fatalf("JSON of Decode:\n got %s\nwant %s", got, want)
	}

	var de *DecodeError
	if _, err := w.Decode(body[:len(body)-1]); !errors.Is(err, ErrTruncated) || !errors.As(err, &de) || de.SchemaID != 7 {
		t.Fatalf("short body: %v, want a *DecodeError wrapping ErrTruncated", err)
	}
	if _, err := w.Decode(append(body[:len(body):len(body)], 0)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing byte: %v, want ErrCorrupt", err)
	}
}

// TestWriterDecodeReferences protects Decode of a writer whose schema uses
// a referenced type (resolved through the registry), and concurrent use.
func TestWriterDecodeReferences(t *testing.T) {
	w, err := NewWriter(9, paymentAvsc, moneyRef)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCodec[payment](paymentAvsc, WithReferences(moneyRef))
	if err != nil {
		t.Fatal(err)
	}
	body, err := c.AppendEncode(nil, &payment{"p-1", money{250, "EUR"}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			v, err := w.Decode(body)
			if err != nil {
				errs <- err
				return
			}
			if got, _ := json.Marshal(v); string(got) != `{"amount":{"cents":250,"currency":"EUR"},"id":"p-1"}` {
				errs <- errors.New("decoded " + string(got))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestWriterDecodeDeep protects the process from a hostile body nested
// deep in a recursive schema: 1 MiB of ["null", N] levels overflowed the
// goroutine stack (a fatal error, not a panic) before the bound; within
// the bound (256 KiB) nesting decodes, and a schema that does not recurse
// is not bounded.
func TestWriterDecodeDeep(t *testing.T) {
	w, err := NewWriter(1, `{"type":"record","name":"N","fields":[{"name":"next","type":["null","N"]}]}`)
	if err != nil {
		t.Fatal(err)
	}
	nested := func(levels int) []byte { return append(bytes.Repeat([]byte{2}, levels), 0) }
	if _, err := w.Decode(nested(1 << 20)); !errors.Is(err, ErrUnusableSchema) {
		t.Fatalf("1 MiB nested: %v, want ErrUnusableSchema", err)
	}
	if _, err := w.Decode(nested(maxRecursiveBody - 1)); err != nil {
		t.Fatalf("%d levels: %v", maxRecursiveBody-1, err)
	}
	flat, err := NewWriter(2, `{"type":"record","name":"S","fields":[{"name":"s","type":"string"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	big := binary.AppendVarint(nil, 1<<20)
	big = append(big, bytes.Repeat([]byte{'x'}, 1<<20)...)
	if v, err := flat.Decode(big); err != nil || len(v.(map[string]any)["s"].(string)) != 1<<20 {
		t.Fatalf("1 MiB string: %v", err)
	}
}
