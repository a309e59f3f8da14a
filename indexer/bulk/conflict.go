package bulk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// ConflictsField is the object that holds quarantined values. The template
// maps it as flattened: every value stays searchable as a keyword
// (_conflicts.<field path>), whatever its shape, without adding fields to the
// mapping; a second conflict on the same path can never conflict again.
const ConflictsField = "_conflicts"

// keep lists the fields a whole-source quarantine keeps at the top level, so
// the record is still found by time, trace and service.
var keep = []string{"@timestamp", "message", "log.level", "service.name", "service.instance.id",
	"trace.id", "span.id", "event.id", "event.dataset", "session.id", "gen_ai.conversation.id"}

// Quarantine returns src with the value at path moved to
// _conflicts.<path> as its JSON text. path may name a flat dotted key
// ("user.age"), a nested one ({"user":{"age":…}}) or a mix. With path ""
// or not found, the whole source is quarantined as _conflicts.source and
// only the correlation fields are kept.
func Quarantine(src []byte, path string) (out []byte, moved string, err error) {
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, "", fmt.Errorf("quarantine: %w", err)
	}
	conf, _ := doc[ConflictsField].(map[string]any)
	if conf == nil {
		conf = map[string]any{}
	}
	if path != "" && path != ConflictsField && !strings.HasPrefix(path, ConflictsField+".") {
		if v, ok := remove(doc, path); ok {
			b, _ := json.Marshal(v)
			conf[path] = string(b)
			doc[ConflictsField] = conf
			out, err = json.Marshal(doc)
			return out, path, err
		}
	}
	kept := map[string]any{}
	for _, k := range keep {
		if v, ok := doc[k]; ok {
			if _, isObj := v.(map[string]any); !isObj {
				kept[k] = v
			}
		}
	}
	kept[ConflictsField] = map[string]any{"source": string(src)}
	out, err = json.Marshal(kept)
	return out, "source", err
}

// remove deletes path from m, trying the flat key first and then every key
// that is a dotted prefix of path holding an object.
func remove(m map[string]any, path string) (any, bool) {
	if v, ok := m[path]; ok {
		delete(m, path)
		return v, true
	}
	for k, v := range m {
		sub, ok := v.(map[string]any)
		if !ok || !strings.HasPrefix(path, k+".") {
			continue
		}
		if got, ok := remove(sub, path[len(k)+1:]); ok {
			return got, true
		}
	}
	return nil, false
}
