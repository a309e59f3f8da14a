package lines

import (
	"bytes"

	"github.com/agentobs/agentobs/internal/record"
	"github.com/agentobs/agentobs/internal/textscan"
)

// Bad-line kinds, the closed set of the bad_lines_total metric label.
const (
	KindBinary      = "binary"       // NUL bytes or mostly control characters
	KindTooLong     = "too_long"     // longer than the line limit; cut
	KindInvalidUTF8 = "invalid_utf8" // invalid UTF-8, replaced by U+FFFD
	KindInvalidJSON = "invalid_json" // starts like JSON but does not parse; kept as text
	KindEmpty       = "empty"        // blank; skipped, produces no record
)

// Kinds lists every kind, for pre-creating counters.
var Kinds = []string{KindBinary, KindTooLong, KindInvalidUTF8, KindInvalidJSON, KindEmpty}

// Classify returns the kind of a raw line that is bad before parsing, or "".
// A line has one kind, the first that applies in the order above; invalid
// JSON is only known after parsing (record.FlagUnparsedJSON).
func Classify(l Line) string {
	d := l.Data
	if l.Truncated {
		return KindTooLong
	}
	if len(bytes.TrimSpace(d)) == 0 {
		return KindEmpty
	}
	if isBinary(d) {
		return KindBinary
	}
	if !textscan.ValidUTF8(d) {
		return KindInvalidUTF8
	}
	return ""
}

// isBinary: a NUL byte, or more than 10% control bytes other than tab, CR,
// ESC (ANSI colours) and form feed, in the first 512 bytes.
func isBinary(d []byte) bool {
	if len(d) > 512 {
		d = d[:512]
	}
	if record.ControlFree(d) { // most lines: eight bytes a step
		return false
	}
	ctl := 0
	for _, c := range d {
		switch {
		case c == 0:
			return true
		case c < 0x20 && c != '\t' && c != '\r' && c != 0x1b && c != '\f':
			ctl++
		}
	}
	return ctl*10 > len(d)
}
