package schema

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"time"
	"unsafe"

	avro "github.com/ordo-go/ordo/schema/internal/avro"
)

// Values are checked against their logical type before they are encoded,
// because the Avro encoder would otherwise write them without complaint: a
// decimal rounded to its scale (money changed silently), a uuid that is not
// one, a time of day past midnight that wraps, a timestamp that overflows
// the long it is written in. The check is planned once per Codec from the
// Go type and the schema, and only walks the paths that lead to such a
// field; a type without one pays nothing.

// ValueError reports a value that its field's schema cannot carry. Its
// Unwrap returns [ErrInvalidValue].
type ValueError struct {
	// Type is the Go type being encoded, e.g. "orders.Created".
	Type string
	// Field is the path of the offending value, e.g. "Items[2].Price" or
	// `Tags["eu"]`.
	Field string
	// Reason says what is wrong with the value.
	Reason string
}

func (e *ValueError) Error() string {
	return fmt.Sprintf("schema: encode %s: field %s: %s", e.Type, e.Field, e.Reason)
}

// Unwrap returns [ErrInvalidValue].
func (e *ValueError) Unwrap() error { return ErrInvalidValue }

// valueCheck checks the value at v; on failure it returns a *ValueError
// whose Field is the path below v (the caller prepends its own part).
type valueCheck func(v reflect.Value) *ValueError

// planChecks returns the check for values of t written with s, or nil when
// nothing under t needs one. t and s have passed bind.
func planChecks(t reflect.Type, s avro.Schema) valueCheck {
	return planner{seen: map[reflect.Type]bool{}}.plan(t, s)
}

type planner struct{ seen map[reflect.Type]bool }

func (p planner) plan(t reflect.Type, s avro.Schema) valueCheck {
	if ref, ok := s.(*avro.RefSchema); ok {
		s = ref.Schema()
	}
	if u, ok := s.(*avro.UnionSchema); ok {
		for _, br := range u.Types() {
			if br.Type() != avro.Null {
				s = br
			}
		}
		if ref, ok := s.(*avro.RefSchema); ok {
			s = ref.Schema()
		}
	}
	if t.Kind() == reflect.Pointer && t.Elem() != ratType {
		return derefCheck(p.plan(t.Elem(), s))
	}
	if c := leafCheck(t, s); c != nil {
		return c
	}
	switch s := s.(type) {
	case *avro.RecordSchema:
		return p.record(t, s)
	case *avro.ArraySchema:
		return sliceCheck(p.plan(t.Elem(), s.Items()))
	case *avro.MapSchema:
		return mapCheck(p.plan(t.Elem(), s.Values()))
	}
	return nil
}

func (p planner) record(t reflect.Type, s *avro.RecordSchema) valueCheck {
	if t.Kind() != reflect.Struct || p.seen[t] {
		return nil
	}
	p.seen[t] = true
	defer delete(p.seen, t)
	type fieldCheck struct {
		index []int
		name  string
		check valueCheck
	}
	var checks []fieldCheck
	goFields := structFields(t)
	for _, f := range s.Fields() {
		gf, ok := goFields[f.Name()]
		if !ok {
			continue
		}
		if c := p.plan(gf.Type, f.Type()); c != nil {
			checks = append(checks, fieldCheck{index: gf.Index, name: gf.Name, check: c})
		}
	}
	if len(checks) == 0 {
		return nil
	}
	return func(v reflect.Value) *ValueError {
		for _, fc := range checks {
			fv, err := v.FieldByIndexErr(fc.index)
			if err != nil {
				continue // through a nil embedded pointer: hamba reports it
			}
			if e := fc.check(fv); e != nil {
				e.Field = fieldPath(fc.name, e.Field)
				return e
			}
		}
		return nil
	}
}

func fieldPath(name, below string) string {
	switch {
	case below == "":
		return name
	case below[0] == '[':
		return name + below
	}
	return name + "." + below
}

func derefCheck(c valueCheck) valueCheck {
	if c == nil {
		return nil
	}
	return func(v reflect.Value) *ValueError {
		if v.IsNil() {
			return nil
		}
		return c(v.Elem())
	}
}

func sliceCheck(c valueCheck) valueCheck {
	if c == nil {
		return nil
	}
	return func(v reflect.Value) *ValueError {
		for i := range v.Len() {
			if e := c(v.Index(i)); e != nil {
				e.Field = fieldPath("["+strconv.Itoa(i)+"]", e.Field)
				return e
			}
		}
		return nil
	}
}

func mapCheck(c valueCheck) valueCheck {
	if c == nil {
		return nil
	}
	return func(v reflect.Value) *ValueError {
		it := v.MapRange()
		for it.Next() {
			if e := c(it.Value()); e != nil {
				e.Field = fieldPath("["+strconv.Quote(fmt.Sprint(it.Key().Interface()))+"]", e.Field)
				return e
			}
		}
		return nil
	}
}

// leafCheck returns the check of a logical type's domain, or nil.
func leafCheck(t reflect.Type, s avro.Schema) valueCheck {
	ls, ok := s.(avro.LogicalTypeSchema)
	if !ok || ls.Logical() == nil {
		return nil
	}
	switch lt := ls.Logical().Type(); lt {
	case avro.Decimal:
		return decimalCheck(t, ls.Logical().(*avro.DecimalLogicalSchema))
	case avro.UUID:
		if t.Kind() == reflect.String {
			return uuidCheck
		}
	case avro.TimeMillis:
		return timeOfDayCheck(t, time.Millisecond)
	case avro.TimeMicros:
		return timeOfDayCheck(t, time.Microsecond)
	case avro.Date:
		if t.ConvertibleTo(timeType) {
			return dateCheck
		}
	case avro.TimestampMillis, avro.LocalTimestampMillis:
		if t.ConvertibleTo(timeType) {
			return timestampCheck(time.Millisecond, lt == avro.LocalTimestampMillis)
		}
	case avro.TimestampMicros, avro.LocalTimestampMicros:
		if t.ConvertibleTo(timeType) {
			return timestampCheck(time.Microsecond, lt == avro.LocalTimestampMicros)
		}
	}
	return nil
}

func invalid(format string, args ...any) *ValueError {
	return &ValueError{Reason: fmt.Sprintf(format, args...)}
}

var ten = big.NewInt(10)

// decimalCheck refuses a number with more fraction digits than the scale
// (the encoder would round it) or more digits than the precision.
func decimalCheck(t reflect.Type, d *avro.DecimalLogicalSchema) valueCheck {
	if t != ratType && !(t.Kind() == reflect.Pointer && t.Elem() == ratType) {
		return nil
	}
	scale := new(big.Int).Exp(ten, big.NewInt(int64(d.Scale())), nil)
	limit := new(big.Int).Exp(ten, big.NewInt(int64(d.Precision())), nil)
	return func(v reflect.Value) *ValueError {
		var r *big.Rat
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return nil // [null, decimal] writes null; a bare one is hamba's
			}
			r = (*big.Rat)(v.UnsafePointer())
		} else if v.CanAddr() {
			r = (*big.Rat)(unsafe.Pointer(v.UnsafeAddr()))
		} else { // a map value
			c := v.Convert(ratType).Interface().(big.Rat)
			r = &c
		}
		n := new(big.Int).Mul(r.Num(), scale)
		rem := new(big.Int)
		n.QuoRem(n, r.Denom(), rem)
		if rem.Sign() != 0 {
			return invalid("decimal %s has more than %d fraction digits (scale %d); round it yourself",
				r.RatString(), d.Scale(), d.Scale())
		}
		if new(big.Int).Abs(n).Cmp(limit) >= 0 {
			return invalid("decimal %s has more than %d digits (precision %d)", r.RatString(), d.Precision(), d.Precision())
		}
		return nil
	}
}

func uuidCheck(v reflect.Value) *ValueError {
	if s := v.String(); !isUUID(s) {
		return invalid("%q is not a UUID (want 8-4-4-4-12 hex digits)", s)
	}
	return nil
}

// isUUID accepts the RFC 4122 text form, the one every client parses.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// timeOfDayCheck bounds a time of day to [0, 24h): a time.Duration, or an
// integer count of units.
func timeOfDayCheck(t reflect.Type, unit time.Duration) valueCheck {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
	default:
		return nil
	}
	max := int64(24 * time.Hour / unit)
	if t == durationType {
		max = int64(24 * time.Hour)
	}
	return func(v reflect.Value) *ValueError {
		if n := v.Int(); n < 0 || n >= max {
			if t == durationType {
				return invalid("time of day %s is outside [0, 24h)", time.Duration(n))
			}
			return invalid("time of day %d is outside [0, %d)", n, max)
		}
		return nil
	}
}

func timeOf(v reflect.Value) time.Time {
	if !v.CanAddr() { // a map value
		return v.Convert(timeType).Interface().(time.Time)
	}
	return *(*time.Time)(unsafe.Pointer(v.UnsafeAddr()))
}

const secondsPerDay = 24 * 60 * 60

func dateCheck(v reflect.Value) *ValueError {
	sec := timeOf(v).Unix()
	days := sec / secondsPerDay
	if sec%secondsPerDay < 0 {
		days--
	}
	if days < math.MinInt32 || days > math.MaxInt32 {
		return invalid("date %s is outside the int range of days since 1970-01-01", timeOf(v).Format(time.DateOnly))
	}
	return nil
}

// timestampCheck refuses a time whose count of units since the epoch does
// not fit a long (the encoder would wrap it). A local timestamp counts its
// wall clock.
func timestampCheck(unit time.Duration, local bool) valueCheck {
	perSec := int64(time.Second / unit)
	minSec, maxSec := math.MinInt64/perSec, math.MaxInt64/perSec
	return func(v reflect.Value) *ValueError {
		t := timeOf(v)
		if local {
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
		}
		// One second of margin on each side keeps sec*perSec+frac in range.
		if sec := t.Unix(); sec <= minSec || sec >= maxSec {
			return invalid("timestamp %s does not fit a long of %s since 1970", t.Format(time.RFC3339Nano), unit)
		}
		return nil
	}
}

// checkValue runs c on the value at ptr, of type t.
func checkValue(c valueCheck, t reflect.Type, typeName string, ptr unsafe.Pointer) error {
	if c == nil {
		return nil
	}
	if e := c(reflect.NewAt(t, ptr).Elem()); e != nil {
		e.Type = typeName
		return e
	}
	return nil
}
