package record

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// inRange bounds every parsed timestamp to the years 0–9999 (in UTC): the
// encoder writes @timestamp as RFC 3339, which has exactly four year digits,
// and Elasticsearch and Peek reject anything else. A time outside is treated
// as no time at all (the record gets the edge time and the no_timestamp
// flag), never encoded as "-0001-…" or "10000-…".
func inRange(t time.Time, ok bool) (time.Time, bool) {
	if !ok {
		return t, false
	}
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return time.Time{}, false
	}
	return t, true
}

// parseTimeValue converts a time field of any common shape. Numbers (and
// numeric strings, as OTel JSON writes timeUnixNano) are epoch values whose
// unit is detected by magnitude: < 1e11 seconds (zap's float "ts"), < 1e14
// milliseconds, < 1e17 microseconds, else nanoseconds. Zero and negative
// values mean "unset" and are rejected.
func parseTimeValue(v any) (time.Time, bool) { return inRange(parseTimeAny(v)) }

func parseTimeAny(v any) (time.Time, bool) {
	switch x := v.(type) {
	case string:
		return parseTimeText(x)
	case []byte:
		return parseTimeText(string(x))
	case json.Number:
		return parseEpoch(string(x))
	case time.Time:
		return x, !x.IsZero()
	case float64:
		return epochFloat(x)
	case float32:
		return epochFloat(float64(x))
	default:
		if n, ok := toInt64(v); ok {
			if n <= 0 {
				return time.Time{}, false
			}
			return epochParts(uint64(n), "")
		}
		if n, ok := v.(uint64); ok && n > 0 {
			return epochParts(n, "")
		}
	}
	return time.Time{}, false
}

func epochFloat(f float64) (time.Time, bool) {
	if !(f > 0) || math.IsInf(f, 0) || f >= 1<<63 {
		return time.Time{}, false
	}
	return parseEpoch(strconv.FormatFloat(f, 'f', -1, 64))
}

// parseEpoch parses a decimal epoch value exactly (no float rounding, so a
// zap "ts":1732615200.123456789 keeps its nanoseconds).
func parseEpoch(s string) (time.Time, bool) {
	intPart, frac := s, ""
	if strings.ContainsAny(s, "eE") {
		// exponent: fall back to float, the digits are not exact anyway
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || !(f > 0) || f >= 1<<63 {
			return time.Time{}, false
		}
		return parseEpoch(strconv.FormatFloat(f, 'f', -1, 64))
	}
	if i := strings.IndexByte(s, '.'); i >= 0 {
		intPart, frac = s[:i], s[i+1:]
		if !isDigits(frac) {
			return time.Time{}, false
		}
	}
	if !isDigits(intPart) {
		return time.Time{}, false
	}
	n, err := strconv.ParseUint(intPart, 10, 64)
	if err != nil || (n == 0 && (frac == "" || allZero(frac))) {
		return time.Time{}, false
	}
	return epochParts(n, frac)
}

func allZero(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}

func epochParts(n uint64, frac string) (time.Time, bool) {
	var perSec uint64
	switch {
	case n < 1e11:
		perSec = 1
	case n < 1e14:
		perSec = 1e3
	case n < 1e17:
		perSec = 1e6
	default:
		perSec = 1e9
	}
	unitNs := int64(1e9 / perSec)
	nsec := int64(n%perSec) * unitNs
	scale := unitNs
	for i := 0; i < len(frac) && scale > 1; i++ {
		scale /= 10
		nsec += int64(frac[i]-'0') * scale
	}
	return time.Unix(int64(n/perSec), nsec).UTC(), true
}

// parseTimeString accepts RFC 3339 with or without fractional seconds, the
// same with a space instead of 'T', zones as Z, +hh:mm, +hhmm or none (UTC),
// a comma as decimal separator (Python logging), and numeric epoch strings,
// bounded by inRange.
func parseTimeString(s string) (time.Time, bool) { return inRange(parseTimeText(s)) }

func parseTimeText(s string) (time.Time, bool) {
	if len(s) == 0 {
		return time.Time{}, false
	}
	if s[0] >= '0' && s[0] <= '9' && (len(s) < 5 || s[4] != '-') {
		return parseEpoch(s)
	}
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	// Skip the fraction to see which zone form follows.
	i := 19
	if i < len(s) && (s[i] == '.' || s[i] == ',') {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	zone := s[i:]
	var layout string
	switch {
	case zone == "":
		layout = "2006-01-02T15:04:05"
	case zone == "Z" || zone == "z":
		layout = "2006-01-02T15:04:05Z07:00"
	case len(zone) == 6 && zone[3] == ':':
		layout = "2006-01-02T15:04:05Z07:00"
	case len(zone) == 5:
		layout = "2006-01-02T15:04:05Z0700"
	case len(zone) == 6 && zone[0] == ' ':
		layout = "2006-01-02T15:04:05 -0700"
	default:
		return time.Time{}, false
	}
	switch s[10] {
	case 'T':
	case ' ', 't':
		b := []byte(s)
		b[10] = 'T'
		s = string(b)
	default:
		return time.Time{}, false
	}
	if zone == "z" {
		s = s[:len(s)-1] + "Z"
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// toInt64 converts Go integer kinds (as msgpack and callers produce them).
func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint:
		return int64(x), x <= math.MaxInt64
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		return int64(x), x <= math.MaxInt64
	case json.Number:
		n, err := strconv.ParseInt(string(x), 10, 64)
		return n, err == nil
	case float64:
		return int64(x), x == math.Trunc(x) && math.Abs(x) < 1<<63
	}
	return 0, false
}
