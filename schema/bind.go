package schema

import (
	"encoding"
	"fmt"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"time"

	avro "github.com/ordo-go/ordo/schema/internal/avro"
)

// The binder walks a Go type against a schema before any value crosses the
// wire, so a type that cannot round-trip is refused by NewCodec with the
// field's path instead of failing at the first publish (or, worse, encoding
// fine and failing on decode). It mirrors the pairs hamba can both encode
// and decode; where hamba encodes a pair it cannot decode (int32 as long,
// float32 as double), the binder refuses it.

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
	ratType      = reflect.TypeFor[big.Rat]()
	textMarshal  = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarsh  = reflect.TypeFor[encoding.TextUnmarshaler]()
)

type binder struct {
	typeName string
	stack    map[string]bool // named records being walked, to spot recursion
}

func bind(t reflect.Type, s avro.Schema) *BindError {
	b := &binder{typeName: t.String(), stack: map[string]bool{}}
	return b.walk(t, s, "")
}

func (b *binder) fail(path string, sentinel error, format string, args ...any) *BindError {
	return &BindError{Type: b.typeName, Field: path, Reason: fmt.Sprintf(format, args...), err: sentinel}
}

// unencodable reports Go types no Avro schema can carry.
func unencodable(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Chan, reflect.Func, reflect.Complex64, reflect.Complex128,
		reflect.UnsafePointer, reflect.Uintptr:
		return fmt.Sprintf("%s cannot be encoded in Avro", t)
	case reflect.Interface:
		return fmt.Sprintf("interface %s has no schema and cannot be encoded in Avro", t)
	case reflect.Map:
		if k := t.Key(); k.Kind() != reflect.String && !isText(k) {
			return fmt.Sprintf("map key %s cannot be encoded in Avro (map keys are strings)", k)
		}
	}
	return ""
}

func isText(t reflect.Type) bool {
	return t.Implements(textMarshal) && reflect.PointerTo(t).Implements(textUnmarsh)
}

func (b *binder) walk(t reflect.Type, s avro.Schema, path string) *BindError {
	if why := unencodable(t); why != "" {
		return b.fail(path, ErrUnencodable, "%s", why)
	}
	if ref, ok := s.(*avro.RefSchema); ok {
		if b.stack[ref.Schema().FullName()] {
			return b.fail(path, ErrUnencodable, "recursive schema %s is not supported", ref.Schema().FullName())
		}
		s = ref.Schema()
	}
	if s.Type() == avro.String && isText(t) {
		return nil
	}
	switch s := s.(type) {
	case *avro.UnionSchema:
		return b.union(t, s, path)
	case *avro.RecordSchema:
		return b.record(t, s, path)
	case *avro.ArraySchema:
		if t.Kind() != reflect.Slice {
			return b.mismatch(t, s, path, "an Avro array needs a Go slice")
		}
		return b.walk(t.Elem(), s.Items(), path+"[]")
	case *avro.MapSchema:
		if t.Kind() != reflect.Map {
			return b.mismatch(t, s, path, "an Avro map needs a Go map with string keys")
		}
		return b.walk(t.Elem(), s.Values(), path+"{}")
	case *avro.EnumSchema:
		if t.Kind() == reflect.String || isText(t) {
			return nil
		}
		return b.mismatch(t, s, path, "an Avro enum needs a Go string")
	case *avro.FixedSchema:
		return b.fixed(t, s, path)
	case *avro.NullSchema:
		return nil
	case *avro.PrimitiveSchema:
		return b.primitive(t, s, path)
	}
	return b.mismatch(t, s, path, "unsupported schema type")
}

func (b *binder) mismatch(t reflect.Type, s avro.Schema, path, hint string) *BindError {
	return b.fail(path, ErrSchemaMismatch, "Go %s does not match Avro %s: %s", t, describe(s), hint)
}

// describe names a schema briefly for messages.
func describe(s avro.Schema) string {
	switch s := s.(type) {
	case avro.NamedSchema:
		return fmt.Sprintf("%s %s", s.Type(), s.FullName())
	case *avro.PrimitiveSchema:
		if l := s.Logical(); l != nil {
			return fmt.Sprintf("%s (%s)", s.Type(), l.Type())
		}
	case *avro.UnionSchema:
		names := make([]string, 0, len(s.Types()))
		for _, t := range s.Types() {
			names = append(names, describe(t))
		}
		return "union [" + strings.Join(names, ", ") + "]"
	}
	return string(s.Type())
}

func (b *binder) union(t reflect.Type, s *avro.UnionSchema, path string) *BindError {
	var other avro.Schema
	nulls, others := 0, 0
	for _, br := range s.Types() {
		if br.Type() == avro.Null {
			nulls++
			continue
		}
		others++
		other = br
	}
	if nulls != 1 || others != 1 {
		return b.mismatch(t, s, path, "only [null, T] unions bind to Go types (a pointer, slice or map)")
	}
	switch t.Kind() {
	case reflect.Pointer:
		return b.walk(t.Elem(), other, path)
	case reflect.Slice:
		return b.walk(t, other, path)
	case reflect.Map:
		// hamba encodes a nil map as null but cannot decode a union into
		// a map: every encode and decode would fail.
		return b.mismatch(t, s, path, fmt.Sprintf("a nullable map needs a pointer (*%s)", t))
	}
	return b.mismatch(t, s, path, fmt.Sprintf("a nullable union needs a pointer (*%s)", t))
}

func (b *binder) record(t reflect.Type, s *avro.RecordSchema, path string) *BindError {
	if t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct {
		t = t.Elem() // hamba dereferences; a nil pointer fails at encode time
	}
	if t.Kind() != reflect.Struct || t == timeType || t == ratType {
		return b.mismatch(t, s, path, "an Avro record needs a Go struct")
	}
	b.stack[s.FullName()] = true
	defer delete(b.stack, s.FullName())

	goFields := structFields(t)
	used := make(map[string]bool, len(goFields))
	for _, f := range s.Fields() {
		gf, ok := goFields[f.Name()]
		if !ok {
			if !f.HasDefault() {
				return b.fail(join(path, f.Name()), ErrSchemaMismatch,
					"schema %s field %q (%s) has no Go field and no default: %s",
					s.FullName(), f.Name(), describe(f.Type()), missingFieldHint(goFields, f.Name(), f.Type()))
			}
			continue
		}
		used[f.Name()] = true
		if err := b.walk(gf.Type, f.Type(), join(path, gf.Name)); err != nil {
			return err
		}
	}
	for name, gf := range goFields {
		if used[name] {
			continue
		}
		if why := unencodable(gf.Type); why != "" {
			return b.fail(join(path, gf.Name), ErrUnencodable, "%s", why)
		}
		return b.fail(join(path, gf.Name), ErrSchemaMismatch,
			"Go field has no field %q in schema %s (tag it `avro:\"-\"` to leave it out)", name, s.FullName())
	}
	return nil
}

// missingFieldHint says how to give schema field name (of type s) a Go
// field: tag the untagged Go field whose name is the same but for case and
// underscores (OrderID for order_id, the usual slip), else add a field.
func missingFieldHint(goFields map[string]reflect.StructField, name string, s avro.Schema) string {
	norm := func(n string) string { return strings.ToLower(strings.ReplaceAll(n, "_", "")) }
	var match string
	for _, gf := range goFields {
		if _, tagged := gf.Tag.Lookup("avro"); !tagged && norm(gf.Name) == norm(name) && (match == "" || gf.Name < match) {
			match = gf.Name
		}
	}
	if match != "" {
		return fmt.Sprintf("add the tag `avro:%q` to the Go field %s", name, match)
	}
	return fmt.Sprintf("add the tag `avro:%q` to a Go field of type %s, or give the schema field a default", name, goTypeFor(s))
}

// goTypeFor names the Go type that binds to s, for messages.
func goTypeFor(s avro.Schema) string {
	if p, ok := s.(*avro.PrimitiveSchema); ok && p.Logical() == nil {
		switch p.Type() {
		case avro.String:
			return "string"
		case avro.Int:
			return "int32"
		case avro.Long:
			return "int64"
		case avro.Float:
			return "float32"
		case avro.Double:
			return "float64"
		case avro.Boolean:
			return "bool"
		case avro.Bytes:
			return "[]byte"
		}
	}
	return "matching Avro " + describe(s)
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// structFields lists the exported fields of t under the names hamba gives
// them (the avro tag, else the Go name), flattening embedded structs
// breadth-first; the first field with a name wins, as in hamba.
func structFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	seen := map[reflect.Type]bool{}
	level := []reflect.Type{t}
	for len(level) > 0 {
		var next []reflect.Type
		for _, st := range level {
			if seen[st] {
				continue
			}
			seen[st] = true
			for i := range st.NumField() {
				f := st.Field(i)
				if f.Anonymous {
					et := f.Type
					if et.Kind() == reflect.Pointer {
						et = et.Elem()
					}
					if et.Kind() == reflect.Struct {
						next = append(next, et)
					}
					continue
				}
				if !f.IsExported() {
					continue
				}
				name := f.Name
				if tag, ok := f.Tag.Lookup("avro"); ok {
					name, _, _ = strings.Cut(tag, ",")
				}
				if name == "-" {
					continue
				}
				if _, dup := out[name]; !dup {
					out[name] = f
				}
			}
		}
		level = next
	}
	return out
}

func (b *binder) fixed(t reflect.Type, s *avro.FixedSchema, path string) *BindError {
	switch {
	case t.Kind() == reflect.Array && t.Elem().Kind() == reflect.Uint8 && t.Len() == s.Size():
		return nil
	case t.Kind() == reflect.Uint64 && s.Size() == 8:
		return nil
	case (t == ratType || t.Kind() == reflect.Pointer && t.Elem() == ratType) && logical(s) == avro.Decimal:
		return nil
	}
	return b.mismatch(t, s, path, fmt.Sprintf("a fixed of size %d needs a Go [%d]byte", s.Size(), s.Size()))
}

func logical(s avro.Schema) avro.LogicalType {
	if ls, ok := s.(avro.LogicalTypeSchema); ok && ls.Logical() != nil {
		return ls.Logical().Type()
	}
	return ""
}

// primitive mirrors hamba's native codecs, keeping only pairs that work in
// both directions.
func (b *binder) primitive(t reflect.Type, s *avro.PrimitiveSchema, path string) *BindError {
	lt := logical(s)
	ok := false
	switch s.Type() {
	case avro.Boolean:
		ok = t.Kind() == reflect.Bool
	case avro.Int:
		switch t.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16:
			ok = true
		case reflect.Int64:
			ok = lt == avro.TimeMillis
		case reflect.Struct:
			ok = t.ConvertibleTo(timeType) && lt == avro.Date
		}
	case avro.Long:
		ok = b.long(t, lt)
	case avro.Float:
		ok = t.Kind() == reflect.Float32
	case avro.Double:
		ok = t.Kind() == reflect.Float64
	case avro.String:
		ok = t.Kind() == reflect.String
	case avro.Bytes:
		ok = t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 ||
			lt == avro.Decimal && (t == ratType || t.Kind() == reflect.Pointer && t.Elem() == ratType)
	}
	if ok {
		return nil
	}
	hint := "types differ"
	switch {
	case t.Kind() == reflect.Pointer:
		hint = "a pointer needs a nullable union [\"null\", ...] in the schema"
	case t == timeType:
		hint = "time.Time needs long with logicalType timestamp-millis or timestamp-micros (or int with date)"
	case t.Kind() == reflect.Int32 && s.Type() == avro.Long:
		hint = "int32 cannot hold every Avro long; use int64"
	case t.Kind() == reflect.Float32 && s.Type() == avro.Double:
		hint = "float32 cannot hold every Avro double; use float64"
	case t.Kind() == reflect.Uint64 || t.Kind() == reflect.Uint:
		hint = "unsigned 64-bit integers have no Avro type; use int64 or a fixed of size 8"
	}
	return b.mismatch(t, s, path, hint)
}

func (b *binder) long(t reflect.Type, lt avro.LogicalType) bool {
	isTimestamp := lt == avro.TimestampMillis || lt == avro.TimestampMicros ||
		lt == avro.LocalTimestampMillis || lt == avro.LocalTimestampMicros
	switch t.Kind() {
	case reflect.Int64:
		return !isTimestamp || t != durationType
	case reflect.Int:
		return strconv.IntSize == 64
	case reflect.Uint32:
		return true
	case reflect.Struct:
		return t.ConvertibleTo(timeType) && isTimestamp
	}
	return false
}
