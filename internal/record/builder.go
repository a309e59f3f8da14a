package record

import "time"

// ObjectBuilder builds a record from the top-level pairs of a decoded
// object handed over one by one (the plugin's msgpack decoder), giving the
// record FromMap gives for the map of those pairs, but cheaper: a string
// value of a key that is consumed into a typed field (message, level,
// time, service, trace and span ids, ...) is kept out of the field map
// (a detached candidate, as the JSON scanner does), so it is neither
// inserted nor deleted again, and the candidates are collected as the pairs
// arrive instead of in a second walk over the map.
//
// Duplicate keys (the last one wins in a map) and anything else that could
// make the result differ from FromMap's are not handled here: Finish then
// reports false and the caller builds the record with FromFields instead.
// Not safe for concurrent use; reuse one per goroutine with Reset.
type ObjectBuilder struct {
	p    *Parser
	rec  *Record
	cs   candSet
	seen [numTargets]uint64 // per target, the ranks of the flat keys added
	dup  bool
}

// Reset starts a record in rec (Reset first) for the pairs to come. With
// ParseOptions.ReuseValues it frees what p handed the previous record, as
// Parse does: a Docker or CRI payload's values are boxed in p's memory.
func (b *ObjectBuilder) Reset(p *Parser, rec *Record) {
	p.reuse()
	rec.Reset()
	rec.fields(16)
	b.p, b.rec, b.dup = p, rec, false
	// Only the counts: entries past them are never read.
	b.cs.n = [numTargets]uint8{}
	b.cs.m = rec.Fields
	b.seen = [numTargets]uint64{}
}

// Fields is the map the pairs go to, for a caller that falls back to
// FromFields.
func (b *ObjectBuilder) Fields() map[string]any { return b.rec.Fields }

// Add adds one top-level pair. v must be in the decoder's shapes (string,
// integers, float64, bool, nil, []any, map[string]any, time.Time).
func (b *ObjectBuilder) Add(k string, v any) {
	if b.dup {
		return
	}
	m := b.rec.Fields
	ref, known := b.p.keys.flat[k]
	if !known {
		n := len(m)
		m[k] = v
		if len(m) == n {
			b.dup = true
			return
		}
		b.collectNested(k, v)
		return
	}
	if ref.rank >= 64 || b.seen[ref.t]&(1<<ref.rank) != 0 {
		b.dup = true // a repeated key, or one too far down a long user list to track
		return
	}
	b.seen[ref.t] |= 1 << ref.rank
	if s, ok := v.(string); ok && detachable(ref.t, k) {
		b.cs.add(ref.t, cand{rank: ref.rank, top: k, v: v, s: s, detached: true})
		return
	}
	m[k] = v
	b.cs.add(ref.t, cand{rank: ref.rank, top: k, v: v})
	b.collectNested(k, v)
}

// collectNested is the nested half of collectKey.
func (b *ObjectBuilder) collectNested(k string, v any) {
	if sub, ok := v.(map[string]any); ok {
		for _, nr := range b.p.keys.nested[k] {
			if val, ok := lookupDotted(sub, nr.rest); ok {
				b.cs.add(nr.t, cand{rank: nr.rank, top: k, rest: nr.rest, v: val})
			}
		}
	}
}

// detachable reports whether a string under key k, a flat key of target
// t, may stay out of the field map. Not for the targets whose acceptance
// looks at the map (service.version, session and conversation ids check
// whether their canonical key is taken), nor for keys those write: there a
// key out of the map would change the outcome.
func detachable(t target, k string) bool {
	switch t {
	case tVersion, tSession, tConversation:
		return false
	}
	switch k {
	case FieldServiceVersion, FieldSessionID, FieldConversationID, FieldInvalidTraceID, FieldInvalidSpanID:
		return false
	}
	return true
}

// Finish completes the record with ts as the transport's event time, as
// FromMap does. It reports false, leaving the record unfinished, when the
// pairs had a duplicate key: the caller must then rebuild it (FromFields
// over the map with the last value of every key).
func (b *ObjectBuilder) Finish(ts time.Time) bool {
	if b.dup {
		return false
	}
	b.p.fromObject(b.rec.Fields, &b.cs, true, ts, b.rec)
	return true
}
