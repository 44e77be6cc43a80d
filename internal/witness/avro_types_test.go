//go:build integration

package witness

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"strings"
	"time"
)

// The all-types schema: one field for every pair of Go type and Avro type
// that schema.NewCodec accepts, nullable forms included. Its values are
// normalised by hand (norm), independently of ordo's codec, into the
// neutral JSON the witnesses also produce (see avro_interop_test.go).

type inner struct {
	A int32  `avro:"a"`
	S string `avro:"s"`
}

type allTypes struct {
	Bool        bool               `avro:"f_bool"`
	Int         int                `avro:"f_int"`
	Int8        int8               `avro:"f_int8"`
	Int16       int16              `avro:"f_int16"`
	Int32       int32              `avro:"f_int32"`
	Uint8       uint8              `avro:"f_uint8"`
	Uint16      uint16             `avro:"f_uint16"`
	Long        int64              `avro:"f_long"`
	LongInt     int                `avro:"f_long_int"`
	Uint32      uint32             `avro:"f_uint32"`
	Float       float32            `avro:"f_float"`
	Double      float64            `avro:"f_double"`
	String      string             `avro:"f_string"`
	Bytes       []byte             `avro:"f_bytes"`
	Enum        string             `avro:"f_enum"`
	Fixed       [4]byte            `avro:"f_fixed"`
	FixedU64    uint64             `avro:"f_fixed_u64"`
	Record      inner              `avro:"f_record"`
	RecordPtr   *inner             `avro:"f_record_ptr"`
	Array       []int64            `avro:"f_array"`
	ArrayRec    []inner            `avro:"f_array_rec"`
	ArrayArr    [][]string         `avro:"f_array_arr"`
	Map         map[string]int32   `avro:"f_map"`
	MapRec      map[string]inner   `avro:"f_map_rec"`
	OptString   *string            `avro:"f_opt_string"`
	OptLong     *int64             `avro:"f_opt_long"`
	OptInt      *int32             `avro:"f_opt_int"`
	OptDouble   *float64           `avro:"f_opt_double"`
	OptFloat    *float32           `avro:"f_opt_float"`
	OptBool     *bool              `avro:"f_opt_bool"`
	OptBytes    []byte             `avro:"f_opt_bytes"`
	OptEnum     *string            `avro:"f_opt_enum"`
	OptFixed    *[4]byte           `avro:"f_opt_fixed"`
	OptArray    []string           `avro:"f_opt_array"`
	OptMap      *map[string]string `avro:"f_opt_map"`
	Date        time.Time          `avro:"f_date"`
	TimeOfDayA  time.Duration      `avro:"f_time_millis"`
	TimeOfDayB  time.Duration      `avro:"f_time_micros"`
	TsMillis    time.Time          `avro:"f_ts_millis"`
	TsMicros    time.Time          `avro:"f_ts_micros"`
	LocalMillis time.Time          `avro:"f_local_millis"`
	LocalMicros time.Time          `avro:"f_local_micros"`
	DecBytes    *big.Rat           `avro:"f_dec_bytes"`
	DecBytesVal big.Rat            `avro:"f_dec_bytes_val"`
	DecFixed    *big.Rat           `avro:"f_dec_fixed"`
	OptDec      *big.Rat           `avro:"f_opt_dec"`
	OptDecFixed *big.Rat           `avro:"f_opt_dec_fixed"`
	UUID        string             `avro:"f_uuid"`
	OptTs       *time.Time         `avro:"f_opt_ts"`
	Text        netip.Addr         `avro:"f_text"`
}

const allTypesSchema = `{"type":"record","name":"AllTypes","namespace":"ordo.witness","fields":[
 {"name":"f_bool","type":"boolean"},
 {"name":"f_int","type":"int"},
 {"name":"f_int8","type":"int"},
 {"name":"f_int16","type":"int"},
 {"name":"f_int32","type":"int"},
 {"name":"f_uint8","type":"int"},
 {"name":"f_uint16","type":"int"},
 {"name":"f_long","type":"long"},
 {"name":"f_long_int","type":"long"},
 {"name":"f_uint32","type":"long"},
 {"name":"f_float","type":"float"},
 {"name":"f_double","type":"double"},
 {"name":"f_string","type":"string"},
 {"name":"f_bytes","type":"bytes"},
 {"name":"f_enum","type":{"type":"enum","name":"Color","symbols":["RED","GREEN","BLUE"]}},
 {"name":"f_fixed","type":{"type":"fixed","name":"F4","size":4}},
 {"name":"f_fixed_u64","type":{"type":"fixed","name":"U8","size":8}},
 {"name":"f_record","type":{"type":"record","name":"Inner","fields":[{"name":"a","type":"int"},{"name":"s","type":"string"}]}},
 {"name":"f_record_ptr","type":["null","Inner"],"default":null},
 {"name":"f_array","type":{"type":"array","items":"long"}},
 {"name":"f_array_rec","type":{"type":"array","items":"Inner"}},
 {"name":"f_array_arr","type":{"type":"array","items":{"type":"array","items":"string"}}},
 {"name":"f_map","type":{"type":"map","values":"int"}},
 {"name":"f_map_rec","type":{"type":"map","values":"Inner"}},
 {"name":"f_opt_string","type":["null","string"],"default":null},
 {"name":"f_opt_long","type":["null","long"],"default":null},
 {"name":"f_opt_int","type":["null","int"],"default":null},
 {"name":"f_opt_double","type":["null","double"],"default":null},
 {"name":"f_opt_float","type":["null","float"],"default":null},
 {"name":"f_opt_bool","type":["null","boolean"],"default":null},
 {"name":"f_opt_bytes","type":["null","bytes"],"default":null},
 {"name":"f_opt_enum","type":["null","Color"],"default":null},
 {"name":"f_opt_fixed","type":["null","F4"],"default":null},
 {"name":"f_opt_array","type":["null",{"type":"array","items":"string"}],"default":null},
 {"name":"f_opt_map","type":["null",{"type":"map","values":"string"}],"default":null},
 {"name":"f_date","type":{"type":"int","logicalType":"date"}},
 {"name":"f_time_millis","type":{"type":"int","logicalType":"time-millis"}},
 {"name":"f_time_micros","type":{"type":"long","logicalType":"time-micros"}},
 {"name":"f_ts_millis","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"f_ts_micros","type":{"type":"long","logicalType":"timestamp-micros"}},
 {"name":"f_local_millis","type":{"type":"long","logicalType":"local-timestamp-millis"}},
 {"name":"f_local_micros","type":{"type":"long","logicalType":"local-timestamp-micros"}},
 {"name":"f_dec_bytes","type":{"type":"bytes","logicalType":"decimal","precision":20,"scale":4}},
 {"name":"f_dec_bytes_val","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}},
 {"name":"f_dec_fixed","type":{"type":"fixed","name":"Dec16","size":16,"logicalType":"decimal","precision":30,"scale":6}},
 {"name":"f_opt_dec","type":["null",{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}],"default":null},
 {"name":"f_opt_dec_fixed","type":["null",{"type":"fixed","name":"Dec5","size":5,"logicalType":"decimal","precision":11,"scale":3}],"default":null},
 {"name":"f_uuid","type":{"type":"string","logicalType":"uuid"}},
 {"name":"f_opt_ts","type":["null",{"type":"long","logicalType":"timestamp-micros"}],"default":null},
 {"name":"f_text","type":"string"}]}`

func ptr[T any](v T) *T { return &v }

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

// allTypesValues are the values every witness must agree on: zeros,
// extremes, unicode, times before 1970 and on a daylight-saving day.
func allTypesValues() []allTypes {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		panic(err)
	}
	zero := allTypes{
		Date: time.Unix(0, 0).UTC(), TsMillis: time.Unix(0, 0).UTC(), TsMicros: time.Unix(0, 0).UTC(),
		LocalMillis: time.Unix(0, 0).UTC(), LocalMicros: time.Unix(0, 0).UTC(),
		DecBytes: new(big.Rat), DecFixed: new(big.Rat), UUID: "00000000-0000-0000-0000-000000000000",
		Enum: "RED", Text: netip.MustParseAddr("0.0.0.0"),
	}
	full := allTypes{
		Bool: true, Int: math.MaxInt32, Int8: math.MinInt8, Int16: math.MaxInt16, Int32: math.MinInt32,
		Uint8: math.MaxUint8, Uint16: math.MaxUint16, Long: math.MaxInt64, LongInt: math.MinInt64,
		Uint32: math.MaxUint32, Float: 3.4028235e38, Double: -math.SmallestNonzeroFloat64,
		String: "héllo, 世界 🎉", Bytes: []byte{0, 0xff, 0x80, 'A'}, Enum: "BLUE",
		Fixed: [4]byte{0xde, 0xad, 0xbe, 0xef}, FixedU64: math.MaxUint64 - 1,
		Record: inner{A: -1, S: "in"}, RecordPtr: &inner{A: 2, S: "ptr"},
		Array:    []int64{math.MinInt64, 0, 9007199254740993},
		ArrayRec: []inner{{A: 1, S: "a"}, {A: 2, S: ""}},
		ArrayArr: [][]string{{"x", "y"}, {}, {"z"}},
		Map:      map[string]int32{"k": -5}, MapRec: map[string]inner{"é": {A: 3, S: "m"}},
		OptString: ptr(""), OptLong: ptr(int64(-9007199254740993)), OptInt: ptr(int32(7)),
		OptDouble: ptr(math.Inf(-1)), OptFloat: ptr(float32(-0.5)), OptBool: ptr(false),
		OptBytes: []byte{}, OptEnum: ptr("GREEN"), OptFixed: &[4]byte{1, 2, 3, 4},
		OptArray: []string{"o"}, OptMap: &map[string]string{"m": "v"},
		Date:       time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC),
		TimeOfDayA: 23*time.Hour + 59*time.Minute + 59*time.Second + 999*time.Millisecond,
		TimeOfDayB: 12*time.Hour + 34*time.Microsecond,
		TsMillis:   time.Date(2262, 4, 11, 23, 47, 16, 854_000_000, time.UTC),
		TsMicros:   time.Date(2024, 3, 31, 1, 30, 0, 123_456_000, time.UTC),
		// 02:30 on the day Berlin skips from 02:00 to 03:00.
		LocalMillis: time.Date(2024, 3, 31, 2, 30, 0, 5_000_000, time.UTC),
		LocalMicros: time.Date(2024, 10, 27, 2, 30, 0, 0, berlin),
		DecBytes:    rat("-1234567890123456.7891"), DecBytesVal: *rat("-1.01"),
		DecFixed: rat("999999999999999999999999.999999"), OptDec: rat("0.05"), OptDecFixed: rat("-12345678.901"),
		UUID:  "0190a5b4-7c3e-7d2a-9f1b-3c4d5e6f7a8b",
		OptTs: ptr(time.Date(2000, 1, 1, 0, 0, 0, 1000, time.UTC)),
		Text:  netip.MustParseAddr("2001:db8::1"),
	}
	old := allTypes{
		Double: math.Pi, Float: -1.5e-30, Enum: "GREEN", String: "\x00nul",
		Date:        time.Date(1969, 12, 31, 12, 0, 0, 0, time.UTC),
		TsMillis:    time.Date(1969, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
		TsMicros:    time.Date(1900, 1, 1, 0, 0, 0, 1000, time.UTC),
		LocalMillis: time.Date(1950, 6, 1, 8, 0, 0, 0, time.FixedZone("X", -5*3600)),
		LocalMicros: time.Date(1969, 12, 31, 23, 59, 59, 999_999_000, time.UTC),
		DecBytes:    rat("-0.0001"), DecBytesVal: *rat("-1234567.89"), DecFixed: rat("-0.000001"),
		UUID: "ffffffff-ffff-4fff-bfff-ffffffffffff", OptTs: ptr(time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC)),
		Text: netip.MustParseAddr("127.0.0.1"), OptDec: rat("-99999999.99"),
	}
	return []allTypes{zero, full, old}
}

// The neutral form every witness writes: null, booleans, strings and
// enum symbols as JSON; int and long as JSON integers; float and double as
// "f:"/"d:" and their IEEE bits in hex; bytes and fixed as hex; arrays,
// maps and records as JSON arrays and objects; a union as its branch's
// value; date as days, time-* as a count of the unit since midnight,
// timestamp-* and local-timestamp-* as a count of the unit since
// 1970-01-01T00:00 (of the wall clock, for local), decimal as the plain
// decimal string with scale digits, uuid as its lowercase text.

func nInner(v inner) map[string]any { return map[string]any{"a": int64(v.A), "s": v.S} }

func nFloat(f float32) string { return fmt.Sprintf("f:%08x", math.Float32bits(f)) }
func nDouble(f float64) string {
	return fmt.Sprintf("d:%016x", math.Float64bits(f))
}

func nDays(t time.Time) int64 {
	s := t.Unix()
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return d
}

func wall(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

func nOpt[T any](p *T, f func(T) any) any {
	if p == nil {
		return nil
	}
	return f(*p)
}

func (v allTypes) norm() map[string]any {
	arrRec := []any{}
	for _, r := range v.ArrayRec {
		arrRec = append(arrRec, nInner(r))
	}
	arrArr := []any{}
	for _, a := range v.ArrayArr {
		l := []any{}
		for _, s := range a {
			l = append(l, s)
		}
		arrArr = append(arrArr, l)
	}
	arr := []any{}
	for _, x := range v.Array {
		arr = append(arr, x)
	}
	m := map[string]any{}
	for k, x := range v.Map {
		m[k] = int64(x)
	}
	mr := map[string]any{}
	for k, x := range v.MapRec {
		mr[k] = nInner(x)
	}
	var u8 [8]byte
	binary.BigEndian.PutUint64(u8[:], v.FixedU64)
	out := map[string]any{
		"f_bool": v.Bool, "f_int": int64(v.Int), "f_int8": int64(v.Int8), "f_int16": int64(v.Int16),
		"f_int32": int64(v.Int32), "f_uint8": int64(v.Uint8), "f_uint16": int64(v.Uint16),
		"f_long": v.Long, "f_long_int": int64(v.LongInt), "f_uint32": int64(v.Uint32),
		"f_float": nFloat(v.Float), "f_double": nDouble(v.Double), "f_string": v.String,
		"f_bytes": hex.EncodeToString(v.Bytes), "f_enum": v.Enum, "f_fixed": hex.EncodeToString(v.Fixed[:]),
		"f_fixed_u64": hex.EncodeToString(u8[:]), "f_record": nInner(v.Record),
		"f_record_ptr": nOpt(v.RecordPtr, func(r inner) any { return nInner(r) }),
		"f_array":      arr, "f_array_rec": arrRec, "f_array_arr": arrArr, "f_map": m, "f_map_rec": mr,
		"f_opt_string": nOpt(v.OptString, func(s string) any { return s }),
		"f_opt_long":   nOpt(v.OptLong, func(x int64) any { return x }),
		"f_opt_int":    nOpt(v.OptInt, func(x int32) any { return int64(x) }),
		"f_opt_double": nOpt(v.OptDouble, func(x float64) any { return nDouble(x) }),
		"f_opt_float":  nOpt(v.OptFloat, func(x float32) any { return nFloat(x) }),
		"f_opt_bool":   nOpt(v.OptBool, func(x bool) any { return x }),
		"f_opt_bytes":  nil,
		"f_opt_enum":   nOpt(v.OptEnum, func(s string) any { return s }),
		"f_opt_fixed":  nOpt(v.OptFixed, func(b [4]byte) any { return hex.EncodeToString(b[:]) }),
		"f_opt_array":  nil,
		"f_opt_map": nOpt(v.OptMap, func(m map[string]string) any {
			o := map[string]any{}
			for k, x := range m {
				o[k] = x
			}
			return o
		}),
		"f_date":          nDays(v.Date),
		"f_time_millis":   int64(v.TimeOfDayA / time.Millisecond),
		"f_time_micros":   int64(v.TimeOfDayB / time.Microsecond),
		"f_ts_millis":     v.TsMillis.UnixMilli(),
		"f_ts_micros":     v.TsMicros.UnixMicro(),
		"f_local_millis":  wall(v.LocalMillis).UnixMilli(),
		"f_local_micros":  wall(v.LocalMicros).UnixMicro(),
		"f_dec_bytes":     v.DecBytes.FloatString(4),
		"f_dec_bytes_val": v.DecBytesVal.FloatString(2),
		"f_dec_fixed":     v.DecFixed.FloatString(6),
		"f_opt_dec":       nOpt(v.OptDec, func(r big.Rat) any { return r.FloatString(2) }),
		"f_opt_dec_fixed": nOpt(v.OptDecFixed, func(r big.Rat) any { return r.FloatString(3) }),
		"f_uuid":          strings.ToLower(v.UUID),
		"f_opt_ts":        nOpt(v.OptTs, func(t time.Time) any { return t.UnixMicro() }),
		"f_text":          v.Text.String(),
	}
	if v.OptBytes != nil {
		out["f_opt_bytes"] = hex.EncodeToString(v.OptBytes)
	}
	if v.OptArray != nil {
		l := []any{}
		for _, s := range v.OptArray {
			l = append(l, s)
		}
		out["f_opt_array"] = l
	}
	return out
}
