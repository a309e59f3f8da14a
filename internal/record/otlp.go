package record

import (
	"encoding/base64"
	"encoding/hex"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
)

// OTLP log records (https://opentelemetry.io/docs/specs/otlp/), as the
// shipper's OTLP receiver decodes them with the OpenTelemetry project's own
// protobuf types (go.opentelemetry.io/proto/otlp), become canonical records
// here and nowhere else. The mapping is the one of OTLP/JSON lines (otel.go):
// a record is first put into that shape and then read by the same key table,
// so a log record yields the same canonical record whether it arrived as an
// OTLP export or as an OTLP/JSON line in a file.
//
//   - resource attributes (service.name, service.instance.id, host.*, k8s.*,
//     container.*, …) become fields under their own dotted keys;
//     service.name and service.instance.id fill the typed fields;
//   - log attributes are kept under their own keys (gen_ai.* as they are)
//     and win over a resource attribute of the same key;
//   - severity_number (or else severity_text) → log.level;
//   - a string body → message; a structured body is kept as "body";
//   - trace_id / span_id bytes → trace.id / span.id, validated: ids of the
//     wrong length or all zeros go to agentobs.invalid_trace_id/_span_id;
//   - time_unix_nano (or else observed_time_unix_nano) → @timestamp;
//   - the instrumentation scope → otel.scope.name / otel.scope.version,
//     event_name → event.name.

// Fields the OTLP mapping adds.
const (
	FieldScopeName    = "otel.scope.name"
	FieldScopeVersion = "otel.scope.version"
	FieldEventName    = "event.name"
)

// FromOTLPLog fills rec from one OTLP log record with its resource and
// scope (either may be nil). rec.EventID is left for the caller
// (publish.OTLPIDs).
func (p *Parser) FromOTLPLog(res *resourcepb.Resource, scope *commonpb.InstrumentationScope, lr *logspb.LogRecord, rec *Record) {
	// The OTel JSON shape goes straight into rec.Fields, as FromMap would
	// copy it there; FromFields then repairs it only when something in it
	// is not canonical already (Protocol Buffers checks strings on
	// unmarshal, so that is rare). A map per record and its copy were 15 %
	// of the OTLP ingest's allocated bytes.
	rec.Reset()
	m := rec.fields(12)
	if t := lr.GetTimeUnixNano(); t > 0 {
		m["timeUnixNano"] = unixNano(t)
	} else if t := lr.GetObservedTimeUnixNano(); t > 0 {
		m["timeUnixNano"] = unixNano(t)
	}
	if n := int64(lr.GetSeverityNumber()); n > 0 {
		m["severityNumber"] = n
	}
	if s := lr.GetSeverityText(); s != "" {
		m["severityText"] = s
	}
	// unwrapOTel needs "body" to recognise the shape; an absent body is an
	// empty message.
	if b := lr.GetBody(); b != nil {
		m["body"] = OTLPValue(b)
	} else {
		m["body"] = ""
	}
	if attrs := lr.GetAttributes(); len(attrs) > 0 {
		m["attributes"] = otlpAttrs(attrs)
	}
	if res != nil && len(res.GetAttributes()) > 0 {
		m["resource"] = map[string]any{"attributes": otlpAttrs(res.GetAttributes())}
	}
	if id := lr.GetTraceId(); len(id) > 0 {
		m["traceId"] = hex.EncodeToString(id)
		m["flags"] = int64(lr.GetFlags() & 0xff)
	}
	if id := lr.GetSpanId(); len(id) > 0 {
		m["spanId"] = hex.EncodeToString(id)
	}
	p.FromFields(time.Time{}, rec, !canonical(m, 0))
	if scope != nil && scope.GetName() != "" {
		rec.Fields[FieldScopeName] = scope.GetName()
		if v := scope.GetVersion(); v != "" {
			rec.Fields[FieldScopeVersion] = v
		}
	}
	if n := lr.GetEventName(); n != "" {
		rec.Fields[FieldEventName] = n
	}
	if n := lr.GetDroppedAttributesCount(); n > 0 {
		rec.Fields["otel.dropped_attributes_count"] = int64(n)
	}
}

func unixNano(t uint64) time.Time {
	if t > 1<<63-1 {
		t = 1<<63 - 1
	}
	return time.Unix(0, int64(t)).UTC()
}

// otlpAttrs turns a KeyValue list into a plain object; a repeated key keeps
// its first value (the OTLP spec forbids repeats).
func otlpAttrs(kvs []*commonpb.KeyValue) map[string]any {
	out := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		if _, dup := out[kv.GetKey()]; !dup {
			out[kv.GetKey()] = OTLPValue(kv.GetValue())
		}
	}
	return out
}

// OTLPValue converts an OTLP AnyValue to a plain value: string, bool,
// int64, float64, base64 string (bytes), []any, map[string]any, or nil.
func OTLPValue(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonpb.AnyValue_BytesValue:
		return base64.StdEncoding.EncodeToString(x.BytesValue)
	case *commonpb.AnyValue_ArrayValue:
		vals := x.ArrayValue.GetValues()
		out := make([]any, len(vals))
		for i, e := range vals {
			out[i] = OTLPValue(e)
		}
		return out
	case *commonpb.AnyValue_KvlistValue:
		return otlpAttrs(x.KvlistValue.GetValues())
	}
	return nil
}
