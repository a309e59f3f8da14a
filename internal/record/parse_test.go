package record

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

var fixedNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func testParser(opts ParseOptions) *Parser {
	opts.Now = func() time.Time { return fixedNow }
	return NewParser(opts)
}

// parseFixture parses every line of testdata/name and returns the complete
// records in order.
func parseFixture(t *testing.T, name string) []Record {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	p := testParser(ParseOptions{DefaultService: "default-svc"})
	var recs []Record
	for _, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		var r Record
		if p.Parse(line, &r) {
			recs = append(recs, r)
		}
	}
	if p.Pending() {
		t.Fatalf("%s: CRI partial left pending", name)
	}
	return recs
}

// TestGolden pins the encoded shape of every fixture line.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.log")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			var out []byte
			for _, r := range parseFixture(t, name) {
				doc := r.AppendJSON(nil)
				if !json.Valid(doc) {
					t.Fatalf("invalid JSON: %s", doc)
				}
				out = append(append(out, doc...), '\n')
			}
			golden := filepath.Join("testdata", "golden", strings.TrimSuffix(name, ".log")+".json")
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("encoded records differ from %s (go test -update to accept):\n got: %s\nwant: %s", golden, out, want)
			}
		})
	}
}

type want struct {
	file     string
	idx      int // index among the complete records of the file
	msg      string
	level    Level
	service  string
	instance string
	trace    string
	span     string
	tflags   string
	ts       string // RFC 3339; "" = fixedNow (edge time)
	eventID  string
	dataset  string
	fields   map[string]string // subset of Fields, compared via fmt.Sprint
	absent   []string          // keys that must have been consumed
	flags    []string
}

const (
	tid1 = "4bf92f3577b34da6a3ce929d0e0e4736"
	sid1 = "00f067aa0ba902b7"
	tid2 = "5b8efff798038103d269b633813fc60c"
	sid2 = "eee19b7ec3c1b174"
	tid3 = "0af7651916cd43dd8448eb211c80319c"
)

func TestParseFixtures(t *testing.T) {
	tests := []want{
		// log/slog JSONHandler
		{file: "slog.log", idx: 0, msg: "tool call finished", level: LevelInfo, service: "planner", trace: tid1, span: sid1,
			ts: "2026-11-26T09:00:00.123456789Z", fields: map[string]string{"gen_ai.tool.name": "web_search", "duration_ms": "412",
				"source": "map[file:/app/main.go function:main.run line:42]"}, absent: []string{"trace_id", "span_id", "time", "level", "msg", "service"}},
		{file: "slog.log", idx: 1, msg: "model latency high", level: LevelWarn, service: "planner", ts: "2026-11-26T10:00:00.5Z",
			fields: map[string]string{"latency_ms": "8123.5"}},
		{file: "slog.log", idx: 2, msg: "tool failed", level: LevelError, service: "default-svc", ts: "2026-11-26T10:00:01Z",
			fields: map[string]string{FieldSessionID: "sess-9", FieldConversationID: "conv-1"}, absent: []string{"gen_ai"}},
		// zap
		{file: "zap.log", idx: 0, msg: "retrying model call", level: LevelWarn, service: "coder", trace: tid2, span: sid2,
			ts: "2026-11-26T10:00:00.123456Z", fields: map[string]string{"caller": "agent/loop.go:88", "logger": "agent.loop", "attempt": "2"},
			absent: []string{"traceId", "spanId", "ts"}},
		{file: "zap.log", idx: 1, msg: "command failed", level: LevelError, service: "default-svc", ts: "2026-11-26T09:00:00.123Z",
			fields: map[string]string{"stacktrace": "main.main\n\t/app/main.go:10"}},
		{file: "zap.log", idx: 2, msg: "impossible state", level: LevelError, service: "coder", ts: "2026-11-26T10:00:00Z"},
		// logrus
		{file: "logrus.log", idx: 0, msg: "tool output truncated", level: LevelWarn, service: "researcher", trace: tid3,
			ts: "2026-11-26T09:00:00Z", fields: map[string]string{"func": "main.handle"}, absent: []string{"app", "trace.id"}},
		{file: "logrus.log", idx: 1, msg: "config missing", level: LevelFatal, service: "researcher", instance: "r-2", ts: "2026-11-26T10:00:00Z"},
		// zerolog, epoch seconds/ms/us/ns and a big int kept exactly
		{file: "zerolog.log", idx: 0, msg: "sandbox command failed", level: LevelError, service: "executor", ts: "2026-11-26T10:00:00Z",
			fields: map[string]string{"error": "exit status 1", FieldSessionID: "sess-42"}, absent: []string{"session_id"}},
		{file: "zerolog.log", idx: 1, msg: "ms epoch", level: LevelDebug, service: "default-svc", instance: "executor-5f6d-x2", ts: "2026-11-26T10:00:00.123Z"},
		{file: "zerolog.log", idx: 2, msg: "us epoch", level: LevelTrace, ts: "2026-11-26T10:00:00.123456Z", service: "default-svc"},
		{file: "zerolog.log", idx: 3, msg: "ns epoch", level: LevelInfo, ts: "2026-11-26T10:00:00.123456789Z", service: "default-svc",
			fields: map[string]string{"big": "12345678901234567890123", "f": "1.5e300"}},
		// ECS, dotted and nested
		{file: "ecs.log", idx: 0, msg: "Payment failed", level: LevelError, service: "billing", trace: tid1, span: sid1, dataset: "billing.log",
			ts: "2026-11-26T09:00:00.123Z", fields: map[string]string{"ecs.version": "1.6.0", "error": "map[message:conn reset type:IOError]"}},
		{file: "ecs.log", idx: 1, msg: "slow query", level: LevelWarn, service: "search", instance: "search-7d9f-abc", trace: tid1, span: sid1,
			ts: "2026-11-26T09:00:00.123456Z", fields: map[string]string{"log": "map[logger:app]", "ecs": "map[version:8.11.0]"},
			absent: []string{"service", "trace", "span"}},
		{file: "ecs.log", idx: 2, msg: "has upstream id", level: LevelInfo, service: "billing", eventID: "upstream-7f3a", ts: "2026-11-26T09:00:01Z",
			absent: []string{"event.id"}},
		// Docker json-file
		{file: "docker.log", idx: 0, msg: "step done", level: LevelInfo, trace: tid1, service: "default-svc", ts: "2026-11-26T10:00:01.5Z",
			fields: map[string]string{FieldStream: "stdout"}, absent: []string{"log", "stream", "time"}},
		{file: "docker.log", idx: 1, msg: "ERROR something broke", level: LevelError, service: "default-svc", ts: "2026-11-26T10:00:02.000000001Z",
			fields: map[string]string{FieldStream: "stderr"}},
		{file: "docker.log", idx: 2, msg: "payload without time", level: LevelDebug, service: "default-svc", ts: "2026-11-26T10:00:03.123456789Z"},
		{file: "docker.log", idx: 3, msg: `{"msg": "broken payload`, service: "default-svc", ts: "2026-11-26T10:00:04Z", flags: []string{FlagUnparsedJSON}},
		// CRI, with a partial line joined across an interleaved other stream
		{file: "cri.log", idx: 0, msg: "hello from cri", level: LevelInfo, service: "runner", ts: "2026-11-26T10:00:00.123456789Z",
			fields: map[string]string{FieldStream: "stdout"}},
		{file: "cri.log", idx: 1, msg: "interleaved stdout line", service: "default-svc", ts: "2026-11-26T10:00:01.1Z"},
		{file: "cri.log", idx: 2, msg: "a very long line", level: LevelError, service: "default-svc", ts: "2026-11-26T10:00:01Z",
			fields: map[string]string{FieldStream: "stderr"}},
		{file: "cri.log", idx: 3, msg: "[warn] disk almost full", level: LevelWarn, service: "default-svc", ts: "2026-11-26T10:00:02.5Z"},
		// OTel JSON log records
		{file: "otel.log", idx: 0, msg: "tool call failed", level: LevelError, service: "agent-runner", instance: "runner-1", trace: tid2, span: sid2, tflags: "01",
			ts: "2026-11-26T10:00:00.123456789Z", fields: map[string]string{"gen_ai.tool.name": "shell", "retry": "3", "ok": "false",
				"host.name": "node-3", "args": "[ls -la]", "observedTimeUnixNano": "1795687200200000000"},
			absent: []string{"attributes", "resource", "body", "severityText", "severityNumber", "flags", "traceId", "spanId"}},
		{file: "otel.log", idx: 1, msg: "base64 ids", level: LevelInfo, trace: tid2, span: sid2, service: "default-svc", ts: "2026-11-26T10:00:00.2Z",
			absent: []string{"timeUnixNano"}},
		{file: "otel.log", idx: 2, level: LevelDebug, service: "default-svc", ts: "2026-11-26T10:00:00Z",
			fields: map[string]string{"body": "map[event:step]"}, absent: []string{"traceId", "spanId"}},
		// traceparent, pino, bunyan, syslog numbers, invalid ids, odd shapes
		{file: "misc.log", idx: 0, msg: "incoming request", level: LevelInfo, trace: tid3, span: "b7ad6b7169203331", tflags: "01",
			service: "default-svc", ts: "2026-11-26T10:00:00Z", absent: []string{"traceparent"}},
		{file: "misc.log", idx: 1, msg: "pino line", level: LevelInfo, service: "default-svc", ts: "2026-11-26T10:00:00.123Z"},
		{file: "misc.log", idx: 2, msg: "bunyan err", level: LevelError, service: "default-svc", ts: "2026-11-26T10:00:00Z"},
		{file: "misc.log", idx: 3, msg: "syslog severity", level: LevelError, service: "default-svc", ts: "2026-11-26T10:00:00.25Z"},
		{file: "misc.log", idx: 4, msg: "bad ids", service: "default-svc", ts: "2026-11-26T10:00:00Z",
			fields: map[string]string{FieldInvalidTraceID: "00000000000000000000000000000000", FieldInvalidSpanID: "xyz"},
			absent: []string{"trace_id", "span_id"}},
		{file: "misc.log", idx: 5, msg: `{"nested":"message object"}`, service: "from-resource", ts: "2026-11-26T10:00:00Z", absent: []string{"resource"}},
		{file: "misc.log", idx: 6, msg: "python", level: LevelWarn, service: "default-svc", ts: "2026-11-26T10:00:00.123Z",
			fields: map[string]string{FieldConversationID: "c-77", "asctime": "x"}},
		// plain text
		{file: "text.log", idx: 0, msg: "ERROR failed to connect to redis", level: LevelError, service: "default-svc", flags: []string{FlagNoTimestamp}},
		{file: "text.log", idx: 1, msg: "[warn] retrying in 5s", level: LevelWarn, service: "default-svc", flags: []string{FlagNoTimestamp}},
		{file: "text.log", idx: 2, msg: "2026-11-26 10:00:00.123 INFO starting agent", level: LevelInfo, service: "default-svc", ts: "2026-11-26T10:00:00.123Z"},
		{file: "text.log", idx: 3, msg: "2026-11-26T10:00:00.123456Z DEBUG trace-level noise", level: LevelDebug, service: "default-svc", ts: "2026-11-26T10:00:00.123456Z"},
		{file: "text.log", idx: 4, msg: "I1126 10:00:00.123456    1234 main.go:42] klog line", level: LevelInfo, service: "default-svc", flags: []string{FlagNoTimestamp}},
		{file: "text.log", idx: 5, msg: "just a plain line with token count 42", service: "default-svc", flags: []string{FlagNoTimestamp}},
		{file: "text.log", idx: 6, msg: `{"broken": json`, service: "default-svc", flags: []string{FlagUnparsedJSON, FlagNoTimestamp}},
		{file: "text.log", idx: 7, msg: "", service: "default-svc", flags: []string{FlagNoTimestamp}},
		// invalid UTF-8 repaired
		{file: "invalid.log", idx: 0, msg: "bad \uFFFD utf8", level: LevelInfo, service: "default-svc", ts: "2026-11-26T10:00:00Z", flags: []string{FlagInvalidUTF8}},
		{file: "invalid.log", idx: 1, msg: "plain \uFFFD( text", service: "default-svc", flags: []string{FlagInvalidUTF8, FlagNoTimestamp}},
	}
	cache := map[string][]Record{}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s#%d", tc.file, tc.idx), func(t *testing.T) {
			recs, ok := cache[tc.file]
			if !ok {
				recs = parseFixture(t, tc.file)
				cache[tc.file] = recs
			}
			if tc.idx >= len(recs) {
				t.Fatalf("only %d records", len(recs))
			}
			checkRecord(t, recs[tc.idx], tc)
		})
	}
}

func checkRecord(t *testing.T, r Record, tc want) {
	t.Helper()
	eq := func(name, got, want string) {
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	eq("message", r.Message, tc.msg)
	eq("level", string(r.Level), string(tc.level))
	eq("service", r.Service, tc.service)
	eq("instance", r.ServiceInstance, tc.instance)
	eq("trace", r.TraceID, tc.trace)
	eq("span", r.SpanID, tc.span)
	eq("trace flags", r.TraceFlags, tc.tflags)
	eq("event id", r.EventID, tc.eventID)
	eq("dataset", r.Dataset, tc.dataset)
	wantTS := fixedNow
	if tc.ts != "" {
		var err error
		if wantTS, err = time.Parse(time.RFC3339Nano, tc.ts); err != nil {
			t.Fatal(err)
		}
	}
	if !r.Timestamp.Equal(wantTS) {
		t.Errorf("timestamp = %s, want %s", r.Timestamp.Format(time.RFC3339Nano), wantTS.Format(time.RFC3339Nano))
	}
	for k, v := range tc.fields {
		got, ok := r.Fields[k]
		if !ok {
			t.Errorf("field %q missing; fields: %v", k, r.Fields)
		} else if fmt.Sprint(got) != v {
			t.Errorf("field %q = %v, want %v", k, got, v)
		}
	}
	for _, k := range tc.absent {
		if _, ok := r.Fields[k]; ok {
			t.Errorf("field %q should have been consumed: %v", k, r.Fields[k])
		}
	}
	if !slices.Equal(r.Flags, tc.flags) && !(len(r.Flags) == 0 && len(tc.flags) == 0) {
		t.Errorf("flags = %v, want %v", r.Flags, tc.flags)
	}
}

func TestParseOptions(t *testing.T) {
	p := testParser(ParseOptions{
		DefaultService: "fallback",
		LevelKeys:      []string{"sev"},
		ServiceKeys:    []string{"kubernetes.labels.app"},
		MessageKeys:    []string{"text"},
		TimeKeys:       []string{"when"},
	})
	var r Record
	p.Parse([]byte(`{"sev":"W","text":"custom keys","message":"other","when":"2026-11-26T10:00:00Z","time":"2020-01-01T00:00:00Z","kubernetes":{"labels":{"app":"k8s-app","tier":"x"}}}`), &r)
	checkRecord(t, r, want{msg: "custom keys", level: LevelWarn, service: "k8s-app", ts: "2026-11-26T10:00:00Z",
		fields: map[string]string{"message": "other", "time": "2020-01-01T00:00:00Z", "kubernetes": "map[labels:map[tier:x]]"}})
	// the shadowed "message" must not produce a duplicate key
	doc := r.AppendJSON(nil)
	if bytes.Count(doc, []byte(`"message":`)) != 1 || !bytes.Contains(doc, []byte(`"agentobs.conflict.message":"other"`)) {
		t.Errorf("conflict not renamed: %s", doc)
	}
}

func TestParseFormats(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Format
		err  bool
	}{{"auto", FormatAuto, false}, {"JSON", FormatJSON, false}, {"docker", FormatDocker, false}, {" cri ", FormatCRI, false}, {"text", FormatText, false}, {"xml", 0, true}} {
		got, err := ParseFormat(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseFormat(%q) = %v, %v", tc.in, got, err)
		}
	}
	line := []byte(`{"msg":"hi","level":"info"}`)
	var r Record
	testParser(ParseOptions{Format: FormatText}).Parse(line, &r)
	if r.Message != string(line) || r.Level != LevelUnknown {
		t.Errorf("text format parsed JSON: %+v", r)
	}
	testParser(ParseOptions{Format: FormatJSON}).Parse([]byte("not json"), &r)
	if !r.HasFlag(FlagUnparsedJSON) || r.Message != "not json" {
		t.Errorf("json format on text: %+v", r)
	}
	// A CRI-looking line read as JSON stays text.
	testParser(ParseOptions{Format: FormatJSON}).Parse([]byte(`2026-11-26T10:00:00Z stdout F {"msg":"x"}`), &r)
	if !r.HasFlag(FlagUnparsedJSON) {
		t.Errorf("json format on CRI line: %+v", r)
	}
}

func TestParseTruncates(t *testing.T) {
	p := testParser(ParseOptions{MaxLineBytes: 16})
	var r Record
	p.Parse([]byte("ERROR ééééééééééééééé end"), &r)
	if !r.HasFlag(FlagTruncated) || r.Fields[FieldOriginalBytes] != int64(40) {
		t.Fatalf("not flagged: %+v", r)
	}
	if len(r.Message) > 16 || r.HasFlag(FlagInvalidUTF8) || r.Level != LevelError {
		t.Errorf("bad cut: %q %v", r.Message, r.Flags)
	}
	// A truncated JSON line is kept as text.
	p.Parse([]byte(`{"msg":"0123456789abcdef"}`), &r)
	if !r.HasFlag(FlagTruncated) || !r.HasFlag(FlagUnparsedJSON) || r.Message != `{"msg":"01234567` {
		t.Errorf("truncated json: %+v", r)
	}
	// CRI partials are bounded too, and count every byte seen.
	p = testParser(ParseOptions{MaxLineBytes: 10})
	if p.Parse([]byte("2026-11-26T10:00:00Z stdout P 0123456789"), &r) {
		t.Fatal("partial reported complete")
	}
	p.Parse([]byte("2026-11-26T10:00:00Z stdout P abcdefghij"), &r)
	if !p.Parse([]byte("2026-11-26T10:00:00Z stdout F xyz"), &r) {
		t.Fatal("final line not complete")
	}
	if r.Message != "0123456789" || r.Fields[FieldOriginalBytes] != int64(23) {
		t.Errorf("joined partial: %q %v", r.Message, r.Fields)
	}
}

func TestParseFlushPartial(t *testing.T) {
	p := testParser(ParseOptions{})
	var r Record
	p.Parse([]byte("2026-11-26T10:00:00Z stderr P half a line"), &r)
	if !p.Pending() || !p.Flush(&r) || r.Message != "half a line" || r.Fields[FieldStream] != "stderr" {
		t.Fatalf("flush: %+v", r)
	}
	if p.Pending() || p.Flush(&r) {
		t.Error("flush twice")
	}
}

func TestParseReuse(t *testing.T) {
	p := testParser(ParseOptions{})
	var r Record
	p.Parse([]byte(`{"msg":"first","a":1,"trace_id":"`+tid1+`"}`), &r)
	p.Parse([]byte(`{"msg":"second"}`), &r)
	if r.TraceID != "" || len(r.Fields) != 0 || r.Message != "second" {
		t.Errorf("state leaked between records: %+v", r)
	}
}

func TestFromMap(t *testing.T) {
	p := testParser(ParseOptions{DefaultService: "fb"})
	ts := time.Date(2026, 11, 26, 10, 0, 0, 42, time.UTC)
	in := map[string]any{
		"log":    []byte(`{"level":"warn","msg":"from fluent-bit","trace_id":"` + tid1 + `"}` + "\n"),
		"stream": []byte("stdout"),
		"kubernetes": map[any]any{
			"pod_name": []byte("agent-0"),
			"labels":   map[any]any{"app": "agent"},
			1:          "int key",
		},
		"bin": []byte{0xff, 'x'},
	}
	var r Record
	p.FromMap(in, ts, &r)
	checkRecord(t, r, want{msg: "from fluent-bit", level: LevelWarn, service: "fb", trace: tid1, ts: ts.Format(time.RFC3339Nano),
		fields: map[string]string{FieldStream: "stdout", "kubernetes": "map[1:int key labels:map[app:agent] pod_name:agent-0]", "bin": "\uFFFDx"},
		flags:  []string{FlagInvalidUTF8}})
	if _, ok := in["log"]; !ok {
		t.Error("FromMap modified its input")
	}
	// Transport time is the fallback only.
	p.FromMap(map[string]any{"message": "own time", "time": int64(1795687200)}, ts, &r)
	if r.Timestamp.Unix() != 1795687200 {
		t.Errorf("own time ignored: %v", r.Timestamp)
	}
	p.FromMap(map[string]any{"message": "no time"}, time.Time{}, &r)
	if !r.Timestamp.Equal(fixedNow) || !r.HasFlag(FlagNoTimestamp) {
		t.Errorf("no time: %v %v", r.Timestamp, r.Flags)
	}
}

// TestFromFields: the map decoded in place gives FromMap's record, and
// invalid UTF-8 is repaired and flagged when the decoder says it may be
// there.
func TestFromFields(t *testing.T) {
	p := testParser(ParseOptions{})
	ts := time.Date(2026, 11, 26, 10, 0, 0, 42, time.UTC)
	in := func() map[string]any {
		return map[string]any{"msg": "bad \xff here", "k\xfe": map[string]any{"n": []any{"\xc3"}}, "trace_id": tid1, "ok": "fine"}
	}
	var want, got Record
	p.FromMap(in(), ts, &want)
	got.Reset()
	got.Fields = in()
	p.FromFields(ts, &got, true)
	if w, g := want.AppendJSON(nil), got.AppendJSON(nil); string(w) != string(g) || !got.HasFlag(FlagInvalidUTF8) {
		t.Errorf("FromFields:\n%s\nFromMap:\n%s", g, w)
	}
	got.Reset()
	got.Fields = map[string]any{"msg": "clean", "ok": "fine"}
	p.FromFields(ts, &got, false)
	if got.Message != "clean" || got.HasFlag(FlagInvalidUTF8) || got.Fields["ok"] != "fine" || !got.Timestamp.Equal(ts) {
		t.Errorf("clean record: %+v", got)
	}
}

func TestEventIDHonoured(t *testing.T) {
	p := testParser(ParseOptions{})
	var r Record
	long := strings.Repeat("x", 129)
	for in, wantID := range map[string]string{
		`{"event":{"id":"nested-id"}}`:   "nested-id",
		`{"event.id":"` + long + `"}`:    "",
		`{"event.id":""}`:                "",
		`{"event.id":123}`:               "123",
		`{"event.id":"` + tid1 + `"}`:    tid1,
		`{"message":"no id","id":"abc"}`: "",
	} {
		p.Parse([]byte(in), &r)
		if r.EventID != wantID {
			t.Errorf("%s: event id %q, want %q", in, r.EventID, wantID)
		}
	}
}

func TestParseNeverLosesBadTime(t *testing.T) {
	var r Record
	testParser(ParseOptions{}).Parse([]byte(`{"@timestamp":"yesterday","msg":"x"}`), &r)
	doc := r.AppendJSON(nil)
	if !r.HasFlag(FlagNoTimestamp) || !bytes.Contains(doc, []byte(`"agentobs.conflict.@timestamp":"yesterday"`)) {
		t.Errorf("bad time: %s", doc)
	}
}

// ReuseValues changes where a record's strings and numbers live, never what
// it says: each line parsed with it and encoded before the next gives the
// bytes a parser without it gives, and the boxes and line copy are reused
// (fewer allocations per record).
func TestReuseValuesSameRecords(t *testing.T) {
	lines := []string{
		string(benchLines["slog1k"]), string(benchLines["line256"]), string(benchLines["docker"]),
		`{"msg":"nested","a":{"b":[1,2.5,"x",{"c":"d\u00e9"}],"n":-3e7},"big":123456789012345678901234567890,"ok":false,"none":null}`,
		`{"message":"esc \"q\" \\ \n","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","level":"warn","token":"s3cret","url":"https://u:p@h/x"}`,
		`2026-11-26T10:00:00.123456789Z stdout P {"msg":"part one `,
		`2026-11-26T10:00:00.223456789Z stdout F and two","level":"error"}`,
		`plain text line WARN with a 2026-11-26 10:00:00.000 time`,
		`{"broken": [1, 2`,
		`{"log":"{\"msg\":\"inner\",\"n\":42,\"deep\":{\"k\":\"v\"}}\n","stream":"stderr","time":"2026-11-26T10:00:00.5Z"}`,
		`{}`, ``, `{"msg":"last","n":7}`,
	}
	now := func() time.Time { return time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC) }
	plain, reuse := NewParser(ParseOptions{Now: now}), NewParser(ParseOptions{Now: now, ReuseValues: true})
	var a, b Record
	var enc Encoder
	for round := range 3 { // later rounds run on reused memory
		for i, l := range lines {
			okA, okB := plain.Parse([]byte(l), &a), reuse.Parse([]byte(l), &b)
			if okA != okB {
				t.Fatalf("round %d line %d: complete %v and %v", round, i, okA, okB)
			}
			if !okA {
				continue
			}
			ja, jb := string(enc.AppendJSON(nil, &a)), string(enc.AppendJSON(nil, &b))
			if ja != jb {
				t.Fatalf("round %d line %d:\nplain %s\nreuse %s", round, i, ja, jb)
			}
		}
	}
	line := benchLines["slog1k"]
	allocs := func(p *Parser) float64 {
		var rec Record
		return testing.AllocsPerRun(100, func() { p.Parse(line, &rec) })
	}
	if pa, ra := allocs(plain), allocs(reuse); ra >= pa {
		t.Errorf("allocations per record: %.0f with ReuseValues, %.0f without", ra, pa)
	} else {
		t.Logf("allocations per record: %.0f with ReuseValues, %.0f without", ra, pa)
	}
	// A CRI line and a klog line: the stream and the level word come from
	// fixed values, so with ReuseValues neither allocates; nor does a nested
	// object (its map is a record before's), nor a Docker line's stream.
	for _, l := range []string{
		`2026-11-26T10:00:00.123456789Z stderr F {"msg":"hello","level":"INFO","n":5}`,
		`I1126 10:00:00.000000 1 main.go:10] hello there`,
		`{"msg":"hello","kubernetes":{"pod_name":"planner-7d9f","labels":{"app":"planner","tier":"agents"}},"n":500}`,
		`{"log":"{\"msg\":\"hello\",\"k\":{\"a\":\"b\"}}\n","stream":"stderr","time":"2026-11-26T10:00:00.5Z"}`,
	} {
		var rec Record
		line := []byte(l) // the line's bytes are the caller's, not the parser's allocation
		reuse.Parse(line, &rec)
		if n := testing.AllocsPerRun(100, func() { reuse.Parse(line, &rec) }); n != 0 {
			t.Errorf("%q: %.0f allocations with ReuseValues, want 0", l, n)
		}
	}
}
