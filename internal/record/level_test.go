package record

import (
	"encoding/json"
	"testing"
)

func TestParseLevel(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want Level
	}{
		{"WARN", LevelWarn}, {"warning", LevelWarn}, {"W", LevelWarn}, {"Warning:", LevelWarn}, {"[warn]", LevelWarn},
		{"Err", LevelError}, {"ERROR", LevelError}, {"e", LevelError}, {"dpanic", LevelError}, {"SEVERE", LevelError},
		{"CRITICAL", LevelFatal}, {"panic", LevelFatal}, {"fatal", LevelFatal}, {"emerg", LevelFatal}, {"alert", LevelFatal},
		{"notice", LevelInfo}, {"INFO", LevelInfo}, {"information", LevelInfo}, {"I", LevelInfo}, {"INFO2", LevelInfo},
		{"DEBUG-4", LevelDebug}, {"WARN+2", LevelWarn}, {"dbg", LevelDebug}, {"trace", LevelTrace}, {"TRC", LevelTrace},
		// pino / bunyan
		{json.Number("10"), LevelTrace}, {json.Number("20"), LevelDebug}, {30, LevelInfo}, {int64(40), LevelWarn}, {50.0, LevelError}, {uint8(60), LevelFatal},
		// syslog 0-7
		{0, LevelFatal}, {2, LevelFatal}, {3, LevelError}, {4, LevelWarn}, {5, LevelInfo}, {6, LevelInfo}, {7, LevelDebug}, {"3", LevelError},
		// OTel 8-24 (ambiguous 1-7 go to syslog; severityNumber uses ParseOTelSeverity)
		{9, LevelInfo}, {13, LevelWarn}, {17, LevelError}, {21, LevelFatal}, {24, LevelFatal},
		{"banana", LevelUnknown}, {"", LevelUnknown}, {25, LevelUnknown}, {-1, LevelUnknown}, {35, LevelUnknown},
		{nil, LevelUnknown}, {true, LevelUnknown}, {1.5, LevelUnknown}, {map[string]any{}, LevelUnknown},
	} {
		if got := ParseLevel(tc.in); got != tc.want {
			t.Errorf("ParseLevel(%#v) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Upper-case words are the usual spelling and parsed for every record:
	// lower-casing them must not allocate.
	for _, w := range []string{"INFO", "WARNING", "Error", "WARN+2"} {
		if n := testing.AllocsPerRun(20, func() { ParseLevel(w) }); n != 0 {
			t.Errorf("ParseLevel(%q): %.0f allocations, want 0", w, n)
		}
	}
}

func TestSeverityScales(t *testing.T) {
	otel := map[int]Level{0: "", 1: LevelTrace, 4: LevelTrace, 5: LevelDebug, 8: LevelDebug, 9: LevelInfo, 12: LevelInfo,
		13: LevelWarn, 16: LevelWarn, 17: LevelError, 20: LevelError, 21: LevelFatal, 24: LevelFatal, 25: ""}
	for n, want := range otel {
		if got := ParseOTelSeverity(n); got != want {
			t.Errorf("ParseOTelSeverity(%d) = %q, want %q", n, got, want)
		}
	}
	syslog := []Level{LevelFatal, LevelFatal, LevelFatal, LevelError, LevelWarn, LevelInfo, LevelInfo, LevelDebug}
	for n, want := range syslog {
		if got := ParseSyslogSeverity(n); got != want {
			t.Errorf("ParseSyslogSeverity(%d) = %q, want %q", n, got, want)
		}
	}
	if ParseSyslogSeverity(8) != LevelUnknown || ParseSyslogSeverity(-1) != LevelUnknown {
		t.Error("out of range syslog severity")
	}
}

func TestTextLevel(t *testing.T) {
	for in, want := range map[string]Level{
		"ERROR failed":                    LevelError,
		"[warn] retry":                    LevelWarn,
		"WARNING: disk":                   LevelWarn,
		"2026-11-26 10:00:00.123 INFO x":  LevelInfo,
		"2026-11-26T10:00:00Z [error] x":  LevelError,
		"E1126 10:00:00.1 1 x.go:1] boom": LevelError,
		"I think this is fine":            LevelUnknown,
		"the error was handled":           LevelUnknown,
		"":                                LevelUnknown,
	} {
		if got := textLevel(in); got != want {
			t.Errorf("textLevel(%q) = %q, want %q", in, got, want)
		}
	}
}
