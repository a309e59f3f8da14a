package record

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutlog"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
)

const (
	tidHex = "4bf92f3577b34da6a3ce929d0e0e4736"
	sidHex = "00f067aa0ba902b7"
)

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}

func mustHex(s string) []byte {
	b := make([]byte, len(s)/2)
	for i := range b {
		var v byte
		for _, c := range []byte(s[2*i : 2*i+2]) {
			v <<= 4
			switch {
			case c >= '0' && c <= '9':
				v |= c - '0'
			default:
				v |= c - 'a' + 10
			}
		}
		b[i] = v
	}
	return b
}

func TestFromOTLPLog(t *testing.T) {
	res := &resourcepb.Resource{Attributes: []*commonpb.KeyValue{str("service.name", "planner"),
		str("service.instance.id", "planner-7"), str("host.name", "node-1"), str("k8s.pod.name", "planner-7-abc"),
		str("container.id", "c0ffee"), str("deployment.environment", "prod")}}
	scope := &commonpb.InstrumentationScope{Name: "agent.loop", Version: "1.2.0"}
	ts := time.Date(2026, 11, 30, 10, 0, 0, 123456789, time.UTC)
	lr := &logspb.LogRecord{TimeUnixNano: uint64(ts.UnixNano()), SeverityNumber: logspb.SeverityNumber_SEVERITY_NUMBER_WARN,
		SeverityText: "Warning", Body: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "tool timed out"}},
		Attributes: []*commonpb.KeyValue{str("gen_ai.request.model", "gpt-x"), str("deployment.environment", "canary"),
			{Key: "gen_ai.usage.input_tokens", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 812}}}},
		TraceId: mustHex(tidHex), SpanId: mustHex(sidHex), Flags: 1, EventName: "tool.timeout"}
	p := testParser(ParseOptions{DefaultService: "default-svc"})
	var rec Record
	p.FromOTLPLog(res, scope, lr, &rec)
	if rec.Message != "tool timed out" || rec.Level != LevelWarn || rec.Service != "planner" || rec.ServiceInstance != "planner-7" ||
		rec.TraceID != tidHex || rec.SpanID != sidHex || rec.TraceFlags != "01" || !rec.Timestamp.Equal(ts) {
		t.Fatalf("typed fields: %+v", rec)
	}
	want := map[string]any{"host.name": "node-1", "k8s.pod.name": "planner-7-abc", "container.id": "c0ffee",
		"gen_ai.request.model": "gpt-x", "gen_ai.usage.input_tokens": int64(812), FieldScopeName: "agent.loop",
		FieldScopeVersion: "1.2.0", FieldEventName: "tool.timeout",
		"deployment.environment": "canary"} // the log attribute wins over the resource's
	for k, v := range want {
		if rec.Fields[k] != v {
			t.Errorf("%s = %#v, want %#v", k, rec.Fields[k], v)
		}
	}
	for _, k := range []string{"body", "severityText", "traceId", "attributes", "resource", "timeUnixNano", "flags"} {
		if _, ok := rec.Fields[k]; ok {
			t.Errorf("%s left in the fields: %v", k, rec.Fields)
		}
	}
	if !json.Valid(rec.AppendJSON(nil)) {
		t.Fatal("invalid JSON")
	}

	// A structured body is kept; bad ids are recorded, not trusted; no
	// time falls back to the observed time.
	kv := &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{str("tool", "search")}}}}
	lr = &logspb.LogRecord{ObservedTimeUnixNano: uint64(ts.UnixNano()), SeverityText: "ERROR", Body: kv,
		TraceId: []byte{1, 2, 3}, SpanId: make([]byte, 8)}
	p.FromOTLPLog(nil, nil, lr, &rec)
	if rec.Level != LevelError || rec.Service != "default-svc" || rec.TraceID != "" || rec.SpanID != "" || !rec.Timestamp.Equal(ts) {
		t.Fatalf("second record: %+v", rec)
	}
	if b, _ := rec.Fields["body"].(map[string]any); b["tool"] != "search" {
		t.Errorf("structured body: %v", rec.Fields)
	}
	if rec.Fields[FieldInvalidTraceID] != "010203" || rec.Fields[FieldInvalidSpanID] != "0000000000000000" {
		t.Errorf("invalid ids not recorded: %v", rec.Fields)
	}
	// No time at all: the edge's time, flagged.
	p.FromOTLPLog(nil, nil, &logspb.LogRecord{}, &rec)
	if !rec.HasFlag(FlagNoTimestamp) || rec.Message != "" {
		t.Errorf("empty record: %+v", rec)
	}
}

// Lines written by the SDK's real stdout log exporter become records with
// their message, level, ids, resource and attributes.
func TestOTelStdoutExporterLines(t *testing.T) {
	var out bytes.Buffer
	exp, err := stdoutlog.New(stdoutlog.WithWriter(&out))
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)),
		sdklog.WithResource(resource.NewSchemaless(attribute.String("service.name", "svc"), attribute.String("host.name", "h1"))))
	l := lp.Logger("agent.loop")
	tid, _ := trace.TraceIDFromHex(tidHex)
	sid, _ := trace.SpanIDFromHex(sidHex)
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: 1}))
	var r otellog.Record
	r.SetSeverity(otellog.SeverityError)
	r.SetSeverityText("ERROR")
	r.SetBody(attribute.StringValue("tool failed"))
	r.AddAttributes(attribute.String("gen_ai.request.model", "m1"), attribute.Int("attempt", 3))
	l.Emit(ctx, r)
	var r2 otellog.Record // no span context, no severity text, a time of its own
	r2.SetTimestamp(time.Date(2026, 11, 30, 9, 0, 0, 5, time.UTC))
	r2.SetSeverity(otellog.SeverityInfo)
	r2.SetBody(attribute.StringValue("plain"))
	l.Emit(context.Background(), r2)
	lines := bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("exporter wrote %d lines: %s", len(lines), out.Bytes())
	}
	p := testParser(ParseOptions{DefaultService: "default-svc"})
	var rec Record
	p.Parse(lines[0], &rec)
	if rec.Message != "tool failed" || rec.Level != LevelError || rec.TraceID != tidHex || rec.SpanID != sidHex ||
		rec.TraceFlags != "01" || rec.Service != "svc" || rec.HasFlag(FlagNoTimestamp) {
		t.Fatalf("line %s\nrecord %+v", lines[0], rec)
	}
	if rec.Fields["gen_ai.request.model"] != "m1" || rec.Fields["host.name"] != "h1" || rec.Fields[FieldScopeName] != "agent.loop" {
		t.Errorf("fields: %v", rec.Fields)
	}
	for _, k := range []string{"Body", "Attributes", "Resource", "Scope", "TraceID", "SeverityText", "DroppedAttributes"} {
		if _, ok := rec.Fields[k]; ok {
			t.Errorf("%s left in the fields: %v", k, rec.Fields)
		}
	}
	p.Parse(lines[1], &rec)
	if rec.Message != "plain" || rec.Level != LevelInfo || rec.TraceID != "" || rec.Fields[FieldInvalidTraceID] != nil ||
		!rec.Timestamp.Equal(time.Date(2026, 11, 30, 9, 0, 0, 5, time.UTC)) {
		t.Fatalf("line %s\nrecord %+v", lines[1], rec)
	}
}

// W3C trace context requires lowercase hex in traceparent: an upper-case
// value is not trusted, and it is kept in agentobs.invalid_trace_id instead
// of vanishing.
func TestTraceparentCase(t *testing.T) {
	p := testParser(ParseOptions{})
	var rec Record
	upper := "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01"
	p.Parse([]byte(`{"msg":"x","traceparent":"`+upper+`"}`), &rec)
	if rec.TraceID != "" || rec.Fields[FieldInvalidTraceID] != upper || rec.Fields["traceparent"] != nil {
		t.Fatalf("upper-case traceparent: %+v", rec)
	}
	p.Parse([]byte(`{"msg":"x","traceparent":"00-`+tidHex+`-`+sidHex+`-01"}`), &rec)
	if rec.TraceID != tidHex || rec.SpanID != sidHex || rec.Fields[FieldInvalidTraceID] != nil {
		t.Fatalf("lower-case traceparent: %+v", rec)
	}
	// A valid trace_id next to a rejected traceparent is used; the
	// traceparent stays as it was.
	p.Parse([]byte(`{"msg":"x","trace_id":"`+tidHex+`","traceparent":"`+upper+`"}`), &rec)
	if rec.TraceID != tidHex || rec.Fields["traceparent"] != upper {
		t.Fatalf("trace_id + upper traceparent: %+v", rec)
	}
}

// TestFromOTLPLogRepairs: a log record built in memory (not unmarshalled,
// so Protocol Buffers did not check its strings) with invalid UTF-8 in an
// attribute's key, a string value and a nested list is repaired and
// flagged as FromMap repairs JSON; the same record with clean strings,
// reusing the Record, is not flagged and keeps every field.
func TestFromOTLPLogRepairs(t *testing.T) {
	p := testParser(ParseOptions{})
	build := func(bad string) *logspb.LogRecord {
		list := &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{
			Values: []*commonpb.AnyValue{{Value: &commonpb.AnyValue_StringValue{StringValue: "x" + bad}}}}}}
		return &logspb.LogRecord{TimeUnixNano: 1764590400000000000, SeverityText: "INFO",
			Body:       &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "body"}},
			Attributes: []*commonpb.KeyValue{str("key"+bad, "v"), str("plain", "value"+bad), {Key: "list", Value: list}}}
	}
	var rec Record
	for _, tc := range []struct {
		bad     string
		flagged bool
	}{{"\xff", true}, {"", false}} {
		p.FromOTLPLog(nil, nil, build(tc.bad), &rec)
		if rec.HasFlag(FlagInvalidUTF8) != tc.flagged {
			t.Fatalf("bad %q: flagged %v, want %v (flags %v)", tc.bad, !tc.flagged, tc.flagged, rec.Flags)
		}
		js := rec.AppendJSON(nil)
		var doc map[string]any
		if err := json.Unmarshal(js, &doc); err != nil {
			t.Fatalf("bad %q: %v: %s", tc.bad, err, js)
		}
		want := map[string]any{"key\uFFFD": "v", "plain": "value\uFFFD", "list": []any{"x\uFFFD"}}
		if !tc.flagged {
			want = map[string]any{"key": "v", "plain": "value", "list": []any{"x"}}
		}
		for k, v := range want {
			if got, _ := json.Marshal(doc[k]); string(got) != string(must(json.Marshal(v))) {
				t.Fatalf("bad %q: %s = %s, want %v (%s)", tc.bad, k, got, v, js)
			}
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
