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
		// Validate first (no allocation) so a bad payload cannot leave half
		// its keys in m; then decode straight into m, inner keys winning.
		sc := scanner{buf: t}
		err := sc.skip()
		if err == nil {
			err = sc.end()
		}
		if err == nil {
			sc = scanner{buf: t}
			if sc.object(m) == nil { // cannot fail after skip; never panic if it did
				return false, stream, fallback
			}
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
