package msgpack

import "unsafe"

// boxes hands out interface values for decoded strings and integers
// without one heap allocation each: converting a string (or an int64 of
// 256 or more) to `any` allocates its 16 (8) bytes, which was more than
// half of the plugin's allocations per record. Instead the value is stored
// in a block that is reused chunk after chunk, and the interface points at
// it. Used only with Decoder.ReuseValues, whose callers promise not to keep
// any decoded value past the next Reset.
type boxes struct {
	strs slab[string]
	ints slab[int64]
}

func (b *boxes) reset() {
	b.strs.reset()
	b.ints.reset()
}

// slabBlock elements per block: 512 strings are 8 KiB.
const slabBlock = 512

// slab is a bump allocator over blocks that are kept across resets.
type slab[T any] struct {
	blocks [][]T
	b, i   int // the next free element is blocks[b][i]
}

func (s *slab[T]) next(v T) *T {
	if s.b == len(s.blocks) {
		s.blocks = append(s.blocks, make([]T, slabBlock))
	}
	p := &s.blocks[s.b][s.i]
	*p = v
	if s.i++; s.i == slabBlock {
		s.b, s.i = s.b+1, 0
	}
	return p
}

// reset makes every element free again; it clears what was used, so a
// string does not keep a previous chunk alive.
func (s *slab[T]) reset() {
	for i := 0; i < s.b && i < len(s.blocks); i++ {
		clear(s.blocks[i])
	}
	if s.b < len(s.blocks) {
		clear(s.blocks[s.b][:s.i])
	}
	s.b, s.i = 0, 0
}

// eface is the layout of an empty interface value (runtime.eface).
type eface struct {
	typ, data unsafe.Pointer
}

// boxString returns p's string as an `any` whose data word is p: the same
// value `any(*p)` would be, without copying it to the heap. *p must not
// change while the interface is in use.
func boxString(p *string) any {
	a := any("") // the empty string boxes without allocating; only its type word is kept
	(*eface)(unsafe.Pointer(&a)).data = unsafe.Pointer(p)
	return a
}

// boxInt64 is boxString for an int64.
func boxInt64(p *int64) any {
	a := any(int64(0))
	(*eface)(unsafe.Pointer(&a)).data = unsafe.Pointer(p)
	return a
}

func (d *Decoder) boxStr(s string) any {
	if !d.ReuseValues || s == "" {
		return s
	}
	return boxString(d.boxes.strs.next(s))
}

func (d *Decoder) boxInt(i int64) any {
	if !d.ReuseValues || (i >= 0 && i < 256) { // small values box without allocating anyway
		return i
	}
	return boxInt64(d.boxes.ints.next(i))
}
