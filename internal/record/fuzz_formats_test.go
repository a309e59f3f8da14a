package record

import (
	"bytes"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Fuzz targets for the container-runtime front doors (CRI lines, Docker
// json-file lines) and for FromMap (the Fluent Bit plugin's decoded
// msgpack). Each asserts properties of the output, not only "no panic":
// the encoded record is one valid JSON object, Peek reads back the typed
// fields, Decode accepts it, and the edge policy keeps all of that true.
// Seeds live in testdata/fuzz/<Target>/ (go test corpus format); scripts/fuzz.sh
// runs every target briefly in `make test`, so one exec must stay cheap.

// fuzzPolicy is small on purpose: tiny caps make the fuzzer reach the
// depth, field and content limits with short inputs.
func fuzzPolicy(f *testing.F) *Policy {
	p, err := NewPolicy(PolicyConfig{Redact: true, MaxContentBytes: 64, MaxDepth: 3, MaxFields: 20}, nil)
	if err != nil {
		f.Fatal(err)
	}
	return p
}

// checkFuzzRecord asserts the encoded form of rec is valid and round-trips.
func checkFuzzRecord(t *testing.T, stage string, in []byte, rec *Record) {
	t.Helper()
	if rec.EventID == "" {
		rec.EventID = "fuzz-event-id" // the edge stamps one; any non-empty id will do
	}
	if rec.TraceID != "" && !ValidTraceID(rec.TraceID) {
		t.Fatalf("%s: invalid trace id kept: %q", stage, rec.TraceID)
	}
	doc := rec.AppendJSON(nil)
	if !json.Valid(doc) {
		t.Fatalf("%s: invalid JSON for %q: %s", stage, in, doc)
	}
	m, err := Peek(doc)
	if err != nil {
		t.Fatalf("%s: Peek(%s): %v", stage, doc, err)
	}
	if m.EventID != rec.EventID || m.TraceID != rec.TraceID || m.SpanID != rec.SpanID ||
		m.Message != strings.ToValidUTF8(rec.Message, "\uFFFD") || m.Service != strings.ToValidUTF8(rec.Service, "\uFFFD") {
		t.Fatalf("%s: Peek mismatch for %q:\n%+v\nvs %+v", stage, in, m, rec)
	}
	if !m.HasTimestamp || !m.Timestamp.Equal(rec.Timestamp) {
		t.Fatalf("%s: timestamp %v vs %v", stage, m.Timestamp, rec.Timestamp)
	}
	if _, err := Decode(doc); err != nil {
		t.Fatalf("%s: Decode: %v", stage, err)
	}
}

// FuzzParseCRI feeds the lines of one input through one Parser, so partial
// (P) sequences are joined with their final (F) line across calls, on both
// streams, interleaved. Beyond validity it checks the partial bookkeeping: a
// line that did not complete left something pending, every CRI record names
// its stream, and Flush drains what is left (at most one per stream).
func FuzzParseCRI(f *testing.F) {
	f.Add([]byte("2026-11-26T10:00:00.123456789Z stdout F {\"msg\":\"hello\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}"))
	f.Add([]byte("2026-11-26T10:00:00Z stdout P {\"msg\":\"hel\n2026-11-26T10:00:00Z stdout P lo\"\n2026-11-26T10:00:01Z stdout F }"))
	f.Add([]byte("2026-11-26T10:00:00Z stdout P part one \n2026-11-26T10:00:00Z stderr F other stream\n2026-11-26T10:00:01Z stdout F part two"))
	f.Add([]byte("2026-11-26T10:00:00Z stderr P never finished"))
	f.Add([]byte("2026-11-26T10:00:00Z stdout F:x:y tagged\n2026-11-26T10:00:00Z stdout Q bad tag\nnot cri at all"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, format := range []Format{FormatCRI, FormatAuto} {
			p := NewParser(ParseOptions{Format: format, MaxLineBytes: 256, Now: func() time.Time { return fixedNow }})
			var rec Record
			for _, line := range bytes.Split(data, []byte("\n")) {
				_, isCRI := splitCRI(bytes.TrimSuffix(line, []byte{'\r'}))
				if !p.Parse(line, &rec) {
					if !isCRI || !p.Pending() {
						t.Fatalf("%v: incomplete without a buffered CRI partial: %q", format, line)
					}
					continue
				}
				if isCRI {
					if s := rec.Fields[FieldStream]; s != "stdout" && s != "stderr" {
						t.Fatalf("%v: CRI record without its stream: %v", format, s)
					}
				}
				checkFuzzRecord(t, format.String(), line, &rec)
			}
			flushed := 0
			for p.Flush(&rec) {
				if flushed++; flushed > 2 {
					t.Fatalf("%v: Flush emitted more than one record per stream", format)
				}
				checkFuzzRecord(t, "flush", data, &rec)
			}
			if p.Pending() {
				t.Fatalf("%v: still pending after Flush", format)
			}
		}
	})
}

// FuzzParseDocker wraps an application line in a Docker json-file envelope
// ({"log":…,"stream":…,"time":…}) the way dockerd writes it and parses it
// back. A plain-text payload must come out as the message verbatim (minus
// its line ending), and a payload that is a valid JSON object must be
// decoded, never kept as unparsed text.
func FuzzParseDocker(f *testing.F) {
	f.Add([]byte(`{"level":"error","msg":"tool failed","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}`), "stdout", "2026-11-26T10:00:00.123456789Z")
	f.Add([]byte("plain \x1b[31mred\x1b[0m text\r"), "stderr", "2026-11-26T10:00:00Z")
	f.Add([]byte(`{"log":"inner log key","stream":"stderr"}`), "stdout", "not a time")
	f.Add([]byte(`{"a":{"b":{"c":{"d":{"e":[1,[2,[3]]]}}}}}`), "stdout", "")
	f.Add([]byte("{\"msg\":\"line one\\nline two\",\"__proto__\":{\"x\":1}}"), "weird", "2026-11-26T10:00:00+02:00")
	f.Add([]byte(`{"broken":`), "stdout", "2026-11-26T10:00:00Z")
	pol := fuzzPolicy(f)
	f.Fuzz(func(t *testing.T, payload []byte, stream, ts string) {
		env := map[string]any{"log": string(payload) + "\n", "stream": stream}
		if ts != "" {
			env["time"] = ts
		}
		line, err := json.Marshal(env)
		if err != nil {
			return // not a shape this target covers (returning keeps the seed out of the skip count)
		}
		p := NewParser(ParseOptions{Format: FormatAuto, MaxLineBytes: 1 << 20, Now: func() time.Time { return fixedNow }})
		var rec Record
		if !p.Parse(line, &rec) {
			t.Fatalf("a Docker line is always complete: %s", line)
		}
		trimmed := bytes.TrimLeft(payload, " \t")
		if utf8.Valid(payload) && len(trimmed) > 0 && trimmed[0] != '{' && !bytes.ContainsAny(payload, "\n") {
			if want := strings.TrimRight(string(payload), "\r\n"); rec.Message != want {
				t.Fatalf("text payload changed: %q -> %q", want, rec.Message)
			}
		}
		if len(trimmed) > 0 && trimmed[0] == '{' && len(payload) < 900 && json.Valid(payload) && rec.HasFlag(FlagUnparsedJSON) {
			t.Fatalf("valid JSON payload left unparsed: %s", payload)
		}
		if (stream == "stdout" || stream == "stderr") && rec.Fields[FieldStream] != stream {
			t.Fatalf("stream %q lost: %v", stream, rec.Fields[FieldStream])
		}
		checkFuzzRecord(t, "parse", line, &rec)
		pol.Apply(&rec)
		checkFuzzRecord(t, "policy", line, &rec)
	})
}

// FuzzFromMap builds the decoded object the Fluent Bit plugin hands over
// (msgpack: map[any]any, []byte strings, invalid UTF-8) from JSON fuzz input
// and checks FromMap leaves its input untouched and yields a valid record.
func FuzzFromMap(f *testing.F) {
	f.Add([]byte(`{"log":"hello","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","kubernetes":{"pod_name":"p"}}`), true)
	f.Add([]byte(`{"message":{"nested":"object"},"level":50,"__proto__":{"polluted":true},"":"empty key"}`), false)
	f.Add([]byte(`{"trace":"scalar","trace.id":"4bf92f3577b34da6a3ce929d0e0e4736","@timestamp":"2026-11-26T10:00:00Z"}`), true)
	f.Add([]byte(`{"a":[[[[[[[[[[{"b":1}]]]]]]]]]],"x":"\u2028\u2029\u0000"}`), true)
	// Shapes where a typed key's string kept out of the map would matter.
	f.Add([]byte(`{"service.version":"","service_version":"1.2","session.id":"s","session_id":"t","conversation_id":"c","msg":"m"}`), false)
	f.Add([]byte(`{"log":"{\"level\":\"warn\"}","time":"2026-11-26T10:00:00Z","stream":"stdout","level":"info","msg":"wrapper"}`), false)
	f.Add([]byte(`{"body":"b","traceId":"4bf92f3577b34da6a3ce929d0e0e4736","severityNumber":"13","severityText":"x","spanId":"zz"}`), false)
	f.Add([]byte(`{"traceparent":"00-XYZ","trace_id":"short","span_id":"","trace_flags":"0A","message":null,"level":"nope","time":"bad"}`), false)
	f.Add([]byte(`{"event.id":"e","event.dataset":" ","service":"a","app":"b","instance":"i","pod":"p","Body":{"x":1}}`), false)
	pol := fuzzPolicy(f)
	f.Fuzz(func(t *testing.T, data []byte, msgpackShapes bool) {
		var top map[string]any
		if json.Unmarshal(data, &top) != nil || top == nil {
			return // not a shape this target covers (returning keeps the seed out of the skip count)
		}
		in := top
		if msgpackShapes {
			in = asMsgpack(top, 0).(map[string]any)
		}
		before := deepCopy(in)
		p := NewParser(ParseOptions{Now: func() time.Time { return fixedNow }})
		var rec Record
		p.FromMap(in, time.Unix(1764150000, 7), &rec)
		if !reflect.DeepEqual(before, in) {
			t.Fatalf("FromMap modified its input")
		}
		checkFuzzRecord(t, "frommap", data, &rec)
		if !msgpackShapes {
			checkFromFields(t, p, before.(map[string]any), &rec)
			checkObjectBuilder(t, p, before.(map[string]any), &rec)
		}
		pol.Apply(&rec)
		checkFuzzRecord(t, "policy", data, &rec)
	})
}

// checkObjectBuilder asserts the ObjectBuilder, handed the pairs of in one
// by one, builds the record FromMap built (want), and refuses to finish
// when a key comes twice.
func checkObjectBuilder(t *testing.T, p *Parser, in map[string]any, want *Record) {
	t.Helper()
	keys := slices.Sorted(maps.Keys(in))
	var b ObjectBuilder
	var rec Record
	for _, dup := range []bool{false, true} {
		cp := deepCopy(in).(map[string]any)
		b.Reset(p, &rec)
		for _, k := range keys {
			b.Add(k, cp[k])
		}
		if dup && len(keys) > 0 {
			b.Add(keys[0], "again")
		}
		if ok := b.Finish(time.Unix(1764150000, 7)); ok == (dup && len(keys) > 0) {
			t.Fatalf("Finish %v with dup %v", ok, dup)
		}
		if dup {
			continue
		}
		got, wantJSON := rec.AppendJSON(nil), want.AppendJSON(nil)
		if bytes.Equal(got, wantJSON) {
			continue
		}
		for range 20 { // as in checkFromFields: FromMap's own map-order dependence
			var again Record
			p.FromMap(deepCopy(in).(map[string]any), time.Unix(1764150000, 7), &again)
			if bytes.Equal(again.AppendJSON(nil), got) {
				return
			}
		}
		t.Fatalf("ObjectBuilder:\n%s\nFromMap:\n%s", got, wantJSON)
	}
}

// checkFromFields asserts FromFields over in (the decoder's shapes) builds
// the record FromMap built (want), whether or not it is told the strings
// may be invalid.
func checkFromFields(t *testing.T, p *Parser, in map[string]any, want *Record) {
	t.Helper()
	wantJSON := want.AppendJSON(nil)
	for _, mayBeInvalid := range []bool{false, true} {
		var rec Record
		rec.Fields = deepCopy(in).(map[string]any)
		p.FromFields(time.Unix(1764150000, 7), &rec, mayBeInvalid)
		if got := rec.AppendJSON(nil); !bytes.Equal(got, wantJSON) {
			// FromMap itself depends on map order when two spellings of one
			// field rank equal ({"trace.id":…,"trace":{"id":…}}): only a
			// difference FromMap never shows is one.
			for range 20 {
				var again Record
				p.FromMap(deepCopy(in).(map[string]any), time.Unix(1764150000, 7), &again)
				if bytes.Equal(again.AppendJSON(nil), got) {
					return
				}
			}
			t.Fatalf("FromFields (mayBeInvalid %v):\n%s\nFromMap:\n%s", mayBeInvalid, got, wantJSON)
		}
	}
}

// asMsgpack turns strings into []byte and nested objects into map[any]any,
// alternating by depth, as the msgpack decoder may hand them over.
func asMsgpack(v any, depth int) any {
	switch x := v.(type) {
	case string:
		if depth%2 == 0 {
			return []byte(x)
		}
		return x
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = asMsgpack(e, depth+1)
		}
		return out
	case map[string]any:
		if depth%2 == 1 {
			out := make(map[any]any, len(x))
			for k, e := range x {
				out[k] = asMsgpack(e, depth+1)
			}
			return out
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = asMsgpack(e, depth+1)
		}
		return out
	}
	return v
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case []byte:
		return bytes.Clone(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case map[any]any:
		out := make(map[any]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	}
	return v
}
