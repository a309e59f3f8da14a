package record

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// levelWords maps lower-case spellings to the vocabulary. zap's "dpanic"
// (development panic) only panics in development builds and is logged as an
// error in production, so it maps to error; "panic" and syslog's emerg, alert
// and crit map to fatal.
var levelWords = map[string]Level{
	"trace": LevelTrace, "trc": LevelTrace, "t": LevelTrace, "finest": LevelTrace, "verbose": LevelTrace,
	"debug": LevelDebug, "dbg": LevelDebug, "d": LevelDebug, "fine": LevelDebug, "finer": LevelDebug,
	"info": LevelInfo, "inf": LevelInfo, "i": LevelInfo, "information": LevelInfo,
	"informational": LevelInfo, "notice": LevelInfo, "default": LevelInfo,
	"warn": LevelWarn, "warning": LevelWarn, "wrn": LevelWarn, "w": LevelWarn,
	"error": LevelError, "err": LevelError, "eror": LevelError, "e": LevelError, "dpanic": LevelError, "severe": LevelError,
	"fatal": LevelFatal, "ftl": LevelFatal, "f": LevelFatal, "crit": LevelFatal, "critical": LevelFatal,
	"panic": LevelFatal, "emerg": LevelFatal, "emergency": LevelFatal, "alert": LevelFatal,
}

// ParseLevel normalises a level value of any common shape:
//   - strings, case-insensitive, with surrounding brackets/colons and an OTel
//     style digit suffix ("INFO2") ignored: trace, debug, info, notice, warn,
//     warning, W, err, error, dpanic, panic, critical, fatal, ...;
//   - numbers (or numeric strings): 10,20,...,60 are pino/bunyan levels,
//     0-7 are syslog severities (ParseSyslogSeverity), 8-24 are OTel severity
//     numbers (ParseOTelSeverity). A field known to hold an OTel severity
//     (severityNumber) should call ParseOTelSeverity directly, since 1-7
//     mean different things in the two scales.
//
// Anything else returns LevelUnknown; callers then keep the raw value.
func ParseLevel(v any) Level {
	switch x := v.(type) {
	case string:
		return parseLevelString(x)
	case []byte:
		return parseLevelString(string(x))
	case Level:
		return parseLevelString(string(x))
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return levelNumber(n)
		}
	case float64:
		if x == float64(int64(x)) {
			return levelNumber(int64(x))
		}
	default:
		if n, ok := toInt64(v); ok {
			return levelNumber(n)
		}
	}
	return LevelUnknown
}

func parseLevelString(s string) Level {
	s = strings.Trim(s, " \t[]():<>")
	if s == "" || len(s) > 16 {
		return LevelUnknown
	}
	if l, ok := levelWords[s]; ok {
		return l
	}
	if c := s[0]; c >= '0' && c <= '9' {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return levelNumber(n)
		}
		return LevelUnknown
	}
	// Lower-cased in a buffer on the stack: "INFO" and "WARNING" are the
	// usual spellings, and this runs for every record. Non-ASCII words
	// stay as they are and are then not level words.
	var buf [16]byte
	for i := 0; i < len(s); i++ {
		buf[i] = lowerTab[s[i]]
	}
	low := buf[:len(s)]
	if l, ok := levelWords[string(low)]; ok {
		return l
	}
	// OTel severity texts may carry a number (INFO2, WARN4), slog custom
	// levels an offset (WARN+2, DEBUG-4).
	if t := bytes.TrimRight(bytes.TrimRight(low, "0123456789"), "+-"); len(t) < len(low) && len(t) > 1 {
		return levelWords[string(t)]
	}
	return LevelUnknown
}

func levelNumber(n int64) Level {
	switch {
	case n >= 10 && n <= 60 && n%10 == 0:
		return [...]Level{LevelTrace, LevelDebug, LevelInfo, LevelWarn, LevelError, LevelFatal}[n/10-1]
	case n >= 0 && n <= 7:
		return ParseSyslogSeverity(int(n))
	case n >= 8 && n <= 24:
		return ParseOTelSeverity(int(n))
	}
	return LevelUnknown
}

// ParseSyslogSeverity maps RFC 5424 severities: 0 emerg, 1 alert, 2 crit ->
// fatal; 3 err -> error; 4 warning -> warn; 5 notice, 6 info -> info;
// 7 debug -> debug.
func ParseSyslogSeverity(n int) Level {
	switch {
	case n >= 0 && n <= 2:
		return LevelFatal
	case n == 3:
		return LevelError
	case n == 4:
		return LevelWarn
	case n == 5 || n == 6:
		return LevelInfo
	case n == 7:
		return LevelDebug
	}
	return LevelUnknown
}

// ParseOTelSeverity maps OpenTelemetry SeverityNumber ranges
// (https://opentelemetry.io/docs/specs/otel/logs/data-model/#field-severitynumber):
// 1-4 trace, 5-8 debug, 9-12 info, 13-16 warn, 17-20 error, 21-24 fatal.
func ParseOTelSeverity(n int) Level {
	if n < 1 || n > 24 {
		return LevelUnknown
	}
	return [...]Level{LevelTrace, LevelDebug, LevelInfo, LevelWarn, LevelError, LevelFatal}[(n-1)/4]
}

// textLevel finds a leading level word in a plain-text line: "ERROR ...",
// "[warn] ...", "2026-11-26 10:00:00 INFO ...", or klog's "E1126 10:00:00".
// Only words of three letters or more count, so "I think" is not info.
func textLevel(s string) Level {
	// klog/glog: Lmmdd hh:mm:ss.uuuuuu
	if len(s) > 6 && strings.IndexByte("IWEF", s[0]) >= 0 && isDigits(s[1:5]) && s[5] == ' ' {
		return levelWords[string(rune(lowerTab[s[0]]))]
	}
	for range 3 { // look at the first few tokens only
		s = strings.TrimLeft(s, " \t")
		end := strings.IndexAny(s, " \t")
		if end < 0 {
			end = len(s)
		}
		tok := strings.Trim(s[:end], "[]():|<>")
		if len(tok) >= 3 && len(tok) <= 9 {
			if l := levelWords[strings.ToLower(tok)]; l != LevelUnknown {
				return l
			}
		}
		if end == len(s) || !looksLikeTimeToken(tok) {
			return LevelUnknown
		}
		s = s[end:]
	}
	return LevelUnknown
}

func looksLikeTimeToken(t string) bool {
	return len(t) >= 8 && t[0] >= '0' && t[0] <= '9' && strings.ContainsAny(t, "-:/")
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
