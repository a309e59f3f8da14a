package record

import (
	"encoding/json"
	"strings"
)

// Log lines written by the OpenTelemetry Go SDK's stdout log exporter
// (go.opentelemetry.io/otel/exporters/stdout/stdoutlog), one JSON object per
// record with Go field names and typed values:
//
//	{"Timestamp":"0001-01-01T00:00:00Z","ObservedTimestamp":"2026-11-30T11:11:09.705514693Z",
//	 "Severity":17,"SeverityText":"ERROR","Body":{"Type":"STRING","Value":"boom"},
//	 "Attributes":[{"Key":"gen_ai.request.model","Value":{"Type":"STRING","Value":"m"}}],
//	 "TraceID":"4bf92f3577b34da6a3ce929d0e0e4736","SpanID":"00f067aa0ba902b7","TraceFlags":"01",
//	 "Resource":[{"Key":"service.name","Value":{"Type":"STRING","Value":"svc"}}],
//	 "Scope":{"Name":"scope","Version":"","SchemaURL":"","Attributes":{}},"DroppedAttributes":0}
//
// The zero time means "unset" (the observed time is used then), all-zero
// ids mean "no span context". The shape is rewritten into the OTLP/JSON
// line shape (otel.go) and read by the same key table.

func isOTelStdout(m map[string]any) bool {
	body, ok := m["Body"].(map[string]any)
	if !ok {
		return false
	}
	if _, ok := body["Type"]; !ok {
		return false
	}
	_, sev := m["Severity"]
	_, text := m["SeverityText"]
	return sev || text
}

// unwrapOTelStdout rewrites the stdout exporter's fields in m into the
// OTLP/JSON names and flattens its attribute lists.
func unwrapOTelStdout(m map[string]any, rec *Record, msgSet *bool) {
	body := m["Body"].(map[string]any)
	delete(m, "Body")
	if v := stdoutValue(body); v != nil {
		if s, ok := v.(string); ok {
			rec.Message, *msgSet = s, true
		} else {
			m["body"] = v
		}
	}
	rename := func(from, to string) {
		if v, ok := m[from]; ok {
			delete(m, from)
			if _, taken := m[to]; !taken {
				m[to] = v
			}
		}
	}
	for _, k := range [...]string{"Timestamp", "ObservedTimestamp"} {
		if s, ok := m[k].(string); ok && strings.HasPrefix(s, "0001-01-01T00:00:00") {
			delete(m, k) // Go's zero time: unset
		}
	}
	rename("Timestamp", "timeUnixNano")
	rename("ObservedTimestamp", "observedTimeUnixNano")
	rename("SeverityText", "severityText")
	if n, ok := toInt64(m["Severity"]); ok && n == 0 {
		delete(m, "Severity") // SeverityUndefined
	}
	rename("Severity", "severityNumber")
	for _, k := range [...]string{"TraceID", "SpanID"} {
		if s, ok := m[k].(string); ok && allZeroHex(s) {
			delete(m, k) // no span context
		}
	}
	rename("TraceID", "traceId")
	rename("SpanID", "spanId")
	if _, ok := m["traceId"]; ok {
		rename("TraceFlags", FieldTraceFlags)
	} else {
		delete(m, "TraceFlags")
	}
	rename("EventName", FieldEventName)
	if n, ok := toInt64(m["DroppedAttributes"]); ok && n == 0 {
		delete(m, "DroppedAttributes")
	}
	rename("DroppedAttributes", "otel.dropped_attributes_count")
	if sc, ok := m["Scope"].(map[string]any); ok {
		delete(m, "Scope")
		if s, _ := sc["Name"].(string); s != "" {
			m[FieldScopeName] = s
		}
		if s, _ := sc["Version"].(string); s != "" {
			m[FieldScopeVersion] = s
		}
	}
	for _, k := range [...]string{"Attributes", "Resource"} {
		if mergeStdoutAttrs(m, m[k]) {
			delete(m, k)
		}
	}
}

// mergeStdoutAttrs copies a [{"Key":…,"Value":{"Type":…,"Value":…}}] list
// into m without overwriting; it reports whether the list had that shape.
func mergeStdoutAttrs(m map[string]any, attrs any) bool {
	list, ok := attrs.([]any)
	if !ok {
		return attrs == nil
	}
	for _, kv := range list {
		obj, ok := kv.(map[string]any)
		if !ok {
			return false
		}
		if _, ok := obj["Key"].(string); !ok {
			return false
		}
	}
	for _, kv := range list {
		obj := kv.(map[string]any)
		k := obj["Key"].(string)
		if _, exists := m[k]; !exists {
			v, _ := obj["Value"].(map[string]any)
			m[k] = stdoutValue(v)
		}
	}
	return true
}

// stdoutValue converts a {"Type":…,"Value":…} value (attribute.Value or
// log.Value as encoding/json writes them) to a plain value.
func stdoutValue(v map[string]any) any {
	if v == nil {
		return nil
	}
	x := v["Value"]
	switch t, _ := v["Type"].(string); t {
	case "EMPTY", "INVALID":
		return nil
	case "MAP", "KVLIST":
		out := map[string]any{}
		if !mergeStdoutAttrs(out, x) {
			return x
		}
		return out
	case "SLICE":
		if list, ok := x.([]any); ok {
			out := make([]any, len(list))
			for i, e := range list {
				if obj, ok := e.(map[string]any); ok {
					out[i] = stdoutValue(obj)
				} else {
					out[i] = e
				}
			}
			return out
		}
	case "INT64":
		if n, ok := x.(json.Number); ok {
			return n
		}
	}
	return x
}
