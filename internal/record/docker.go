package record

import (
	"strings"
	"time"
)

// unwrapDocker handles a Docker json-file line ({"log":"…\n","stream":
// "stdout","time":"…"}) or the same shape from Fluent Bit's docker/cri
// parsers: "log" is the application's line, which is parsed again (JSON or
// text) and merged over the wrapper's other keys (Kubernetes metadata, attrs).
// The wrapper's time becomes the fallback for a payload without its own.
// It runs once: a payload that itself has a "log" string is not unwrapped.
func (p *Parser) unwrapDocker(m map[string]any, payload string, fallback time.Time, rec *Record) (msgSet bool, stream string, fb time.Time) {
	delete(m, "log")
	if s, ok := m["stream"].(string); ok && (s == "stdout" || s == "stderr") {
		stream = s
		delete(m, "stream")
	}
	if v, ok := m["time"]; ok {
		if ts, ok := parseTimeValue(v); ok {
			fallback = ts
			delete(m, "time")
		}
	}
	payload = strings.TrimRight(payload, "\r\n")
	if t := strings.TrimLeft(payload, " \t"); len(t) > 0 && t[0] == '{' && p.opts.Format != FormatText {
		inner := p.scratch()
		sc := scanner{buf: []byte(t), str: t}
		err := sc.object(inner)
		if err == nil {
			err = sc.end()
		}
		if err == nil {
			for k, v := range inner {
				m[k] = v
			}
			return false, stream, fallback
		}
		rec.AddFlag(FlagUnparsedJSON)
	}
	rec.Message = payload
	rec.Level = textLevel(payload)
	if ts, ok := leadingTime(payload); ok {
		rec.Timestamp = ts
	}
	return true, stream, fallback
}

// scratch returns the parser's reusable map for an inner payload; its
// contents are copied out before the next use.
func (p *Parser) scratch() map[string]any {
	if p.inner == nil {
		p.inner = make(map[string]any, 16)
	}
	clear(p.inner)
	return p.inner
}
