// Package box turns decoded strings, JSON numbers, integers and floats into
// interface values, and hands out the maps of nested objects, without a
// heap allocation each. Converting a string (or
// an int64 of 256 or more) to `any` copies it to the heap: 16 (8) bytes per
// value, the most frequent allocation of a decoder that fills
// map[string]any. A Boxes instead stores the value in a block it keeps and
// reuses after Reset, and the interface points there.
//
// Whoever decodes with a Boxes promises that no value it handed out is used
// after the next Reset: the front doors decode a record, encode it and only
// then decode the next.
package box

import (
	"encoding/json"
	"math"
	"unsafe"
)

// Boxes hands out interface values from reused blocks. A nil *Boxes boxes
// as the language does (one allocation per value), so a decoder can call it
// unconditionally. Not safe for concurrent use.
type Boxes struct {
	strs slab[string]
	ints slab[int64]
	maps mapPool
	text []byte // the bytes of strings made by Text
}

// Reset makes every block reusable. Values handed out before must not be
// used any more.
func (b *Boxes) Reset() {
	if b == nil {
		return
	}
	b.strs.reset()
	b.ints.reset()
	b.maps.reset()
	if cap(b.text) > maxText {
		b.text = nil // one huge record does not pin its memory for good
	}
	b.text = b.text[:0]
}

// maxText is the most text memory kept across Reset.
const maxText = 1 << 20

// Text returns as a string the bytes fill appends to its argument, at most
// n of them, in memory reused after Reset (a nil *Boxes makes new memory):
// a copied or unescaped string without an allocation of its own. A block
// too small is replaced by a larger one; the strings already made keep the
// old one.
func (b *Boxes) Text(n int, fill func(dst []byte) []byte) string {
	if b == nil {
		out := fill(make([]byte, 0, n))
		return unsafe.String(unsafe.SliceData(out), len(out))
	}
	if cap(b.text)-len(b.text) < n {
		b.text = make([]byte, 0, max(2*cap(b.text), n, 4096))
	}
	start := len(b.text)
	b.text = fill(b.text)
	if len(b.text) == start {
		return ""
	}
	return unsafe.String(&b.text[start], len(b.text)-start)
}

// Map is make(map[string]any, n) for a nested object: a map a record
// before used at the same place, emptied, or a new one. A map and its
// first insert were two allocations per nested object of every record
// (three objects per Kubernetes record: kubernetes, its labels and
// annotations).
func (b *Boxes) Map(n int) map[string]any {
	if b == nil {
		return make(map[string]any, n)
	}
	return b.maps.next(n)
}

// String is any(s).
func (b *Boxes) String(s string) any {
	if b == nil || s == "" { // the empty string boxes without allocating
		return s
	}
	return withData(any(""), unsafe.Pointer(b.strs.next(s)))
}

// Number is any(n) for a JSON number (a string type, kept in the string
// blocks).
func (b *Boxes) Number(n json.Number) any {
	if b == nil || n == "" {
		return n
	}
	return withData(any(json.Number("")), unsafe.Pointer(b.strs.next(string(n))))
}

// Int64 is any(i).
func (b *Boxes) Int64(i int64) any {
	if b == nil || (i >= 0 && i < 256) { // small values box without allocating anyway
		return i
	}
	return withData(any(int64(0)), unsafe.Pointer(b.ints.next(i)))
}

// Uint64 is any(u), kept in the integer blocks (an int64 and a uint64 are
// laid out alike).
func (b *Boxes) Uint64(u uint64) any {
	if b == nil || u < 256 {
		return u
	}
	return withData(any(uint64(0)), unsafe.Pointer(b.ints.next(int64(u))))
}

// Float64 is any(f), kept in the integer blocks by its bits (a float64 and
// an int64 are laid out alike).
func (b *Boxes) Float64(f float64) any {
	if b == nil || f == 0 { // a zero boxes without allocating anyway
		return f
	}
	return withData(any(float64(0)), unsafe.Pointer(b.ints.next(int64(math.Float64bits(f)))))
}

// eface is the layout of an empty interface value (runtime.eface).
type eface struct {
	typ, data unsafe.Pointer
}

// withData returns a, a boxed zero value of some type (which boxes without
// allocating), with its data word replaced by p: the interface value of
// that type holding *p. *p must not change while the interface is in use.
func withData(a any, p unsafe.Pointer) any {
	(*eface)(unsafe.Pointer(&a)).data = p
	return a
}

// MaxReusedMap is the most entries a map may have held and still be
// reused emptied. A Go map keeps the table of its largest size through
// clear, and every range over it or clear of it walks that whole table:
// after one record of 2 000 top-level fields, every record of 14 after it
// in the same worker paid six times over for its map
// (BenchmarkAfterWideRecord in internal/record).
const MaxReusedMap = 64

// Emptied returns m cleared for reuse, or nil when it held more than
// MaxReusedMap entries (the caller makes a new one when it needs one).
func Emptied(m map[string]any) map[string]any {
	if len(m) > MaxReusedMap {
		return nil
	}
	clear(m)
	return m
}

// mapPool keeps the maps Map handed out since the last reset, for the
// next record's objects in the same order.
type mapPool struct {
	maps []map[string]any
	i    int // maps[i] is the next to hand out
}

// maxPooledMaps bounds the maps kept: a record with more objects gets new
// maps past that.
const maxPooledMaps = 64

func (p *mapPool) next(n int) map[string]any {
	if p.i >= maxPooledMaps {
		return make(map[string]any, n)
	}
	if p.i == len(p.maps) {
		p.maps = append(p.maps, nil)
	}
	m := p.maps[p.i]
	if m == nil {
		m = make(map[string]any, n)
		p.maps[p.i] = m
	}
	p.i++
	return m
}

// reset empties the maps handed out, so that they keep nothing of the
// record alive, and drops those grown past MaxReusedMap.
func (p *mapPool) reset() {
	for i, m := range p.maps[:p.i] {
		p.maps[i] = Emptied(m)
	}
	p.i = 0
}

// blockLen elements per block: 512 strings are 8 KiB.
const blockLen = 512

// slab is a bump allocator over blocks that are kept across resets.
type slab[T any] struct {
	blocks [][]T
	b, i   int // the next free element is blocks[b][i]
}

func (s *slab[T]) next(v T) *T {
	if s.b == len(s.blocks) {
		s.blocks = append(s.blocks, make([]T, blockLen))
	}
	p := &s.blocks[s.b][s.i]
	*p = v
	if s.i++; s.i == blockLen {
		s.b, s.i = s.b+1, 0
	}
	return p
}

// reset makes every element free again; it clears what was used, so a
// string does not keep a previous record's memory alive.
func (s *slab[T]) reset() {
	for i := 0; i < s.b && i < len(s.blocks); i++ {
		clear(s.blocks[i])
	}
	if s.b < len(s.blocks) {
		clear(s.blocks[s.b][:s.i])
	}
	s.b, s.i = 0, 0
}
