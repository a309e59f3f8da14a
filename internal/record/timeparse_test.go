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
