package record

import (
	"bytes"
	"time"
)

// CRI log format (kubelet / containerd / CRI-O), one line per write:
//
//	2026-11-26T10:00:00.123456789Z stdout F {"msg":"hello"}
//
// The tag is F (full) or P (partial; the runtime split a long line and the
// next lines continue it until an F). Tags may carry more ':'-separated
// fields in future versions; only the first is read.
type criLine struct {
	ts      time.Time
	stream  int // 0 stdout, 1 stderr: the index into streams and Parser.partial
	partial bool
	payload []byte
}

// streams are the stream field's two values, boxed once (boxing a string
// per record is a heap allocation), by criLine.stream.
var streams = [2]any{"stdout", "stderr"}

// streamIndex is the index into streams of "stdout" or "stderr".
func streamIndex(s string) int {
	if s == "stderr" {
		return 1
	}
	return 0
}

// criPartial buffers the P lines of one stream until their F line.
type criPartial struct {
	buf    []byte
	ts     time.Time
	total  int // bytes seen, including those dropped over the limit
	active bool
}

// looksCRI is the shape every CRI line has (an RFC 3339 time first): a
// cheap test that spares splitCRI, which decides, the lines that cannot be
// CRI.
func looksCRI(b []byte) bool {
	return len(b) > 22 && b[0] >= '0' && b[0] <= '9' && b[4] == '-' && b[10] == 'T'
}

// splitCRI cuts a CRI line into its time, stream, tag and payload; false
// when the line is not CRI. The stream is checked before the time is
// parsed: most lines that fail, fail there.
func splitCRI(b []byte) (criLine, bool) {
	sp := bytes.IndexByte(b, ' ')
	if sp < 0 {
		return criLine{}, false
	}
	rest := b[sp+1:]
	var stream int
	switch {
	case len(rest) < 8:
		return criLine{}, false
	case string(rest[:7]) == "stdout ":
	case string(rest[:7]) == "stderr ":
		stream = 1
	default:
		return criLine{}, false
	}
	// The CRI log format stamps every line with an RFC 3339 time; a bare
	// number or another layout means the line is not CRI.
	ts, err := time.Parse(time.RFC3339Nano, string(b[:sp]))
	if err != nil {
		return criLine{}, false
	}
	// Still a CRI line when its time is out of range: the record then gets
	// the edge time and the no_timestamp flag (zero fallback).
	ts, _ = inRange(ts, true)
	c := criLine{ts: ts, stream: stream}
	rest = rest[7:]
	tagEnd := bytes.IndexByte(rest, ' ')
	tag := rest
	if tagEnd >= 0 {
		tag, c.payload = rest[:tagEnd], rest[tagEnd+1:]
	}
	if i := bytes.IndexByte(tag, ':'); i >= 0 {
		tag = tag[:i]
	}
	switch string(tag) {
	case "F":
	case "P":
		c.partial = true
	default:
		return criLine{}, false
	}
	return c, true
}

func (p *Parser) parseCRI(c criLine, rec *Record) bool {
	st := &p.partial[c.stream]
	if c.partial || st.active {
		if !st.active {
			st.active, st.ts, st.total, st.buf = true, c.ts, 0, st.buf[:0]
		}
		st.total += len(c.payload)
		// Keep one byte more than the limit so parseLine sees the overflow.
		if room := p.opts.MaxLineBytes + 1 - len(st.buf); room > 0 {
			st.buf = append(st.buf, c.payload[:min(room, len(c.payload))]...)
		}
		if c.partial {
			return false
		}
		c.payload, c.ts = st.buf, st.ts
		st.active = false
		p.parseLine(c.payload, st.total, c.ts, rec)
		if cap(st.buf) > 64<<10 { // parseLine copied it; don't pin a huge buffer
			st.buf = nil
		}
	} else {
		p.parseLine(c.payload, len(c.payload), c.ts, rec)
	}
	rec.Set(FieldStream, streams[c.stream])
	return true
}

// Pending reports whether CRI partial lines are buffered, waiting for their
// final line; a front door that reaches end of input may Flush them.
func (p *Parser) Pending() bool { return p.partial[0].active || p.partial[1].active }

// Flush emits a buffered CRI partial sequence that never got its F line (end
// of file, container killed mid-line) so it does not vanish. It reports false
// when nothing was pending.
func (p *Parser) Flush(rec *Record) bool {
	for i := range p.partial {
		st := &p.partial[i]
		if !st.active {
			continue
		}
		p.reuse()
		rec.Reset()
		st.active = false
		p.parseLine(st.buf, st.total, st.ts, rec)
		rec.Set(FieldStream, streams[i])
		return true
	}
	return false
}
