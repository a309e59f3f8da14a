package record

import "strings"

// Encoder encodes records as Record.AppendJSON does, byte for byte, and
// remembers the sorted key order of the field sets it has seen: the records
// of one source mostly repeat a few sets of keys, and sorting them again for
// every record was a quarter of the encoding. Not safe for concurrent use;
// the zero value is ready.
type Encoder struct {
	sets [keySets]keySet
	next int // the entry remember replaces next
}

// keySets is how many field sets an Encoder remembers; sets of more than
// maxKeySet keys are not remembered.
const (
	keySets   = 16
	maxKeySet = 64
)

type keySet struct {
	sig  uint64
	keys []string // sorted, distinct, owned (cloned: record keys may alias input memory)
	// heads[i] is keys[i]'s "key": as appendHead writes it, cut from one
	// string: a field set's keys are escaped once, not in every record.
	heads []string
}

// AppendJSON appends r as Record.AppendJSON does.
func (e *Encoder) AppendJSON(dst []byte, r *Record) []byte { return r.appendJSON(dst, e) }

// keySig is a key's share of a field set's signature: the sum over the
// set's keys, so it does not depend on map order. Equal signatures only
// pick the remembered set to try; appendKnown proves the sets equal.
func keySig(k string) uint64 {
	h := uint64(len(k))
	if len(k) > 0 {
		h |= uint64(k[0])<<8 | uint64(k[len(k)/2])<<16 | uint64(k[len(k)-1])<<24
	}
	return h * 0x9e3779b97f4a7c15
}

// appendKnown writes the fields of m in the remembered order of m's key
// set, when a remembered set with signature sig is m's key set: it has as
// many keys as m and every one of them is in m (keys of a map and of a set
// are distinct, so the sets are equal). Otherwise it writes nothing and
// reports false. comma: a member precedes the fields.
func (e *Encoder) appendKnown(dst []byte, m map[string]any, sig uint64, comma bool) ([]byte, bool) {
	if e == nil {
		return dst, false
	}
	for i := range e.sets {
		s := &e.sets[i]
		if s.sig != sig || len(s.keys) != len(m) {
			continue
		}
		mark := len(dst)
		for j, k := range s.keys {
			v, ok := m[k]
			if !ok {
				s.keys = s.keys[:0] // a colliding signature: forget it, sorting will remember m's set
				return dst[:mark], false
			}
			if comma || j > 0 {
				dst = append(dst, ',')
			}
			dst = appendValue(append(dst, s.heads[j]...), v, 1)
		}
		return dst, true
	}
	return dst, false
}

// remember keeps sorted (m's keys in order) under sig, replacing the
// oldest entry.
func (e *Encoder) remember(sorted []string, sig uint64) {
	if e == nil || len(sorted) > maxKeySet {
		return
	}
	s := &e.sets[e.next]
	e.next = (e.next + 1) % keySets
	s.sig = sig
	s.keys, s.heads = s.keys[:0], s.heads[:0]
	var block []byte
	var ends []int
	for _, k := range sorted {
		s.keys = append(s.keys, strings.Clone(k))
		block = appendHead(block, k)
		ends = append(ends, len(block))
	}
	all, start := string(block), 0
	for _, end := range ends {
		s.heads = append(s.heads, all[start:end])
		start = end
	}
}
