package record

import (
	"encoding/hex"
	"errors"
	"strings"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// Spans travel as records too (topic agentobs-spans, one document per span
// in agentobs-spans-*), so the edge policy, producer stamp, size policy and
// Kafka message are the same as for logs. Field names follow ECS where it
// has them and OTel otherwise:
//
//	@timestamp      start time          event.end       end time
//	event.duration  nanoseconds         message         the span name (searchable)
//	trace.id        32 hex              span.id         16 hex
//	parent.id       parent span id      span.name       name
//	span.kind       internal, server, client, producer, consumer (or unspecified)
//	span.status.code    unset, ok, error; span.status.message
//	event.outcome   success, failure, unknown; log.level "error" for an error span
//	span.events     [{name, @timestamp, attributes}]
//	span.links      [{trace.id, span.id, attributes}]
//	event.id        trace.id + span.id (publish.SpanEventID, set by the caller)
//
// Resource attributes and span attributes (gen_ai.* as they are) are kept
// under their own keys; a span attribute wins over a resource attribute.
// Every span record carries event.kind "span", which is how the indexer and
// the trace lookup tell spans from log records.

// Span field names.
const (
	FieldParentID      = "parent.id"
	FieldSpanName      = "span.name"
	FieldSpanKind      = "span.kind"
	FieldDuration      = "event.duration"
	FieldEventEnd      = "event.end"
	FieldEventKind     = "event.kind"
	FieldOutcome       = "event.outcome"
	FieldStatusCode    = "span.status.code"
	FieldStatusMessage = "span.status.message"
	FieldSpanEvents    = "span.events"
	FieldSpanLinks     = "span.links"
	// EventKindSpan is the event.kind of span records.
	EventKindSpan = "span"
)

// ErrSpanID is returned for a span whose trace or span id is missing,
// all zeros or of the wrong length: it has no identity to be stored under.
var ErrSpanID = errors.New("span without a valid trace id and span id")

// FromOTLPSpan fills rec from one OTLP span with its resource and scope
// (either may be nil). defaultService names spans whose resource has no
// service.name.
func FromOTLPSpan(res *resourcepb.Resource, scope *commonpb.InstrumentationScope, sp *tracepb.Span, defaultService string, rec *Record) error {
	rec.Reset()
	tid, ok1 := NormalizeTraceID(hex.EncodeToString(sp.GetTraceId()))
	sid, ok2 := NormalizeSpanID(hex.EncodeToString(sp.GetSpanId()))
	if !ok1 || !ok2 {
		return ErrSpanID
	}
	f := rec.fields(16)
	for _, kv := range res.GetAttributes() {
		f[kv.GetKey()] = OTLPValue(kv.GetValue())
	}
	for _, kv := range sp.GetAttributes() {
		f[kv.GetKey()] = OTLPValue(kv.GetValue())
	}
	rec.TraceID, rec.SpanID = tid, sid
	if s, ok := f[FieldService].(string); ok {
		rec.Service = s
		delete(f, FieldService)
	} else {
		rec.Service = defaultService
	}
	if s, ok := f[FieldServiceInstance].(string); ok {
		rec.ServiceInstance = s
		delete(f, FieldServiceInstance)
	}
	start, end := sp.GetStartTimeUnixNano(), sp.GetEndTimeUnixNano()
	if start > 0 {
		rec.Timestamp = unixNano(start)
	} else {
		rec.Timestamp = time.Now().UTC()
		rec.AddFlag(FlagNoTimestamp)
	}
	if end >= start && end > 0 {
		f[FieldEventEnd] = unixNano(end)
		f[FieldDuration] = int64(end - start)
	}
	rec.Message = sp.GetName()
	f[FieldSpanName] = sp.GetName()
	f[FieldEventKind] = EventKindSpan
	f[FieldSpanKind] = spanKind(sp.GetKind())
	if pid, ok := NormalizeSpanID(hex.EncodeToString(sp.GetParentSpanId())); ok {
		f[FieldParentID] = pid
	}
	rec.TraceFlags = hex2(int(sp.GetFlags() & 0xff))
	if ts := sp.GetTraceState(); ts != "" {
		f["trace.state"] = ts
	}
	switch sp.GetStatus().GetCode() {
	case tracepb.Status_STATUS_CODE_ERROR:
		f[FieldStatusCode], f[FieldOutcome] = "error", "failure"
		rec.Level = LevelError
	case tracepb.Status_STATUS_CODE_OK:
		f[FieldStatusCode], f[FieldOutcome] = "ok", "success"
	default:
		f[FieldStatusCode], f[FieldOutcome] = "unset", "unknown"
	}
	if m := sp.GetStatus().GetMessage(); m != "" {
		f[FieldStatusMessage] = m
	}
	if evs := sp.GetEvents(); len(evs) > 0 {
		out := make([]any, 0, len(evs))
		for _, ev := range evs {
			e := map[string]any{"name": ev.GetName(), FieldTimestamp: unixNano(ev.GetTimeUnixNano())}
			if a := ev.GetAttributes(); len(a) > 0 {
				e["attributes"] = otlpAttrs(a)
			}
			out = append(out, e)
		}
		f[FieldSpanEvents] = out
	}
	if links := sp.GetLinks(); len(links) > 0 {
		out := make([]any, 0, len(links))
		for _, l := range links {
			e := map[string]any{FieldTraceID: hex.EncodeToString(l.GetTraceId()), FieldSpanID: hex.EncodeToString(l.GetSpanId())}
			if a := l.GetAttributes(); len(a) > 0 {
				e["attributes"] = otlpAttrs(a)
			}
			out = append(out, e)
		}
		f[FieldSpanLinks] = out
	}
	if scope != nil && scope.GetName() != "" {
		f[FieldScopeName] = scope.GetName()
		if v := scope.GetVersion(); v != "" {
			f[FieldScopeVersion] = v
		}
	}
	return nil
}

func spanKind(k tracepb.Span_SpanKind) string {
	s := strings.TrimPrefix(k.String(), "SPAN_KIND_")
	return strings.ToLower(s)
}
