package record

import (
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/agentobs/agentobs/internal/textscan"
)

// TimeLayout is RFC 3339 with all nine fractional digits kept, so encoded
// documents sort and compare as strings and golden files are stable.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// conflictPrefix renames a Field whose key is one of the typed fields' keys:
// those names belong to the typed fields, so a document never has duplicate
// keys (Elasticsearch rejects them) or a wrongly typed trace.id, and the
// value does not vanish.
const conflictPrefix = "agentobs.conflict."

func isTypedKey(k string) bool {
	switch k {
	case FieldTimestamp, FieldMessage, FieldLevel, FieldService, FieldServiceInstance, FieldTraceID,
		FieldSpanID, FieldTraceFlags, FieldEventID, FieldDataset, FieldFlags:
		return true
	}
	return false
}

// AppendJSON appends the record as one JSON object: the typed fields first
// in a fixed order (@timestamp, message, log.level, service.name,
// service.instance.id, trace.id, span.id, trace.flags, event.id,
// event.dataset, agentobs.flags), empty ones omitted, then Fields with keys
// sorted at every level, so equal records encode to equal bytes. A Field
// named like a typed field is written as "agentobs.conflict.<key>".
//
// Strings are escaped per RFC 8259 plus U+2028/U+2029 (unsafe in
// JavaScript); invalid UTF-8 becomes U+FFFD; NaN and ±Inf, which JSON cannot
// hold, are written as the strings "NaN", "+Inf", "-Inf". Nested values may
// be any JSON-able type: map[string]any, map[any]any (keys formatted with
// fmt), []any, []byte (as a string), json.Number, integers, floats, bool,
// nil, time.Time; other types go through encoding/json.
func (r *Record) AppendJSON(dst []byte) []byte { return r.appendJSON(dst, nil) }

// appendJSON is AppendJSON; e (nil: none) remembers the sorted key order of
// the field sets it has seen (keyorder.go).
func (r *Record) appendJSON(dst []byte, e *Encoder) []byte {
	dst = append(dst, '{')
	first := true
	field := func(head string) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, head...)
	}
	str := func(head, v string) {
		if v != "" {
			field(head)
			dst = appendString(dst, v)
		}
	}
	if !r.Timestamp.IsZero() {
		field(typedHeads.timestamp)
		dst = appendTimestamp(dst, r.Timestamp)
	}
	str(typedHeads.message, r.Message)
	str(typedHeads.level, string(r.Level))
	str(typedHeads.service, r.Service)
	str(typedHeads.serviceInstance, r.ServiceInstance)
	str(typedHeads.traceID, r.TraceID)
	str(typedHeads.spanID, r.SpanID)
	str(typedHeads.traceFlags, r.TraceFlags)
	str(typedHeads.eventID, r.EventID)
	str(typedHeads.dataset, r.Dataset)
	if len(r.Flags) > 0 {
		field(typedHeads.flags)
		dst = append(dst, '[')
		for i, f := range r.Flags {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, f)
		}
		dst = append(dst, ']')
	}
	if len(r.Fields) > 0 {
		var arr [32]string
		keys := arr[:0]
		var sig uint64
		for k := range r.Fields {
			keys = append(keys, k)
			sig += keySig(k)
		}
		if out, ok := e.appendKnown(dst, r.Fields, sig, !first); ok {
			return append(out, '}')
		}
		slices.Sort(keys)
		e.remember(keys, sig)
		for _, k := range keys {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = appendField(dst, k, r.Fields[k])
		}
	}
	return append(dst, '}')
}

// appendField writes "k":v of Fields.
func appendField(dst []byte, k string, v any) []byte {
	return appendValue(appendHead(dst, k), v, 1)
}

// appendHead writes "k": for a key of Fields; a key that belongs to a typed
// field is renamed (conflictPrefix). An Encoder keeps the heads of the keys
// it remembers, written once (keyorder.go).
func appendHead(dst []byte, k string) []byte {
	if isTypedKey(k) {
		dst = appendString(dst, conflictPrefix+k)
	} else {
		dst = appendString(dst, k)
	}
	return append(dst, ':')
}

// typedHeads are the typed fields' "name": heads, escaped once.
var typedHeads = struct {
	timestamp, message, level, service, serviceInstance, traceID, spanID, traceFlags, eventID, dataset, flags string
}{
	head(FieldTimestamp), head(FieldMessage), head(FieldLevel), head(FieldService), head(FieldServiceInstance),
	head(FieldTraceID), head(FieldSpanID), head(FieldTraceFlags), head(FieldEventID), head(FieldDataset), head(FieldFlags),
}

func head(name string) string { return string(appendString(nil, name)) + ":" }

func appendValue(dst []byte, v any, depth int) []byte {
	if depth > maxNesting {
		return appendString(dst, "[nesting limit]")
	}
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...)
	case string:
		return appendString(dst, x)
	case json.Number:
		if isJSONNumber(string(x)) {
			return append(dst, x...)
		}
		return appendString(dst, string(x))
	case bool:
		return strconv.AppendBool(dst, x)
	case int:
		return strconv.AppendInt(dst, int64(x), 10)
	case int8:
		return strconv.AppendInt(dst, int64(x), 10)
	case int16:
		return strconv.AppendInt(dst, int64(x), 10)
	case int32:
		return strconv.AppendInt(dst, int64(x), 10)
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case uint:
		return strconv.AppendUint(dst, uint64(x), 10)
	case uint8:
		return strconv.AppendUint(dst, uint64(x), 10)
	case uint16:
		return strconv.AppendUint(dst, uint64(x), 10)
	case uint32:
		return strconv.AppendUint(dst, uint64(x), 10)
	case uint64:
		return strconv.AppendUint(dst, x, 10)
	case float64:
		return appendFloat(dst, x, 64)
	case float32:
		return appendFloat(dst, float64(x), 32)
	case []byte:
		return appendString(dst, string(x))
	case time.Time:
		return appendTimestamp(dst, x)
	case Level:
		return appendString(dst, string(x))
	case map[string]any:
		var arr [16]string
		keys := arr[:0]
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return appendObject(dst, keys, func(k string) any { return x[k] }, depth)
	case map[any]any:
		keys := make([]string, 0, len(x))
		byKey := make(map[string]any, len(x))
		for k, e := range x {
			ks := keyString(k)
			keys = append(keys, ks)
			byKey[ks] = e
		}
		slices.Sort(keys)
		keys = slices.Compact(keys)
		return appendObject(dst, keys, func(k string) any { return byKey[k] }, depth)
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendValue(dst, e, depth+1)
		}
		return append(dst, ']')
	case []string:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, e)
		}
		return append(dst, ']')
	case error:
		return appendString(dst, x.Error())
	case encoding.TextMarshaler:
		if b, err := x.MarshalText(); err == nil {
			return appendString(dst, string(b))
		}
	}
	// Anything else (structs, typed slices and maps): encoding/json, then
	// re-read and re-encoded so key order and escaping follow our rules.
	b, err := json.Marshal(v)
	if err != nil {
		return appendString(dst, fmt.Sprint(v))
	}
	sc := scanner{buf: string(b)}
	if decoded, err := sc.value(); err == nil {
		return appendValue(dst, decoded, depth+1)
	}
	return appendString(dst, string(b))
}

// appendTimestamp writes t as a quoted TimeLayout string; a hand-written
// formatter because time.AppendFormat was a tenth of the encode cost.
func appendTimestamp(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		dst = append(dst, '"')
		dst = t.AppendFormat(dst, TimeLayout)
		return append(dst, '"')
	}
	hour, minute, sec := t.Clock()
	ns := t.Nanosecond()
	var b [32]byte
	b[0] = '"'
	put := func(i, v, width int) {
		for j := i + width - 1; j >= i; j-- {
			b[j] = byte('0' + v%10)
			v /= 10
		}
	}
	put(1, year, 4)
	b[5] = '-'
	put(6, int(month), 2)
	b[8] = '-'
	put(9, day, 2)
	b[11] = 'T'
	put(12, hour, 2)
	b[14] = ':'
	put(15, minute, 2)
	b[17] = ':'
	put(18, sec, 2)
	b[20] = '.'
	put(21, ns, 9)
	b[30] = 'Z'
	b[31] = '"'
	return append(dst, b[:]...)
}

func appendFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"+Inf"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Inf"`...)
	}
	// Same choice as encoding/json: plain notation for human-sized numbers.
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21)) {
		format = 'e'
	}
	return strconv.AppendFloat(dst, f, format, -1, bits)
}

func isJSONNumber(s string) bool {
	sc := scanner{buf: s}
	_, err := sc.number()
	return err == nil && sc.pos == len(s)
}

const hexDigits = "0123456789abcdef"

// safeASCII marks bytes that need no escaping inside a JSON string.
var safeASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString writes s as a JSON string (RFC 8259 section 7).
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// 32 bytes at a time (textscan.Plain), then eight, while none needs a
		// look: most of a log record is plain printable ASCII, and this
		// loop was a seventh of the collector's CPU when it went byte by
		// byte.
		i += textscan.Plain(s[i:])
		for i+8 <= len(s) && plainWord(load8(s, i)) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if safeASCII[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// plainWord reports whether the 8 bytes of w are all safeASCII: none is a
// control byte (< 0x20), '"', '\\' or non-ASCII (>= 0x80). The classic
// word-at-a-time tests: x-0x01 borrows into bit 7 of a byte of x that is
// zero, w-0x20 into bit 7 of a byte of w below 0x20, and &^x keeps only
// bytes whose bit 7 was clear; each test is exact about whether some byte
// matches (not about which), which is all the fast path asks.
func plainWord(w uint64) bool {
	quote, backslash := w^(lanes01*'"'), w^(lanes01*'\\')
	special := (w - lanes01*0x20) &^ w
	special |= (quote - lanes01) &^ quote
	special |= (backslash - lanes01) &^ backslash
	return (special|w)&lanes80 == 0
}

// lanes01 and lanes80 are the word-at-a-time constants of the 8-byte tests
// (plainWord, hexWord, hasControl): 0x01 and 0x80 in every byte.
const lanes01, lanes80 = 0x0101010101010101, 0x8080808080808080

// load8 is the little-endian word of s[i:i+8] (one load once compiled).
func load8(s string, i int) uint64 {
	b := s[i : i+8]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// appendObject writes {"k":v,...} for keys in the given (sorted) order: the
// one object writer for both map shapes (decoded JSON and msgpack).
func appendObject(dst []byte, keys []string, get func(string) any, depth int) []byte {
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = appendValue(dst, get(k), depth+1)
	}
	return append(dst, '}')
}
