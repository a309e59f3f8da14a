package record

import (
	"encoding/json"
)

// OpenTelemetry log records in the OTLP/JSON encoding
// (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding), one per
// line, as written by the OTel file exporter and many SDK console exporters:
//
//	{"timeUnixNano":"1764151200123456789","severityNumber":9,"severityText":"INFO",
//	 "body":{"stringValue":"hello"},"attributes":[{"key":"k","value":{"intValue":"3"}}],
//	 "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","flags":1}
//
// traceId/spanId may be hex (the OTLP/JSON rule) or base64 (generic
// protobuf JSON); NormalizeTraceID accepts both. Attributes and resource
// attributes are flattened into the record's fields under their own keys, so
// service.name from the resource becomes the record's service.

func isOTel(m map[string]any) bool {
	if _, ok := m["body"]; !ok {
		return false
	}
	for _, k := range [...]string{"severityText", "severityNumber", "timeUnixNano", "observedTimeUnixNano"} {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

// unwrapOTel rewrites an OTel record in m into the flat shape the key table
// reads and returns its flags field (-1 when absent).
func (p *Parser) unwrapOTel(m map[string]any, rec *Record, msgSet *bool) int {
	if body := otelAny(m["body"]); body != nil {
		if s, ok := body.(string); ok {
			rec.Message, *msgSet = s, true
			delete(m, "body")
		} else {
			m["body"] = body
		}
	} else {
		delete(m, "body")
	}
	if mergeOTelAttrs(m, m["attributes"]) {
		delete(m, "attributes")
	}
	if res, ok := m["resource"].(map[string]any); ok {
		if mergeOTelAttrs(m, res["attributes"]) {
			delete(res, "attributes")
			delete(res, "droppedAttributesCount")
			if len(res) == 0 {
				delete(m, "resource")
			}
		}
	}
	for _, k := range [...]string{"timeUnixNano", "observedTimeUnixNano"} {
		if v, ok := m[k]; ok {
			if _, ok := parseTimeValue(v); !ok {
				delete(m, k) // "0" means unset
			}
		}
	}
	flags := -1
	if v, ok := m["flags"]; ok {
		if n, ok := toInt64(v); ok && n >= 0 {
			flags = int(n)
			delete(m, "flags")
		}
	}
	return flags
}

// mergeOTelAttrs copies a KeyValue list (or a plain object) into m without
// overwriting keys the record already has. It reports whether attrs had a
// shape it understood.
func mergeOTelAttrs(m map[string]any, attrs any) bool {
	switch a := attrs.(type) {
	case []any:
		for _, kv := range a {
			obj, ok := kv.(map[string]any)
			if !ok {
				return false
			}
			if _, ok := obj["key"].(string); !ok {
				return false
			}
		}
		for _, kv := range a {
			obj := kv.(map[string]any)
			k := obj["key"].(string)
			if _, exists := m[k]; !exists {
				m[k] = otelAny(obj["value"])
			}
		}
		return true
	case map[string]any:
		for k, v := range a {
			if _, exists := m[k]; !exists {
				m[k] = v
			}
		}
		return true
	}
	return false
}

// otelAny converts an OTLP AnyValue ({"stringValue":…}, {"intValue":"3"},
// {"kvlistValue":{"values":[…]}}, …) to a plain value; other values are
// returned as they are.
func otelAny(v any) any {
	obj, ok := v.(map[string]any)
	if !ok || len(obj) != 1 {
		return v
	}
	for k, x := range obj {
		switch k {
		case "stringValue", "boolValue", "doubleValue", "bytesValue":
			return x
		case "intValue":
			if s, ok := x.(string); ok && isInteger(s) {
				return json.Number(s)
			}
			return x
		case "arrayValue":
			arr, _ := x.(map[string]any)
			vals, _ := arr["values"].([]any)
			out := make([]any, len(vals))
			for i, e := range vals {
				out[i] = otelAny(e)
			}
			return out
		case "kvlistValue":
			kl, _ := x.(map[string]any)
			out := map[string]any{}
			if !mergeOTelAttrs(out, kl["values"]) {
				return v
			}
			return out
		}
	}
	return v
}

func isInteger(s string) bool {
	if len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	return isDigits(s)
}
