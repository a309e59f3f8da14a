package record

import (
	"encoding/json"
	"testing"
	"time"
)

func TestParseTimeValue(t *testing.T) {
	const want = "2026-11-26T10:00:00.123456789Z"
	for _, tc := range []struct {
		in   any
		want string // "" = not a time
	}{
		{"2026-11-26T10:00:00.123456789Z", want},
		{"2026-11-26T11:00:00.123456789+01:00", want},
		{"2026-11-26T11:00:00.123456789+0100", want},
		{"2026-11-26 10:00:00.123456789", want},
		{"2026-11-26t10:00:00.123456789z", want},
		{"2026-11-26 10:00:00,123", "2026-11-26T10:00:00.123Z"},
		{"2026-11-26T10:00:00", "2026-11-26T10:00:00Z"},
		{"2026-11-26 10:00:00 +0000", "2026-11-26T10:00:00Z"},
		{json.Number("1795687200.123456789"), want},
		{json.Number("1795687200123.456789"), want},
		{json.Number("1795687200123456.789"), want},
		{json.Number("1795687200123456789"), want},
		{"1795687200123456789", want}, // OTel timeUnixNano
		{json.Number("1.7956872e9"), "2026-11-26T10:00:00Z"},
		{int64(1795687200), "2026-11-26T10:00:00Z"},
		{uint64(1795687200123456789), want},
		{1795687200.5, "2026-11-26T10:00:00.5Z"},
		{time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC), want},
		{json.Number("0"), ""}, {"0", ""}, {-5, ""}, {"yesterday", ""}, {"2026-13-45T99:00:00Z", ""},
		{"", ""}, {nil, ""}, {true, ""}, {"2026-11-26T10:00:00 nonsense", ""},
		// Years outside 0–9999 (in UTC) cannot be written as RFC 3339.
		{"0000-01-01T00:00:00Z", "0000-01-01T00:00:00Z"}, {"9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z"},
		{"0000-01-01T00:00:00+00:01", ""}, {"9999-12-31T23:59:59-00:01", ""},
		{time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), ""}, {time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), ""},
	} {
		got, ok := parseTimeValue(tc.in)
		if tc.want == "" {
			if ok {
				t.Errorf("parseTimeValue(%#v) = %v, want failure", tc.in, got)
			}
			continue
		}
		w, _ := time.Parse(time.RFC3339Nano, tc.want)
		if !ok || !got.Equal(w) {
			t.Errorf("parseTimeValue(%#v) = %v, %v; want %v", tc.in, got, ok, w)
		}
	}
}

// TestTimestampOutOfRange: a line whose own time is outside the years
// 0–9999 gets the edge time and the no_timestamp flag, and its encoding is
// readable by Peek, for every shape that carries a time (JSON field, Docker
// json-file wrapper, CRI prefix).
func TestTimestampOutOfRange(t *testing.T) {
	for name, line := range map[string]string{
		"json":        `{"time":"0000-01-01T00:00:00+00:01","msg":"x"}`,
		"docker":      `{"log":"x\n","stream":"stdout","time":"0000-01-01T00:00:00+00:01"}`,
		"docker-high": `{"log":"x\n","stream":"stdout","time":"9999-12-31T23:59:59-00:01"}`,
		"cri":         `0000-01-01T00:00:00+00:01 stdout F x`,
	} {
		p := NewParser(ParseOptions{MaxLineBytes: 4096, Now: func() time.Time { return fixedNow }})
		var rec Record
		if !p.Parse([]byte(line), &rec) {
			t.Fatalf("%s: incomplete", name)
		}
		if !rec.Timestamp.Equal(fixedNow) || !rec.HasFlag(FlagNoTimestamp) {
			t.Errorf("%s: timestamp %v flags %v, want the edge time and %s", name, rec.Timestamp, rec.Flags, FlagNoTimestamp)
		}
		if rec.Message != "x" {
			t.Errorf("%s: message %q", name, rec.Message)
		}
		rec.EventID = "e"
		if _, err := Peek(rec.AppendJSON(nil)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
