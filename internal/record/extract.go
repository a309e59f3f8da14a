package record

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/agentobs/agentobs/internal/box"
)

// target is a typed Record field (or canonical flat field) that source keys
// are consumed into.
type target uint8

const (
	tMessage target = iota
	tLevel
	tSeverityNumber // OTel severityNumber: its own scale, see ParseOTelSeverity
	tTime
	tService
	tInstance
	tTraceID
	tSpanID
	tTraceparent
	tTraceFlags
	tEventID
	tDataset
	tSession
	tConversation
	tVersion
	numTargets
)

// builtinKeys lists, per target, the source keys tried in priority order
// after the user's keys. Dotted names match flat keys ("log.level") and
// nested paths ({"log":{"level":…}}) alike.
var builtinKeys = [numTargets][]string{
	tMessage:        {"message", "msg", "@message"},
	tLevel:          {"log.level", "level", "lvl", "severity", "severityText", "severity_text", "levelname", "loglevel", "log_level", "@level"},
	tSeverityNumber: {"severityNumber", "severity_number"},
	tTime:           {"@timestamp", "timestamp", "time", "ts", "timeUnixNano", "time_unix_nano", "datetime", "observedTimeUnixNano", "observed_time_unix_nano"},
	tService:        {"service.name", "service_name", "serviceName", "service", "app", "application", "resource.service.name"},
	tInstance:       {"service.instance.id", "service_instance_id", "instance_id", "instanceId", "instance", "pod", "pod_name", "resource.service.instance.id"},
	tTraceID:        {"trace.id", "trace_id", "traceId", "traceID", "trace-id"},
	tSpanID:         {"span.id", "span_id", "spanId", "spanID", "span-id"},
	tTraceparent:    {"traceparent", "traceParent"},
	tTraceFlags:     {"trace.flags", "trace_flags", "traceFlags"},
	tEventID:        {"event.id"},
	tDataset:        {"event.dataset"},
	tSession:        {FieldSessionID, "session_id", "sessionId"},
	tConversation:   {FieldConversationID, "conversation_id", "conversationId"},
	tVersion:        {FieldServiceVersion, "service_version", "serviceVersion", "resource.service.version", k8sLabels + "app.kubernetes.io/version", k8sLabels + "version"},
}

// k8sLabels is where Fluent Bit's kubernetes filter puts the pod's labels
// ({"kubernetes":{"labels":{…}}}); a version found there is copied to
// service.version and the label stays.
const k8sLabels = "kubernetes.labels."

type keyRef struct {
	t    target
	rank uint16
}

type nestedRef struct {
	rest string
	keyRef
}

// keyTable resolves source keys to targets with one map lookup per key of
// the record, instead of one lookup per known spelling.
type keyTable struct {
	flat    map[string]keyRef
	nested  map[string][]nestedRef // prefix before a '.' -> the rest of the name
	msgKeys []string               // for the Docker "log" wrapper check
}

func newKeyTable(o ParseOptions) keyTable {
	kt := keyTable{flat: map[string]keyRef{}, nested: map[string][]nestedRef{}}
	user := [numTargets][]string{tMessage: o.MessageKeys, tLevel: o.LevelKeys, tService: o.ServiceKeys, tTime: o.TimeKeys}
	for t := target(0); t < numTargets; t++ {
		rank := uint16(0)
		for _, list := range [][]string{user[t], builtinKeys[t]} {
			for _, k := range list {
				if k == "" {
					continue
				}
				if t == tMessage {
					kt.msgKeys = append(kt.msgKeys, k)
				}
				ref := keyRef{t, rank}
				rank++
				if _, dup := kt.flat[k]; !dup {
					kt.flat[k] = ref
				}
				for i := 0; i < len(k); i++ {
					if k[i] == '.' {
						kt.nested[k[:i]] = append(kt.nested[k[:i]], nestedRef{k[i+1:], ref})
					}
				}
			}
		}
	}
	return kt
}

type cand struct {
	rank      uint16
	top, rest string // rest is "" for a flat key
	v         any
	// A detached candidate is a top-level string the scanner kept out of
	// the map (s holds it): consuming it costs nothing, and only losers are
	// put back. This saves a boxing, an insert and a delete per typed field.
	// v is nil for the scanner's; the ObjectBuilder's keep the boxed value
	// they were given in v too, which goes back as it is.
	s              string
	detached, used bool
}

// str returns the candidate's value if it is a string, without boxing.
func (c *cand) str() (string, bool) {
	if c.detached {
		return c.s, true
	}
	s, ok := c.v.(string)
	return s, ok
}

// value returns the candidate's value as any, a detached string of the
// scanner's boxed by b.
func (c *cand) value(b *box.Boxes) any {
	if c.detached && c.v == nil {
		return b.String(c.s)
	}
	return c.v
}

const maxCands = 4

type candSet struct {
	c [numTargets][maxCands]cand
	n [numTargets]uint8
	m map[string]any // where detached candidates go back if unused
	// box boxes the scanner's detached strings that go back (nil: one
	// allocation each).
	box *box.Boxes
}

// add keeps the maxCands best-ranked candidates per target, sorted.
func (cs *candSet) add(t target, c cand) {
	list, n := &cs.c[t], int(cs.n[t])
	if n == maxCands {
		if list[n-1].rank <= c.rank {
			cs.restore(&c)
			return
		}
		cs.restore(&list[n-1])
		n--
	}
	i := n
	for i > 0 && list[i-1].rank > c.rank {
		list[i] = list[i-1]
		i--
	}
	list[i] = c
	cs.n[t] = uint8(n + 1)
}

// restore puts an unused detached candidate back into the map.
func (cs *candSet) restore(c *cand) {
	if c.detached && !c.used {
		c.used = true
		cs.m[c.top] = c.value(cs.box)
	}
}

// materialize puts every detached candidate back and forgets all, for the
// paths (Docker, OTel) that rewrite the map before collecting.
func (cs *candSet) materialize() {
	for t := range cs.c {
		for i := range cs.c[t][:cs.n[t]] {
			cs.restore(&cs.c[t][i])
		}
		cs.n[t] = 0
	}
}

// collectKey registers key k with decoded value v as a candidate, flat and
// nested ({"log":{"level":…}}).
func (p *Parser) collectKey(cs *candSet, k string, v any) {
	if ref, ok := p.keys.flat[k]; ok {
		cs.add(ref.t, cand{rank: ref.rank, top: k, v: v})
	}
	if sub, ok := v.(map[string]any); ok {
		for _, nr := range p.keys.nested[k] {
			if val, ok := lookupDotted(sub, nr.rest); ok {
				cs.add(nr.t, cand{rank: nr.rank, top: k, rest: nr.rest, v: val})
			}
		}
	}
}

// scanTop decodes the top-level object at sc into m, keeping string values
// of known keys out of m as detached candidates in cs.
func (p *Parser) scanTop(sc *scanner, m map[string]any, cs *candSet) error {
	cs.m, cs.box = m, sc.box
	return sc.members(func(k string) error {
		if ref, ok := p.keys.flat[k]; ok && sc.buf[sc.pos] == '"' {
			v, err := sc.string()
			if err != nil {
				return err
			}
			if _, dup := m[k]; !dup { // a duplicate key keeps the map's copy
				cs.add(ref.t, cand{rank: ref.rank, top: k, s: v, detached: true})
			}
			return nil
		}
		v, err := sc.value()
		if err != nil {
			return err
		}
		m[k] = v
		p.collectKey(cs, k, v)
		return nil
	})
}

// fromObject fills rec from a decoded object m, which becomes rec.Fields:
// keys consumed into typed fields are removed from it. cs holds candidates
// already collected by scanTop (collected true) or nothing.
func (p *Parser) fromObject(m map[string]any, cs *candSet, collected bool, fallback time.Time, rec *Record) {
	rec.Fields = m
	cs.m = m
	msgSet := false
	var stream string
	_, hasLog := m["log"]
	_, hasBody := m["body"]
	_, hasStdoutBody := m["Body"]
	if hasLog || hasBody || hasStdoutBody {
		if collected {
			cs.materialize()
			collected = false
		}
		if s, ok := m["log"].(string); ok && !p.hasMessageKey(m) {
			msgSet, stream, fallback, collected = p.unwrapDocker(m, s, fallback, rec, cs)
		}
	}
	if hasStdoutBody && !collected && isOTelStdout(m) {
		unwrapOTelStdout(m, rec, &msgSet)
		_, hasBody = m["body"]
	}
	otelFlags := -1
	if hasBody && !collected && isOTel(m) {
		otelFlags = p.unwrapOTel(m, rec, &msgSet)
	}
	if !collected {
		for k, v := range m {
			p.collectKey(cs, k, v)
		}
	}
	invalidTrace, invalidSpan := false, false
	for t := target(0); t < numTargets; t++ {
		for i := range cs.c[t][:cs.n[t]] {
			c := &cs.c[t][i]
			if p.accept(t, c, rec, &msgSet, &invalidTrace, &invalidSpan) {
				consume(m, c)
				if t != tTraceID && t != tSpanID { // those may also record the invalid one
					break
				}
				if (t == tTraceID && rec.TraceID != "") || (t == tSpanID && rec.SpanID != "") {
					break
				}
			}
		}
	}
	for t := range cs.c {
		for i := range cs.c[t][:cs.n[t]] {
			cs.restore(&cs.c[t][i])
		}
	}
	if otelFlags >= 0 && rec.TraceID != "" && rec.TraceFlags == "" {
		rec.TraceFlags = hex2(otelFlags & 0xff)
	}
	if stream != "" { // "stdout" or "stderr" (unwrapDocker)
		m[FieldStream] = streams[streamIndex(stream)]
	}
	p.finish(fallback, rec)
}

func (p *Parser) hasMessageKey(m map[string]any) bool {
	for _, k := range p.keys.msgKeys {
		if _, ok := lookupDotted(m, k); ok {
			return true
		}
	}
	return false
}

// accept tries to use candidate c for target t; it reports whether the
// source key is consumed.
func (p *Parser) accept(t target, c *cand, rec *Record, msgSet, invalidTrace, invalidSpan *bool) bool {
	switch t {
	case tMessage:
		if *msgSet || (!c.detached && c.v == nil) {
			return false
		}
		if s, ok := c.str(); ok {
			rec.Message = s
		} else {
			rec.Message = stringify(c.v)
		}
		*msgSet = true
		return true
	case tLevel:
		if rec.Level != LevelUnknown {
			return false
		}
		if s, ok := c.str(); ok {
			rec.Level = parseLevelString(s)
		} else {
			rec.Level = ParseLevel(c.v)
		}
		return rec.Level != LevelUnknown
	case tSeverityNumber:
		n, ok := toInt64(c.v)
		if !ok || ParseOTelSeverity(int(n)) == LevelUnknown {
			return false
		}
		if rec.Level == LevelUnknown {
			rec.Level = ParseOTelSeverity(int(n))
		}
		return true
	case tTime:
		if !rec.Timestamp.IsZero() {
			return false
		}
		var ts time.Time
		var ok bool
		if s, isStr := c.str(); isStr {
			ts, ok = parseTimeString(s)
		} else {
			ts, ok = parseTimeValue(c.v)
		}
		if ok {
			rec.Timestamp = ts
		}
		return ok
	case tService:
		return setString(&rec.Service, c, 1024)
	case tInstance:
		return setString(&rec.ServiceInstance, c, 1024)
	case tEventID:
		return setString(&rec.EventID, c, 128)
	case tDataset:
		return setString(&rec.Dataset, c, 1024)
	case tTraceID, tSpanID:
		return acceptID(t, c, rec, p.boxes, invalidTrace, invalidSpan)
	case tTraceparent:
		s, ok := c.str()
		if !ok {
			return false
		}
		tid, sid, flags, ok := ParseTraceparent(s)
		if !ok && rec.TraceID == "" && !*invalidTrace && strings.TrimSpace(s) != "" {
			// Not a W3C traceparent (upper-case hex, wrong length, all
			// zeros): its ids are not trusted, and the value is kept where
			// a user looks for rejected ids instead of vanishing.
			*invalidTrace = true
			consume(rec.Fields, c)
			rec.Fields[FieldInvalidTraceID] = s
			return false
		}
		if !ok || (rec.TraceID != "" && rec.TraceID != tid) {
			return false
		}
		if rec.TraceID == "" {
			rec.TraceID, rec.TraceFlags = tid, flags
			if rec.SpanID == "" {
				rec.SpanID = sid
			}
		}
		return true
	case tTraceFlags:
		if rec.TraceID == "" || rec.TraceFlags != "" {
			return false
		}
		if n, ok := toInt64(c.v); ok && n >= 0 && n <= 0xff {
			rec.TraceFlags = hex2(int(n))
			return true
		}
		if s, ok := c.str(); ok && len(s) == 2 && isLowerHex(strings.ToLower(s)) {
			rec.TraceFlags = strings.ToLower(s)
			return true
		}
		return false
	case tVersion:
		if _, taken := rec.Fields[FieldServiceVersion]; taken && !(c.top == FieldServiceVersion && c.rest == "") {
			return false
		}
		v, ok := c.str()
		if n, isNum := c.v.(json.Number); isNum {
			v, ok = string(n), true
		}
		v = strings.TrimSpace(v)
		if !ok || v == "" || len(v) > 256 {
			return false // not a release name: left where it is
		}
		if c.top != "kubernetes" && !strings.HasPrefix(c.top, k8sLabels) {
			consume(rec.Fields, c)
		}
		rec.Fields[FieldServiceVersion] = v
		return false // done by hand above; lower-ranked spellings see it taken
	case tSession, tConversation:
		key := FieldSessionID
		if t == tConversation {
			key = FieldConversationID
		}
		if c.top == key && c.rest == "" {
			return false // already canonical: nothing to move
		}
		id, ok := c.str()
		if n, isNum := c.v.(json.Number); isNum {
			id, ok = string(n), true
		}
		if !ok {
			return false // objects, bools, null: not an id, left where they are
		}
		if _, taken := rec.Fields[key]; taken {
			return false
		}
		consume(rec.Fields, c)
		rec.Fields[key] = id
		return false // already consumed, before the canonical key was set
	}
	return false
}

func acceptID(t target, c *cand, rec *Record, boxes *box.Boxes, invalidTrace, invalidSpan *bool) bool {
	dst, invalid, field, norm := &rec.TraceID, invalidTrace, FieldInvalidTraceID, NormalizeTraceID
	if t == tSpanID {
		dst, invalid, field, norm = &rec.SpanID, invalidSpan, FieldInvalidSpanID, NormalizeSpanID
	}
	if *dst != "" {
		return false
	}
	s, isStr := c.str()
	if isStr && strings.TrimSpace(s) == "" {
		return true // an empty id means "none" (OTel writes "")
	}
	if isStr {
		if id, ok := norm(strings.TrimSpace(s)); ok {
			*dst = id
			return true
		}
	}
	if *invalid || (!c.detached && c.v == nil) {
		return false
	}
	*invalid = true
	consume(rec.Fields, c)
	rec.Fields[field] = c.value(boxes)
	return false
}

func setString(dst *string, c *cand, maxLen int) bool {
	if *dst != "" {
		return false
	}
	s, ok := c.str()
	if !ok {
		if n, isNum := c.v.(json.Number); isNum {
			s, ok = string(n), true
		}
	}
	s = strings.TrimSpace(s)
	if !ok || s == "" || len(s) > maxLen {
		return false
	}
	*dst = s
	return true
}

// stringify renders a non-string message value: scalars as text, objects and
// arrays as compact JSON, so message is always a string in the index.
func stringify(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	}
	return string(appendValue(nil, v, 0))
}

func hex2(n int) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[n>>4&0xf], digits[n&0xf]})
}

func consume(m map[string]any, c *cand) {
	c.used = true
	if c.detached {
		return
	}
	if c.rest == "" {
		delete(m, c.top)
		return
	}
	if sub, ok := m[c.top].(map[string]any); ok {
		deleteDotted(sub, c.rest)
		if len(sub) == 0 {
			delete(m, c.top)
		}
	}
}

// lookupDotted finds name in m as a flat key or as a path through nested
// objects: "service.instance.id" matches {"service.instance.id":…},
// {"service":{"instance":{"id":…}}} and {"service":{"instance.id":…}}.
func lookupDotted(m map[string]any, name string) (any, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '.' {
			if sub, ok := m[name[:i]].(map[string]any); ok {
				if v, ok := lookupDotted(sub, name[i+1:]); ok {
					return v, true
				}
			}
		}
	}
	return nil, false
}

// deleteDotted removes what lookupDotted finds and prunes objects left empty.
func deleteDotted(m map[string]any, name string) {
	if _, ok := m[name]; ok {
		delete(m, name)
		return
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '.' {
			if sub, ok := m[name[:i]].(map[string]any); ok {
				if _, ok := lookupDotted(sub, name[i+1:]); ok {
					deleteDotted(sub, name[i+1:])
					if len(sub) == 0 {
						delete(m, name[:i])
					}
					return
				}
			}
		}
	}
}
