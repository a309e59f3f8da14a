package schema

// Settings are the index settings the template sets.
type Settings struct {
	// Shards per log index. Default 1.
	Shards int `yaml:"shards"`
	// Replicas per log index. Default 1 (0 on a single-node cluster).
	Replicas int `yaml:"replicas"`
	// RefreshInterval of the log indices. Default "250ms": a record waits
	// for the next refresh to become searchable. At 80 % of the machine's
	// end-to-end rate that wait averaged 0.45-0.48 s with 500ms (the
	// refreshes themselves take time under load) and 0.19-0.25 s with
	// 250ms, which took the p99 write → searchable from 1.43-1.73 s to
	// 0.98-1.00 s at the same rates, with no measurable loss of throughput
	// (R5 of make bench, alternating runs); 1s alone could use the whole
	// 1 s budget.
	RefreshInterval string `yaml:"refresh_interval"`
	// FieldLimit caps the mapped fields of one index. Fields beyond it are
	// kept in _source but not indexed (ignore_dynamic_beyond_limit), so one
	// noisy service cannot get records rejected. Default 2000.
	FieldLimit int `yaml:"field_limit"`
	// IgnoreAbove is the longest string indexed as a keyword by the dynamic
	// template. Default 1024.
	IgnoreAbove int `yaml:"ignore_above"`
	// ILMPolicy names a lifecycle policy set on the log indices when the
	// cluster has ILM; empty disables it. Default "" (set by Install's
	// Features when -index.retention is given).
	ILMPolicy string `yaml:"-"`
}

// DefaultSettings returns the defaults documented on each field.
func DefaultSettings() Settings {
	return Settings{Shards: 1, Replicas: 1, RefreshInterval: "250ms", FieldLimit: 2000, IgnoreAbove: 1024}
}

type obj = map[string]any

func keyword() obj { return obj{"type": "keyword"} }

func props(p obj) obj { return obj{"properties": p} }

// LogMappings is the mapping of the log indices: ECS fields of the record
// (internal/record), correlation ids as keywords reachable under the ECS and
// the OTel names (field aliases, not copies), a quarantine object for mapping
// conflicts, and a dynamic template that keeps unknown strings searchable as
// bounded keywords instead of text + keyword pairs.
func LogMappings(s Settings) obj {
	return obj{
		"dynamic":           true,
		"date_detection":    false,
		"numeric_detection": false,
		"dynamic_templates": []any{
			obj{"strings_as_keyword": obj{
				"match_mapping_type": "string",
				"mapping":            obj{"type": "keyword", "ignore_above": s.IgnoreAbove},
			}},
		},
		"properties": obj{
			"@timestamp": obj{"type": "date_nanos"},
			"message":    obj{"type": "text"},
			"log": props(obj{
				"level":  keyword(),
				"stream": keyword(),
				"offset": obj{"type": "long"},
				"file":   props(obj{"path": keyword()}),
			}),
			"service":  props(obj{"name": keyword(), "version": keyword(), "instance": props(obj{"id": keyword()})}),
			"trace":    props(obj{"id": keyword(), "flags": keyword()}),
			"span":     props(obj{"id": keyword()}),
			"event":    props(obj{"id": keyword(), "dataset": keyword()}),
			"session":  props(obj{"id": keyword()}),
			"gen_ai":   props(obj{"conversation": props(obj{"id": keyword()})}),
			"trace_id": obj{"type": "alias", "path": "trace.id"},
			"span_id":  obj{"type": "alias", "path": "span.id"},
			"host":     props(obj{"name": keyword()}),
			"agentobs": props(obj{
				"flags":            keyword(),
				"source":           keyword(),
				"invalid_trace_id": keyword(),
				"invalid_span_id":  keyword(),
				"original_bytes":   obj{"type": "long"},
				"dropped_fields":   obj{"type": "long"},
				"producer":         props(obj{"id": keyword(), "seq": obj{"type": "long"}, "dup": props(obj{"id": keyword(), "seq": obj{"type": "long"}})}),
				"canary":           keyword(),
				"canary_final":     obj{"type": "boolean"},
			}),
			"_conflicts": obj{"type": "flattened", "ignore_above": 8191},
		},
	}
}

// SpanMappings is the mapping of the span indices: the log mapping (spans
// are records with the same correlation fields) plus the span fields
// internal/record writes (otlpspan.go).
func SpanMappings(s Settings) obj {
	m := LogMappings(s)
	p := m["properties"].(obj)
	p["parent"] = props(obj{"id": keyword()})
	p["span"] = props(obj{"id": keyword(), "name": keyword(), "kind": keyword(),
		"status": props(obj{"code": keyword(), "message": obj{"type": "text"}}),
		"events": obj{"type": "object", "enabled": true},
		"links":  obj{"type": "object", "enabled": true}})
	p["event"] = props(obj{"id": keyword(), "dataset": keyword(), "kind": keyword(), "outcome": keyword(),
		"duration": obj{"type": "long"}, "end": obj{"type": "date_nanos"}})
	return m
}

// LogSettings are the index settings of the log indices.
func LogSettings(s Settings) obj {
	set := obj{
		"number_of_shards":   s.Shards,
		"number_of_replicas": s.Replicas,
		"refresh_interval":   s.RefreshInterval,
		"mapping":            obj{"total_fields": obj{"limit": s.FieldLimit, "ignore_dynamic_beyond_limit": true}},
	}
	if s.ILMPolicy != "" {
		set["lifecycle"] = obj{"name": s.ILMPolicy}
	}
	return obj{"index": set}
}

// ComponentNames are the component templates the index template is composed of.
func ComponentNames(n Names) (settings, mappings string) {
	return n.Alias + "-settings", n.Alias + "-mappings"
}

// IndexTemplate is the composable index template for the log indices. With
// dataStream it makes Alias a data stream instead of an alias over daily
// indices.
func IndexTemplate(n Names, dataStream bool) obj {
	cs, cm := ComponentNames(n)
	t := obj{
		"priority":    200,
		"composed_of": []string{cs, cm},
		"_meta":       obj{"managed_by": "agentobs-indexer", "description": "agentobs log records (ECS)"},
	}
	if dataStream {
		t["index_patterns"] = []string{n.Alias}
		t["data_stream"] = obj{}
	} else {
		t["index_patterns"] = []string{n.Glob()}
		t["template"] = obj{"aliases": obj{n.Alias: obj{}}}
	}
	return t
}

// TraceMappings is the mapping of the per-trace summary index.
func TraceMappings() obj {
	return obj{
		"dynamic": false,
		"properties": obj{
			"trace":            props(obj{"id": keyword()}),
			"trace_id":         obj{"type": "alias", "path": "trace.id"},
			"@timestamp":       obj{"type": "date_nanos"},
			"first_timestamp":  obj{"type": "date_nanos"},
			"last_timestamp":   obj{"type": "date_nanos"},
			"duration_ms":      obj{"type": "double"},
			"services":         keyword(),
			"versions":         keyword(),
			"root_service":     keyword(),
			"record_count":     obj{"type": "long"},
			"error_count":      obj{"type": "long"},
			"worst_level":      keyword(),
			"span_count":       obj{"type": "long"},
			"error_span_count": obj{"type": "long"},
			"root_span":        keyword(),
			"session":          props(obj{"id": keyword()}),
			"gen_ai":           props(obj{"conversation": props(obj{"id": keyword()})}),
			"updated_at":       obj{"type": "date"},
		},
	}
}

// AlertMappings is the mapping of the alert event index.
func AlertMappings() obj {
	return obj{
		"dynamic": false,
		"properties": obj{
			"@timestamp":    obj{"type": "date"},
			"message":       obj{"type": "text"},
			"status":        keyword(),
			"alertname":     keyword(),
			"severity":      keyword(),
			"fingerprint":   keyword(),
			"receiver":      keyword(),
			"group_key":     keyword(),
			"starts_at":     obj{"type": "date"},
			"ends_at":       obj{"type": "date"},
			"generator_url": keyword(),
			"external_url":  keyword(),
			"labels":        obj{"type": "flattened"},
			"annotations":   obj{"type": "flattened"},
			"service":       props(obj{"name": keyword()}),
			"trace":         props(obj{"id": keyword()}),
			"trace_id":      obj{"type": "alias", "path": "trace.id"},
			"event":         props(obj{"kind": keyword(), "id": keyword()}),
		},
	}
}
