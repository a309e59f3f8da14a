package ui

import (
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/agentobs/agentobs/indexer/trace"
	"github.com/agentobs/agentobs/internal/record"
)

// row is one log record as the pages show it.
type row struct {
	N          int
	Anchor     string
	Time       string
	Offset     string // since the trace's first record
	X          float64
	Service    string
	Colour     int
	Level      string
	Error      bool
	Message    string
	Cut        bool
	Full       string // link to the whole record when cut
	TraceID    string
	SessionID  string
	SpanID     string
	EventID    string
	Fields     []field
	FirstError bool
}

type field struct{ Key, Value string }

// view of a trace page.
type traceTimeline struct {
	Rows       []row
	Waterfall  *waterfall // nil: the trace has no stored spans
	Services   []svc
	Span       string
	FirstError string
	Errors     int
}

type svc struct {
	Name   string
	Colour int
	Count  int
}

const colours = 8

func str(m map[string]any, k string) string {
	switch v := m[k].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// row builds the display of record raw; first is the trace start (zero:
// no offset) and span its duration.
func (h *Handler) row(i int, raw json.RawMessage, first time.Time, span time.Duration) row {
	m := decode(raw)
	ts := parseTime(str(m, record.FieldTimestamp))
	lvl := str(m, record.FieldLevel)
	r := row{N: i, Anchor: "r" + strconv.Itoa(i), Time: ts.UTC().Format("15:04:05.000000"), Service: str(m, record.FieldService),
		Level: lvl, Error: trace.IsError(lvl), TraceID: str(m, record.FieldTraceID), SpanID: str(m, record.FieldSpanID),
		EventID: str(m, record.FieldEventID), SessionID: firstOf(m, "session.id", "gen_ai.conversation.id")}
	r.Message, r.Cut = clean(str(m, record.FieldMessage), h.cfg.MessageLimit)
	if !first.IsZero() && !ts.IsZero() {
		off := ts.Sub(first)
		r.Offset = "+" + fmtDur(off)
		if span > 0 {
			r.X = min(100, max(0, 100*float64(off)/float64(span)))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v, _ := clean(flatValue(m[k]), h.cfg.MessageLimit)
		r.Fields = append(r.Fields, field{Key: cleanKey(k), Value: v})
	}
	return r
}

func firstOf(m map[string]any, ks ...string) string {
	for _, k := range ks {
		if v := str(m, k); v != "" {
			return v
		}
	}
	return ""
}

func flatValue(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// timeline builds the trace page's rows; the record whose event.id is full
// is shown without the cut.
func timeline(v *trace.View, full string, h *Handler) traceTimeline {
	var t traceTimeline
	var first, last time.Time
	if v.Summary != nil {
		first, last = parseTime(v.Summary.First), parseTime(v.Summary.Last)
	}
	if first.IsZero() && len(v.Records) > 0 {
		first = parseTime(str(decode(v.Records[0]), record.FieldTimestamp))
		last = parseTime(str(decode(v.Records[len(v.Records)-1]), record.FieldTimestamp))
	}
	first, last = axis(v, first, last)
	span := last.Sub(first)
	t.Span = fmtDur(span)
	colour := map[string]int{}
	var names []string
	if v.Summary != nil {
		names = slices.Clone(v.Summary.Services)
	}
	names = spanServices(v, names)
	counts := map[string]int{}
	for i, raw := range v.Records {
		r := h.row(i, raw, first, span)
		if full != "" && r.EventID == full {
			big := *h
			big.cfg.MessageLimit = 1 << 30
			r = big.row(i, raw, first, span)
		}
		if r.Cut {
			r.Full = "?full=" + url.QueryEscape(r.EventID) + "#" + r.Anchor
		}
		if _, ok := colour[r.Service]; !ok && !slices.Contains(names, r.Service) {
			names = append(names, r.Service)
		}
		counts[r.Service]++
		if r.Error {
			t.Errors++
			if t.FirstError == "" {
				t.FirstError, r.FirstError = r.Anchor, true
			}
		}
		t.Rows = append(t.Rows, r)
	}
	for i, n := range names {
		colour[n] = i % colours
		t.Services = append(t.Services, svc{Name: n, Colour: i % colours, Count: counts[n]})
	}
	for i := range t.Rows {
		t.Rows[i].Colour = colour[t.Rows[i].Service]
	}
	t.Waterfall = buildWaterfall(v, t.Rows, first, span, colour)
	return t
}

// step is one trace of a session.
type step struct {
	trace.Summary
	Input, Output int64
	Tools         []string
	Models        []string
	Outcome       string
	FirstMessage  string
}

func sessionSteps(v *trace.View) []step {
	byTrace := map[string]*step{}
	out := make([]step, 0, len(v.Traces))
	for _, s := range v.Traces {
		out = append(out, step{Summary: s})
	}
	for i := range out {
		byTrace[out[i].TraceID] = &out[i]
	}
	for _, raw := range v.Records {
		m := decode(raw)
		st := byTrace[str(m, record.FieldTraceID)]
		if st == nil {
			continue
		}
		st.Input += num(m["gen_ai.usage.input_tokens"])
		st.Output += num(m["gen_ai.usage.output_tokens"])
		if t := str(m, "gen_ai.tool.name"); t != "" && !slices.Contains(st.Tools, t) {
			st.Tools = append(st.Tools, t)
		}
		if t := firstOf(m, "gen_ai.request.model", "gen_ai.response.model"); t != "" && !slices.Contains(st.Models, t) {
			st.Models = append(st.Models, t)
		}
		if st.FirstMessage == "" {
			st.FirstMessage, _ = clean(str(m, record.FieldMessage), 200)
		}
		if o := str(m, record.FieldOutcome); o != "" {
			st.Outcome = o
		}
	}
	for i := range out {
		if out[i].Outcome == "" {
			out[i].Outcome = "success"
			if out[i].ErrorCount > 0 {
				out[i].Outcome = "failure"
			}
		}
	}
	return out
}

func num(v any) int64 {
	switch n := v.(type) {
	case float64:
		return int64(n)
	case string:
		i, _ := strconv.ParseInt(n, 10, 64)
		return i
	}
	return 0
}

// ansi matches terminal escape sequences (CSI … final byte, OSC … BEL/ST).
var ansi = regexp.MustCompile(`\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)?`)

// clean makes text inert beyond HTML escaping (which html/template does):
// terminal escape sequences are removed, other control characters and
// bidirectional overrides are shown as \uXXXX, and text longer than limit
// bytes is cut at a rune boundary (cut reports it).
func clean(s string, limit int) (string, bool) {
	cut := false
	if len(s) > limit {
		s, cut = strings.ToValidUTF8(s[:limit], ""), true
	}
	s = ansi.ReplaceAllString(s, "")
	var b strings.Builder
	for _, r := range s {
		if (unicode.IsControl(r) && r != '\n' && r != '\t') || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029' {
			fmt.Fprintf(&b, `\u%04x`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String(), cut
}

func cleanKey(k string) string {
	s, _ := clean(k, 256)
	return s
}

func funcs(cfg Config) template.FuncMap {
	return template.FuncMap{
		"trace":   func(id string) string { return "/ui/traces/" + url.PathEscape(id) },
		"session": func(id string) string { return "/ui/sessions/" + url.PathEscape(id) },
		"lvl":     func(l string) string { return "lvl-" + strings.ToLower(cleanKey(l)) },
		"join":    strings.Join,
		"pct":     func(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) + "%" },
		"f1":      func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
		"subf":    func(a, b float64) float64 { return a - b },
		"ms":      func(f float64) string { return fmtDur(time.Duration(f * float64(time.Millisecond))) },
		"mul10":   func(f float64) float64 { return f * 10 },
		"barw":    func(f float64) float64 { return max(f*10, 2) }, // a zero-length span stays visible
	}
}
