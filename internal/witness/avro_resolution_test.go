//go:build integration

package witness

import (
	"encoding/hex"
	"math"
	"testing"
)

// The resolution matrix: each evolution the Avro spec allows, in both
// directions where the spec allows the reverse, as a writer schema and a
// reader schema over a record R{id, v}. ordo writes with the writer
// schema; ordo, fastavro and Java read into the reader schema and must
// agree with the spec's answer (want); the witnesses also write with the
// writer schema and ordo reads that.

type rec[X any] struct {
	ID int32 `avro:"id"`
	V  X     `avro:"v"`
}

type idOnly struct {
	ID int32 `avro:"id"`
}

func recSchema(vfield string) string {
	f := `{"name":"id","type":"int"}`
	if vfield != "" {
		f += "," + vfield
	}
	return `{"type":"record","name":"R","namespace":"ordo.witness","fields":[` + f + `]}`
}

func vField(typ string) string { return `{"name":"v","type":` + typ + `}` }

func optField(typ string) string {
	return `{"name":"v","type":["null",` + typ + `],"default":null}`
}

// evolve is a suite for v: writer type wt holding ws, reader type rt.
func evolve[W, R any](t *testing.T, name, wfield, rfield string, ws []W, wn func(W) any, rn func(R) any, want []any) *suite {
	t.Helper()
	vals := make([]rec[W], len(ws))
	wants := make([]any, len(ws))
	for i, w := range ws {
		vals[i] = rec[W]{ID: int32(i + 1), V: w}
		wants[i] = map[string]any{"id": int64(i + 1), "v": want[i]}
	}
	return newSuite(t, name, recSchema(wfield), recSchema(rfield), vals,
		func(r rec[W]) any { return map[string]any{"id": int64(r.ID), "v": wn(r.V)} },
		func(r rec[R]) any { return map[string]any{"id": int64(r.ID), "v": rn(r.V)} },
		wants)
}

func id[T any](v T) any              { return v }
func i64[T ~int32 | ~int64](v T) any { return int64(v) }
func hx(b []byte) any                { return hex.EncodeToString(b) }
func hx4(b [4]byte) any              { return hex.EncodeToString(b[:]) }
func optOf[T any](f func(T) any) func(*T) any {
	return func(p *T) any { return nOpt(p, f) }
}
func optSlice[T any](f func([]T) any) func([]T) any {
	return func(s []T) any {
		if s == nil {
			return nil
		}
		return f(s)
	}
}

func longs(l []int64) any {
	out := []any{}
	for _, x := range l {
		out = append(out, x)
	}
	return out
}

func strMap(m map[string]string) any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

const (
	colorABC = `{"type":"enum","name":"C","symbols":["A","B","C"]}`
	colorAB  = `{"type":"enum","name":"C","symbols":["A","B"],"default":"A"}`
	fixed4   = `{"type":"fixed","name":"F4","size":4}`
	innerA   = `{"type":"record","name":"In","fields":[{"name":"a","type":"int"}]}`
	innerAB  = `{"type":"record","name":"In","fields":[{"name":"a","type":"int"},{"name":"b","type":"long","default":9007199254740993}]}`
)

type inA struct {
	A int32 `avro:"a"`
}

type inAB struct {
	A int32 `avro:"a"`
	B int64 `avro:"b"`
}

func nInA(v inA) any   { return map[string]any{"a": int64(v.A)} }
func nInAB(v inAB) any { return map[string]any{"a": int64(v.A), "b": v.B} }

type withDefaults struct {
	ID int32             `avro:"id"`
	B  []byte            `avro:"b"`
	F  [2]byte           `avro:"f"`
	L  int64             `avro:"l"`
	L2 int64             `avro:"l2"`
	N  *string           `avro:"n"`
	D  float64           `avro:"d"`
	Fl float32           `avro:"fl"`
	E  string            `avro:"e"`
	A  []int64           `avro:"a"`
	M  map[string][]byte `avro:"m"`
	R  struct {
		X int64 `avro:"x"`
	} `avro:"r"`
}

func (v withDefaults) norm() any {
	m := map[string]any{}
	for k, b := range v.M {
		m[k] = hex.EncodeToString(b)
	}
	return map[string]any{
		"id": int64(v.ID), "b": hex.EncodeToString(v.B), "f": hex.EncodeToString(v.F[:]), "l": v.L, "l2": v.L2,
		"n": nOpt(v.N, func(s string) any { return s }), "d": nDouble(v.D), "fl": nFloat(v.Fl), "e": v.E,
		"a": longs(v.A), "m": m, "r": map[string]any{"x": v.R.X},
	}
}

func resolutionSuites(t *testing.T) []*suite {
	s := []*suite{
		newSuite(t, "add field with default", recSchema(""), recSchema(`{"name":"v","type":"string","default":"x"}`),
			[]idOnly{{1}, {2}}, func(v idOnly) any { return map[string]any{"id": int64(v.ID)} },
			func(v rec[string]) any { return map[string]any{"id": int64(v.ID), "v": v.V} },
			[]any{map[string]any{"id": int64(1), "v": "x"}, map[string]any{"id": int64(2), "v": "x"}}),
		newSuite(t, "remove field", recSchema(vField(`"string"`)), recSchema(""),
			[]rec[string]{{1, "a"}}, func(v rec[string]) any { return map[string]any{"id": int64(v.ID), "v": v.V} },
			func(v idOnly) any { return map[string]any{"id": int64(v.ID)} },
			[]any{map[string]any{"id": int64(1)}}),
		newSuite(t, "defaults filled (bytes, fixed, big longs, nested)",
			`{"type":"record","name":"Defaults","namespace":"ordo.witness","fields":[{"name":"id","type":"int"}]}`, defaultsSchema,
			[]idOnly{{7}}, func(v idOnly) any { return map[string]any{"id": int64(v.ID)} },
			withDefaults.norm,
			[]any{map[string]any{
				"id": int64(7), "b": "ff0041e9", "f": "e901", "l": int64(math.MaxInt64), "l2": int64(9007199254740993),
				"n": nil, "d": nDouble(1e300), "fl": nFloat(0.1), "e": "A", "a": []any{int64(math.MinInt64)},
				"m": map[string]any{"k": "80"}, "r": map[string]any{"x": int64(9007199254740995)},
			}}),
		newSuite(t, "rename with alias", recSchema(`{"name":"old","type":"string"}`),
			recSchema(`{"name":"v","type":"string","aliases":["old"]}`),
			[]struct {
				ID  int32  `avro:"id"`
				Old string `avro:"old"`
			}{{1, "o"}},
			func(v struct {
				ID  int32  `avro:"id"`
				Old string `avro:"old"`
			}) any {
				return map[string]any{"id": int64(v.ID), "old": v.Old}
			},
			func(v rec[string]) any { return map[string]any{"id": int64(v.ID), "v": v.V} },
			[]any{map[string]any{"id": int64(1), "v": "o"}}),

		evolve(t, "int to long", vField(`"int"`), vField(`"long"`), []int32{math.MaxInt32, -1}, i64[int32], i64[int64],
			[]any{int64(math.MaxInt32), int64(-1)}),
		evolve(t, "int to float", vField(`"int"`), vField(`"float"`), []int32{123456789, -3}, i64[int32], func(f float32) any { return nFloat(f) },
			[]any{nFloat(123456789), nFloat(-3)}),
		evolve(t, "int to double", vField(`"int"`), vField(`"double"`), []int32{math.MinInt32}, i64[int32], func(f float64) any { return nDouble(f) },
			[]any{nDouble(math.MinInt32)}),
		evolve(t, "long to float", vField(`"long"`), vField(`"float"`), []int64{1 << 40, -7}, i64[int64], func(f float32) any { return nFloat(f) },
			[]any{nFloat(1 << 40), nFloat(-7)}),
		evolve(t, "long to double", vField(`"long"`), vField(`"double"`), []int64{1<<53 - 1, -1 << 50}, i64[int64], func(f float64) any { return nDouble(f) },
			[]any{nDouble(1<<53 - 1), nDouble(-1 << 50)}),
		evolve(t, "float to double", vField(`"float"`), vField(`"double"`), []float32{0.1, -2.5e30}, func(f float32) any { return nFloat(f) }, func(f float64) any { return nDouble(f) },
			[]any{nDouble(float64(float32(0.1))), nDouble(float64(float32(-2.5e30)))}),
		evolve(t, "string to bytes", vField(`"string"`), vField(`"bytes"`), []string{"héllo"}, id[string], hx,
			[]any{hex.EncodeToString([]byte("héllo"))}),
		evolve(t, "bytes to string", vField(`"bytes"`), vField(`"string"`), [][]byte{[]byte("wörld")}, hx, id[string],
			[]any{"wörld"}),
		evolve(t, "int to [null, long]", vField(`"int"`), optField(`"long"`), []int32{-9}, i64[int32], optOf(i64[int64]),
			[]any{int64(-9)}),
		evolve(t, "enum gains a symbol", vField(`{"type":"enum","name":"C","symbols":["A","B"]}`), vField(colorABC),
			[]string{"B"}, id[string], id[string], []any{"B"}),
		evolve(t, "enum loses a symbol (reader default)", vField(colorABC), vField(colorAB),
			[]string{"C", "B"}, id[string], id[string], []any{"A", "B"}),
		evolve(t, "record gains a field", vField(innerA), vField(innerAB), []inA{{4}}, nInA, nInAB,
			[]any{map[string]any{"a": int64(4), "b": int64(9007199254740993)}}),
		evolve(t, "record loses a field", vField(innerAB), vField(innerA), []inAB{{4, 5}}, nInAB, nInA,
			[]any{map[string]any{"a": int64(4)}}),
	}
	// Each type made optional. The reverse (a writer's ["null", X] read as
	// X, which the spec allows for each non-null value) is the narrower
	// reader union that another change teaches ordo; add its cases here
	// when it lands.
	s = append(s,
		evolve(t, "string made optional", vField(`"string"`), optField(`"string"`), []string{"s", ""}, id[string], optOf(id[string]), []any{"s", ""}),
		evolve(t, "long made optional", vField(`"long"`), optField(`"long"`), []int64{math.MaxInt64}, i64[int64], optOf(i64[int64]), []any{int64(math.MaxInt64)}),
		evolve(t, "int made optional", vField(`"int"`), optField(`"int"`), []int32{math.MinInt32}, i64[int32], optOf(i64[int32]), []any{int64(math.MinInt32)}),
		evolve(t, "double made optional", vField(`"double"`), optField(`"double"`), []float64{math.MaxFloat64}, func(f float64) any { return nDouble(f) }, optOf(func(f float64) any { return nDouble(f) }), []any{nDouble(math.MaxFloat64)}),
		evolve(t, "boolean made optional", vField(`"boolean"`), optField(`"boolean"`), []bool{true, false}, id[bool], optOf(id[bool]), []any{true, false}),
		evolve(t, "enum made optional", vField(colorABC), optField(colorABC), []string{"C"}, id[string], optOf(id[string]), []any{"C"}),
		evolve(t, "fixed made optional", vField(fixed4), optField(fixed4), [][4]byte{{1, 2, 3, 4}}, hx4, optOf(hx4), []any{"01020304"}),
		evolve(t, "bytes made optional", vField(`"bytes"`), optField(`"bytes"`), [][]byte{{0xff}}, hx, optSlice(hx), []any{"ff"}),
		evolve(t, "record made optional", vField(innerA), optField(innerA), []inA{{1}}, nInA, optOf(nInA), []any{map[string]any{"a": int64(1)}}),
		evolve(t, "array made optional", vField(`{"type":"array","items":"long"}`), optField(`{"type":"array","items":"long"}`),
			[][]int64{{1, -1}}, longs, optSlice(longs), []any{[]any{int64(1), int64(-1)}}),
		evolve(t, "map made optional", vField(`{"type":"map","values":"string"}`), optField(`{"type":"map","values":"string"}`),
			[]map[string]string{{"k": "v"}}, strMap, optOf(strMap), []any{map[string]any{"k": "v"}}),
	)
	var n int
	for _, x := range s {
		n += len(x.Bodies)
	}
	t.Logf("resolution matrix: %d evolutions, %d values", len(s), n)
	return s
}
