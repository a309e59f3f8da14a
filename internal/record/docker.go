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
//
// When the wrapper has nothing but log/stream/time (a json-file line), the
// payload is scanned with scanTop and collected reports true.
func (p *Parser) unwrapDocker(m map[string]any, payload string, fallback time.Time, rec *Record, cs *candSet) (msgSet bool, stream string, fb time.Time, collected bool) {
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
		sc := scanner{buf: t, box: p.boxes}
		tooDeep := false
		if len(m) == 0 {
			// A json-file line: m holds nothing of the wrapper any more, so a
			// failed decode is undone by clearing it.
			err := p.scanTop(&sc, m, cs)
			if err == nil {
				err = sc.end()
			}
			if err == nil {
				return false, stream, fallback, true
			}
			tooDeep = sc.depth > maxNesting
			*cs = candSet{}
			clear(m)
		} else {
			// Decode over the wrapper's keys in one pass. A bad payload must
			// not leave half its keys among the wrapper's, so the wrapper's
			// few pairs are set aside first and put back if it fails (a
			// validating pass before decoding read every payload twice).
			saved := p.saved[:0]
			for k, v := range m {
				saved = append(saved, field{k, v})
			}
			err := sc.object(m)
			if err == nil {
				err = sc.end()
			}
			tooDeep = sc.depth > maxNesting
			if err != nil {
				clear(m)
				for _, f := range saved {
					m[f.k] = f.v
				}
			}
			clear(saved) // keeps nothing of this record alive
			p.saved = saved[:0]
			if err == nil {
				return false, stream, fallback, false
			}
		}
		rec.AddFlag(FlagUnparsedJSON)
		if tooDeep { // see parseLine: abandoned at the nesting bound
			rec.AddFlag(FlagDepthLimited)
		}
	}
	rec.Message = payload
	rec.Level = textLevel(payload)
	if ts, ok := leadingTime(payload); ok {
		rec.Timestamp = ts
	}
	return true, stream, fallback, false
}
