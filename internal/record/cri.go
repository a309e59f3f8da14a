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
	stream  string
	partial bool
	payload []byte
}

// criPartial buffers the P lines of one stream until their F line.
type criPartial struct {
	buf    []byte
	ts     time.Time
	total  int // bytes seen, including those dropped over the limit
	active bool
}

// looksCRI is a cheap pre-check before splitCRI parses the time.
// It must pass every line splitCRI accepts: it looks after the same first
// space, wherever that is (a time may carry any number of fraction digits).
func looksCRI(b []byte) bool {
	if len(b) <= 22 || b[0] < '0' || b[0] > '9' || b[4] != '-' || b[10] != 'T' {
		return false
	}
	sp := bytes.IndexByte(b, ' ')
	if sp < 0 {
		return false
	}
	rest := b[sp:]
	return bytes.HasPrefix(rest, []byte(" stdout ")) || bytes.HasPrefix(rest, []byte(" stderr "))
}

func splitCRI(b []byte) (criLine, bool) {
	sp := bytes.IndexByte(b, ' ')
	if sp < 0 {
		return criLine{}, false
	}
	// The CRI log format stamps every line with an RFC 3339 time; a bare
	// number or another layout means the line is not CRI (and FormatAuto's
	// looksCRI agrees, so both formats decide alike).
	ts, err := time.Parse(time.RFC3339Nano, string(b[:sp]))
	if err != nil {
		return criLine{}, false
	}
	// Still a CRI line when its time is out of range: the record then gets
	// the edge time and the no_timestamp flag (zero fallback).
	ts, _ = inRange(ts, true)
	rest := b[sp+1:]
	if len(rest) < 8 || (string(rest[:7]) != "stdout " && string(rest[:7]) != "stderr ") {
		return criLine{}, false
	}
	c := criLine{ts: ts, stream: string(rest[:6])}
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
	st := &p.partial[0]
	if c.stream == "stderr" {
		st = &p.partial[1]
	}
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
	rec.Set(FieldStream, c.stream)
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
		rec.Set(FieldStream, [...]string{"stdout", "stderr"}[i])
		return true
	}
	return false
}
