package schema

import (
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func rec(fields string) string {
	return `{"type":"record","name":"R","namespace":"t","fields":[` + fields + `]}`
}

type priced struct {
	Price complex128 `avro:"price"`
}

// TestBindRefusals protects NewCodec's promise: a type that cannot cross the
// wire is refused up front, with the field path and the right sentinel.
func TestBindRefusals(t *testing.T) {
	type withItems struct {
		Items []priced `avro:"items"`
	}
	items := rec(`{"name":"items","type":{"type":"array","items":{"type":"record","name":"P","fields":[{"name":"price","type":"double"}]}}}`)
	tests := []struct {
		name    string
		newFn   func() error
		want    error
		wantMsg string
	}{
		{"complex in nested slice", func() error { _, err := NewCodec[withItems](items); return err }, ErrUnencodable,
			"schema: bind schema.withItems: field Items[].Price: complex128 cannot be encoded in Avro"},
		{"chan", newOf[struct {
			C chan int `avro:"c"`
		}](rec(`{"name":"c","type":"int"}`)), ErrUnencodable, "field C: chan int cannot be encoded"},
		{"func", newOf[struct {
			F func() `avro:"f"`
		}](rec(`{"name":"f","type":"int"}`)), ErrUnencodable, "func() cannot be encoded"},
		{"unsafe pointer", newOf[struct {
			P unsafe.Pointer `avro:"p"`
		}](rec(`{"name":"p","type":"long"}`)), ErrUnencodable, "unsafe.Pointer"},
		{"interface", newOf[struct {
			V any `avro:"v"`
		}](rec(`{"name":"v","type":"string"}`)), ErrUnencodable, "interface {} has no schema"},
		{"map with int keys", newOf[struct {
			M map[int]string `avro:"m"`
		}](rec(`{"name":"m","type":{"type":"map","values":"string"}}`)), ErrUnencodable, "map key int"},
		{"unencodable field absent from schema", newOf[struct {
			A  string `avro:"a"`
			Ch chan int
		}](rec(`{"name":"a","type":"string"}`)), ErrUnencodable, "field Ch: chan int"},
		{"type mismatch", newOf[struct {
			A string `avro:"a"`
		}](rec(`{"name":"a","type":"long"}`)), ErrSchemaMismatch, "field A: Go string does not match Avro long"},
		{"schema field without Go field or default", newOf[struct {
			A string `avro:"a"`
		}](rec(`{"name":"a","type":"string"},{"name":"b","type":"int"}`)), ErrSchemaMismatch,
			`field b: schema t.R field "b" (int) has no Go field and no default`},
		{"Go field without schema field", newOf[struct {
			A string `avro:"a"`
			B string `avro:"b"`
		}](rec(`{"name":"a","type":"string"}`)), ErrSchemaMismatch, `field B: Go field has no field "b" in schema t.R`},
		{"nullable union needs pointer", newOf[struct {
			A string `avro:"a"`
		}](rec(`{"name":"a","type":["null","string"]}`)), ErrSchemaMismatch, "needs a pointer (*string)"},
		{"pointer needs nullable union", newOf[struct {
			A *string `avro:"a"`
		}](rec(`{"name":"a","type":"string"}`)), ErrSchemaMismatch, "a pointer needs a nullable union"},
		{"multi-type union", newOf[struct {
			A *string `avro:"a"`
		}](rec(`{"name":"a","type":["null","string","long"]}`)), ErrSchemaMismatch, "only [null, T] unions"},
		{"int32 cannot hold long", newOf[struct {
			A int32 `avro:"a"`
		}](rec(`{"name":"a","type":"long"}`)), ErrSchemaMismatch, "use int64"},
		{"uint64", newOf[struct {
			A uint64 `avro:"a"`
		}](rec(`{"name":"a","type":"long"}`)), ErrSchemaMismatch, "unsigned 64-bit"},
		{"time without logical type", newOf[struct {
			At time.Time `avro:"at"`
		}](rec(`{"name":"at","type":"long"}`)), ErrSchemaMismatch, "time.Time needs long with logicalType"},
		{"fixed size", newOf[struct {
			F [8]byte `avro:"f"`
		}](rec(`{"name":"f","type":{"type":"fixed","name":"F","size":16}}`)), ErrSchemaMismatch, "fixed of size 16 needs a Go [16]byte"},
		{"enum into int", newOf[struct {
			E int `avro:"e"`
		}](rec(`{"name":"e","type":{"type":"enum","name":"E","symbols":["A"]}}`)), ErrSchemaMismatch, "enum"},
		{"record into string", newOf[struct {
			S string `avro:"s"`
		}](rec(`{"name":"s","type":{"type":"record","name":"S","fields":[]}}`)), ErrSchemaMismatch, "needs a Go struct"},
		{"recursive schema", newOf[node](`{"type":"record","name":"Node","fields":[
			{"name":"next","type":["null","Node"]}]}`), ErrUnencodable, "recursive schema Node"},
		{"top level not a struct", newOf[string](rec(`{"name":"a","type":"string"}`)), ErrSchemaMismatch, "bind string: Go string does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.newFn()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var be *BindError
			if !errors.As(err, &be) {
				t.Fatalf("err = %T, want *BindError", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("message %q does not contain %q", err.Error(), tt.wantMsg)
			}
		})
	}
}

type node struct {
	Next *node `avro:"next"`
}

func newOf[T any](avsc string) func() error {
	return func() error { _, err := NewCodec[T](avsc); return err }
}

// TestNewCodecInvalidSchema protects ErrInvalid for unparsable or
// non-record schemas.
func TestNewCodecInvalidSchema(t *testing.T) {
	for _, avsc := range []string{``, `{`, `"string"`, `{"type":"enum","name":"E","symbols":["A"]}`, `{"type":"record","name":"R","fields":[{"name":"a","type":"nope"}]}`} {
		if _, err := NewCodec[struct{}](avsc); !errors.Is(err, ErrInvalid) {
			t.Errorf("NewCodec(%q) = %v, want ErrInvalid", avsc, err)
		}
	}
}

// TestParseIsHermetic protects against hamba's global name cache: a schema
// that refers to a name it never defines must not pick it up from another
// schema parsed earlier in the process.
func TestParseIsHermetic(t *testing.T) {
	if _, err := NewCodec[Created](createdV1); err != nil {
		t.Fatal(err)
	}
	type ref struct {
		A Address `avro:"a"`
	}
	_, err := NewCodec[ref](rec(`{"name":"a","type":"com.example.orders.Address"}`))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid (undefined name)", err)
	}
}

// TestBindAccepts protects the pairs that must bind and round-trip.
func TestBindAccepts(t *testing.T) {
	type embedded struct {
		E string `avro:"e"`
	}
	type all struct {
		embedded
		B     bool           `avro:"b"`
		I     int            `avro:"i"`
		I8    int8           `avro:"i8"`
		L     int64          `avro:"l"`
		Li    int            `avro:"li"`
		F     float32        `avro:"f"`
		D     float64        `avro:"d"`
		Date  time.Time      `avro:"date"`
		TsMs  time.Time      `avro:"ts_ms"`
		Dur   time.Duration  `avro:"dur"`
		Dec   *big.Rat       `avro:"dec"`
		PRec  *Address       `avro:"prec"`
		Opt   []string       `avro:"opt"`
		Fx    [2]byte        `avro:"fx"`
		Skip  chan int       `avro:"-"`
		Maps  map[string]int `avro:"maps"`
		Extra string         `avro:"-"`
	}
	c, err := NewCodec[all](rec(`
		{"name":"e","type":"string"},
		{"name":"b","type":"boolean"},
		{"name":"i","type":"int"},
		{"name":"i8","type":"int"},
		{"name":"l","type":"long"},
		{"name":"li","type":"long"},
		{"name":"f","type":"float"},
		{"name":"d","type":"double"},
		{"name":"date","type":{"type":"int","logicalType":"date"}},
		{"name":"ts_ms","type":{"type":"long","logicalType":"timestamp-millis"}},
		{"name":"dur","type":{"type":"long","logicalType":"time-micros"}},
		{"name":"dec","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
		{"name":"prec","type":["null",{"type":"record","name":"Address","fields":[{"name":"street","type":"string"},{"name":"city","type":"string"}]}]},
		{"name":"opt","type":["null",{"type":"array","items":"string"}]},
		{"name":"fx","type":{"type":"fixed","name":"Fx","size":2}},
		{"name":"maps","type":{"type":"map","values":"int"}},
		{"name":"with_default","type":"int","default":7}`))
	if err != nil {
		t.Fatalf("NewCodec: %v", err)
	}
	in := all{embedded: embedded{E: "e"}, B: true, I: -3, I8: 8, L: 1 << 40, Li: 5, F: 1.5, D: 2.5,
		Date: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), TsMs: time.UnixMilli(1700000000123).UTC(),
		Dur: 1500 * time.Microsecond, Dec: big.NewRat(314, 100), PRec: &Address{City: "Oslo"},
		Opt: []string{"x"}, Fx: [2]byte{9, 8}, Maps: map[string]int{"k": 1}}
	body, err := c.AppendEncode(nil, &in)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	var out all
	if err := c.Decode(body, &out); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if out.E != "e" || out.L != 1<<40 || !out.TsMs.Equal(in.TsMs) || out.Dec.Cmp(in.Dec) != 0 ||
		out.PRec.City != "Oslo" || out.Opt[0] != "x" || out.Fx != in.Fx || out.Maps["k"] != 1 || out.Dur != in.Dur {
		t.Fatalf("round trip: got %+v", out)
	}
}
