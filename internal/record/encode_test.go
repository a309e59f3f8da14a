package record

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"testing"
	"time"
)

func TestAppendJSONValues(t *testing.T) {
	ts := time.Date(2026, 11, 26, 11, 0, 0, 123000000, time.FixedZone("CET", 3600))
	r := Record{
		Timestamp: ts,
		Message:   "line1\nline2 \"q\" \\ \t\x01 \u2028\u2029 <html>&",
		Level:     LevelWarn,
		Flags:     []string{FlagRedacted},
		Fields: map[string]any{
			"z":       "last",
			"bad":     "a\xffb",
			"\xffkey": 1,
			"nan":     math.NaN(),
			"inf":     math.Inf(1),
			"ninf":    float32(math.Inf(-1)),
			"num":     json.Number("12345678901234567890123"),
			"badnum":  json.Number("12abc"),
			"f":       1e21,
			"small":   1e-7,
			"f32":     float32(0.1),
			"u":       uint64(math.MaxUint64),
			"i8":      int8(-5),
			"b":       []byte("bytes"),
			"nil":     nil,
			"t":       ts,
			"lvl":     LevelError,
			"err":     errors.New("boom"),
			"strs":    []string{"x", "y"},
			"mp":      map[any]any{2: "two", "a": []any{true, false, nil}, "k": map[string]any{"b": 1, "a": 2}},
			"struct":  struct{ B, A int }{1, 2},
			"bigint":  big.NewInt(7),
		},
	}
	got := string(r.AppendJSON(nil))
	want := `{"@timestamp":"2026-11-26T10:00:00.123000000Z","message":"line1\nline2 \"q\" \\ \t\u0001 \u2028\u2029 <html>&","log.level":"warn","agentobs.flags":["redacted"],` +
		`"b":"bytes","bad":"a` + "\uFFFD" + `b","badnum":"12abc","bigint":"7","err":"boom","f":1e+21,"f32":0.1,"i8":-5,"inf":"+Inf","lvl":"error",` +
		`"mp":{"2":"two","a":[true,false,null],"k":{"a":2,"b":1}},"nan":"NaN","nil":null,"ninf":"-Inf","num":12345678901234567890123,` +
		`"small":1e-07,"strs":["x","y"],"struct":{"A":2,"B":1},"t":"2026-11-26T10:00:00.123000000Z","u":18446744073709551615,"z":"last","` + "\uFFFD" + `key":1}`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if !json.Valid([]byte(got)) {
		t.Error("invalid JSON")
	}
}

func TestAppendJSONOmitsEmpty(t *testing.T) {
	var r Record
	if got := string(r.AppendJSON([]byte("prefix:"))); got != "prefix:{}" {
		t.Errorf("empty record: %s", got)
	}
}

// TestEncodeDecodeRoundTrip: Decode(AppendJSON(r)) gives r back.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	r := Record{
		Timestamp: time.Date(2026, 11, 26, 10, 0, 0, 1, time.UTC), Message: "m", Level: LevelInfo, Service: "s",
		ServiceInstance: "i", TraceID: tid1, SpanID: sid1, TraceFlags: "01", EventID: "e", Dataset: "d",
		Flags:  []string{FlagTruncated, FlagRedacted},
		Fields: map[string]any{"a": json.Number("1"), "b": map[string]any{"c": []any{"x", nil, true}}},
	}
	got, err := Decode(r.AppendJSON(nil))
	if err != nil {
		t.Fatal(err)
	}
	if string(got.AppendJSON(nil)) != string(r.AppendJSON(nil)) || !got.Timestamp.Equal(r.Timestamp) {
		t.Errorf("round trip:\n%+v\n%+v", got, r)
	}
	if _, err := Decode([]byte(`{"a":1} x`)); err == nil {
		t.Error("Decode accepted trailing garbage")
	}
}

func TestAppendTimestamp(t *testing.T) {
	for _, ts := range []time.Time{
		time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("x", -3600)),
		time.Date(1970, 1, 1, 0, 0, 0, 1, time.Local),
	} {
		want := `"` + ts.UTC().Format(TimeLayout) + `"`
		if got := string(appendTimestamp(nil, ts)); got != want {
			t.Errorf("appendTimestamp(%v) = %s, want %s", ts, got, want)
		}
	}
}
