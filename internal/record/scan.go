package record

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/agentobs/agentobs/internal/box"
	"github.com/agentobs/agentobs/internal/textscan"
)

// maxNesting bounds the recursion of the scanner so a line of a million '['
// cannot exhaust the stack; such a line becomes an unparsed-JSON text record.
const maxNesting = 1000

// scanner is a small RFC 8259 JSON reader used on the hot path instead of
// encoding/json (which reflects and allocates per value). It decodes objects
// into map[string]any with strings, json.Number (exact, no float rounding),
// bool, nil, []any and map[string]any values.
//
// It reads a string (one conversion per line) so that unescaped strings and
// numbers are sliced from the input for free instead of copied.
type scanner struct {
	buf   string
	pos   int
	depth int
	box   *box.Boxes // boxes strings and numbers (nil: one allocation each)
}

func (s *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("json at byte %d: %s", s.pos, fmt.Sprintf(format, args...))
}

func (s *scanner) skipWS() {
	for s.pos < len(s.buf) {
		switch s.buf[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// end reports an error unless only whitespace is left.
func (s *scanner) end() error {
	s.skipWS()
	if s.pos != len(s.buf) {
		return s.errorf("unexpected %q after top-level value", s.buf[s.pos])
	}
	return nil
}

// members is the one JSON object walker of this package: it walks the
// object at pos, calling fn with each key (unescaped) and pos at its value;
// fn must consume the value (decode or skip it). object, scanTop (the
// parser's top level), skip and Peek all walk objects with it, so the
// grammar, the nesting bound and the error messages are written once.
func (s *scanner) members(fn func(key string) error) error {
	if s.pos >= len(s.buf) || s.buf[s.pos] != '{' {
		return s.errorf("expected object")
	}
	s.depth++
	if s.depth > maxNesting {
		return s.errorf("nesting deeper than %d", maxNesting)
	}
	s.pos++
	s.skipWS()
	if s.pos < len(s.buf) && s.buf[s.pos] == '}' {
		s.pos++
		s.depth--
		return nil
	}
	for {
		s.skipWS()
		if s.pos >= len(s.buf) || s.buf[s.pos] != '"' {
			return s.errorf("expected object key")
		}
		k, err := s.string()
		if err != nil {
			return err
		}
		s.skipWS()
		if s.pos >= len(s.buf) || s.buf[s.pos] != ':' {
			return s.errorf("expected ':' after object key")
		}
		s.pos++
		s.skipWS()
		if s.pos >= len(s.buf) {
			return s.errorf("unexpected end of input")
		}
		if err := fn(k); err != nil {
			return err
		}
		s.skipWS()
		if s.pos >= len(s.buf) {
			return s.errorf("unterminated object")
		}
		switch s.buf[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			s.depth--
			return nil
		default:
			return s.errorf("expected ',' or '}' in object, got %q", s.buf[s.pos])
		}
	}
}

// object decodes an object at pos into m (which may be reused storage).
func (s *scanner) object(m map[string]any) error {
	return s.members(func(k string) error {
		v, err := s.value()
		if err != nil {
			return err
		}
		m[k] = v
		return nil
	})
}

func (s *scanner) array() ([]any, error) {
	s.depth++
	if s.depth > maxNesting {
		return nil, s.errorf("nesting deeper than %d", maxNesting)
	}
	s.pos++ // '['
	s.skipWS()
	a := []any{}
	if s.pos < len(s.buf) && s.buf[s.pos] == ']' {
		s.pos++
		s.depth--
		return a, nil
	}
	for {
		s.skipWS()
		v, err := s.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		s.skipWS()
		if s.pos >= len(s.buf) {
			return nil, s.errorf("unterminated array")
		}
		switch s.buf[s.pos] {
		case ',':
			s.pos++
		case ']':
			s.pos++
			s.depth--
			return a, nil
		default:
			return nil, s.errorf("expected ',' or ']' in array, got %q", s.buf[s.pos])
		}
	}
}

func (s *scanner) value() (any, error) {
	if s.pos >= len(s.buf) {
		return nil, s.errorf("unexpected end of input")
	}
	switch c := s.buf[s.pos]; {
	case c == '"':
		v, err := s.string()
		if err != nil {
			return nil, err
		}
		return s.box.String(v), nil
	case c == '{':
		m := s.box.Map(0)
		if err := s.object(m); err != nil {
			return nil, err
		}
		return m, nil
	case c == '[':
		return s.array()
	case c == '-' || (c >= '0' && c <= '9'):
		n, err := s.number()
		if err != nil {
			return nil, err
		}
		return s.box.Number(n), nil
	case c == 't':
		return true, s.literal("true")
	case c == 'f':
		return false, s.literal("false")
	case c == 'n':
		return nil, s.literal("null")
	default:
		return nil, s.errorf("unexpected %q", c)
	}
}

// skip validates and skips one value without building it (used by Peek).
func (s *scanner) skip() error {
	if s.pos >= len(s.buf) {
		return s.errorf("unexpected end of input")
	}
	switch c := s.buf[s.pos]; {
	case c == '"':
		_, err := s.stringEnd()
		return err
	case c == '{':
		return s.members(func(string) error { return s.skip() })
	case c == '[':
		s.depth++
		if s.depth > maxNesting {
			return s.errorf("nesting deeper than %d", maxNesting)
		}
		s.pos++
		s.skipWS()
		if s.pos < len(s.buf) && s.buf[s.pos] == ']' {
			s.pos++
			s.depth--
			return nil
		}
		for {
			s.skipWS()
			if err := s.skip(); err != nil {
				return err
			}
			s.skipWS()
			if s.pos >= len(s.buf) {
				return s.errorf("unterminated [")
			}
			switch s.buf[s.pos] {
			case ',':
				s.pos++
			case ']':
				s.pos++
				s.depth--
				return nil
			default:
				return s.errorf("unexpected %q in [", s.buf[s.pos])
			}
		}
	case c == '-' || (c >= '0' && c <= '9'):
		_, err := s.number()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		return s.errorf("unexpected %q", c)
	}
}

func (s *scanner) literal(lit string) error {
	if len(s.buf)-s.pos < len(lit) || s.buf[s.pos:s.pos+len(lit)] != lit {
		return s.errorf("invalid literal, want %s", lit)
	}
	s.pos += len(lit)
	return nil
}

// number validates the RFC 8259 number grammar and returns it verbatim, so
// big integers (nanosecond timestamps, ids) keep every digit.
func (s *scanner) number() (json.Number, error) {
	start := s.pos
	b := s.buf
	i := s.pos
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return "", s.errorf("invalid number")
	}
	if b[i] == '0' {
		i++
	} else if b[i] >= '1' && b[i] <= '9' {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	} else {
		return "", s.errorf("invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return "", s.errorf("invalid number: no digits after '.'")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return "", s.errorf("invalid number: no exponent digits")
		}
	}
	s.pos = i
	return json.Number(s.buf[start:i]), nil
}

// stringEnd validates the string at pos and moves past it. It reports
// whether the string contained escapes. Quotes and backslashes are found
// with strings.IndexByte and control characters with textscan.NoControl
// (both vectorised), the rest of a segment eight bytes a step.
func (s *scanner) stringEnd() (escaped bool, err error) {
	b := s.buf
	i := s.pos + 1
	for {
		q := strings.IndexByte(b[i:], '"')
		if q < 0 {
			return false, s.errorf("unterminated string")
		}
		seg := b[i : i+q]
		bs := strings.IndexByte(seg, '\\')
		if bs >= 0 {
			seg = seg[:bs]
		}
		j := textscan.NoControl(seg) // most strings have none: 32 bytes a step, then eight
		for j+8 <= len(seg) && !hasControl(load8(seg, j)) {
			j += 8
		}
		for ; j < len(seg); j++ {
			if seg[j] < 0x20 {
				s.pos = i + j
				return false, s.errorf("control character 0x%02x in string", seg[j])
			}
		}
		if bs < 0 {
			s.pos = i + q + 1
			return escaped, nil
		}
		escaped = true
		i += bs
		if i+1 >= len(b) {
			return false, s.errorf("unterminated string")
		}
		switch b[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
				return false, s.errorf("invalid \\u escape")
			}
			i += 6
		default:
			return false, s.errorf("invalid escape \\%c", b[i+1])
		}
	}
}

var errNotString = errors.New("expected string")

// string decodes the string at pos.
func (s *scanner) string() (string, error) {
	if s.pos >= len(s.buf) || s.buf[s.pos] != '"' {
		return "", s.errorf("%v", errNotString)
	}
	start := s.pos + 1
	escaped, err := s.stringEnd()
	if err != nil {
		return "", err
	}
	raw := s.buf[start : s.pos-1]
	if !escaped {
		return raw, nil
	}
	// Unescaping never lengthens a string.
	return s.box.Text(len(raw), func(dst []byte) []byte { return unescape(dst, raw) }), nil
}

// ControlFree reports whether no byte of b is below 0x20 (a control byte
// or NUL), 32 bytes a step (textscan.NoControl) and then eight: the
// shipper's binary-line check skips its byte count with it for the lines
// that have none.
func ControlFree(b []byte) bool {
	i := textscan.NoControl(unsafe.String(unsafe.SliceData(b), len(b)))
	for ; i+8 <= len(b); i += 8 {
		if hasControl(binary.LittleEndian.Uint64(b[i:])) {
			return false
		}
	}
	for ; i < len(b); i++ {
		if b[i] < 0x20 {
			return false
		}
	}
	return true
}

// hasControl reports whether some byte of w is below 0x20: w-0x20 borrows
// into bit 7 of such a byte, and &^w drops the bytes whose bit 7 was set
// already (>= 0x80). Exact about whether, not about which.
func hasControl(w uint64) bool {
	return (w-lanes01*0x20)&^w&lanes80 != 0
}

func isHex4(b string) bool {
	for i := range 4 {
		if hexVal(b[i]) < 0 {
			return false
		}
	}
	return true
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func hex4(b string) rune {
	var r rune
	for i := range 4 {
		r = r<<4 | rune(hexVal(b[i]))
	}
	return r
}

// unescape appends the decoded bytes of an already validated string body
// to out. Lone surrogates become U+FFFD, as encoding/json does.
func unescape(out []byte, raw string) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(raw[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if r2 := utf16.DecodeRune(r, hex4(raw[i+2:])); r2 != utf8.RuneError {
						out = utf8.AppendRune(out, r2)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
			continue
		default: // '"', '\\', '/'
			out = append(out, raw[i+1])
		}
		i += 2
	}
	return out
}
