package record

import (
	"bytes"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agentobs/agentobs/internal/box"
	"github.com/agentobs/agentobs/internal/textscan"
)

// Format selects how Parse reads a line.
type Format int

const (
	// FormatAuto detects CRI lines, JSON objects (including Docker json-file
	// wrappers) and falls back to plain text.
	FormatAuto Format = iota
	FormatJSON
	FormatDocker
	FormatCRI
	FormatText
)

var formatNames = [...]string{"auto", "json", "docker", "cri", "text"}

func (f Format) String() string {
	if f >= 0 && int(f) < len(formatNames) {
		return formatNames[f]
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ParseFormat parses a configuration value: auto, json, docker, cri, text.
func ParseFormat(s string) (Format, error) {
	for i, n := range formatNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return Format(i), nil
		}
	}
	return FormatAuto, fmt.Errorf("unknown log format %q, want one of %s", s, strings.Join(formatNames[:], ", "))
}

// DefaultMaxLineBytes is the default ParseOptions.MaxLineBytes (1 MiB).
const DefaultMaxLineBytes = 1 << 20

// ParseOptions configures a Parser. The zero value is usable.
type ParseOptions struct {
	// Format of the input; default FormatAuto.
	Format Format
	// MaxLineBytes caps a raw line (and a joined CRI partial sequence);
	// longer input is truncated and flagged FlagTruncated. Default 1 MiB.
	MaxLineBytes int
	// DefaultService is used when the line names no service; default "".
	DefaultService string
	// LevelKeys, ServiceKeys, MessageKeys, TimeKeys are extra source keys
	// (dotted names match flat keys and nested paths), tried before the
	// built-in ones. Default none.
	LevelKeys, ServiceKeys, MessageKeys, TimeKeys []string
	// Now gives the edge time for records without a timestamp; default
	// time.Now.
	Now func() time.Time
	// ReuseValues makes the strings and numbers Parse decodes (the values
	// in Record.Fields, nested ones too, and the typed fields' strings)
	// point into memory the next Parse or Flush reuses: a copy of the line
	// and blocks of boxed values (internal/box), instead of one allocation
	// per line and per value. A record parsed so is valid only until the
	// next Parse or Flush; the caller must be done with it (encoded it)
	// by then. Default false: every record owns its memory.
	ReuseValues bool
}

// Parser turns raw lines or decoded maps into Records. It is stateful per
// source (it joins CRI partial lines) and not safe for concurrent use: use
// one Parser per input stream.
type Parser struct {
	opts    ParseOptions
	keys    keyTable
	partial [2]criPartial // stdout, stderr
	saved   []field       // unwrapDocker's copy of the wrapper's pairs
	// With ReuseValues: the boxes of the current record's values, its
	// nested objects' maps and the copies of its text (nil without).
	boxes *box.Boxes
}

// field is one key/value pair of a record's fields.
type field struct {
	k string
	v any
}

// NewParser returns a Parser; zero options take their defaults.
func NewParser(opts ParseOptions) *Parser {
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = DefaultMaxLineBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p := &Parser{opts: opts, keys: newKeyTable(opts)}
	if opts.ReuseValues {
		p.boxes = new(box.Boxes)
	}
	return p
}

// reuse starts a record: with ReuseValues, what the last one was handed
// is free again.
func (p *Parser) reuse() { p.boxes.Reset() }

// text is string(b), or with ReuseValues a string over a copy of b in the
// parser's reused memory (valid until the next reuse).
func (p *Parser) text(b []byte) string {
	if p.boxes == nil || len(b) == 0 {
		return string(b)
	}
	return p.boxes.Text(len(b), func(dst []byte) []byte { return append(dst, b...) })
}

// Parse turns one raw line (without its trailing newline) into rec. rec is
// Reset first, so a caller may reuse one Record (and its Fields map) per
// line once it has encoded the previous one.
//
// complete is false when a CRI partial (P) line was buffered; rec is then not
// ready and the record is produced by the line that completes it (F).
//
// Parse never fails: a line that is not JSON becomes a plain-text record, a
// line that starts with '{' but does not parse is kept as text and flagged
// FlagUnparsedJSON, invalid UTF-8 is replaced (FlagInvalidUTF8), and an
// over-long line is cut at MaxLineBytes (FlagTruncated, FieldOriginalBytes).
// Callers should skip empty lines themselves; Parse of an empty line yields a
// record with an empty message and the edge time.
func (p *Parser) Parse(line []byte, rec *Record) (complete bool) {
	p.reuse()
	rec.Reset()
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if p.opts.Format == FormatCRI || (p.opts.Format == FormatAuto && looksCRI(line)) {
		if c, ok := splitCRI(line); ok {
			return p.parseCRI(c, rec)
		}
	}
	p.parseLine(line, len(line), time.Time{}, rec)
	return true
}

// parseLine parses a non-CRI line; fallback is a transport timestamp (Docker
// or CRI time) used when the payload has none.
func (p *Parser) parseLine(line []byte, origLen int, fallback time.Time, rec *Record) {
	if origLen > p.opts.MaxLineBytes || len(line) > p.opts.MaxLineBytes {
		line = truncateUTF8(line, p.opts.MaxLineBytes)
		rec.AddFlag(FlagTruncated)
		rec.Set(FieldOriginalBytes, int64(max(origLen, len(line))))
	}
	if !textscan.ValidUTF8(line) {
		line = bytes.ToValidUTF8(line, []byte("\uFFFD"))
		rec.AddFlag(FlagInvalidUTF8)
	}
	trimmed := bytes.TrimLeft(line, " \t")
	isObj := len(trimmed) > 0 && trimmed[0] == '{'
	switch {
	case isObj && p.opts.Format != FormatText:
		rec.fields(16)
		sc := scanner{buf: p.text(trimmed), box: p.boxes}
		var cs candSet
		err := p.scanTop(&sc, rec.Fields, &cs)
		if err == nil {
			err = sc.end()
		}
		if err == nil {
			p.fromObject(rec.Fields, &cs, true, fallback, rec)
			return
		}
		// Keep what the edge added (truncation length), drop the partial decode.
		orig, hadOrig := rec.Fields[FieldOriginalBytes]
		clear(rec.Fields)
		if hadOrig {
			rec.Fields[FieldOriginalBytes] = orig
		}
		rec.AddFlag(FlagUnparsedJSON)
		if sc.depth > maxNesting {
			// Valid or not, the structure was abandoned at the nesting
			// bound: that is a depth cap too (Policy.Apply counts it).
			rec.AddFlag(FlagDepthLimited)
		}
	case p.opts.Format == FormatJSON || p.opts.Format == FormatDocker:
		if len(trimmed) > 0 {
			rec.AddFlag(FlagUnparsedJSON)
		}
	}
	p.fromText(p.text(line), fallback, rec)
}

// fromText builds a plain-text record: the whole line is the message (never
// shortened), with a leading level word and timestamp picked up if present.
func (p *Parser) fromText(s string, fallback time.Time, rec *Record) {
	rec.Message = s
	rec.Level = textLevel(s)
	if ts, ok := leadingTime(s); ok {
		rec.Timestamp = ts
	}
	p.finish(fallback, rec)
}

// leadingTime parses an RFC 3339 or "2006-01-02 15:04:05.000" timestamp at
// the start of a text line.
func leadingTime(s string) (time.Time, bool) {
	if len(s) < 19 || s[4] != '-' || s[0] < '0' || s[0] > '9' {
		return time.Time{}, false
	}
	end := strings.IndexAny(s[11:], " \t")
	if end < 0 {
		end = len(s)
	} else {
		end += 11
	}
	if t, ok := parseTimeString(s[:end]); ok {
		return t, true
	}
	if s[10] == ' ' && end < len(s) { // "2006-01-02 15:04:05.000 ..." form
		tail := s[end+1:]
		if e2 := strings.IndexAny(tail, " \t"); e2 > 0 && (tail[0] == '+' || tail[0] == '-' || tail[0] == 'Z') {
			if t, ok := parseTimeString(s[:end+1+e2]); ok {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

// finish fills the defaults shared by every front door.
func (p *Parser) finish(fallback time.Time, rec *Record) {
	if rec.Timestamp.IsZero() {
		if !fallback.IsZero() {
			rec.Timestamp = fallback
		} else {
			rec.Timestamp = p.opts.Now()
			rec.AddFlag(FlagNoTimestamp)
		}
	}
	if rec.Service == "" {
		rec.Service = p.opts.DefaultService
	}
}

// FromMap builds rec from an already decoded object, as the Fluent Bit
// plugin gets it from msgpack: map[any]any keys and []byte strings are
// accepted and converted. m itself is not modified, but nested maps and
// slices that need no conversion are taken over by rec, not copied (the
// policy may later change them in place): the caller hands them over and
// must not use them afterwards. ts is the transport's event time, used when
// the map has no time field of its own.
func (p *Parser) FromMap(m map[string]any, ts time.Time, rec *Record) {
	rec.Reset()
	rec.fields(len(m))
	repairInto(rec, m)
	var cs candSet
	p.fromObject(rec.Fields, &cs, false, ts, rec)
}

// repairInto sets m's pairs in rec.Fields with keys and strings made valid
// UTF-8 and values normalized, flagging rec when something was repaired.
func repairInto(rec *Record, m map[string]any) {
	bad := false
	for k, v := range m {
		rec.Fields[repairString(k, &bad)] = normValue(v, &bad, 0)
	}
	if bad {
		rec.AddFlag(FlagInvalidUTF8)
	}
}

// FromFields is FromMap for a caller that decoded the object straight into
// rec.Fields (after rec.Reset): the map is used in place instead of copied.
// mayBeInvalid is false only when every key and string in it is known to be
// valid UTF-8 (the plugin's decoder checks them as it goes); otherwise the
// fields are repaired exactly as FromMap repairs them.
func (p *Parser) FromFields(ts time.Time, rec *Record, mayBeInvalid bool) {
	rec.fields(0)
	if mayBeInvalid {
		m := rec.Fields
		rec.Fields = make(map[string]any, len(m))
		repairInto(rec, m)
	}
	var cs candSet
	p.fromObject(rec.Fields, &cs, false, ts, rec)
}

func repairString(s string, bad *bool) string {
	if utf8.ValidString(s) {
		return s
	}
	*bad = true
	return strings.ToValidUTF8(s, "\uFFFD")
}

// normValue deep-copies a decoded msgpack value into the shapes the rest of
// the package works with: string instead of []byte, map[string]any instead
// of map[any]any, valid UTF-8 everywhere.
func normValue(v any, bad *bool, depth int) any {
	if depth > maxNesting {
		return fmt.Sprint(v)
	}
	switch x := v.(type) {
	case string:
		// v itself when valid: boxing the same string again would
		// allocate once per string field of every record.
		if utf8.ValidString(x) {
			return v
		}
		return repairString(x, bad)
	case []byte:
		return repairString(string(x), bad)
	case map[string]any:
		if canonical(v, depth) {
			return v // taken over as it is (see FromMap)
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[repairString(k, bad)] = normValue(e, bad, depth+1)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[repairString(keyString(k), bad)] = normValue(e, bad, depth+1)
		}
		return out
	case []any:
		if canonical(v, depth) {
			return v
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normValue(e, bad, depth+1)
		}
		return out
	}
	return v
}

// canonical reports whether normValue would return a deep copy equal to v:
// only map[string]any, []any, valid UTF-8 strings and scalars, within
// maxNesting. Checking first keeps the common case (a decoded nested object
// that is already clean) free of allocations.
func canonical(v any, depth int) bool {
	if depth > maxNesting {
		return false
	}
	switch x := v.(type) {
	case string:
		return utf8.ValidString(x)
	case []byte, map[any]any:
		return false
	case map[string]any:
		for k, e := range x {
			if !utf8.ValidString(k) || !canonical(e, depth+1) {
				return false
			}
		}
	case []any:
		for _, e := range x {
			if !canonical(e, depth+1) {
				return false
			}
		}
	}
	return true
}

func keyString(k any) string {
	switch x := k.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return fmt.Sprint(k)
}

// truncateUTF8 cuts b to at most n bytes without splitting a rune, so the
// cut itself does not create invalid UTF-8.
func truncateUTF8(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	i := n
	for i > 0 && i > n-utf8.UTFMax && !utf8.RuneStart(b[i]) {
		i--
	}
	if !utf8.RuneStart(b[i]) {
		i = n
	}
	return b[:i]
}
